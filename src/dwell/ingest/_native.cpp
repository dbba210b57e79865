// dwell.ingest._native: the evtx-JSON fast path of ingest, in one pass per record.
//
// convert(text, fallback_time=<absent>) parses one ``{"Event": {"System": ..., ...}}`` record
// (str or bytes) with RapidJSON and returns the canonical row tuple that the pure-Python path
// computes with ``flatten_evtx_json`` + ``normalize.row_of``:
//
//     (flat_json: bytes, TimeCreated, Computer, Channel, Provider_Name, EventID, EventRecordID,
//      typed_0, ..., typed_n)
//
// or None whenever the record is anything but the plain case (a parse error, a float, a
// duplicate key, a possible surrogate, deep nesting, very many fields, another JSON shape...):
// the caller then takes the Python path, which defines the behaviour (and the warnings) for
// those. convert_records() and convert_lines_block() convert runs of records (from an ``evtx``
// iterator, or JSON Lines) into a Block: the same rows column by column, with no Python object
// per row. The two paths are compared record by record (and on mutated records) in
// tests/ingest/test_native.py.
//
// Everything here reads attacker-controlled input: the parser recurses only on texts under
// 8 KiB (nesting bounded by length, far within the stack), iterates beyond; our own walks are
// depth-bounded, the flat map is size-bounded, buffers are reused or freed on return, and no
// Python exception escapes.

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

// RapidJSON's SSE2 string scan (16 bytes at a time up to a quote, backslash or control
// character); x86-64 always has SSE2. The vendored reader.h fixes its control-character bound
// (upstream let 0x1A-0x1F pass unescaped: see third_party/rapidjson/DWELL.md).
#if defined(__SSE2__) && !defined(RAPIDJSON_SSE2)
#define RAPIDJSON_SSE2
#endif
#include "rapidjson/document.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define DWELL_SHUFTI 1  // the pair filter's AVX2 pass, chosen at run time (see Automaton)
#endif

namespace {

using rapidjson::Value;
using std::string_view;
using Document = rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>,
                                           rapidjson::MemoryPoolAllocator<>>;

constexpr int kMaxDepth = 48;
constexpr size_t kMaxItems = 512;
// In situ: strings are unescaped inside our own copy of the text (no per-character copying).
// Text from a Python str is valid UTF-8 already; bytes that are not pure ASCII are validated.
// RapidJSON's recursive parser is faster than its iterative one; its depth is bounded by the
// text's length, so texts up to kRecursiveMax bytes (nesting under 4k levels of small frames
// on the 8 MiB main-thread stack) use it, longer ones the iterative parser.
constexpr size_t kRecursiveMax = 8 * 1024;
constexpr unsigned kParseFast = rapidjson::kParseInsituFlag;
constexpr unsigned kParseFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseInsituFlag;
constexpr unsigned kParseValidating = kParseFlags | rapidjson::kParseValidateEncodingFlag;

struct Bail {};  // thrown inside convert(): answer None, the Python path takes the record

// --- configuration (from Python, once) ------------------------------------------------------

struct Candidate {
    int column;
    int rank;
};

std::vector<std::string> g_names;  // owns the keys of the maps below
std::unordered_map<string_view, Candidate> g_candidates;  // flat field name -> typed column
std::unordered_map<string_view, string_view> g_prefixes;  // System element -> attribute prefix
int g_columns = 0;
size_t g_longest = 0;          // the longest candidate name
bool g_last_chars[256] = {};   // the last characters of candidate names
bool g_configured = false;

// --- helpers ----------------------------------------------------------------------------------

inline string_view sv(const Value& v) { return string_view(v.GetString(), v.GetStringLength()); }

// Python dicts keep one value per key: an object with repeated keys goes to the Python path.
void check_unique(const Value& obj) {
    rapidjson::SizeType n = obj.MemberCount();
    if (n < 2) return;
    if (n <= 64) {  // a small open-addressing table of (hash, member) on the stack
        unsigned slots = 8;
        while (slots < 2 * n) slots <<= 1;
        const Value* names[128];
        uint32_t hashes[128];
        std::fill_n(names, slots, nullptr);
        for (auto m = obj.MemberBegin(); m != obj.MemberEnd(); ++m) {
            string_view key = sv(m->name);
            uint32_t h = 2166136261u;
            for (char c : key) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
            unsigned slot = h & (slots - 1);
            while (names[slot] != nullptr) {
                if (hashes[slot] == h && sv(*names[slot]) == key) throw Bail();
                slot = (slot + 1) & (slots - 1);
            }
            names[slot] = &m->name;
            hashes[slot] = h;
        }
        return;
    }
    std::unordered_set<string_view> seen;
    seen.reserve(n);
    for (auto m = obj.MemberBegin(); m != obj.MemberEnd(); ++m)
        if (!seen.insert(sv(m->name)).second) throw Bail();
}

const Value* member(const Value& obj, string_view name) {
    for (auto m = obj.MemberBegin(); m != obj.MemberEnd(); ++m)
        if (sv(m->name) == name) return &m->value;
    return nullptr;
}

// --- the flat event: an insertion-ordered map with Python dict semantics ----------------------

struct Item {
    string_view key;
    const Value* value;  // nullptr: None (or the fallback time when `fallback` is set)
    bool fallback;
};

class Flat {
  public:
    std::vector<Item> items;
    std::deque<std::string> keys;  // composed keys ("Provider_Name", "EventData.x", paths)

    Flat() { items.reserve(64); }
    void clear() {
        items.clear();
        keys.clear();
    }

    Item* find(string_view key) {
        if (key.empty()) {
            for (auto& item : items)
                if (item.key.empty()) return &item;
            return nullptr;
        }
        for (auto& item : items)  // length and last character first: most keys differ there
            if (item.key.size() == key.size() && item.key.back() == key.back() && item.key == key)
                return &item;
        return nullptr;
    }
    string_view own(std::string key) {
        keys.push_back(std::move(key));
        return keys.back();
    }
    // out[key] = value
    void set(string_view key, const Value* value, bool fallback = false) {
        Item* found = find(key);
        if (found != nullptr) {
            found->value = value;
            found->fallback = fallback;
            return;
        }
        if (items.size() >= kMaxItems) throw Bail();
        items.push_back(Item{key, value, fallback});
    }
    // _put(out, key, path, value)
    void put(string_view key, string_view path, const Value* value) {
        if (find(key) != nullptr)
            set(own(std::string(path)), value);
        else
            set(key, value);
    }
};

std::string join(string_view a, string_view b) {
    std::string out;
    out.reserve(a.size() + 1 + b.size());
    out.append(a).push_back('.');
    out.append(b);
    return out;
}

string_view last_part(string_view path) {
    size_t dot = path.rfind('.');
    return dot == string_view::npos ? path : path.substr(dot + 1);
}

// _leaves(out, node, path)
void leaves(Flat& out, const Value& node, string_view path, int depth) {
    if (depth > kMaxDepth) throw Bail();
    if (!node.IsObject()) {
        out.put(last_part(path), path, &node);
        return;
    }
    check_unique(node);
    for (auto m = node.MemberBegin(); m != node.MemberEnd(); ++m) {
        string_view key = sv(m->name);
        if (key == "#attributes" && m->value.IsObject()) {
            check_unique(m->value);
            for (auto a = m->value.MemberBegin(); a != m->value.MemberEnd(); ++a) {
                string_view akey = sv(a->name);
                if (akey != "xmlns") out.put(akey, out.own(join(path, akey)), &a->value);
            }
        } else if (key == "#text") {
            out.put(last_part(path), path, &m->value);
        } else {
            leaves(out, m->value, out.own(join(path, key)), depth + 1);
        }
    }
}

// _event_data(out, data)
void event_data(Flat& out, const Value& data) {
    if (data.IsObject()) {
        check_unique(data);
        bool simple = true;
        for (auto m = data.MemberBegin(); m != data.MemberEnd() && simple; ++m) {
            string_view key = sv(m->name);
            simple = key != "Data" && key != "#attributes" && !m->value.IsObject() &&
                     out.find(key) == nullptr;
        }
        if (simple) {  // the common case: named scalar fields only
            for (auto m = data.MemberBegin(); m != data.MemberEnd(); ++m)
                out.set(sv(m->name), &m->value);
            return;
        }
    } else {
        if (!data.IsNull()) out.put("Data", "EventData.Data", &data);
        return;
    }
    for (auto m = data.MemberBegin(); m != data.MemberEnd(); ++m) {
        string_view key = sv(m->name);
        const Value* value = &m->value;
        if (key == "Data") {
            if (value->IsObject()) {
                check_unique(*value);
                const Value* text = member(*value, "#text");
                if (text != nullptr) value = text;
            }
            out.put("Data", "EventData.Data", value);
        } else if (key == "#attributes") {
            if (value->IsObject()) {
                check_unique(*value);
                for (auto a = value->MemberBegin(); a != value->MemberEnd(); ++a)
                    out.put(sv(a->name), out.own(join("EventData", sv(a->name))), &a->value);
            }
        } else if (value->IsObject()) {
            leaves(out, *value, out.own(join("EventData", key)), 1);
        } else {
            Item* old = out.find(key);
            if (old != nullptr) {
                Item copy = *old;
                out.set(out.own(join("System", key)), copy.value, copy.fallback);
            }
            out.set(key, value);
        }
    }
}

// flatten_evtx_json(doc); throws Bail where the Python version returns None or differs.
void flatten(Flat& out, const Value& doc) {
    if (!doc.IsObject()) throw Bail();
    check_unique(doc);
    const Value* event = member(doc, "Event");
    if (event == nullptr || !event->IsObject()) throw Bail();
    check_unique(*event);
    const Value* system = member(*event, "System");
    if (system != nullptr && system->IsObject()) {
        check_unique(*system);
        for (auto m = system->MemberBegin(); m != system->MemberEnd(); ++m) {
            string_view key = sv(m->name);
            const Value& value = m->value;
            if (!value.IsObject()) {
                out.set(key, &value);
                continue;
            }
            check_unique(value);
            const Value* attrs = member(value, "#attributes");
            if (attrs != nullptr && attrs->IsObject()) check_unique(*attrs);
            if (key == "EventID") {
                if (attrs != nullptr && attrs->IsObject())
                    for (auto a = attrs->MemberBegin(); a != attrs->MemberEnd(); ++a)
                        out.set(sv(a->name), &a->value);
                out.set("EventID", member(value, "#text"));
            } else if (key == "TimeCreated") {
                if (attrs != nullptr && attrs->IsObject())
                    out.set("TimeCreated", member(*attrs, "SystemTime"));
                else
                    out.set("TimeCreated", &value);
            } else {
                if (attrs != nullptr && attrs->IsObject()) {
                    auto prefix = g_prefixes.find(key);
                    for (auto a = attrs->MemberBegin(); a != attrs->MemberEnd(); ++a) {
                        if (prefix == g_prefixes.end()) {
                            out.set(sv(a->name), &a->value);
                        } else {
                            std::string name(prefix->second);
                            name.append(sv(a->name));
                            out.set(out.own(std::move(name)), &a->value);
                        }
                    }
                }
                const Value* text = member(value, "#text");
                if (text != nullptr) out.set(key, text);
            }
        }
    }
    for (auto m = event->MemberBegin(); m != event->MemberEnd(); ++m) {
        string_view key = sv(m->name);
        if (key == "System" || key == "#attributes") continue;
        if (key == "EventData")
            event_data(out, m->value);
        else
            leaves(out, m->value, key, 1);
    }
}

// --- output: orjson.dumps() byte for byte -----------------------------------------------------

const char kHex[] = "0123456789abcdef";

void write_string(std::string& buf, string_view s) {
    buf.push_back('"');
    const char* p = s.data();
    const char* end = p + s.size();
    while (p < end) {
        const char* run = p;
        while (p + 8 <= end) {  // eight bytes at a time: any control character, quote or backslash?
            uint64_t x;
            std::memcpy(&x, p, 8);
            constexpr uint64_t kOnes = 0x0101010101010101ULL;
            constexpr uint64_t kHigh = 0x8080808080808080ULL;
            uint64_t quote = x ^ (kOnes * '"');
            uint64_t slash = x ^ (kOnes * '\\');
            uint64_t hits = (((x - kOnes * 0x20) & ~x) | ((quote - kOnes) & ~quote) |
                             ((slash - kOnes) & ~slash)) & kHigh;
            if (hits) break;
            p += 8;
        }
        while (p < end) {
            auto c = static_cast<unsigned char>(*p);
            if (c < 0x20 || c == '"' || c == '\\') break;
            ++p;
        }
        buf.append(run, static_cast<size_t>(p - run));
        if (p == end) break;
        auto c = static_cast<unsigned char>(*p++);
        buf.push_back('\\');
        switch (c) {
            case '"': buf.push_back('"'); break;
            case '\\': buf.push_back('\\'); break;
            case '\b': buf.push_back('b'); break;
            case '\t': buf.push_back('t'); break;
            case '\n': buf.push_back('n'); break;
            case '\f': buf.push_back('f'); break;
            case '\r': buf.push_back('r'); break;
            default:
                buf.append("u00");
                buf.push_back(kHex[c >> 4]);
                buf.push_back(kHex[c & 15]);
        }
    }
    buf.push_back('"');
}

void write_value(std::string& buf, const Value* v, int depth) {
    if (depth > kMaxDepth) throw Bail();
    if (v == nullptr || v->IsNull()) {
        buf.append("null");
    } else if (v->IsString()) {
        write_string(buf, sv(*v));
    } else if (v->IsBool()) {
        buf.append(v->GetBool() ? "true" : "false");
    } else if (v->IsInt64()) {
        buf.append(std::to_string(v->GetInt64()));
    } else if (v->IsUint64()) {
        buf.append(std::to_string(v->GetUint64()));
    } else if (v->IsArray()) {
        buf.push_back('[');
        bool first = true;
        for (const auto& item : v->GetArray()) {
            if (!first) buf.push_back(',');
            first = false;
            write_value(buf, &item, depth + 1);
        }
        buf.push_back(']');
    } else if (v->IsObject()) {
        check_unique(*v);
        buf.push_back('{');
        bool first = true;
        for (auto m = v->MemberBegin(); m != v->MemberEnd(); ++m) {
            if (!first) buf.push_back(',');
            first = false;
            write_string(buf, sv(m->name));
            buf.push_back(':');
            write_value(buf, &m->value, depth + 1);
        }
        buf.push_back('}');
    } else {
        throw Bail();  // a float: its repr is orjson's business
    }
}

// --- output: Python objects -------------------------------------------------------------------

// A new reference, or nullptr with a Python error set.
PyObject* to_py(const Value* v, int depth) {
    if (depth > kMaxDepth) throw Bail();
    if (v == nullptr || v->IsNull()) Py_RETURN_NONE;
    if (v->IsString()) return PyUnicode_DecodeUTF8(v->GetString(), v->GetStringLength(), nullptr);
    if (v->IsBool()) return PyBool_FromLong(v->GetBool());
    if (v->IsInt64()) return PyLong_FromLongLong(v->GetInt64());
    if (v->IsUint64()) return PyLong_FromUnsignedLongLong(v->GetUint64());
    if (v->IsArray()) {
        PyObject* list = PyList_New(v->Size());
        if (list == nullptr) return nullptr;
        Py_ssize_t i = 0;
        try {
            for (const auto& item : v->GetArray()) {
                PyObject* got = to_py(&item, depth + 1);
                if (got == nullptr) {
                    Py_DECREF(list);
                    return nullptr;
                }
                PyList_SET_ITEM(list, i++, got);
            }
        } catch (...) {
            Py_DECREF(list);
            throw;
        }
        return list;
    }
    if (v->IsObject()) {
        check_unique(*v);
        PyObject* dict = PyDict_New();
        if (dict == nullptr) return nullptr;
        for (auto m = v->MemberBegin(); m != v->MemberEnd(); ++m) {
            PyObject* key = PyUnicode_DecodeUTF8(m->name.GetString(),
                                                 m->name.GetStringLength(), nullptr);
            PyObject* got = nullptr;
            try {
                got = key == nullptr ? nullptr : to_py(&m->value, depth + 1);
            } catch (...) {
                Py_XDECREF(key);
                Py_DECREF(dict);
                throw;
            }
            int failed = got == nullptr || PyDict_SetItem(dict, key, got) < 0;
            Py_XDECREF(key);
            Py_XDECREF(got);
            if (failed) {
                Py_DECREF(dict);
                return nullptr;
            }
        }
        return dict;
    }
    throw Bail();
}

// Owns Python references until they are handed over, also when a Bail unwinds.
struct Refs {
    std::vector<PyObject*> refs;
    ~Refs() {
        for (PyObject* r : refs) Py_XDECREF(r);
    }
};

const char* const kSystem[] = {"TimeCreated", "Computer",      "Channel",
                               "Provider_Name", "EventID", "EventRecordID"};
constexpr int kSystemCount = 6;

PyObject* item_py(const Item* item, PyObject* fallback) {
    if (item == nullptr) Py_RETURN_NONE;
    if (item->fallback) {
        Py_INCREF(fallback);
        return fallback;
    }
    return to_py(item->value, 0);
}

inline bool empty_value(const Item& item, PyObject* fallback) {
    if (item.fallback) {
        if (fallback == Py_None) return true;
        if (!PyUnicode_Check(fallback)) return false;
        Py_ssize_t n = PyUnicode_GET_LENGTH(fallback);
        return n == 0 || (n == 1 && PyUnicode_READ_CHAR(fallback, 0) == '-');
    }
    const Value* v = item.value;
    if (v == nullptr || v->IsNull()) return true;
    if (!v->IsString()) return false;
    string_view s = sv(*v);
    return s.empty() || s == "-";
}

// Whether the text could put a surrogate into a string: an escaped one (\\uD800-\\uDFFF: orjson
// takes pairs, RapidJSON 1.1.0 a lone low one) or a raw one (ED A0-BF). Such texts go to the
// Python path, wherever in the document the string is (a key the flattening ignores too).
// Whether a text parsed in place holds a lone surrogate (which Python's JSON refuses):
// RapidJSON refuses a lone high one, writes a lone low one as ED B0..BF into the text it
// decodes in place, and raw ones stay as they are, so one pass over the decoded text finds any
// (a scan of the JSON text for "\u" escapes meets every escaped Windows path separator).
bool holds_surrogate(const char* data, size_t size) {
    const char* end = data + size;
    for (const char* p = data;
         (p = static_cast<const char*>(std::memchr(p, '\xed', static_cast<size_t>(end - p)))) !=
         nullptr; ++p)
        if (p + 1 < end && static_cast<unsigned char>(p[1]) >= 0xA0) return true;
    return false;
}

// Whether values nest deeper than ``limit`` (orjson refuses documents nested past 1024).
bool deeper_than(const Value& v, int limit) {
    if (limit < 0) return true;
    if (v.IsArray()) {
        for (const auto& item : v.GetArray())
            if (deeper_than(item, limit - 1)) return true;
    } else if (v.IsObject()) {
        for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m)
            if (deeper_than(m->value, limit - 1)) return true;
    }
    return false;
}

bool ascii(const char* data, size_t size) {
    size_t i = 0;
#ifdef __SSE2__
    for (; i + 32 <= size; i += 32) {  // (the sign bits of 32 bytes at once)
        __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
        __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i + 16));
        if (_mm_movemask_epi8(_mm_or_si128(a, b)) != 0) return false;
    }
#endif
    for (; i + 8 <= size; i += 8) {
        uint64_t word;
        std::memcpy(&word, data + i, 8);
        if (word & 0x8080808080808080ULL) return false;
    }
    for (; i < size; ++i)
        if (static_cast<unsigned char>(data[i]) & 0x80) return false;
    return true;
}

// Appends an ASCII text with A-Z lowered (what str.lower() and str.casefold() make of it).
void append_lower_ascii(std::string& out, const char* data, size_t size) {
    size_t at = out.size();
    out.append(data, size);
    for (size_t i = at; i < out.size(); ++i)
        if (out[i] >= 'A' && out[i] <= 'Z') out[i] = static_cast<char>(out[i] + 32);
}

// Appends Python's str.<method>() ("lower", "casefold") of a UTF-8 text to ``out``, as UTF-8;
// false (the error cleared) when the text is not valid UTF-8.
bool append_py_str(std::string& out, const char* data, size_t size, const char* method) {
    PyObject* str = PyUnicode_DecodeUTF8(data, static_cast<Py_ssize_t>(size), "strict");
    PyObject* done = str ? PyObject_CallMethod(str, method, nullptr) : nullptr;
    Py_XDECREF(str);
    Py_ssize_t n = 0;
    const char* p = done ? PyUnicode_AsUTF8AndSize(done, &n) : nullptr;
    if (p == nullptr) {
        Py_XDECREF(done);
        PyErr_Clear();
        return false;
    }
    out.append(p, static_cast<size_t>(n));
    Py_DECREF(done);
    return true;
}


// --- row blocks: canonical rows kept column by column ---------------------------------------
//
// A Block holds canonical rows (see convert_text) the way the store's Arrow arrays want them,
// with no Python object per row: per column the texts (UTF-8, 32-bit offsets at the end) or
// int64s and a validity bitmap. Column kinds: "j" the fields JSON,
// "s" a text, "i" an int64, "e" an int32 kept as int64. A value of another sort (a number
// in a text column, a bool, an int out of range, a list...) is kept as the Python object
// itself (an "odd" cell): the caller converts such a column the Python way, from the values.
struct BCol {
    char kind = 's';
    std::string data;
    std::vector<int64_t> offsets{0};
    std::vector<uint8_t> valid;
    int64_t nulls = 0;
    bool text() const { return kind == 's' || kind == 'j'; }
};

struct OddCell {
    int64_t row;
    int col;
    PyObject* value;  // owned
};

struct Block {
    std::vector<BCol> cols;
    std::vector<int64_t> positions;
    std::vector<OddCell> odds;  // in (row, col) order
    int64_t rows = 0;

    explicit Block(string_view kinds) {
        cols.resize(kinds.size());
        for (size_t c = 0; c < kinds.size(); ++c) cols[c].kind = kinds[c];
    }
    Block(const Block&) = delete;
    Block& operator=(const Block&) = delete;
    ~Block() { clear(); }

    void clear() {
        for (auto& o : odds) Py_DECREF(o.value);
        odds.clear();
        positions.clear();
        for (auto& c : cols) {
            c.data.clear();
            c.offsets.assign(1, 0);
            c.valid.clear();
            c.nulls = 0;
        }
        rows = 0;
    }
    // Where the row being added starts: what rollback() returns to (kept here, not
    // allocated per row).
    std::vector<size_t> mark_data, mark_offsets;
    std::vector<int64_t> mark_nulls;
    size_t mark_odds = 0;
    void mark() {
        mark_data.resize(cols.size());
        mark_offsets.resize(cols.size());
        mark_nulls.resize(cols.size());
        for (size_t c = 0; c < cols.size(); ++c) {
            mark_data[c] = cols[c].data.size();
            mark_offsets[c] = cols[c].offsets.size();
            mark_nulls[c] = cols[c].nulls;
        }
        mark_odds = odds.size();
    }
    void rollback() {
        auto r = static_cast<size_t>(rows);
        for (size_t c = 0; c < cols.size(); ++c) {
            cols[c].data.resize(mark_data[c]);
            cols[c].offsets.resize(mark_offsets[c]);
            cols[c].nulls = mark_nulls[c];
            if (cols[c].valid.size() > (r >> 3))
                cols[c].valid[r >> 3] = static_cast<uint8_t>(cols[c].valid[r >> 3] & ~(1u << (r & 7)));
        }
        while (odds.size() > mark_odds) {
            Py_DECREF(odds.back().value);
            odds.pop_back();
        }
    }
    void set_valid(BCol& c) {
        auto r = static_cast<size_t>(rows);
        if (c.valid.size() <= (r >> 3)) c.valid.resize((r >> 3) + 1, 0);
        c.valid[r >> 3] = static_cast<uint8_t>(c.valid[r >> 3] | (1u << (r & 7)));
    }
    void put_null(size_t c) {
        BCol& col = cols[c];
        if (col.text())
            col.offsets.push_back(static_cast<int64_t>(col.data.size()));
        else
            col.data.append(8, '\0');
        ++col.nulls;
    }
    void put_text(size_t c, const char* p, size_t n) {
        BCol& col = cols[c];
        col.data.append(p, n);
        col.offsets.push_back(static_cast<int64_t>(col.data.size()));
        set_valid(col);
    }
    void put_int(size_t c, int64_t v) {
        BCol& col = cols[c];
        col.data.append(reinterpret_cast<const char*>(&v), sizeof v);
        set_valid(col);
    }
    void put_odd(size_t c, PyObject* v) {  // takes the reference
        put_null(c);
        odds.push_back({rows, static_cast<int>(c), v});
    }
    // A Python value into column c: plain when of the column's sort, else odd.
    bool put_py(size_t c, PyObject* v) {
        BCol& col = cols[c];
        if (v == Py_None) {
            put_null(c);
            return true;
        }
        if (col.text()) {
            const char* text = nullptr;
            Py_ssize_t n = 0;
            if (PyUnicode_Check(v)) {
                text = PyUnicode_AsUTF8AndSize(v, &n);
                if (text == nullptr) PyErr_Clear();
            } else if (col.kind == 'j' && PyBytes_Check(v)) {
                text = PyBytes_AS_STRING(v);
                n = PyBytes_GET_SIZE(v);
            }
            if (text != nullptr) {
                put_text(c, text, static_cast<size_t>(n));
                return true;
            }
        } else if (PyLong_CheckExact(v)) {
            int overflow = 0;
            long long got = PyLong_AsLongLongAndOverflow(v, &overflow);
            if (got == -1 && PyErr_Occurred()) return false;
            if (overflow == 0 && (col.kind != 'e' || (got >= INT32_MIN && got <= INT32_MAX))) {
                put_int(c, got);
                return true;
            }
        }
        Py_INCREF(v);
        put_odd(c, v);
        return true;
    }
    // A parsed value into column c; false: the record takes the Python path.
    bool put_value(size_t c, const Value* v) {
        BCol& col = cols[c];
        if (v == nullptr || v->IsNull()) {
            put_null(c);
            return true;
        }
        if (col.text() && v->IsString()) {
            put_text(c, v->GetString(), v->GetStringLength());
            return true;
        }
        if (!col.text() && v->IsInt64() &&
            (col.kind != 'e' || (v->GetInt64() >= INT32_MIN && v->GetInt64() <= INT32_MAX))) {
            put_int(c, v->GetInt64());
            return true;
        }
        PyObject* got = to_py(v, 0);  // (throws Bail for floats and the like)
        if (got == nullptr) return false;
        put_odd(c, got);
        return true;
    }
    void end_row(int64_t position) {
        positions.push_back(position);
        ++rows;
        for (auto& col : cols)
            if (col.valid.size() * 8 < static_cast<size_t>(rows)) col.valid.resize((static_cast<size_t>(rows) + 7) / 8, 0);
    }
};

Block* get_block(PyObject* capsule) {
    return static_cast<Block*>(PyCapsule_GetPointer(capsule, "dwell.block"));
}

// --- JSON texts parsed in place ------------------------------------------------------------
//
// parse_tree() reads the usual text of a record (objects and lists nested a few levels,
// strings, integers, true, false, null; whitespace between tokens) and of a stored ``fields``
// object in place into a Value, as RapidJSON's in-situ parse does (each decoded string at its
// own start, where the matcher's keyword pre-scan finds it whole), without RapidJSON's generic
// reader (a handler call and a stack copy per value), and with the same values (integers as
// RapidJSON types them). Anything else (a float, an exponent, 19 digits or more, an escaped
// surrogate, a control character, deeper nesting, another root than an object, anything
// after it...) answers false after changing the text: the caller copies it again and lets
// RapidJSON decide, as before. The text is followed by 16 zero bytes (json_string's vector
// loop reads past its end).
constexpr int kTreeDepth = 32;

inline int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The string whose opening quote is at p[-1], decoded in place; the position after its closing
// quote, or null. The text is followed by 16 zero bytes (the vector loop reads past `end`).
char* json_string(char* p, const char* end, string_view& out) {
    char* start = p;
#ifdef __SSE2__
    {  // 16 bytes at a time up to a quote, a backslash or a control character (a zero at `end`)
        const __m128i quote = _mm_set1_epi8('"');
        const __m128i slash = _mm_set1_epi8('\\');
        const __m128i below = _mm_set1_epi8(0x1F);
        for (;;) {
            __m128i s = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
            __m128i hit = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(s, quote), _mm_cmpeq_epi8(s, slash)),
                _mm_cmpeq_epi8(_mm_max_epu8(s, below), below));
            auto mask = static_cast<unsigned>(_mm_movemask_epi8(hit));
            if (mask != 0) {
                p += __builtin_ctz(mask);
                break;
            }
            p += 16;
        }
    }
#endif
    while (p < end) {  // (most strings have no escape: nothing is moved)
        unsigned char c = static_cast<unsigned char>(*p);
        if (c == '"') {
            out = string_view(start, static_cast<size_t>(p - start));
            return p + 1;
        }
        if (c == '\\') break;
        if (c < 0x20) return nullptr;
        ++p;
    }
    char* q = p;
    while (p < end) {
        unsigned char c = static_cast<unsigned char>(*p);
        if (c == '"') {
            out = string_view(start, static_cast<size_t>(q - start));
            return p + 1;
        }
        if (c < 0x20) return nullptr;
        if (c != '\\') {
            *q++ = *p++;
            continue;
        }
        if (p + 1 >= end) return nullptr;
        char e = p[1];
        p += 2;
        switch (e) {
            case '"': *q++ = '"'; break;
            case '\\': *q++ = '\\'; break;
            case '/': *q++ = '/'; break;
            case 'b': *q++ = '\b'; break;
            case 'f': *q++ = '\f'; break;
            case 'n': *q++ = '\n'; break;
            case 'r': *q++ = '\r'; break;
            case 't': *q++ = '\t'; break;
            case 'u': {
                if (end - p < 4) return nullptr;
                unsigned code = 0;
                for (int k = 0; k < 4; ++k) {
                    int d = hex_digit(p[k]);
                    if (d < 0) return nullptr;
                    code = code << 4 | static_cast<unsigned>(d);
                }
                p += 4;
                if (code >= 0xD800 && code <= 0xDFFF) return nullptr;  // RapidJSON judges pairs
                if (code < 0x80) {
                    *q++ = static_cast<char>(code);
                } else if (code < 0x800) {
                    *q++ = static_cast<char>(0xC0 | (code >> 6));
                    *q++ = static_cast<char>(0x80 | (code & 0x3F));
                } else {
                    *q++ = static_cast<char>(0xE0 | (code >> 12));
                    *q++ = static_cast<char>(0x80 | ((code >> 6) & 0x3F));
                    *q++ = static_cast<char>(0x80 | (code & 0x3F));
                }
                break;
            }
            default: return nullptr;
        }
    }
    return nullptr;
}

// One scalar value at p into v; the position after it, or null.
char* json_scalar(char* p, const char* end, Value& v) {
    char c = *p;
    if (c == '"') {
        string_view text;
        char* after = json_string(p + 1, end, text);
        if (after != nullptr)
            v.SetString(rapidjson::StringRef(text.data(), static_cast<rapidjson::SizeType>(text.size())));
        return after;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        bool minus = c == '-';
        char* q = minus ? p + 1 : p;
        char* digits = q;
        uint64_t n = 0;
        while (q < end && *q >= '0' && *q <= '9') n = n * 10 + static_cast<uint64_t>(*q++ - '0');
        size_t count = static_cast<size_t>(q - digits);
        if (count == 0 || count > 18 || (count > 1 && *digits == '0')) return nullptr;
        if (q < end && (*q == '.' || *q == 'e' || *q == 'E')) return nullptr;  // a double
        if (minus)
            v.SetInt64(-static_cast<int64_t>(n));
        else
            v.SetUint64(n);
        return q;
    }
    auto literal = [&](const char* word, size_t len) {
        return static_cast<size_t>(end - p) >= len && std::memcmp(p, word, len) == 0;
    };
    if (c == 't' && literal("true", 4)) {
        v.SetBool(true);
        return p + 4;
    }
    if (c == 'f' && literal("false", 5)) {
        v.SetBool(false);
        return p + 5;
    }
    if (c == 'n' && literal("null", 4)) {
        v.SetNull();
        return p + 4;
    }
    return nullptr;
}


inline char* skip_space(char* p, const char* end) {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
    return p;
}

// After an object's member or a list's item at p: past the closing character ``close``
// (``closed`` set), or at the next item after a comma; null when neither follows.
char* next_item(char* p, const char* end, char close, bool& closed) {
    p = skip_space(p, end);
    if (p >= end) return nullptr;
    closed = *p == close;
    if (closed) return p + 1;
    return *p == ',' ? skip_space(p + 1, end) : nullptr;
}

char* tree_value(char* p, const char* end, Value& v, rapidjson::MemoryPoolAllocator<>& alloc,
                 int depth) {
    if (p >= end) return nullptr;
    if (*p == '{') {
        if (depth >= kTreeDepth) return nullptr;
        v.SetObject();
        p = skip_space(p + 1, end);
        if (p < end && *p == '}') return p + 1;
        while (true) {
            if (p >= end || *p != '"') return nullptr;
            string_view key;
            p = json_string(p + 1, end, key);
            if (p == nullptr) return nullptr;
            p = skip_space(p, end);
            if (p >= end || *p != ':') return nullptr;
            Value item;
            p = tree_value(skip_space(p + 1, end), end, item, alloc, depth + 1);
            if (p == nullptr) return nullptr;
            Value name(rapidjson::StringRef(key.data(), static_cast<rapidjson::SizeType>(key.size())));
            v.AddMember(name, item, alloc);
            bool closed = false;
            p = next_item(p, end, '}', closed);
            if (p == nullptr || closed) return p;
        }
    }
    if (*p == '[') {
        if (depth >= kTreeDepth) return nullptr;
        v.SetArray();
        p = skip_space(p + 1, end);
        if (p < end && *p == ']') return p + 1;
        while (true) {
            Value item;
            p = tree_value(p, end, item, alloc, depth + 1);
            if (p == nullptr) return nullptr;
            v.PushBack(item, alloc);
            bool closed = false;
            p = next_item(p, end, ']', closed);
            if (p == nullptr || closed) return p;
        }
    }
    return json_scalar(p, end, v);
}

// The record text[0, size) as a Value (in place), or false (see above).
bool parse_tree(char* text, size_t size, Value& root, rapidjson::MemoryPoolAllocator<>& alloc) {
    const char* end = text + size;
    char* p = skip_space(text, end);
    if (p >= end || *p != '{') return false;
    p = tree_value(p, end, root, alloc, 0);
    return p != nullptr && skip_space(p, end) == end;
}

// With a ``block``, the row is appended to it (answer True) instead of made a tuple.
PyObject* convert_text(const char* data, Py_ssize_t size, PyObject* fallback, bool validate,
                       Block* block = nullptr, int64_t position = 0) {
    // The first 64 KiB of values and 16 KiB of parse stack come from static buffers (calls are
    // serialised by the GIL); bigger records spill into malloc'ed chunks, freed on return.
    static char value_buffer[1 << 16];
    static char stack_buffer[1 << 14];
    rapidjson::MemoryPoolAllocator<> value_alloc(value_buffer, sizeof value_buffer);
    rapidjson::MemoryPoolAllocator<> stack_alloc(stack_buffer, sizeof stack_buffer);
    Document doc(&value_alloc, sizeof stack_buffer, &stack_alloc);
    if (std::memchr(data, '\0', static_cast<size_t>(size)) != nullptr) Py_RETURN_NONE;  // would end it
    static std::vector<char> text;  // the in-situ copy (GIL-serialised, like the buffers)
    text.assign(data, data + size);
    text.resize(static_cast<size_t>(size) + 17, '\0');  // (a terminating zero, and padding)
    bool plain = !validate || ascii(data, static_cast<size_t>(size));
    Value tree;
    const Value* root = &tree;
    if (!plain || !parse_tree(text.data(), static_cast<size_t>(size), tree, value_alloc)) {
        if (plain) std::memcpy(text.data(), data, static_cast<size_t>(size));  // (undo)
        root = &doc;
        if (!plain)
            doc.ParseInsitu<kParseValidating>(text.data());
        else if (static_cast<size_t>(size) <= kRecursiveMax)
            doc.ParseInsitu<kParseFast>(text.data());
        else
            doc.ParseInsitu<kParseFlags>(text.data());
        if (doc.HasParseError()) Py_RETURN_NONE;
    }
    if (holds_surrogate(text.data(), static_cast<size_t>(size))) Py_RETURN_NONE;
    // (a text of under 1 KiB cannot nest 500 levels; the Python path judges deeper ones)
    if (size >= 1000 && deeper_than(*root, 500)) Py_RETURN_NONE;
    static Flat out;  // reused: calls are serialised by the GIL
    static std::string buf;
    out.clear();
    buf.clear();
    Refs refs;
    try {
        flatten(out, *root);
        if (fallback != nullptr && out.find("TimeCreated") == nullptr)
            out.set("TimeCreated", nullptr, true);
        // the JSON of the flat dict
        buf.push_back('{');
        bool first = true;
        for (const Item& item : out.items) {
            if (!first) buf.push_back(',');
            first = false;
            write_string(buf, item.key);
            buf.push_back(':');
            if (!item.fallback) {
                write_value(buf, item.value, 1);
            } else if (fallback == Py_None) {
                buf.append("null");
            } else {
                Py_ssize_t n = 0;
                const char* text = PyUnicode_Check(fallback)
                                       ? PyUnicode_AsUTF8AndSize(fallback, &n) : nullptr;
                if (text == nullptr) {
                    PyErr_Clear();
                    throw Bail();
                }
                write_string(buf, string_view(text, static_cast<size_t>(n)));
            }
        }
        buf.push_back('}');
        // typed columns: per column the candidate of lowest rank with a non-empty value
        std::vector<std::pair<int, const Item*>> best(static_cast<size_t>(g_columns),
                                                      {INT32_MAX, nullptr});
        for (const Item& item : out.items) {
            if (item.key.size() > g_longest || item.key.empty() ||
                !g_last_chars[static_cast<unsigned char>(item.key.back())])
                continue;
            auto found = g_candidates.find(item.key);
            if (found == g_candidates.end() || empty_value(item, fallback)) continue;
            auto& slot = best[static_cast<size_t>(found->second.column)];
            if (found->second.rank < slot.first) slot = {found->second.rank, &item};
        }
        if (block != nullptr) {
            block->mark();
            try {
                block->put_text(0, buf.data(), buf.size());
                auto put = [&](int c, const Item* item) {  // (as item_py gives it)
                    auto col = static_cast<size_t>(c);
                    return item != nullptr && item->fallback
                               ? block->put_py(col, fallback)
                               : block->put_value(col, item != nullptr ? item->value : nullptr);
                };
                bool ok = true;
                for (int i = 0; ok && i < kSystemCount; ++i) ok = put(1 + i, out.find(kSystem[i]));
                for (int t = 0; ok && t < g_columns; ++t)
                    ok = put(1 + kSystemCount + t, best[static_cast<size_t>(t)].second);
                if (!ok) {
                    PyErr_Clear();
                    throw Bail();
                }
            } catch (...) {
                block->rollback();
                throw;
            }
            block->end_row(position);
            Py_RETURN_TRUE;
        }
        PyObject* row = PyTuple_New(1 + kSystemCount + g_columns);
        if (row == nullptr) return nullptr;
        refs.refs.push_back(row);
        PyObject* blob = PyBytes_FromStringAndSize(buf.data(), static_cast<Py_ssize_t>(buf.size()));
        if (blob == nullptr) return nullptr;
        PyTuple_SET_ITEM(row, 0, blob);
        for (int i = 0; i < kSystemCount; ++i) {
            PyObject* got = item_py(out.find(kSystem[i]), fallback);
            if (got == nullptr) {
                PyErr_Clear();
                throw Bail();
            }
            PyTuple_SET_ITEM(row, 1 + i, got);
        }
        for (int c = 0; c < g_columns; ++c) {
            PyObject* got = item_py(best[static_cast<size_t>(c)].second, fallback);
            if (got == nullptr) {
                PyErr_Clear();
                throw Bail();
            }
            PyTuple_SET_ITEM(row, 1 + kSystemCount + c, got);
        }
        refs.refs.clear();
        return row;
    } catch (const Bail&) {
        Py_RETURN_NONE;
    } catch (const std::exception&) {  // e.g. bad_alloc: the Python path will say what it is
        Py_RETURN_NONE;
    }
}

// --- the module -------------------------------------------------------------------------------

// convert_text() of a str or bytes object (None for a str that holds a lone surrogate).
PyObject* convert_object(PyObject* text, PyObject* fallback, Block* block = nullptr,
                         int64_t position = 0) {
    if (PyBytes_Check(text))
        return convert_text(PyBytes_AS_STRING(text), PyBytes_GET_SIZE(text), fallback, true, block,
                            position);
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "convert() needs str or bytes");
        return nullptr;
    }
    Py_ssize_t size = 0;
    const char* data = PyUnicode_AsUTF8AndSize(text, &size);
    if (data == nullptr) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    return convert_text(data, size, fallback, false, block, position);
}

PyObject* convert(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "convert(text, fallback_time=...) takes 1 or 2 arguments");
        return nullptr;
    }
    if (!g_configured) {
        PyErr_SetString(PyExc_RuntimeError, "dwell.ingest._native: configure() first");
        return nullptr;
    }
    return convert_object(args[0], nargs == 2 ? args[1] : nullptr);
}

// --- the matcher's scan text --------------------------------------------------------------
//
// scan_text(view, names) -> str | None: what dwell.engine.matcher builds in Python to look for
// needles in, ``"\x1f".join(text of each value).casefold()`` over the values of ``names``
// present in ``view`` (all values when ``names`` is None); a value's text as
// dwell.engine.evaluate.strings() gives it (a list's items joined, None in a list skipped,
// a None value an empty text). None for values it does not render the same way (floats,
// objects, nested lists): the Python builder takes those events.

bool append_text(std::string& buf, PyObject* v, bool in_list) {
    if (PyUnicode_CheckExact(v)) {
        if (PyUnicode_IS_ASCII(v)) {
            append_lower_ascii(buf, static_cast<const char*>(PyUnicode_DATA(v)),
                               static_cast<size_t>(PyUnicode_GET_LENGTH(v)));
            return true;
        }
        PyObject* folded = PyObject_CallMethod(v, "casefold", nullptr);
        if (folded == nullptr) return false;
        Py_ssize_t n = 0;
        const char* p = PyUnicode_AsUTF8AndSize(folded, &n);
        if (p != nullptr) buf.append(p, static_cast<size_t>(n));
        Py_DECREF(folded);
        return p != nullptr;
    }
    if (v == Py_True || v == Py_False) {
        buf.append(v == Py_True ? "true" : "false");
        return true;
    }
    if (PyLong_CheckExact(v)) {
        PyObject* text = PyObject_Str(v);
        if (text == nullptr) return false;
        Py_ssize_t n = 0;
        const char* p = PyUnicode_AsUTF8AndSize(text, &n);
        if (p != nullptr) buf.append(p, static_cast<size_t>(n));
        Py_DECREF(text);
        return p != nullptr;
    }
    if (v == Py_None) return !in_list;  // (a None item of a list is handled by the caller)
    return false;
}

bool append_value(std::string& buf, PyObject* v) {
    if (!PyList_CheckExact(v)) return append_text(buf, v, false);
    bool first = true;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(v); ++i) {
        PyObject* item = PyList_GET_ITEM(v, i);
        if (item == Py_None) continue;  // strings() yields nothing for it
        if (PyList_CheckExact(item)) return false;
        if (!first) buf.push_back('\x1f');
        first = false;
        if (!append_text(buf, item, true)) return false;
    }
    return true;
}

// --- Aho-Corasick over UTF-8 bytes (the matcher's needles) -------------------------------
//
// A byte trie with failure links; a UTF-8 needle is a byte substring of a UTF-8 text exactly
// when it is a substring of the text, so indexes found are those of str.find() != -1.
// States are numbered breadth first; the first kDense ones (the shallow states, where a scan
// spends most of its time) have a full transition row over byte classes (the bytes of the
// words, each its own class; every other byte leads to the root), deeper ones sorted edges
// and failure links.

constexpr size_t kDenseCells = 1 << 16;  // at most 256 KiB of dense rows per automaton
// An automaton of at most this many words scans by its words' first two bytes instead: a
// bitmap test per position (no dependent loads), and the words starting with a pair that is
// there are compared in place.
constexpr size_t kFilterWords = 128;

struct Automaton {
    unsigned char cls[256] = {};            // byte -> class (0: in no word)
    unsigned char low[256] = {};            // byte -> the byte edges are labelled with
    bool icase = false;                     // no word has an upper-case ASCII letter: scans
                                            // see A-Z as a-z (texts need no lower-casing)
    bool in_numbers = true;                 // a word may be in the text of an integer or bool
    int classes = 1;
    int dense = 0;                          // states [0, dense) have rows in `table`
    std::vector<int> table;                 // dense * classes transitions
    std::vector<int> first;                 // per state: its edges' start in byte/target
    std::vector<uint16_t> count;            // per state: number of edges (sorted by byte)
    std::vector<unsigned char> edge_byte;
    std::vector<int> edge_target;
    std::vector<int> fail;
    std::vector<int> out_first;             // per state: its word ids' start in out_words
    std::vector<int> out_count;
    std::vector<int> out_words;
    std::vector<int> dict_link;             // nearest state on the fail chain with words, or -1
    std::vector<uint32_t> stamp;            // per word: the call that last reported it
    uint32_t generation = 0;
    size_t words = 0;
    // the pair filter (small automata): each word is looked for by its rarest pair of bytes
    // (see byte_weight), at an offset into the word; a pair bitmap, and per pair its (word,
    // offset) and per single byte its one-byte words
    bool filtered = false;
    std::vector<uint64_t> pairs;            // 65536 bits: (low[b0] << 8 | low[b1]) in a word
    std::unordered_map<unsigned, std::vector<std::pair<int, int>>> by_pair;
    std::vector<int> by_byte[256];          // one-byte words
    bool any_single = false;
    std::vector<std::string> texts;         // the words (bytes)
    // "double shufti" (Hyperscan's name): each anchor pair in one of 8 buckets; a byte's
    // buckets as a first (second) byte of a pair are lo[its low nibble] & hi[its high nibble],
    // a superset; 32 positions at a time keep those where the two bytes share a bucket
    alignas(32) unsigned char shufti[4][32] = {};  // lo1, hi1, lo2, hi2 (each 16 bytes, twice)
    bool simd = false;

    void filter_scan(const char* text, size_t size, std::vector<int>& found) {
        const auto* t = reinterpret_cast<const unsigned char*>(text);
        size_t i = 0;
#ifdef DWELL_SHUFTI
        if (simd && !any_single) i = shufti_scan(t, size, found);
#endif
        for (; i < size; ++i) {
            unsigned b0 = low[t[i]];
            if (any_single && !by_byte[b0].empty())
                for (int w : by_byte[b0]) hit(w, found);
            if (i + 1 >= size) break;
            check_pair(t, size, i, found);
        }
    }

    // The words whose anchor pair is at position i (i + 1 < size): the pair bitmap first (most
    // candidates fail it), then the pair's words.
    void check_pair(const unsigned char* t, size_t size, size_t i, std::vector<int>& found) {
        unsigned key = static_cast<unsigned>(low[t[i]]) << 8 | low[t[i + 1]];
        if (pairs[key >> 6] >> (key & 63) & 1) pair_words(t, size, i, key, found);
    }

    __attribute__((noinline)) void pair_words(const unsigned char* t, size_t size, size_t i,
                                              unsigned key, std::vector<int>& found) {
        auto it = by_pair.find(key);
        if (it == by_pair.end()) return;
        for (auto [w, at] : it->second) {
            const std::string& word = texts[static_cast<size_t>(w)];
            auto offset = static_cast<size_t>(at);
            if (i < offset || size - (i - offset) < word.size()) continue;
            const unsigned char* start = t + (i - offset);
            size_t k = 0;
            while (k < word.size() && low[start[k]] == static_cast<unsigned char>(word[k])) ++k;
            if (k == word.size()) hit(w, found);
        }
    }

#ifdef DWELL_SHUFTI
    // Checks the positions [0, returned) (those whose pair lies in whole 32-byte blocks).
    __attribute__((target("avx2"))) size_t shufti_scan(const unsigned char* t, size_t size,
                                                        std::vector<int>& found) {
        const __m256i lo1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(shufti[0]));
        const __m256i hi1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(shufti[1]));
        const __m256i lo2 = _mm256_load_si256(reinterpret_cast<const __m256i*>(shufti[2]));
        const __m256i hi2 = _mm256_load_si256(reinterpret_cast<const __m256i*>(shufti[3]));
        const __m256i nibble = _mm256_set1_epi8(0x0f);
        const __m256i zero = _mm256_setzero_si256();
        size_t i = 0;
        for (; i + 33 <= size; i += 32) {
            __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t + i));
            __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t + i + 1));
            __m256i first = _mm256_and_si256(
                _mm256_shuffle_epi8(lo1, _mm256_and_si256(a, nibble)),
                _mm256_shuffle_epi8(hi1, _mm256_and_si256(_mm256_srli_epi16(a, 4), nibble)));
            __m256i second = _mm256_and_si256(
                _mm256_shuffle_epi8(lo2, _mm256_and_si256(b, nibble)),
                _mm256_shuffle_epi8(hi2, _mm256_and_si256(_mm256_srli_epi16(b, 4), nibble)));
            auto hits = static_cast<uint32_t>(~_mm256_movemask_epi8(
                _mm256_cmpeq_epi8(_mm256_and_si256(first, second), zero)));
            while (hits != 0) {
                check_pair(t, size, i + static_cast<size_t>(__builtin_ctz(hits)), found);
                hits &= hits - 1;
            }
        }
        return i;
    }
#endif

    void hit(int w, std::vector<int>& found) {
        if (stamp[static_cast<size_t>(w)] != generation) {
            stamp[static_cast<size_t>(w)] = generation;
            found.push_back(w);
        }
    }

    int edge(int state, unsigned char b) const {  // the trie edge, or -1
        const unsigned char* bytes = edge_byte.data() + first[static_cast<size_t>(state)];
        int n = count[static_cast<size_t>(state)];
        for (int i = 0; i < n; ++i)
            if (bytes[i] == b) return edge_target[static_cast<size_t>(first[static_cast<size_t>(state)] + i)];
        return -1;
    }

    int step(int state, unsigned char b) const {
        b = low[b];
        int c = cls[b];
        if (c == 0) return 0;
        while (state >= dense) {
            int t = edge(state, b);
            if (t >= 0) return t;
            state = fail[static_cast<size_t>(state)];
        }
        return table[static_cast<size_t>(state) * static_cast<size_t>(classes) + static_cast<size_t>(c)] &
               ~kOut;
    }

    static constexpr int kOut = 1 << 30;  // in `table`: the target state reports words

    void report(int state, std::vector<int>& found) {
        auto st = static_cast<size_t>(state);
        for (int s = out_count[st] ? state : dict_link[st]; s > 0;
             s = dict_link[static_cast<size_t>(s)]) {
            auto from = static_cast<size_t>(out_first[static_cast<size_t>(s)]);
            for (size_t k = 0; k < static_cast<size_t>(out_count[static_cast<size_t>(s)]); ++k) {
                int w = out_words[from + k];
                if (stamp[static_cast<size_t>(w)] != generation) {
                    stamp[static_cast<size_t>(w)] = generation;
                    found.push_back(w);
                }
            }
        }
    }

    // A new search (words are reported once per search, over any number of texts).
    void begin() {
        if (++generation == 0) {  // wrapped: reset the stamps
            std::fill(stamp.begin(), stamp.end(), 0);
            generation = 1;
        }
    }

    // The words in one text (found in no text of this search before), appended to found.
    void scan(const char* text, size_t size, std::vector<int>& found) {
        if (filtered) {
            filter_scan(text, size, found);
            return;
        }
        int state = 0;
        const auto* bytes = reinterpret_cast<const unsigned char*>(text);
        const int* rows = table.data();
        const auto width = static_cast<size_t>(classes);
        for (size_t i = 0; i < size; ++i) {
            int c = cls[bytes[i]];
            if (c == 0) {
                state = 0;
                continue;
            }
            int t;
            if (state < dense) {
                t = rows[static_cast<size_t>(state) * width + static_cast<size_t>(c)];
            } else {
                t = step(state, bytes[i]);
                if (out_count[static_cast<size_t>(t)] || dict_link[static_cast<size_t>(t)] >= 0)
                    t |= kOut;
            }
            state = t & ~kOut;
            if (t & kOut) report(state, found);
        }
    }

    void find(const char* text, size_t size, std::vector<int>& found) {
        begin();
        scan(text, size, found);
    }
};

void free_automaton(PyObject* capsule) {
    delete static_cast<Automaton*>(PyCapsule_GetPointer(capsule, "dwell.automaton"));
}

// automaton(words: list[str]) -> capsule
// How common a (lower-case) byte is in event texts, roughly: English letter frequencies, digits
// and the punctuation of paths, times and addresses; other bytes rare. Only the order matters:
// the pair filter looks for each word by its pair of least weight.
double byte_weight(unsigned char c) {
    static const double letters[26] = {8.2, 1.5, 2.8, 4.3, 12.7, 2.2, 2.0, 6.1, 7.0, 0.15,
                                       0.8, 4.0, 2.4, 6.7, 7.5, 1.9, 0.1, 6.0, 6.3, 9.1,
                                       2.8, 1.0, 2.4, 0.15, 2.0, 0.07};
    if (c >= 'a' && c <= 'z') return letters[c - 'a'];
    if (c >= 'A' && c <= 'Z') return letters[c - 'A'];  // (a case-sensitive automaton)
    if (c >= '0' && c <= '9') return 3.0;
    switch (c) {
        case ' ': return 15.0;
        case '\\': return 5.0;
        case '.': case '-': return 3.0;
        case ':': return 2.0;
        case '_': case '/': case ',': return 1.5;
        default: return c >= 0x80 ? 0.5 : 0.3;
    }
}

PyObject* automaton(PyObject*, PyObject* arg) {
    if (!PyList_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "automaton() needs a list of str");
        return nullptr;
    }
    // the trie: children as sorted (byte, target) lists per state, ids in insertion order
    std::vector<std::vector<std::pair<unsigned char, int>>> kids(1);
    std::vector<std::vector<int>> outs(1);
    bool used[256] = {};
    bool in_numbers = false;  // a word may be in the text of an integer or bool
    Py_ssize_t n = PyList_GET_SIZE(arg);
    for (Py_ssize_t w = 0; w < n; ++w) {
        PyObject* word = PyList_GET_ITEM(arg, w);
        Py_ssize_t len = 0;
        const char* bytes = PyUnicode_Check(word) ? PyUnicode_AsUTF8AndSize(word, &len) : nullptr;
        if (bytes == nullptr) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "words must be str");
            return nullptr;
        }
        if (len == 0) continue;  // (an empty word is in every text: the caller never asks)
        // (integers' texts hold only '-' and digits, bools' are "true" or "false")
        string_view text(bytes, static_cast<size_t>(len));
        in_numbers = in_numbers || text.find_first_not_of("-0123456789") == string_view::npos ||
                     string_view("true").find(text) != string_view::npos ||
                     string_view("false").find(text) != string_view::npos;
        int state = 0;
        for (Py_ssize_t i = 0; i < len; ++i) {
            auto b = static_cast<unsigned char>(bytes[i]);
            used[b] = true;
            auto& edges = kids[static_cast<size_t>(state)];
            auto it = std::lower_bound(edges.begin(), edges.end(), std::make_pair(b, -1));
            if (it != edges.end() && it->first == b) {
                state = it->second;
            } else {
                int next = static_cast<int>(kids.size());
                edges.insert(it, {b, next});
                kids.emplace_back();
                outs.emplace_back();
                state = next;
            }
        }
        outs[static_cast<size_t>(state)].push_back(static_cast<int>(w));
    }
    size_t states = kids.size();
    // breadth-first numbering
    std::vector<int> order{0}, id(states, 0);
    for (size_t q = 0; q < order.size(); ++q)
        for (auto& [b, t] : kids[static_cast<size_t>(order[q])]) {
            id[static_cast<size_t>(t)] = static_cast<int>(order.size());
            order.push_back(t);
        }
    auto* a = new Automaton();
    a->words = static_cast<size_t>(n);
    a->stamp.assign(a->words, 0);
    a->icase = true;
    for (int b = 'A'; b <= 'Z'; ++b) a->icase = a->icase && !used[b];
    for (int b = 0; b < 256; ++b) {
        a->low[b] = static_cast<unsigned char>(a->icase && b >= 'A' && b <= 'Z' ? b + 32 : b);
        if (used[b]) a->cls[b] = static_cast<unsigned char>(a->classes++);
    }
    if (a->icase)
        for (int b = 'A'; b <= 'Z'; ++b) a->cls[b] = a->cls[b + 32];
    a->first.assign(states, 0);
    a->count.assign(states, 0);
    a->fail.assign(states, 0);
    a->dict_link.assign(states, -1);
    a->out_first.assign(states, 0);
    a->out_count.assign(states, 0);
    for (size_t st = 0; st < states; ++st) {  // st: the new id
        auto old = static_cast<size_t>(order[st]);
        a->first[st] = static_cast<int>(a->edge_byte.size());
        a->count[st] = static_cast<uint16_t>(kids[old].size());  // at most 256
        for (auto& [b, t] : kids[old]) {
            a->edge_byte.push_back(b);
            a->edge_target.push_back(id[static_cast<size_t>(t)]);
        }
        a->out_first[st] = static_cast<int>(a->out_words.size());
        a->out_count[st] = static_cast<int>(outs[old].size());
        a->out_words.insert(a->out_words.end(), outs[old].begin(), outs[old].end());
    }
    size_t classes = static_cast<size_t>(a->classes);
    a->dense = static_cast<int>(std::max<size_t>(1, std::min(states, kDenseCells / classes)));
    a->table.assign(static_cast<size_t>(a->dense) * classes, 0);
    // failure links, dictionary links and dense rows, breadth first (a state's failure is
    // shallower, so its row is complete before it is needed)
    for (size_t st = 0; st < states; ++st) {
        int f = a->fail[st];
        if (st < static_cast<size_t>(a->dense)) {
            int* row = a->table.data() + st * classes;
            if (st > 0) std::copy_n(a->table.data() + static_cast<size_t>(f) * classes, classes, row);
            for (int k = 0; k < a->count[st]; ++k)
                row[a->cls[a->edge_byte[static_cast<size_t>(a->first[st] + k)]]] =
                    a->edge_target[static_cast<size_t>(a->first[st] + k)];
        }
        for (int k = 0; k < a->count[st]; ++k) {
            unsigned char b = a->edge_byte[static_cast<size_t>(a->first[st] + k)];
            int t = a->edge_target[static_cast<size_t>(a->first[st] + k)];
            int target = st == 0 ? 0 : a->step(f, b);
            a->fail[static_cast<size_t>(t)] = target;
            a->dict_link[static_cast<size_t>(t)] =
                a->out_count[static_cast<size_t>(target)] ? target
                                                          : a->dict_link[static_cast<size_t>(target)];
        }
    }
    if (static_cast<size_t>(n) <= kFilterWords) {
        a->filtered = true;
        a->pairs.assign(65536 / 64, 0);
        a->texts.resize(static_cast<size_t>(n));
        for (Py_ssize_t w = 0; w < n; ++w) {
            Py_ssize_t len = 0;
            const char* bytes = PyUnicode_AsUTF8AndSize(PyList_GET_ITEM(arg, w), &len);
            std::string& word = a->texts[static_cast<size_t>(w)];
            word.assign(bytes, static_cast<size_t>(len));  // (checked above)
            for (char& c : word) c = static_cast<char>(a->low[static_cast<unsigned char>(c)]);
            if (word.empty()) continue;
            if (word.size() == 1) {
                a->by_byte[static_cast<unsigned char>(word[0])].push_back(static_cast<int>(w));
                a->any_single = true;
                continue;
            }
            size_t at = 0;  // the rarest pair: fewest texts pass the bitmap for nothing
            double best = 1e30;
            for (size_t k = 0; k + 1 < word.size(); ++k) {
                double weight = byte_weight(static_cast<unsigned char>(word[k])) *
                                byte_weight(static_cast<unsigned char>(word[k + 1]));
                if (weight < best) {
                    best = weight;
                    at = k;
                }
            }
            unsigned key = static_cast<unsigned>(static_cast<unsigned char>(word[at])) << 8 |
                           static_cast<unsigned char>(word[at + 1]);
            a->pairs[key >> 6] |= uint64_t(1) << (key & 63);
            a->by_pair[key].emplace_back(static_cast<int>(w), static_cast<int>(at));
        }
        // the shufti tables, for each byte the text may hold (both cases of a letter when the
        // scan ignores case): the pairs in order, in 8 runs (pairs of a run share first bytes
        // as far as can be, so that few other pairs pass for them)
        std::vector<unsigned> keys;
        for (auto& [key, _] : a->by_pair) keys.push_back(key);
        std::sort(keys.begin(), keys.end());
        for (size_t p = 0; p < keys.size(); ++p) {
            unsigned key = keys[p];
            auto bit = static_cast<unsigned char>(1u << (p * 8 / keys.size()));
            for (int side = 0; side < 2; ++side) {
                unsigned b = side == 0 ? key >> 8 : key & 0xff;
                for (unsigned c = 0; c < 256; ++c) {
                    if (a->low[c] != b) continue;
                    for (int lane = 0; lane < 32; lane += 16) {
                        a->shufti[2 * side][lane + (c & 15)] |= bit;
                        a->shufti[2 * side + 1][lane + (c >> 4)] |= bit;
                    }
                }
            }
        }
    }
    a->in_numbers = in_numbers;
#ifdef DWELL_SHUFTI
    a->simd = a->filtered && __builtin_cpu_supports("avx2") && std::getenv("DWELL_NO_AVX2") == nullptr;
#endif
    for (int& t : a->table)  // (every row is built: flag the targets that report words)
        if (a->out_count[static_cast<size_t>(t)] || a->dict_link[static_cast<size_t>(t)] >= 0)
            t |= Automaton::kOut;
    PyObject* capsule = PyCapsule_New(a, "dwell.automaton", free_automaton);
    if (capsule == nullptr) delete a;
    return capsule;
}

Automaton* get_automaton(PyObject* capsule) {
    return static_cast<Automaton*>(PyCapsule_GetPointer(capsule, "dwell.automaton"));
}

PyObject* found_list(const std::vector<int>& found) {
    PyObject* list = PyList_New(static_cast<Py_ssize_t>(found.size()));
    if (list == nullptr) return nullptr;
    for (size_t i = 0; i < found.size(); ++i) {
        PyObject* v = PyLong_FromLong(found[i]);
        if (v == nullptr) {
            Py_DECREF(list);
            return nullptr;
        }
        PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), v);
    }
    return list;
}

// find(automaton, text: str) -> list[int]: indexes of the words in text, each once
PyObject* find(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyUnicode_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "find(automaton, text: str)");
        return nullptr;
    }
    Automaton* a = get_automaton(args[0]);
    if (a == nullptr) return nullptr;
    Py_ssize_t size = 0;
    const char* text = PyUnicode_AsUTF8AndSize(args[1], &size);
    if (text == nullptr) return nullptr;
    static std::vector<int> found;
    found.clear();
    a->find(text, static_cast<size_t>(size), found);
    return found_list(found);
}

bool build_scan_text(std::string& buf, PyObject* view, PyObject* names);

// scan_find(automaton, view, names) -> list[int] | None: find() in scan_text(view, names)
PyObject* scan_find(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyDict_Check(args[1]) || (args[2] != Py_None && !PyTuple_Check(args[2]))) {
        PyErr_SetString(PyExc_TypeError, "scan_find(automaton, view: dict, names: tuple | None)");
        return nullptr;
    }
    Automaton* a = get_automaton(args[0]);
    if (a == nullptr) return nullptr;
    static std::string buf;
    if (!build_scan_text(buf, args[1], args[2])) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    static std::vector<int> found;
    found.clear();
    a->find(buf.data(), buf.size(), found);
    return found_list(found);
}

bool build_scan_text(std::string& buf, PyObject* view, PyObject* names) {
    buf.clear();
    bool first = true;
    if (names == Py_None) {
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        while (PyDict_Next(view, &pos, &key, &value)) {
            if (!first) buf.push_back('\x1f');
            first = false;
            if (!append_value(buf, value)) return false;
        }
        return true;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); ++i) {
        PyObject* value = PyDict_GetItemWithError(view, PyTuple_GET_ITEM(names, i));
        if (value == nullptr) {
            if (PyErr_Occurred()) return false;
            continue;
        }
        if (!first) buf.push_back('\x1f');
        first = false;
        if (!append_value(buf, value)) return false;
    }
    return true;
}

PyObject* scan_text(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyDict_Check(args[0]) || (args[1] != Py_None && !PyTuple_Check(args[1]))) {
        PyErr_SetString(PyExc_TypeError, "scan_text(view: dict, names: tuple | None)");
        return nullptr;
    }
    static std::string buf;
    if (!build_scan_text(buf, args[0], args[1])) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    return PyUnicode_DecodeUTF8(buf.data(), static_cast<Py_ssize_t>(buf.size()), "strict");
}

bool utf8(PyObject* obj, std::string& out) {
    Py_ssize_t n = 0;
    const char* s = PyUnicode_Check(obj) ? PyUnicode_AsUTF8AndSize(obj, &n) : nullptr;
    if (s == nullptr) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "names must be str");
        return false;
    }
    out.assign(s, static_cast<size_t>(n));
    return true;
}

// configure(candidates: dict[str, tuple[int, int]], columns: int, prefixes: dict[str, str])
PyObject* configure(PyObject*, PyObject* args) {
    PyObject* candidates = nullptr;
    PyObject* prefixes = nullptr;
    int columns = 0;
    if (!PyArg_ParseTuple(args, "O!iO!", &PyDict_Type, &candidates, &columns, &PyDict_Type,
                          &prefixes))
        return nullptr;
    std::vector<std::pair<std::string, Candidate>> cands;
    std::vector<std::pair<std::string, std::string>> prefs;
    PyObject *key = nullptr, *value = nullptr;
    Py_ssize_t pos = 0;
    while (PyDict_Next(candidates, &pos, &key, &value)) {
        std::string name;
        int column = 0, rank = 0;
        if (!utf8(key, name) || !PyArg_ParseTuple(value, "ii", &column, &rank)) return nullptr;
        if (column < 0 || column >= columns) {
            PyErr_SetString(PyExc_ValueError, "candidate column out of range");
            return nullptr;
        }
        cands.emplace_back(std::move(name), Candidate{column, rank});
    }
    pos = 0;
    while (PyDict_Next(prefixes, &pos, &key, &value)) {
        std::string element, prefix;
        if (!utf8(key, element) || !utf8(value, prefix)) return nullptr;
        prefs.emplace_back(std::move(element), std::move(prefix));
    }
    g_candidates.clear();
    g_prefixes.clear();
    g_names.clear();
    g_names.reserve(cands.size() + 2 * prefs.size());  // no reallocation: views stay valid
    g_longest = 0;
    std::fill_n(g_last_chars, 256, false);
    for (auto& [name, cand] : cands) {
        g_names.push_back(name);
        g_candidates.emplace(g_names.back(), cand);
        g_longest = std::max(g_longest, name.size());
        if (!name.empty()) g_last_chars[static_cast<unsigned char>(name.back())] = true;
    }
    for (auto& [element, prefix] : prefs) {
        g_names.push_back(element);
        string_view e = g_names.back();
        g_names.push_back(prefix);
        g_prefixes.emplace(e, g_names.back());
    }
    g_columns = columns;
    g_configured = true;
    Py_RETURN_NONE;
}

// --- the matcher's buckets, natively ----------------------------------------------------------
//
// dwell.engine.matcher keeps, per (channel, event id), a bucket: the rules of that key, the
// needles that select candidate rules, and each rule's condition tree. A native bucket is a
// copy of one (set and updated from Python), and run(matcher, texts) matches whole batches of
// stored ``fields`` JSON texts without building any Python object for most events:
//
//   parse the text, find its bucket by (Channel, EventID), build the folded scan text of the
//   bucket's fields, find the needles (Aho-Corasick, above), and evaluate the candidate rules'
//   trees in three-valued logic: true, false, or *unknown* for what is left to Python (regular
//   expressions, globs, cidr, comparisons, field references, keywords, floats, objects).
//
// It answers, per event that needs anything: (index, rule indexes that matched, bucket slots
// left unknown), or (index, None, None) when the event takes the Python path whole (a bucket
// not registered yet, a value it does not render, a parse error...). The Python matcher is the
// reference; tests compare the two on generated and real events.

enum NodeKind : uint8_t { kAnd, kOr, kNot, kTrue, kUnknown, kTest };
enum TestOp : uint8_t { kEq, kContains, kStarts, kEnds, kNull, kExists, kNum, kBool, kCall, kFieldref };
enum Tri : uint8_t { kF = 0, kT = 1, kU = 2 };

struct NNode {
    NodeKind kind = kUnknown;
    TestOp op = kEq;
    bool cased = false;
    bool flag = false;       // exists / bool: the value tested for
    int field = -1;          // index into the bucket's fields
    int first = 0;           // children: kids[first .. first + count)
    int count = 0;
    int64_t num = 0;
    int call = -1;           // kCall: index into the bucket's callables
    int other = -1;          // kFieldref: the other field; `mode` its string operation
    TestOp mode = kEq;
    std::string lit;
};

struct Program {
    std::vector<NNode> nodes;
    std::vector<int> kids;
    int root = -1;
    bool keywords = false;  // has a keyword test (reads every field: not memoisable)
};

struct Span {
    uint32_t raw_off, raw_len, fold_off, fold_len;
    const char* raw;  // into the parsed text, or null: raw text is in the arena at raw_off
    PyObject* raw_obj;   // the texts as Python str, made for kCall tests (owned)
    PyObject* fold_obj;
};

// A hash of memo keys (hundreds of bytes each, looked up for every event): eight bytes per
// multiply-and-mix step.
struct KeyHash {
    size_t operator()(const std::string& key) const noexcept {
        constexpr uint64_t kMul = 0x9E3779B97F4A7C15ULL;
        uint64_t h = key.size() * kMul;
        const char* p = key.data();
        size_t n = key.size();
        for (; n >= 8; p += 8, n -= 8) {
            uint64_t w;
            std::memcpy(&w, p, 8);
            h = (h ^ w) * kMul;
            h ^= h >> 29;
        }
        uint64_t tail = 0;
        std::memcpy(&tail, p, n);
        h = (h ^ tail) * kMul;
        return static_cast<size_t>(h ^ (h >> 32));
    }
};

struct NBucket {
    std::vector<std::string> fields;
    std::unordered_map<std::string, int> field_index;
    std::vector<int> field_of_gid;   // by key id: -2 not looked up yet, -1 not a bucket field
    std::vector<int> scan;           // the fields whose texts `automaton` scans
    PyObject* automaton = nullptr;   // a capsule (owned reference) or null: no needles
    PyObject* keywords = nullptr;    // the same for keyword needles, over every field's texts
    int split = 0;                   // word ids of `keywords` start here
    std::vector<std::vector<int>> targets;  // per word: the slots it selects
    std::vector<int> always;
    std::vector<int> rule_of_slot;
    std::vector<Program> programs;   // per slot
    std::vector<PyObject*> calls;    // kCall tests' predicates, or what makes them (owned)
    std::vector<uint8_t> made;       // per call: calls[i] is the predicate (else its maker)
    // per call: its answers by text (the predicates are pure: a regex, a glob, a cidr test;
    // values repeat, and each answer otherwise costs a call into Python)
    std::vector<std::unordered_map<std::string, bool, KeyHash>> answers;
    // Outcomes by the values of `fields` (what the rules read): logs repeat themselves, and an
    // event with the same values has the same matching rules. Keys are compared whole.
    std::unordered_map<std::string, std::pair<std::vector<int>, std::vector<int>>, KeyHash> memo;

    NBucket() = default;
    NBucket(const NBucket&) = delete;
    NBucket& operator=(const NBucket&) = delete;
    ~NBucket() {
        Py_XDECREF(automaton);
        Py_XDECREF(keywords);
        for (PyObject* c : calls) Py_DECREF(c);
    }

    void swap(NBucket& o) noexcept {
        std::swap(fields, o.fields);
        std::swap(field_index, o.field_index);
        std::swap(field_of_gid, o.field_of_gid);
        std::swap(scan, o.scan);
        std::swap(automaton, o.automaton);
        std::swap(keywords, o.keywords);
        std::swap(split, o.split);
        std::swap(targets, o.targets);
        std::swap(always, o.always);
        std::swap(rule_of_slot, o.rule_of_slot);
        std::swap(programs, o.programs);
        std::swap(calls, o.calls);
        std::swap(made, o.made);
        std::swap(answers, o.answers);
        std::swap(memo, o.memo);
    }
};

// The bytes all memos may hold (a module setting: memo_limit(), for tests).
size_t g_memo_bytes = 32 << 20;
constexpr size_t kMaxMatchText = 256 << 20;

// The memo key of an event: each bucket field's value, typed and length-prefixed; false for
// values not keyed (objects, nested lists).
bool memo_key(std::string& key, const std::vector<const Value*>& values) {
    key.clear();
    auto put = [&key](char tag, const void* data, size_t size) {
        key.push_back(tag);
        auto n = static_cast<uint32_t>(size);
        key.append(reinterpret_cast<const char*>(&n), sizeof n);
        key.append(static_cast<const char*>(data), size);
    };
    auto scalar = [&](const Value& v) {
        if (v.IsNull()) {
            key.push_back('n');
        } else if (v.IsString()) {
            put('s', v.GetString(), v.GetStringLength());
        } else if (v.IsBool()) {
            key.push_back(v.GetBool() ? 'T' : 'F');
        } else if (v.IsInt64()) {
            int64_t x = v.GetInt64();
            put('i', &x, sizeof x);
        } else if (v.IsUint64()) {
            uint64_t x = v.GetUint64();
            put('u', &x, sizeof x);
        } else if (v.IsDouble()) {
            double x = v.GetDouble();
            put('d', &x, sizeof x);
        } else {
            return false;
        }
        return true;
    };
    for (const Value* v : values) {
        if (v == nullptr) {
            key.push_back('0');
        } else if (v->IsArray()) {
            uint32_t n = v->Size();
            put('a', &n, 0);
            key.append(reinterpret_cast<const char*>(&n), sizeof n);
            for (auto& item : v->GetArray())
                if (item.IsArray() || !scalar(item)) return false;
        } else if (!scalar(*v)) {
            return false;
        }
    }
    return true;
}

struct NMatcher {
    std::deque<std::string> keys;                      // owns the views below
    std::unordered_map<string_view, int> gid_of_raw;   // raw field name -> key id
    std::unordered_map<string_view, int> gid_of_key;   // field_key() -> key id
    std::vector<string_view> key_of_gid;
    std::unordered_map<std::string, PyObject*> buckets;  // channel \0 event id -> capsule
    int gid_channel = -1, gid_eventid = -1;
    // the bucket of the last (channel, event id) looked up (borrowed from `buckets`; null: none)
    PyObject* last_bucket = nullptr;
    std::string last_channel;
    int64_t last_eid = 0;
    size_t memo_bytes = 0;  // in all buckets' memos (all are emptied when it would pass the limit)
    // the last event's (channel, event id) when it had no bucket
    bool missing = false, missing_null = false;
    std::string missing_channel;
    int64_t missing_eid = 0;
    // per rule index: the fields whose values a detection keeps (key ids, and names as given)
    std::vector<std::vector<std::pair<int, std::string>>> capture;
    // the key ids of the last event's names, by position (-1: none)
    std::vector<std::pair<std::string, int>> last_keys;

    ~NMatcher() {
        for (auto& [k, b] : buckets) Py_DECREF(b);
    }

    int key_id(string_view key) {  // field_key() of a lower-case name
        auto it = gid_of_key.find(key);
        if (it != gid_of_key.end()) return it->second;
        keys.emplace_back(key);
        int gid = static_cast<int>(key_of_gid.size());
        key_of_gid.push_back(keys.back());
        gid_of_key.emplace(keys.back(), gid);
        return gid;
    }

    // The key id of a raw field name (field_key: lower case, no spaces), or -1 on error.
    int gid(string_view raw) {
        auto it = gid_of_raw.find(raw);
        if (it != gid_of_raw.end()) return it->second;
        std::string low;
        if (ascii(raw.data(), raw.size())) {
            low.reserve(raw.size());
            for (char c : raw) {
                if (c == ' ') continue;
                low.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
            }
        } else {
            std::string lowered;
            if (!append_py_str(lowered, raw.data(), raw.size(), "lower")) return -1;
            for (char c : lowered)
                if (c != ' ') low.push_back(c);
        }
        int id = key_id(low);
        if (gid_of_raw.size() < 200000) {
            keys.emplace_back(raw);
            gid_of_raw.emplace(keys.back(), id);
        }
        return id;
    }
};

void free_nmatcher(PyObject* capsule) {
    delete static_cast<NMatcher*>(PyCapsule_GetPointer(capsule, "dwell.nmatcher"));
}

void free_nbucket(PyObject* capsule) {
    delete static_cast<NBucket*>(PyCapsule_GetPointer(capsule, "dwell.nbucket"));
}

// matcher() -> capsule: an empty registry of buckets
PyObject* nm_new(PyObject*, PyObject*) {
    auto* m = new NMatcher();
    m->gid_channel = m->key_id("channel");
    m->gid_eventid = m->key_id("eventid");
    PyObject* capsule = PyCapsule_New(m, "dwell.nmatcher", free_nmatcher);
    if (capsule == nullptr) delete m;
    return capsule;
}

// bucket() -> capsule: an empty bucket (every event of it matches nothing until set)
PyObject* nb_new(PyObject*, PyObject*) {
    auto* b = new NBucket();
    PyObject* capsule = PyCapsule_New(b, "dwell.nbucket", free_nbucket);
    if (capsule == nullptr) delete b;
    return capsule;
}

int field_of(NBucket& b, const std::string& name) {
    auto it = b.field_index.find(name);
    if (it == b.field_index.end()) {
        int index = static_cast<int>(b.fields.size());
        it = b.field_index.emplace(name, index).first;
        b.fields.push_back(name);
    }
    return it->second;
}

// Program building from the spec tuples of dwell.engine.matcher.native_spec().
bool build_node(Program& prog, NBucket& b, PyObject* spec, int depth, int& out) {
    if (depth > 200 || !PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) < 1) {
        PyErr_SetString(PyExc_ValueError, "bad node spec");
        return false;
    }
    long kind = PyLong_AsLong(PyTuple_GET_ITEM(spec, 0));
    if (kind == -1 && PyErr_Occurred()) return false;
    NNode node;
    if (kind == kAnd || kind == kOr || kind == kNot) {
        PyObject* args = PyTuple_GET_SIZE(spec) == 2 ? PyTuple_GET_ITEM(spec, 1) : nullptr;
        if (args == nullptr || !PyTuple_Check(args) ||
            (kind == kNot && PyTuple_GET_SIZE(args) != 1)) {
            PyErr_SetString(PyExc_ValueError, "bad node spec arguments");
            return false;
        }
        std::vector<int> kids;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args); ++i) {
            int kid = -1;
            if (!build_node(prog, b, PyTuple_GET_ITEM(args, i), depth + 1, kid)) return false;
            kids.push_back(kid);
        }
        node.kind = static_cast<NodeKind>(kind);
        node.first = static_cast<int>(prog.kids.size());
        node.count = static_cast<int>(kids.size());
        prog.kids.insert(prog.kids.end(), kids.begin(), kids.end());
    } else if (kind == kTrue || kind == kUnknown) {
        node.kind = static_cast<NodeKind>(kind);
    } else if (kind == kTest && PyTuple_GET_SIZE(spec) == 5) {
        node.kind = kTest;
        std::string name;
        PyObject* field = PyTuple_GET_ITEM(spec, 1);
        if (field == Py_None) {
            node.field = -1;  // a keyword: any field's value
            prog.keywords = true;
        } else {
            if (!utf8(field, name)) return false;
            node.field = field_of(b, name);
        }
        long op = PyLong_AsLong(PyTuple_GET_ITEM(spec, 2));
        if ((op == -1 && PyErr_Occurred()) || op < kEq || op > kFieldref) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "bad test operation");
            return false;
        }
        node.op = static_cast<TestOp>(op);
        if (node.field < 0 && node.op > kEnds) {
            PyErr_SetString(PyExc_ValueError, "a keyword test is a string test");
            return false;
        }
        PyObject* lit = PyTuple_GET_ITEM(spec, 3);
        node.cased = PyObject_IsTrue(PyTuple_GET_ITEM(spec, 4)) == 1;
        if (node.op <= kEnds) {
            if (!utf8(lit, node.lit)) return false;
        } else if (node.op == kExists || node.op == kBool) {
            node.flag = lit == Py_True;
        } else if (node.op == kNum) {
            long long v = PyLong_AsLongLong(lit);
            if (v == -1 && PyErr_Occurred()) return false;
            node.num = v;
        } else if (node.op == kCall) {
            if (!PyCallable_Check(lit)) {
                PyErr_SetString(PyExc_TypeError, "a call test needs a callable");
                return false;
            }
            Py_INCREF(lit);
            node.call = static_cast<int>(b.calls.size());
            b.calls.push_back(lit);
            b.made.push_back(0);
        } else if (node.op == kFieldref) {
            std::string other;
            long mode = -1;
            if (!PyTuple_Check(lit) || PyTuple_GET_SIZE(lit) != 2 ||
                !utf8(PyTuple_GET_ITEM(lit, 0), other) ||
                ((mode = PyLong_AsLong(PyTuple_GET_ITEM(lit, 1))) == -1 && PyErr_Occurred())) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "bad field reference");
                return false;
            }
            if (mode != kEq && mode != kStarts && mode != kEnds) {
                PyErr_SetString(PyExc_ValueError, "bad field reference mode");
                return false;
            }
            node.other = field_of(b, other);
            node.mode = static_cast<TestOp>(mode);
        }
    } else {
        PyErr_SetString(PyExc_ValueError, "bad node kind");
        return false;
    }
    prog.nodes.push_back(std::move(node));
    out = static_cast<int>(prog.nodes.size()) - 1;
    return true;
}

bool int_list(PyObject* seq, std::vector<int>& out) {
    out.clear();
    PyObject* fast = PySequence_Fast(seq, "a sequence of int is needed");
    if (fast == nullptr) return false;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    for (Py_ssize_t i = 0; i < n; ++i) {
        long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, i));
        if (v == -1 && PyErr_Occurred()) {
            Py_DECREF(fast);
            return false;
        }
        out.push_back(static_cast<int>(v));
    }
    Py_DECREF(fast);
    return true;
}

// set_bucket(bucket, scan: tuple[str], automaton | None, keywords | None, split: int,
//            targets: list[list[int]], always: list[int], rules: list[int],
//            programs: list[spec])
PyObject* nb_set(PyObject*, PyObject* args) {
    PyObject *capsule, *scan, *automaton_obj, *keywords_obj, *targets, *always, *rules, *programs;
    int split = 0;
    if (!PyArg_ParseTuple(args, "OOOOiO!OO!O!", &capsule, &scan, &automaton_obj, &keywords_obj,
                          &split, &PyList_Type, &targets, &always, &PyList_Type, &rules,
                          &PyList_Type, &programs))
        return nullptr;
    auto* old = static_cast<NBucket*>(PyCapsule_GetPointer(capsule, "dwell.nbucket"));
    if (old == nullptr) return nullptr;
    if (PyList_GET_SIZE(rules) != PyList_GET_SIZE(programs)) {
        PyErr_SetString(PyExc_ValueError, "one program per rule slot");
        return nullptr;
    }
    NBucket b;
    size_t words = 0;
    if (automaton_obj != Py_None) {
        Automaton* a = get_automaton(automaton_obj);
        if (a == nullptr) return nullptr;
        Py_INCREF(automaton_obj);
        b.automaton = automaton_obj;
        words = a->words;
    }
    if (split < 0 || static_cast<size_t>(split) != words) {
        PyErr_SetString(PyExc_ValueError, "split: the number of words of the field automaton");
        return nullptr;
    }
    b.split = split;
    if (keywords_obj != Py_None) {
        Automaton* a = get_automaton(keywords_obj);
        if (a == nullptr) return nullptr;
        Py_INCREF(keywords_obj);
        b.keywords = keywords_obj;
        words += a->words;
    }
    if (static_cast<size_t>(PyList_GET_SIZE(targets)) != words) {
        PyErr_SetString(PyExc_ValueError, "one target list per word");
        return nullptr;
    }
    std::vector<int> tmp;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(targets); ++i) {
        if (!int_list(PyList_GET_ITEM(targets, i), tmp)) return nullptr;
        b.targets.push_back(tmp);
    }
    if (!int_list(always, b.always) || !int_list(rules, b.rule_of_slot)) return nullptr;
    size_t slots = b.rule_of_slot.size();
    for (auto& t : b.targets)
        for (int s : t)
            if (s < 0 || static_cast<size_t>(s) >= slots) {
                PyErr_SetString(PyExc_ValueError, "slot out of range");
                return nullptr;
            }
    for (int s : b.always)
        if (s < 0 || static_cast<size_t>(s) >= slots) {
            PyErr_SetString(PyExc_ValueError, "slot out of range");
            return nullptr;
        }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(programs); ++i) {
        Program prog;
        if (!build_node(prog, b, PyList_GET_ITEM(programs, i), 0, prog.root)) return nullptr;
        b.programs.push_back(std::move(prog));
    }
    {
        PyObject* fast = PySequence_Fast(scan, "scan: a sequence of str");
        if (fast == nullptr) return nullptr;
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fast); ++i) {
            std::string name;
            if (!utf8(PySequence_Fast_GET_ITEM(fast, i), name)) {
                Py_DECREF(fast);
                return nullptr;
            }
            b.scan.push_back(field_of(b, name));
        }
        Py_DECREF(fast);
    }
    // swap in (the capsule keeps its pointer; the old contents are freed with `b`)
    old->swap(b);
    Py_RETURN_NONE;
}

// (a Channel that is absent or null has the key of "\xff", which no UTF-8 text is)
// The registry key of (Channel, EventID): an ASCII channel in lower case (buckets do not
// depend on its case), any other as it is.
std::string bucket_key(string_view channel, int64_t eid) {
    std::string key;
    if (ascii(channel.data(), channel.size()))
        append_lower_ascii(key, channel.data(), channel.size());
    else
        key.assign(channel.data(), channel.size());
    key.push_back('\0');
    key.append(reinterpret_cast<const char*>(&eid), sizeof eid);
    return key;
}

// register(matcher, channel: str | None, event_id: int, bucket): events with this Channel
// value (None: absent or null; an ASCII one in any case) and int EventID use the bucket
PyObject* nm_register(PyObject*, PyObject* args) {
    PyObject *mcap, *bcap;
    const char* channel = nullptr;
    Py_ssize_t size = 0;
    long long eid = 0;
    if (!PyArg_ParseTuple(args, "Oz#LO", &mcap, &channel, &size, &eid, &bcap)) return nullptr;
    if (channel == nullptr) {
        channel = "\xff";
        size = 1;
    }
    auto* m = static_cast<NMatcher*>(PyCapsule_GetPointer(mcap, "dwell.nmatcher"));
    if (m == nullptr || PyCapsule_GetPointer(bcap, "dwell.nbucket") == nullptr) return nullptr;
    std::string key = bucket_key(string_view(channel, static_cast<size_t>(size)), eid);
    m->last_bucket = nullptr;  // (the remembered lookup may be this key's, or be replaced)
    auto it = m->buckets.find(key);
    Py_INCREF(bcap);
    if (it != m->buckets.end()) {
        Py_DECREF(it->second);
        it->second = bcap;
    } else if (m->buckets.size() < 100000) {
        m->buckets.emplace(std::move(key), bcap);
    } else {
        Py_DECREF(bcap);
    }
    Py_RETURN_NONE;
}

// capture(matcher, names: list[tuple[str, ...]]): per rule index, the (lower-case) fields whose
// values run() returns for a hit, as orjson.dumps({name: value}) of the non-null ones
PyObject* nm_capture(PyObject*, PyObject* args) {
    PyObject *mcap, *names;
    if (!PyArg_ParseTuple(args, "OO!", &mcap, &PyList_Type, &names)) return nullptr;
    auto* m = static_cast<NMatcher*>(PyCapsule_GetPointer(mcap, "dwell.nmatcher"));
    if (m == nullptr) return nullptr;
    std::vector<std::vector<std::pair<int, std::string>>> capture;
    for (Py_ssize_t r = 0; r < PyList_GET_SIZE(names); ++r) {
        PyObject* fast = PySequence_Fast(PyList_GET_ITEM(names, r), "a tuple of field names");
        if (fast == nullptr) return nullptr;
        std::vector<std::pair<int, std::string>> fields;
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fast); ++i) {
            std::string name;
            if (!utf8(PySequence_Fast_GET_ITEM(fast, i), name)) {
                Py_DECREF(fast);
                return nullptr;
            }
            int gid = m->key_id(name);
            fields.emplace_back(gid, std::move(name));
        }
        Py_DECREF(fast);
        capture.push_back(std::move(fields));
    }
    m->capture = std::move(capture);
    Py_RETURN_NONE;
}

struct Member {
    int gid;
    string_view key;
    const Value* value;
};

// One event being matched: the bucket fields' values and their texts, computed on demand.
struct EventState {
    std::vector<const Value*> values;     // per bucket field (null: absent or null)
    std::vector<string_view> raw_keys;    // the raw name each value came from
    std::vector<uint8_t> state;           // per field: 0 texts not built, 1 built, 2 unsupported
    std::vector<std::pair<uint32_t, uint32_t>> text_range;  // per field: spans [from, to)
    std::vector<Span> spans;
    std::string arena;
    NBucket* bucket = nullptr;  // (its callables)
    const std::vector<Member>* members = nullptr;  // every field, in the text's order
    std::vector<uint32_t> gid_seen;  // per key id: the keyword test that last read it
    uint32_t generation = 0;

    void reset(size_t nfields) {
        for (Span& s : spans) {
            Py_XDECREF(s.raw_obj);
            Py_XDECREF(s.fold_obj);
        }
        spans.clear();
        arena.clear();
        values.assign(nfields, nullptr);
        raw_keys.assign(nfields, string_view());
        state.assign(nfields, 0);
        text_range.resize(nfields);
    }

    string_view raw(const Span& s) const {
        return s.raw ? string_view(s.raw, s.raw_len) : string_view(arena.data() + s.raw_off, s.raw_len);
    }
    string_view folded(const Span& s) const {
        return string_view(arena.data() + s.fold_off, s.fold_len);
    }
};

// The text of one scalar (str, int, bool), raw and folded, appended as a span; false when the
// Python path renders it (float, object, list) or folding fails.
bool add_text(EventState& ev, const Value& v) {
    Span s{};
    if (v.IsString()) {
        s.raw = v.GetString();
        s.raw_len = v.GetStringLength();
        s.fold_off = static_cast<uint32_t>(ev.arena.size());
        if (ascii(s.raw, s.raw_len)) {
            append_lower_ascii(ev.arena, s.raw, s.raw_len);
        } else if (!append_py_str(ev.arena, s.raw, s.raw_len, "casefold")) {
            return false;
        }
        s.fold_len = static_cast<uint32_t>(ev.arena.size() - s.fold_off);
    } else if (v.IsBool() || v.IsInt64() || v.IsUint64()) {
        s.raw = nullptr;
        s.raw_off = s.fold_off = static_cast<uint32_t>(ev.arena.size());
        if (v.IsBool())
            ev.arena.append(v.GetBool() ? "true" : "false");
        else if (v.IsInt64())
            ev.arena.append(std::to_string(v.GetInt64()));
        else
            ev.arena.append(std::to_string(v.GetUint64()));
        s.raw_len = s.fold_len = static_cast<uint32_t>(ev.arena.size() - s.raw_off);
    } else {
        return false;
    }
    ev.spans.push_back(s);
    return true;
}

// Builds the texts of field f (once per event); false: unsupported.
// Appends the texts of a value (a list's items one by one, nulls skipped); false: unsupported.
bool add_texts(EventState& ev, const Value& v) {
    if (!v.IsArray()) return add_text(ev, v);
    for (auto& item : v.GetArray()) {
        if (item.IsNull()) continue;
        if (item.IsArray() || !add_text(ev, item)) return false;
    }
    return true;
}

bool texts_of(EventState& ev, int f) {
    uint8_t st = ev.state[static_cast<size_t>(f)];
    if (st) return st == 1;
    auto from = static_cast<uint32_t>(ev.spans.size());
    bool ok = add_texts(ev, *ev.values[static_cast<size_t>(f)]);
    ev.state[static_cast<size_t>(f)] = ok ? 1 : 2;
    ev.text_range[static_cast<size_t>(f)] = {from, static_cast<uint32_t>(ev.spans.size())};
    return ok;
}

bool str_test(TestOp op, string_view text, string_view lit) {
    switch (op) {
        case kEq: return text == lit;
        case kContains: return text.find(lit) != string_view::npos;
        case kStarts: return text.size() >= lit.size() && text.compare(0, lit.size(), lit) == 0;
        case kEnds:
            return text.size() >= lit.size() &&
                   text.compare(text.size() - lit.size(), lit.size(), lit) == 0;
        default: return false;
    }
}

// number(value) == n for one scalar, as dwell.engine.evaluate.number() reads it
Tri num_equals(const Value& v, int64_t n) {
    if (v.IsBool() || v.IsNull()) return kF;
    if (v.IsInt64()) return v.GetInt64() == n ? kT : kF;
    if (v.IsUint64()) return kF;  // above int64: not n
    if (v.IsDouble()) {
        if (n > (int64_t(1) << 53) || n < -(int64_t(1) << 53)) return kU;
        return v.GetDouble() == static_cast<double>(n) ? kT : kF;
    }
    if (!v.IsString()) return kF;
    string_view s(v.GetString(), v.GetStringLength());
    if (!ascii(s.data(), s.size())) return kU;  // (str.strip() knows Unicode spaces)
    size_t a = 0, e = s.size();
    auto space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f'); };
    while (a < e && space(s[a])) ++a;
    while (e > a && space(s[e - 1])) --e;
    s = s.substr(a, e - a);
    bool digit = false, other = false;
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c >= '0' && c <= '9') digit = true;
        else if (!(i == 0 && (c == '+' || c == '-'))) other = true;
    }
    if (!digit) return kF;          // no digit: not a number equal to an int ("inf", "nan", "")
    if (other) return kU;           // "1_000", "4688.0", "1e3": left to Python
    if (s.size() > 18) return kU;   // (beyond what fits an int64 safely)
    int64_t value = 0;
    size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
    for (; i < s.size(); ++i) value = value * 10 + (s[i] - '0');
    if (s[0] == '-') value = -value;
    return value == n ? kT : kF;
}

// A Python predicate (a regular expression's search, a glob's fullmatch, a cidr test) on the
// texts of a value: raw texts when node.cased, else folded; any true one makes it true. The
// bucket holds a maker of the predicate until its first use.
// Answers of a call kept per text: texts up to this long, this many per call.
constexpr size_t kMaxAnswerText = 512;
constexpr size_t kMaxAnswers = 16384;

Tri call_test(EventState& ev, const NNode& node, uint32_t from, uint32_t to) {
    auto c = static_cast<size_t>(node.call);
    PyObject*& fn = ev.bucket->calls[c];
    if (!ev.bucket->made[c]) {  // made on first use (compiling a pattern costs)
        PyObject* made = PyObject_CallNoArgs(fn);
        if (made == nullptr) {
            PyErr_Clear();
            return kU;
        }
        Py_DECREF(fn);
        fn = made;
        ev.bucket->made[c] = 1;
    }
    if (ev.bucket->answers.size() < ev.bucket->calls.size())
        ev.bucket->answers.resize(ev.bucket->calls.size());
    auto& answers = ev.bucket->answers[c];
    static std::string key;
    for (uint32_t i = from; i < to; ++i) {
        Span& s = ev.spans[i];
        string_view t = node.cased ? ev.raw(s) : ev.folded(s);
        bool keep = t.size() <= kMaxAnswerText && answers.size() < kMaxAnswers;
        if (keep) {
            key.assign(t.data(), t.size());
            auto known = answers.find(key);
            if (known != answers.end()) {
                if (known->second) return kT;
                continue;
            }
        }
        PyObject*& obj = node.cased ? s.raw_obj : s.fold_obj;
        if (obj == nullptr) {
            obj = PyUnicode_DecodeUTF8(t.data(), static_cast<Py_ssize_t>(t.size()), "strict");
            if (obj == nullptr) {
                PyErr_Clear();
                return kU;
            }
        }
        PyObject* r = PyObject_CallOneArg(fn, obj);
        int truth = r == nullptr ? -1 : PyObject_IsTrue(r);
        Py_XDECREF(r);
        if (truth < 0) {
            PyErr_Clear();
            return kU;  // the Python path raises or tells
        }
        if (keep) answers.emplace(key, truth != 0);
        if (truth) return kT;
    }
    return kF;
}

// A keyword test: any text of any field's value (of each field name, as lower-cased, the first
// non-null value: what the event view holds).
Tri keyword_test(EventState& ev, const NNode& node) {
    if (++ev.generation == 0) {
        std::fill(ev.gid_seen.begin(), ev.gid_seen.end(), 0);
        ev.generation = 1;
    }
    Tri out = kF;
    for (const Member& mem : *ev.members) {
        if (mem.value->IsNull()) continue;
        auto g = static_cast<size_t>(mem.gid);
        if (g >= ev.gid_seen.size()) ev.gid_seen.resize(g + 1, 0);
        if (ev.gid_seen[g] == ev.generation) continue;  // a later value of the same name
        ev.gid_seen[g] = ev.generation;
        size_t mark = ev.spans.size();
        bool ok = add_texts(ev, *mem.value);
        bool hit = false;
        for (size_t i = mark; ok && !hit && i < ev.spans.size(); ++i) {
            const Span& sp = ev.spans[i];
            hit = str_test(node.op, node.cased ? ev.raw(sp) : ev.folded(sp), node.lit);
        }
        ev.spans.resize(mark);  // (no Python objects were made for these)
        if (hit) return kT;
        if (!ok) out = kU;  // a float or an object: Python renders it
    }
    return out;
}

Tri eval_test(EventState& ev, const NNode& node) {
    if (node.field < 0) return keyword_test(ev, node);
    const Value* v = ev.values[static_cast<size_t>(node.field)];
    if (node.op == kNull) return v == nullptr ? kT : kF;
    if (node.op == kExists) return (v != nullptr) == node.flag ? kT : kF;
    if (v == nullptr) return kF;
    if (node.op == kNum) {
        if (v->IsArray()) {
            Tri out = kF;
            for (auto& item : v->GetArray()) {
                if (item.IsArray() || item.IsObject()) continue;  // number() of those: None
                Tri r = num_equals(item, node.num);
                if (r == kT) return kT;
                if (r == kU) out = kU;
            }
            return out;
        }
        if (v->IsObject()) return kF;
        return num_equals(*v, node.num);
    }
    if (node.op == kBool && v->IsBool()) return v->GetBool() == node.flag ? kT : kF;
    if (!texts_of(ev, node.field)) return kU;
    auto [from, to] = ev.text_range[static_cast<size_t>(node.field)];
    if (node.op == kCall) return call_test(ev, node, from, to);
    if (node.op == kFieldref) {
        int o = node.other;
        if (ev.values[static_cast<size_t>(o)] == nullptr) return kF;
        if (!texts_of(ev, o)) return kU;
        auto [ofrom, oto] = ev.text_range[static_cast<size_t>(o)];
        for (uint32_t j = ofrom; j < oto; ++j)
            for (uint32_t i = from; i < to; ++i)
                if (str_test(node.mode, ev.folded(ev.spans[i]), ev.folded(ev.spans[j]))) return kT;
        return kF;
    }
    if (node.op == kBool) {
        string_view want = node.flag ? "true" : "false";
        for (uint32_t i = from; i < to; ++i)
            if (ev.folded(ev.spans[i]) == want) return kT;
        return kF;
    }
    for (uint32_t i = from; i < to; ++i) {
        const Span& s = ev.spans[i];
        if (str_test(node.op, node.cased ? ev.raw(s) : ev.folded(s), node.lit)) return kT;
    }
    return kF;
}

Tri eval_node(EventState& ev, const Program& prog, int index) {
    const NNode& node = prog.nodes[static_cast<size_t>(index)];
    switch (node.kind) {
        case kTrue: return kT;
        case kUnknown: return kU;
        case kTest: return eval_test(ev, node);
        case kNot: {
            Tri r = eval_node(ev, prog, prog.kids[static_cast<size_t>(node.first)]);
            return r == kU ? kU : (r == kT ? kF : kT);
        }
        case kAnd:
        case kOr: {  // a false (AND) or true (OR) argument decides; else unknown wins
            Tri decides = node.kind == kAnd ? kF : kT;
            Tri out = node.kind == kAnd ? kT : kF;
            for (int i = 0; i < node.count; ++i) {
                Tri r = eval_node(ev, prog, prog.kids[static_cast<size_t>(node.first + i)]);
                if (r == decides) return decides;
                if (r == kU) out = kU;
            }
            return out;
        }
    }
    return kU;
}

// Scans the text of one scalar (str, int, bool) with `a`: an ASCII string as it is when the
// automaton ignores ASCII case, anything else folded; false: unsupported (the Python path).
bool scan_scalar(Automaton* a, EventState& ev, const Value& v, std::vector<int>& found) {
    if (!a->in_numbers && (v.IsBool() || v.IsInt64() || v.IsUint64())) return true;
    if (v.IsString() && a->icase && ascii(v.GetString(), v.GetStringLength())) {
        a->scan(v.GetString(), v.GetStringLength(), found);
        return true;
    }
    if (!add_text(ev, v)) return false;
    string_view t = ev.folded(ev.spans.back());
    a->scan(t.data(), t.size(), found);
    ev.spans.pop_back();  // (its folded bytes stay in the arena, unused)
    return true;
}

// Whether scan_texts renders the value from its JSON text alone: null, str, int, bool, or a
// list of those.
bool plain_value(const Value& v) {
    auto scalar = [](const Value& x) {
        return x.IsNull() || x.IsString() || x.IsBool() || x.IsInt64() || x.IsUint64();
    };
    if (!v.IsArray()) return scalar(v);
    for (auto& item : v.GetArray())
        if (!scalar(item)) return false;
    return true;
}

// Scans the texts of a value (each list item's on its own, as if \x1f-separated).
bool scan_texts(Automaton* a, EventState& ev, const Value& v, std::vector<int>& found) {
    if (!v.IsArray()) return scan_scalar(a, ev, v, found);
    for (auto& item : v.GetArray()) {
        if (item.IsNull()) continue;
        if (item.IsArray() || !scan_scalar(a, ev, item, found)) return false;
    }
    return true;
}

enum Outcome { kNothing, kPython, kFound };

// Whether any of these slots' programs has a keyword test (its outcome is not memoisable).
bool evaluates_keywords(const NBucket& b, const std::vector<int>& slots) {
    for (int s : slots)
        if (b.programs[static_cast<size_t>(s)].keywords) return true;
    return false;
}


// Matches one text; fills hits (rule indexes) and unknown (slots).
Outcome match_one(NMatcher& m, const char* data, size_t size, std::vector<int>& hits,
                  std::vector<int>& unknown, std::vector<std::string>& matched, bool& captured) {
    static char value_buffer[1 << 16];
    static char stack_buffer[1 << 14];
    static std::vector<char> text;
    static std::vector<Member> members;
    static EventState ev;
    static std::vector<int> found;
    static std::vector<uint8_t> marked;
    static std::vector<int> slots;
    static std::string key;
    hits.clear();
    unknown.clear();
    captured = false;
    m.missing = false;
    // (spans of the folded texts are 32-bit offsets: a text of over 256 MiB goes to Python)
    if (size == 0 || size > kMaxMatchText || std::memchr(data, '\0', size) != nullptr)
        return kPython;
    rapidjson::MemoryPoolAllocator<> value_alloc(value_buffer, sizeof value_buffer);
    rapidjson::MemoryPoolAllocator<> stack_alloc(stack_buffer, sizeof stack_buffer);
    Document doc(&value_alloc, sizeof stack_buffer, &stack_alloc);
    text.assign(data, data + size);
    text.resize(size + 17, '\0');  // (a terminating zero, and room for parse_tree's vector loads)
    Value tree;
    const Value* root = &tree;
    if (!parse_tree(text.data(), size, tree, value_alloc)) {  // (it may have decoded some)
        std::memcpy(text.data(), data, size);
        if (size <= kRecursiveMax)
            doc.ParseInsitu<kParseFast>(text.data());
        else
            doc.ParseInsitu<kParseFlags>(text.data());
        if (doc.HasParseError() || !doc.IsObject()) return kPython;
        root = &doc;
    }
    // (only a non-ASCII text can hold a surrogate; whether it is ASCII serves the scan below)
    bool text_ascii = ascii(text.data(), size);
    if (!text_ascii && holds_surrogate(text.data(), size)) return kPython;
    members.clear();
    const Value* channel = nullptr;
    const Value* eid = nullptr;
    if (m.last_keys.size() < root->MemberCount())
        m.last_keys.resize(root->MemberCount(), {std::string(), -1});
    size_t at = 0;
    for (auto& mem : root->GetObject()) {
        string_view key = sv(mem.name);
        const Value* value = &mem.value;
        // (events of a run mostly have the same names in the same order: compared, not hashed)
        auto& last = m.last_keys[at++];
        int gid;
        if (last.second >= 0 && last.first == key) {
            gid = last.second;
        } else {
            gid = m.gid(key);
            if (gid < 0) return kPython;
            last.first.assign(key.data(), key.size());
            last.second = gid;
        }
        members.push_back({gid, key, value});
        if (value->IsNull()) continue;
        if (gid == m.gid_channel && channel == nullptr) channel = value;
        if (gid == m.gid_eventid && eid == nullptr) eid = value;
    }
    if ((channel != nullptr && !channel->IsString()) || eid == nullptr || !eid->IsInt64())
        return kPython;
    string_view channel_text = channel != nullptr ? sv(*channel) : string_view("\xff");
    int64_t eid_value = eid->GetInt64();
    if (m.last_bucket == nullptr || m.last_eid != eid_value || m.last_channel != channel_text) {
        auto it = m.buckets.find(bucket_key(channel_text, eid_value));  // (events come in runs)
        m.last_bucket = it == m.buckets.end() ? nullptr : it->second;
        m.last_channel.assign(channel_text.data(), channel_text.size());
        m.last_eid = eid_value;
    }
    if (m.last_bucket == nullptr) {  // Python makes the bucket (told the key: see run())
        m.missing = true;
        m.missing_channel = channel != nullptr ? std::string(sv(*channel)) : std::string();
        m.missing_null = channel == nullptr;
        m.missing_eid = eid->GetInt64();
        return kPython;
    }
    auto* b = static_cast<NBucket*>(PyCapsule_GetPointer(m.last_bucket, "dwell.nbucket"));
    size_t nslots = b->rule_of_slot.size();
    if (nslots == 0) return kNothing;
    size_t nfields = b->fields.size();
    ev.reset(nfields);
    ev.bucket = b;
    ev.members = &members;
    for (auto& mem : members) {
        if (mem.value->IsNull()) continue;
        auto g = static_cast<size_t>(mem.gid);
        if (g >= b->field_of_gid.size()) b->field_of_gid.resize(m.key_of_gid.size(), -2);
        int f = b->field_of_gid[g];
        if (f == -2) {
            auto found_field = b->field_index.find(std::string(m.key_of_gid[g]));
            f = b->field_of_gid[g] = found_field == b->field_index.end() ? -1 : found_field->second;
        }
        if (f < 0) continue;
        if (ev.values[static_cast<size_t>(f)] != nullptr) {
            if (ev.raw_keys[static_cast<size_t>(f)] == mem.key) return kPython;  // repeated key
            continue;  // names differing in case: the first non-null value wins
        }
        ev.values[static_cast<size_t>(f)] = mem.value;
        ev.raw_keys[static_cast<size_t>(f)] = mem.key;
    }
    // candidates: the slots of the needles found, and those always evaluated
    // keyword needles first: an event where one is found is not memoised (a keyword test reads
    // every field, the memo key only the bucket's fields)
    found.clear();
    if (b->keywords != nullptr) {
        Automaton* a = get_automaton(b->keywords);
        a->begin();
        // First the whole parsed text at once: strings decoded in place lie whole in it, and
        // integers and bools as their texts, so a text where no word is found has none in any
        // value (keys and leftovers of escapes can only add words: the exact scan then
        // decides). ASCII only: case folding of other characters can make ASCII letters; and
        // only values the exact scan renders (no floats, objects, nested lists: those go to
        // Python, whose texts of them the JSON does not hold).
        bool clean = a->icase && text_ascii;
        for (size_t k = 0; clean && k < members.size(); ++k) clean = plain_value(*members[k].value);
        if (clean) {
            a->scan(text.data(), size, found);
            clean = found.empty();
            if (!clean) {
                found.clear();
                a->begin();
            }
        }
        if (!clean)
            for (auto& mem : members)
                if (!mem.value->IsNull() && !scan_texts(a, ev, *mem.value, found)) return kPython;
        for (int& w : found) w += b->split;
    }
    bool memo = found.empty() && memo_key(key, ev.values);
    if (memo) {
        auto known = b->memo.find(key);
        if (known != b->memo.end()) {
            hits = known->second.first;
            unknown = known->second.second;
            goto decided;
        }
    }
    if (marked.size() < nslots) marked.resize(nslots, 0);
    slots.clear();
    for (int s : b->always)
        if (!marked[static_cast<size_t>(s)]) {
            marked[static_cast<size_t>(s)] = 1;
            slots.push_back(s);
        }
    if (b->automaton != nullptr) {
        Automaton* a = get_automaton(b->automaton);
        a->begin();
        for (int f : b->scan) {
            const Value* v = ev.values[static_cast<size_t>(f)];
            if (v != nullptr && !scan_texts(a, ev, *v, found)) {
                for (int s : slots) marked[static_cast<size_t>(s)] = 0;
                return kPython;
            }
        }
    }
    for (int w : found) {
        for (int s : b->targets[static_cast<size_t>(w)])
            if (!marked[static_cast<size_t>(s)]) {
                marked[static_cast<size_t>(s)] = 1;
                slots.push_back(s);
            }
    }
    std::sort(slots.begin(), slots.end());
    memo = memo && !evaluates_keywords(*b, slots);
    for (int s : slots) {
        marked[static_cast<size_t>(s)] = 0;
        const Program& prog = b->programs[static_cast<size_t>(s)];
        Tri r = eval_node(ev, prog, prog.root);
        if (r == kT) hits.push_back(b->rule_of_slot[static_cast<size_t>(s)]);
        else if (r == kU) unknown.push_back(s);
    }
    if (memo) {
        size_t bytes = key.size() + 64 + 4 * (hits.size() + unknown.size());
        if (m.memo_bytes + bytes > g_memo_bytes) {
            // Full: start again (the outcomes of values met early need not be those that
            // repeat later; what repeats comes back within a few events).
            for (auto& [name, capsule] : m.buckets)
                static_cast<NBucket*>(PyCapsule_GetPointer(capsule, "dwell.nbucket"))->memo.clear();
            m.memo_bytes = 0;
        }
        b->memo.emplace(key, std::make_pair(hits, unknown));
        m.memo_bytes += bytes;
    }
decided:
    if (hits.empty() && unknown.empty()) return kNothing;
    if (unknown.empty()) {  // the captured values of each hit (else Python has the event)
        captured = true;
        matched.resize(hits.size());
        for (size_t h = 0; h < hits.size() && captured; ++h) {
            std::string& out = matched[h];
            out.assign("{");
            auto rule = static_cast<size_t>(hits[h]);
            if (rule < m.capture.size()) {
                for (auto& [gid, name] : m.capture[rule]) {
                    const Value* value = nullptr;
                    for (auto& mem : members)
                        if (mem.gid == gid && !mem.value->IsNull()) {
                            value = mem.value;
                            break;
                        }
                    if (value == nullptr) continue;
                    if (out.size() > 1) out.push_back(',');
                    write_string(out, name);
                    out.push_back(':');
                    try {
                        write_value(out, value, 0);
                    } catch (const Bail&) {  // a float: orjson's repr, in Python
                        captured = false;
                        break;
                    }
                }
            }
            out.push_back('}');
        }
    }
    return kFound;
}

// One result entry (see run()); false with a Python error set.
bool add_entry(PyObject* out, Py_ssize_t i, Outcome outcome, const std::vector<int>& hits,
               const std::vector<int>& unknown, const std::vector<std::string>& matched,
               bool captured, const NMatcher& m) {
    PyObject* entry;
    if (outcome == kPython && m.missing) {
        PyObject* channel = m.missing_null ? Py_None : nullptr;
        if (channel == nullptr) {
            channel = PyUnicode_DecodeUTF8(m.missing_channel.data(),
                                           static_cast<Py_ssize_t>(m.missing_channel.size()),
                                           "strict");
            if (channel == nullptr) return false;
        } else {
            Py_INCREF(channel);
        }
        entry = Py_BuildValue("(nO(NL)O)", i, Py_None, channel,
                              static_cast<long long>(m.missing_eid), Py_None);
    } else if (outcome == kPython) {
        entry = Py_BuildValue("(nOOO)", i, Py_None, Py_None, Py_None);
    } else {
        PyObject* texts = Py_None;
        if (captured) {
            texts = PyList_New(static_cast<Py_ssize_t>(hits.size()));
            for (size_t h = 0; texts != nullptr && h < hits.size(); ++h) {
                PyObject* t = PyUnicode_DecodeUTF8(matched[h].data(),
                                                   static_cast<Py_ssize_t>(matched[h].size()),
                                                   "strict");
                if (t == nullptr) {
                    Py_CLEAR(texts);
                    break;
                }
                PyList_SET_ITEM(texts, static_cast<Py_ssize_t>(h), t);
            }
            if (texts == nullptr) return false;
        } else {
            Py_INCREF(texts);
        }
        entry = Py_BuildValue("(nNNN)", i, found_list(hits), found_list(unknown), texts);
    }
    if (entry == nullptr) return false;
    int failed = PyList_Append(out, entry);
    Py_DECREF(entry);
    return failed == 0;
}

Outcome match_guarded(NMatcher& m, const char* data, size_t size, std::vector<int>& hits,
                      std::vector<int>& unknown, std::vector<std::string>& matched,
                      bool& captured) {
    try {
        return match_one(m, data, size, hits, unknown, matched, captured);
    } catch (const std::exception&) {
        return kPython;  // (e.g. bad_alloc) the Python path says what it is
    }
}

// run(matcher, texts: list[str]) -> [(index, hits | None, unknown | None, matched | None), ...]
// for the events that matched a rule, left a rule unknown, or take the Python path (hits
// None; unknown then (channel, event id) when that key has no bucket yet, else None);
// matched: per hit, its captured values as JSON text (None: Python builds them)
PyObject* nm_run(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyList_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "run(matcher, texts: list[str])");
        return nullptr;
    }
    auto* m = static_cast<NMatcher*>(PyCapsule_GetPointer(args[0], "dwell.nmatcher"));
    if (m == nullptr) return nullptr;
    PyObject* out = PyList_New(0);
    if (out == nullptr) return nullptr;
    std::vector<int> hits, unknown;
    static std::vector<std::string> matched;
    bool captured = false;
    Py_ssize_t n = PyList_GET_SIZE(args[1]);
    for (Py_ssize_t i = 0; i < n; ++i) {
        PyObject* item = PyList_GET_ITEM(args[1], i);
        Outcome outcome = kPython;
        if (PyUnicode_Check(item)) {
            Py_ssize_t size = 0;
            const char* data = PyUnicode_AsUTF8AndSize(item, &size);
            if (data == nullptr)
                PyErr_Clear();
            else
                outcome = match_guarded(*m, data, static_cast<size_t>(size), hits, unknown,
                                        matched, captured);
        }
        if (outcome == kNothing) continue;
        if (!add_entry(out, i, outcome, hits, unknown, matched, captured, *m)) {
            Py_DECREF(out);
            return nullptr;
        }
    }
    return out;
}

// The hits of run_arrow(..., flat=True): per hit its row and rule index (int32) and its matched
// values (JSON texts, as an Arrow string array's offsets and data).
struct FlatHits {
    std::vector<int32_t> rows, rules, offsets{0};
    std::string texts;

    void add(Py_ssize_t i, int rule, const std::string& text) {
        rows.push_back(static_cast<int32_t>(i));
        rules.push_back(rule);
        texts.append(text);
        offsets.push_back(static_cast<int32_t>(texts.size()));
    }
    // (rows, rules, offsets, data) as bytes; null with an error set
    PyObject* take() const {
        auto bytes = [](const void* p, size_t n) {
            return PyBytes_FromStringAndSize(static_cast<const char*>(p), static_cast<Py_ssize_t>(n));
        };
        return Py_BuildValue("(NNNN)", bytes(rows.data(), rows.size() * 4),
                             bytes(rules.data(), rules.size() * 4),
                             bytes(offsets.data(), offsets.size() * 4),
                             bytes(texts.data(), texts.size()));
    }
};

// run_arrow(matcher, offsets, data, validity | None, offset: int, length: int) -> as run(), over
// an Arrow string array given by its buffers (int32 offsets; validity: its bitmap or None):
// no Python str is made for the events that need nothing
PyObject* nm_run_arrow(PyObject*, PyObject* args) {
    PyObject *mcap, *offsets_obj, *data_obj, *validity_obj;
    Py_ssize_t offset = 0, length = 0;
    int flat = 0;
    if (!PyArg_ParseTuple(args, "OOOOnn|p", &mcap, &offsets_obj, &data_obj, &validity_obj, &offset,
                          &length, &flat))
        return nullptr;
    auto* m = static_cast<NMatcher*>(PyCapsule_GetPointer(mcap, "dwell.nmatcher"));
    if (m == nullptr) return nullptr;
    Py_buffer offs{}, data{}, valid{};
    bool has_valid = validity_obj != Py_None;
    if (PyObject_GetBuffer(offsets_obj, &offs, PyBUF_SIMPLE) < 0) return nullptr;
    if (PyObject_GetBuffer(data_obj, &data, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&offs);
        return nullptr;
    }
    if (has_valid && PyObject_GetBuffer(validity_obj, &valid, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&offs);
        PyBuffer_Release(&data);
        return nullptr;
    }
    auto release = [&]() {
        PyBuffer_Release(&offs);
        PyBuffer_Release(&data);
        if (has_valid) PyBuffer_Release(&valid);
    };
    auto count = static_cast<size_t>(offs.len) / sizeof(int32_t);
    if (offset < 0 || length < 0 || static_cast<size_t>(offset + length) + 1 > count ||
        (has_valid && static_cast<size_t>(valid.len) * 8 < static_cast<size_t>(offset + length))) {
        release();
        PyErr_SetString(PyExc_ValueError, "run_arrow: buffers too short for the array");
        return nullptr;
    }
    const auto* off = static_cast<const int32_t*>(offs.buf);
    const auto* bytes = static_cast<const char*>(data.buf);
    const auto* bits = static_cast<const uint8_t*>(has_valid ? valid.buf : nullptr);
    PyObject* out = PyList_New(0);
    FlatHits found;
    auto fail = [&]() {
        Py_XDECREF(out);
        release();
        return nullptr;
    };
    if (out == nullptr) return fail();
    std::vector<int> hits, unknown;
    static std::vector<std::string> matched;
    bool captured = false;
    for (Py_ssize_t i = 0; i < length; ++i) {
        auto at = static_cast<size_t>(offset + i);
        Outcome outcome = kPython;
        int32_t from = off[at], to = off[at + 1];
        bool valid_row = bits == nullptr || (bits[at >> 3] >> (at & 7) & 1);
        if (valid_row && from >= 0 && to >= from && static_cast<Py_ssize_t>(to) <= data.len)
            outcome = match_guarded(*m, bytes + from, static_cast<size_t>(to - from), hits,
                                    unknown, matched, captured);
        if (outcome == kNothing) continue;
        if (flat && outcome == kFound && captured && unknown.empty() &&
            found.texts.size() < static_cast<size_t>(INT32_MAX / 2)) {
            for (size_t h = 0; h < hits.size(); ++h) found.add(i, hits[h], matched[h]);
            continue;
        }
        if (!add_entry(out, i, outcome, hits, unknown, matched, captured, *m)) return fail();
    }
    release();
    if (!flat) return out;
    PyObject* hits_taken = found.take();
    if (hits_taken == nullptr) {
        Py_DECREF(out);
        return nullptr;
    }
    return Py_BuildValue("(NN)", hits_taken, out);
}

// --- row blocks from Python ----------------------------------------------------------------

void free_block(PyObject* capsule) { delete get_block(capsule); }

// block(kinds) -> an empty block (capsule) of columns of these kinds (see Block)
PyObject* block_new(PyObject*, PyObject* args) {
    const char* kinds = nullptr;
    Py_ssize_t width = 0;
    if (!PyArg_ParseTuple(args, "s#", &kinds, &width)) return nullptr;
    for (Py_ssize_t c = 0; c < width; ++c)
        if (std::strchr("sjie", kinds[c]) == nullptr || kinds[c] == '\0') {
            PyErr_Format(PyExc_ValueError, "block(): unknown column kind %c", kinds[c]);
            return nullptr;
        }
    auto* b = new Block(string_view(kinds, static_cast<size_t>(width)));
    PyObject* capsule = PyCapsule_New(b, "dwell.block", free_block);
    if (capsule == nullptr) delete b;
    return capsule;
}

// block_append(block, rows, positions): row tuples (normalize.row_of) added
PyObject* block_append(PyObject*, PyObject* args) {
    PyObject *capsule, *rows, *positions;
    if (!PyArg_ParseTuple(args, "OO!O!", &capsule, &PyList_Type, &rows, &PyList_Type, &positions))
        return nullptr;
    Block* b = get_block(capsule);
    if (b == nullptr) return nullptr;
    if (PyList_GET_SIZE(rows) != PyList_GET_SIZE(positions)) {
        PyErr_SetString(PyExc_ValueError, "block_append(): as many positions as rows");
        return nullptr;
    }
    auto width = static_cast<Py_ssize_t>(b->cols.size());
    for (Py_ssize_t r = 0; r < PyList_GET_SIZE(rows); ++r) {
        PyObject* row = PyList_GET_ITEM(rows, r);
        if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != width) {
            PyErr_SetString(PyExc_ValueError, "block_append(): every row must be a tuple of the "
                                              "block's width");
            return nullptr;
        }
        long long position = PyLong_AsLongLong(PyList_GET_ITEM(positions, r));
        if (position == -1 && PyErr_Occurred()) return nullptr;
        b->mark();
        for (Py_ssize_t c = 0; c < width; ++c)
            if (!b->put_py(static_cast<size_t>(c), PyTuple_GET_ITEM(row, c))) {
                b->rollback();
                return nullptr;
            }
        b->end_row(position);
    }
    Py_RETURN_NONE;
}

// block_extend(block, other): other's rows added (other is left as it was)
PyObject* block_extend(PyObject*, PyObject* args) {
    PyObject *a, *o;
    if (!PyArg_ParseTuple(args, "OO", &a, &o)) return nullptr;
    Block* b = get_block(a);
    Block* src = b ? get_block(o) : nullptr;
    if (src == nullptr) return nullptr;
    bool same = src != b && src->cols.size() == b->cols.size();
    for (size_t c = 0; same && c < b->cols.size(); ++c) same = src->cols[c].kind == b->cols[c].kind;
    if (!same) {  // (checked before anything is added)
        PyErr_SetString(PyExc_ValueError, "block_extend(): another block of the same columns");
        return nullptr;
    }
    for (size_t c = 0; c < b->cols.size(); ++c) {
        BCol& to = b->cols[c];
        const BCol& from = src->cols[c];
        auto base = static_cast<int64_t>(to.data.size());
        to.data.append(from.data);
        if (to.text())
            for (size_t k = 1; k < from.offsets.size(); ++k) to.offsets.push_back(base + from.offsets[k]);
        to.nulls += from.nulls;
        auto total = static_cast<size_t>(b->rows + src->rows);
        to.valid.resize((total + 7) / 8, 0);
        for (int64_t r = 0; r < src->rows; ++r) {
            auto from_bit = static_cast<size_t>(r);
            if (from.valid[from_bit >> 3] >> (from_bit & 7) & 1) {
                auto at = static_cast<size_t>(b->rows + r);
                to.valid[at >> 3] = static_cast<uint8_t>(to.valid[at >> 3] | (1u << (at & 7)));
            }
        }
    }
    for (const OddCell& odd : src->odds) {
        Py_INCREF(odd.value);
        b->odds.push_back({b->rows + odd.row, odd.col, odd.value});
    }
    b->positions.insert(b->positions.end(), src->positions.begin(), src->positions.end());
    b->rows += src->rows;
    Py_RETURN_NONE;
}

PyObject* block_len(PyObject*, PyObject* capsule) {
    Block* b = get_block(capsule);
    return b ? PyLong_FromLongLong(b->rows) : nullptr;
}

// The Python value of a cell that is not odd (a text, an int or None).
PyObject* cell_py(const BCol& col, int64_t row) {
    auto r = static_cast<size_t>(row);
    if (!(col.valid[r >> 3] >> (r & 7) & 1)) Py_RETURN_NONE;
    if (col.text()) {
        const char* p = col.data.data() + col.offsets[r];
        auto n = static_cast<Py_ssize_t>(col.offsets[r + 1] - col.offsets[r]);
        return col.kind == 'j' ? PyBytes_FromStringAndSize(p, n) : PyUnicode_DecodeUTF8(p, n, "strict");
    }
    int64_t v;
    std::memcpy(&v, col.data.data() + r * 8, 8);
    return PyLong_FromLongLong(v);
}

// block_values(block, column) -> the column's values as the rows held them
PyObject* column_values(Block& b, size_t c) {
    PyObject* out = PyList_New(static_cast<Py_ssize_t>(b.rows));
    if (out == nullptr) return nullptr;
    size_t k = 0;
    for (int64_t r = 0; r < b.rows; ++r) {
        while (k < b.odds.size() && (b.odds[k].row < r || (b.odds[k].row == r &&
                                                            static_cast<size_t>(b.odds[k].col) < c)))
            ++k;
        PyObject* v;
        if (k < b.odds.size() && b.odds[k].row == r && static_cast<size_t>(b.odds[k].col) == c)
            v = Py_NewRef(b.odds[k].value);
        else
            v = cell_py(b.cols[c], r);
        if (v == nullptr) {
            Py_DECREF(out);
            return nullptr;
        }
        PyList_SET_ITEM(out, static_cast<Py_ssize_t>(r), v);
    }
    return out;
}

PyObject* block_values(PyObject*, PyObject* args) {
    PyObject* capsule;
    Py_ssize_t c = 0;
    if (!PyArg_ParseTuple(args, "On", &capsule, &c)) return nullptr;
    Block* b = get_block(capsule);
    if (b == nullptr) return nullptr;
    if (c < 0 || static_cast<size_t>(c) >= b->cols.size()) {
        PyErr_SetString(PyExc_IndexError, "block_values(): no such column");
        return nullptr;
    }
    return column_values(*b, static_cast<size_t>(c));
}

PyObject* block_positions(PyObject*, PyObject* capsule) {
    Block* b = get_block(capsule);
    if (b == nullptr) return nullptr;
    PyObject* out = PyList_New(static_cast<Py_ssize_t>(b->positions.size()));
    for (size_t i = 0; out != nullptr && i < b->positions.size(); ++i) {
        PyObject* v = PyLong_FromLongLong(b->positions[i]);
        if (v == nullptr) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, static_cast<Py_ssize_t>(i), v);
    }
    return out;
}

// block_take(block) -> ([per column (null_count, validity | None, offsets | None, data,
// values | None)], positions as int64 bytes); the block is emptied. ``values``: the column's
// Python values when it holds an odd cell or its texts pass 32-bit offsets (the caller then
// converts it the Python way), else None; validity an Arrow bitmap (None: no null), offsets
// int32, data the texts or little-endian int64s.
PyObject* block_take(PyObject*, PyObject* capsule) {
    Block* b = get_block(capsule);
    if (b == nullptr) return nullptr;
    std::vector<uint8_t> odd_col(b->cols.size(), 0);
    for (const OddCell& o : b->odds) odd_col[static_cast<size_t>(o.col)] = 1;
    PyObject* out = PyList_New(0);
    if (out == nullptr) return nullptr;
    for (size_t c = 0; c < b->cols.size(); ++c) {
        BCol& col = b->cols[c];
        PyObject* item = nullptr;
        if (odd_col[c] || (col.text() && col.data.size() > static_cast<size_t>(INT32_MAX))) {
            PyObject* values = column_values(*b, c);
            if (values != nullptr)
                item = Py_BuildValue("(nOOON)", static_cast<Py_ssize_t>(0), Py_None, Py_None,
                                     Py_None, values);
        } else {
            PyObject* valid = col.nulls == 0 ? Py_NewRef(Py_None)
                : PyBytes_FromStringAndSize(reinterpret_cast<const char*>(col.valid.data()),
                                            static_cast<Py_ssize_t>((b->rows + 7) / 8));
            PyObject* offsets = Py_NewRef(Py_None);
            if (col.text()) {
                std::vector<int32_t> narrow(col.offsets.begin(), col.offsets.end());
                Py_DECREF(offsets);
                offsets = PyBytes_FromStringAndSize(reinterpret_cast<const char*>(narrow.data()),
                                                    static_cast<Py_ssize_t>(narrow.size() * 4));
            }
            PyObject* data = PyBytes_FromStringAndSize(col.data.data(),
                                                       static_cast<Py_ssize_t>(col.data.size()));
            if (valid && offsets && data) {  // ("N" hands them over, also on failure)
                item = Py_BuildValue("(nNNNO)", static_cast<Py_ssize_t>(col.nulls), valid, offsets,
                                     data, Py_None);
            } else {
                Py_XDECREF(valid);
                Py_XDECREF(offsets);
                Py_XDECREF(data);
            }
        }
        if (item == nullptr || PyList_Append(out, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(out);
            return nullptr;
        }
        Py_DECREF(item);
    }
    PyObject* positions = PyBytes_FromStringAndSize(
        reinterpret_cast<const char*>(b->positions.data()),
        static_cast<Py_ssize_t>(b->positions.size() * 8));
    if (positions == nullptr) {
        Py_DECREF(out);
        return nullptr;
    }
    b->clear();
    return Py_BuildValue("(NN)", out, positions);
}

// convert_records(block, records, limit, ordinal) -> (count, declined, error, done)
//
// Pulls up to ``limit`` records (dicts with "data" and "timestamp", as evtx's records_json()
// yields them) and converts each into ``block`` at position ``ordinal`` + its number (from 1);
// stops at the first record convert() declines, answered as ``declined`` (else None) for the
// Python path; ``count`` records went into the block. ``error``: an Exception the iterator
// raised (pulling stopped there), ``done`` whether the iterator is exhausted.
PyObject* convert_records(PyObject*, PyObject* args) {
    PyObject *capsule, *iterator;
    Py_ssize_t limit = 0;
    long long ordinal = 0;
    if (!PyArg_ParseTuple(args, "OOnL", &capsule, &iterator, &limit, &ordinal)) return nullptr;
    Block* b = get_block(capsule);
    if (b == nullptr) return nullptr;
    if (!g_configured) {
        PyErr_SetString(PyExc_RuntimeError, "dwell.ingest._native: configure() first");
        return nullptr;
    }
    if (!PyIter_Check(iterator)) {
        PyErr_SetString(PyExc_TypeError, "convert_records() needs an iterator");
        return nullptr;
    }
    static PyObject* data_key = PyUnicode_InternFromString("data");
    static PyObject* time_key = PyUnicode_InternFromString("timestamp");
    PyObject* error = Py_NewRef(Py_None);
    PyObject* declined = Py_NewRef(Py_None);
    bool done = false;
    Py_ssize_t count = 0;
    while (count < limit) {
        PyObject* record = PyIter_Next(iterator);
        if (record == nullptr) {
            if (!PyErr_Occurred()) {
                done = true;
            } else if (PyErr_ExceptionMatches(PyExc_Exception)) {
                PyObject *type, *value, *trace;
                PyErr_Fetch(&type, &value, &trace);
                PyErr_NormalizeException(&type, &value, &trace);
                if (value != nullptr && trace != nullptr) PyException_SetTraceback(value, trace);
                Py_XDECREF(type);
                Py_XDECREF(trace);
                Py_DECREF(error);
                error = value != nullptr ? value : Py_NewRef(Py_None);
            } else {
                Py_DECREF(error);
                Py_DECREF(declined);
                return nullptr;  // KeyboardInterrupt and the like propagate
            }
            break;
        }
        PyObject* row = nullptr;
        PyObject* text = PyDict_Check(record) ? PyDict_GetItemWithError(record, data_key) : nullptr;
        if (text != nullptr && (PyUnicode_Check(text) || PyBytes_Check(text))) {
            PyObject* fallback = PyDict_GetItemWithError(record, time_key);
            if (fallback == nullptr && !PyErr_Occurred()) fallback = Py_None;
            if (fallback != nullptr) row = convert_object(text, fallback, b, ordinal + count + 1);
        }
        if (row == nullptr) PyErr_Clear();  // the Python path will tell what is wrong
        bool taken = row == Py_True;
        Py_XDECREF(row);
        if (!taken) {
            Py_DECREF(declined);
            declined = record;  // (the reference moves)
            break;
        }
        Py_DECREF(record);
        ++count;
    }
    return Py_BuildValue("(nNNO)", count, declined, error, done ? Py_True : Py_False);
}

// Whether a line is blank as bytes.strip() sees it (ASCII whitespace only; NUL is not).
bool blank_line(const char* a, const char* b) {
    for (; a < b; ++a)
        if (*a == '\0' || std::strchr(" \t\n\r\x0b\x0c", *a) == nullptr) return false;
    return true;
}

// convert_lines_block(block, data, start, max_line, final, number, offset)
//     -> (event, end, count)
//
// JSON Lines into a block, from byte ``start`` of ``data`` (``number``: the lines before it,
// ``offset``: the file offset of data[0]); rows go into ``block`` at their line numbers. Each
// line is converted with its "\n" (as readline() gives it); blank lines (bytes.strip() empty)
// are counted and skipped; the last line without "\n" is taken only when ``final``. Stops
// after the first line left to Python, answered as ``event`` (kind, number, offset, length):
// kind 0 a line convert() declined, kind 1 a line of over ``max_line`` bytes (length: its
// bytes with the "\n"); else None. ``end``: where in ``data`` it stopped, ``count``: the
// lines it took (the event's included).
PyObject* convert_lines_block(PyObject*, PyObject* args) {
    PyObject* capsule;
    Py_buffer view;
    Py_ssize_t start = 0, max_line = 0, offset = 0;
    long long number = 0;
    int final = 0;
    if (!PyArg_ParseTuple(args, "Oy*nnpLn", &capsule, &view, &start, &max_line, &final, &number,
                          &offset))
        return nullptr;
    Block* b = get_block(capsule);
    if (b == nullptr || !g_configured || start < 0 || start > view.len) {
        PyBuffer_Release(&view);
        if (b != nullptr)
            PyErr_SetString(PyExc_ValueError, "convert_lines_block(): configure() first, and a "
                                              "start within the data");
        return nullptr;
    }
    const char* data = static_cast<const char*>(view.buf);
    const char* end = data + view.len;
    const char* p = data + start;
    long long first = number;
    PyObject* event = Py_NewRef(Py_None);
    while (p < end) {
        const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
        if (nl == nullptr && !final) break;
        const char* stop = nl != nullptr ? nl + 1 : end;
        auto content = static_cast<Py_ssize_t>((nl != nullptr ? nl : end) - p);
        auto length = static_cast<Py_ssize_t>(stop - p);
        ++number;
        int kind = -1;
        if (content > max_line) {
            kind = 1;
        } else if (!blank_line(p, stop)) {
            PyObject* row = convert_text(p, length, nullptr, true, b, number);
            if (row == nullptr) PyErr_Clear();  // (the Python path says what it is)
            if (row != Py_True) kind = 0;
            Py_XDECREF(row);
        }
        if (kind >= 0) {
            Py_DECREF(event);
            event = Py_BuildValue("(iLnn)", kind, number, offset + static_cast<Py_ssize_t>(p - data),
                                  length);
            p = stop;
            if (event == nullptr) {
                PyBuffer_Release(&view);
                return nullptr;
            }
            break;
        }
        p = stop;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(NnL)", event, static_cast<Py_ssize_t>(p - data), number - first);
}

// memo_limit(bytes) -> the previous limit of the matchers' memos (all emptied when full)
PyObject* memo_limit(PyObject*, PyObject* arg) {
    Py_ssize_t bytes = PyLong_AsSsize_t(arg);
    if (bytes < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "memo_limit(): bytes >= 0");
        return nullptr;
    }
    size_t before = g_memo_bytes;
    g_memo_bytes = static_cast<size_t>(bytes);
    return PyLong_FromSize_t(before);
}

PyMethodDef kMethods[] = {
    {"memo_limit", memo_limit, METH_O, "memo_limit(bytes) -> the previous limit"},
    {"block", block_new, METH_VARARGS, "block(kinds) -> an empty block of canonical rows"},
    {"block_append", block_append, METH_VARARGS, "block_append(block, rows, positions)"},
    {"block_extend", block_extend, METH_VARARGS, "block_extend(block, other)"},
    {"block_len", block_len, METH_O, "block_len(block) -> rows held"},
    {"block_values", block_values, METH_VARARGS, "block_values(block, column) -> its values"},
    {"block_positions", block_positions, METH_O, "block_positions(block) -> the rows' positions"},
    {"block_take", block_take, METH_O,
     "block_take(block) -> (per column (nulls, validity, offsets, data, values), positions)"},
    {"convert_records", convert_records, METH_VARARGS,
     "convert_records(block, records, limit, ordinal) -> (count, declined, error, done)"},
    {"convert_lines_block", convert_lines_block, METH_VARARGS,
     "convert_lines_block(block, data, start, max_line, final, number, offset) -> (event, end, "
     "count)"},
    {"convert", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(convert)),
     METH_FASTCALL, "convert(text, fallback_time=...) -> row tuple, or None for the Python path"},
    {"scan_text", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(scan_text)),
     METH_FASTCALL, "scan_text(view, names) -> the matcher's folded scan text, or None"},
    {"automaton", automaton, METH_O, "automaton(words) -> an Aho-Corasick automaton (capsule)"},
    {"find", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(find)), METH_FASTCALL,
     "find(automaton, text) -> indexes of the words found, each once"},
    {"scan_find", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(scan_find)),
     METH_FASTCALL, "scan_find(automaton, view, names) -> find() in scan_text(), or None"},
    {"configure", configure, METH_VARARGS,
     "configure(candidates, columns, prefixes): typed columns and System attribute prefixes"},
    {"matcher", nm_new, METH_NOARGS, "matcher() -> an empty registry of native buckets"},
    {"bucket", nb_new, METH_NOARGS, "bucket() -> an empty native bucket"},
    {"set_bucket", nb_set, METH_VARARGS,
     "set_bucket(bucket, scan, automaton, keywords, split, targets, always, rules, programs)"},
    {"register", nm_register, METH_VARARGS, "register(matcher, channel, event_id, bucket)"},
    {"capture", nm_capture, METH_VARARGS,
     "capture(matcher, names): per rule index, the fields a hit's matched values keep"},
    {"run_arrow", nm_run_arrow, METH_VARARGS,
     "run_arrow(matcher, offsets, data, validity, offset, length, flat=False) -> as run(); "
     "flat: ((rows, rules, offsets, data), others): the hits as buffers (int32 rows and rule "
     "indexes, matched values as string offsets and data), the events Python completes in "
     "others"},
    {"run", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(nm_run)), METH_FASTCALL,
     "run(matcher, texts) -> [(index, hits | None, unknown | None), ...]"},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef kModule = {
    PyModuleDef_HEAD_INIT, "_native", "The evtx-JSON fast path of dwell's ingest.", -1,
    kMethods, nullptr, nullptr, nullptr, nullptr,
};

}  // namespace

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&kModule); }
