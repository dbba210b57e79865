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
// those. convert_many() does the same over records pulled from an ``evtx`` iterator. The two
// paths are compared record by record (and on mutated records) in tests/ingest/test_native.py.
//
// Everything here reads attacker-controlled input: the parser recurses only on texts under
// 8 KiB (nesting bounded by length, far within the stack), iterates beyond; our own walks are
// depth-bounded, the flat map is size-bounded, buffers are reused or freed on return, and no
// Python exception escapes.

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "rapidjson/document.h"

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
bool may_hold_surrogate(const char* data, size_t size) {
    const char* end = data + size;
    for (const char* p = data;
         (p = static_cast<const char*>(std::memchr(p, '\xed', end - p))) != nullptr; ++p)
        if (p + 1 < end && static_cast<unsigned char>(p[1]) >= 0xA0) return true;
    for (const char* p = data;
         (p = static_cast<const char*>(std::memchr(p, '\\', end - p))) != nullptr; p += 2) {
        if (p + 3 < end && p[1] == 'u' && (p[2] == 'd' || p[2] == 'D') &&
            std::strchr("89abcdefABCDEF", p[3]) != nullptr && p[3] != '\0')
            return true;
        if (p + 2 >= end) break;
    }
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
    for (; i + 8 <= size; i += 8) {
        uint64_t word;
        std::memcpy(&word, data + i, 8);
        if (word & 0x8080808080808080ULL) return false;
    }
    for (; i < size; ++i)
        if (static_cast<unsigned char>(data[i]) & 0x80) return false;
    return true;
}

PyObject* convert_text(const char* data, Py_ssize_t size, PyObject* fallback, bool validate) {
    // The first 64 KiB of values and 16 KiB of parse stack come from static buffers (calls are
    // serialised by the GIL); bigger records spill into malloc'ed chunks, freed on return.
    static char value_buffer[1 << 16];
    static char stack_buffer[1 << 14];
    rapidjson::MemoryPoolAllocator<> value_alloc(value_buffer, sizeof value_buffer);
    rapidjson::MemoryPoolAllocator<> stack_alloc(stack_buffer, sizeof stack_buffer);
    Document doc(&value_alloc, sizeof stack_buffer, &stack_alloc);
    if (std::memchr(data, '\0', static_cast<size_t>(size)) != nullptr) Py_RETURN_NONE;  // would end it
    if (may_hold_surrogate(data, static_cast<size_t>(size))) Py_RETURN_NONE;
    static std::vector<char> text;  // the in-situ copy (GIL-serialised, like the buffers)
    text.assign(data, data + size);
    text.push_back('\0');
    if (validate && !ascii(data, static_cast<size_t>(size)))
        doc.ParseInsitu<kParseValidating>(text.data());
    else if (static_cast<size_t>(size) <= kRecursiveMax)
        doc.ParseInsitu<kParseFast>(text.data());
    else
        doc.ParseInsitu<kParseFlags>(text.data());
    if (doc.HasParseError()) Py_RETURN_NONE;
    // (a text of under 1 KiB cannot nest 500 levels; the Python path judges deeper ones)
    if (size >= 1000 && deeper_than(doc, 500)) Py_RETURN_NONE;
    static Flat out;  // reused: calls are serialised by the GIL
    static std::string buf;
    out.clear();
    buf.clear();
    Refs refs;
    try {
        flatten(out, doc);
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
PyObject* convert_object(PyObject* text, PyObject* fallback) {
    if (PyBytes_Check(text))
        return convert_text(PyBytes_AS_STRING(text), PyBytes_GET_SIZE(text), fallback, true);
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
    return convert_text(data, size, fallback, false);
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

// convert_many(records, limit) -> (rows, declined, error, done)
//
// Pulls up to ``limit`` records (dicts with "data" and "timestamp", as evtx's records_json()
// yields them) from the iterator and converts each: ``rows[i]`` is the row of the i-th record
// pulled, or None if it was declined; ``declined`` lists (i, record) for the Python path.
// ``error`` is an Exception the iterator raised (pulling stopped there; the caller reports it
// and may call again), ``done`` whether the iterator is exhausted.
PyObject* convert_many(PyObject*, PyObject* args) {
    PyObject* iterator = nullptr;
    Py_ssize_t limit = 0;
    if (!PyArg_ParseTuple(args, "On", &iterator, &limit)) return nullptr;
    if (!g_configured) {
        PyErr_SetString(PyExc_RuntimeError, "dwell.ingest._native: configure() first");
        return nullptr;
    }
    if (!PyIter_Check(iterator)) {
        PyErr_SetString(PyExc_TypeError, "convert_many() needs an iterator");
        return nullptr;
    }
    static PyObject* data_key = PyUnicode_InternFromString("data");
    static PyObject* time_key = PyUnicode_InternFromString("timestamp");
    PyObject* rows = PyList_New(0);
    PyObject* declined = PyList_New(0);
    PyObject* error = Py_None;
    Py_INCREF(error);
    bool done = false;
    bool failed = rows == nullptr || declined == nullptr;
    for (Py_ssize_t n = 0; !failed && n < limit; ++n) {
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
                failed = true;  // KeyboardInterrupt and the like propagate
            }
            break;
        }
        PyObject* row = nullptr;
        PyObject* text = PyDict_Check(record) ? PyDict_GetItemWithError(record, data_key) : nullptr;
        if (text != nullptr && (PyUnicode_Check(text) || PyBytes_Check(text))) {
            PyObject* fallback = PyDict_GetItemWithError(record, time_key);
            if (fallback == nullptr && !PyErr_Occurred()) fallback = Py_None;
            if (fallback != nullptr) row = convert_object(text, fallback);
        }
        if (row == nullptr) PyErr_Clear();  // the Python path will tell what is wrong
        if (row == nullptr || row == Py_None) {
            Py_XDECREF(row);
            PyObject* item = Py_BuildValue("(nO)", PyList_GET_SIZE(rows), record);
            failed = item == nullptr || PyList_Append(declined, item) < 0 ||
                     PyList_Append(rows, Py_None) < 0;
            Py_XDECREF(item);
        } else {
            failed = PyList_Append(rows, row) < 0;
            Py_DECREF(row);
        }
        Py_DECREF(record);
    }
    if (failed) {
        Py_XDECREF(rows);
        Py_XDECREF(declined);
        Py_DECREF(error);
        return nullptr;
    }
    PyObject* result = Py_BuildValue("(NNNO)", rows, declined, error, done ? Py_True : Py_False);
    return result;
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
            const char* p = static_cast<const char*>(PyUnicode_DATA(v));
            Py_ssize_t n = PyUnicode_GET_LENGTH(v);
            size_t at = buf.size();
            buf.append(p, static_cast<size_t>(n));
            for (size_t i = at; i < buf.size(); ++i) {
                char c = buf[i];
                if (c >= 'A' && c <= 'Z') buf[i] = static_cast<char>(c + 32);
            }
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

struct Automaton {
    std::vector<int> root;                  // 256 transitions of the root (0 = stay at root)
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

    int step(int state, unsigned char b) const {
        while (true) {
            if (state == 0) return root[b];
            const unsigned char* bytes = edge_byte.data() + first[state];
            int n = count[state];
            for (int i = 0; i < n; ++i)
                if (bytes[i] == b) return edge_target[static_cast<size_t>(first[state] + i)];
            state = fail[static_cast<size_t>(state)];
        }
    }

    void find(const char* text, size_t size, std::vector<int>& found) {
        if (++generation == 0) {  // wrapped: reset the stamps
            std::fill(stamp.begin(), stamp.end(), 0);
            generation = 1;
        }
        int state = 0;
        for (size_t i = 0; i < size; ++i) {
            state = step(state, static_cast<unsigned char>(text[i]));
            for (int s = out_count[static_cast<size_t>(state)] ? state
                                                               : dict_link[static_cast<size_t>(state)];
                 s > 0; s = dict_link[static_cast<size_t>(s)]) {
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
    }
};

void free_automaton(PyObject* capsule) {
    delete static_cast<Automaton*>(PyCapsule_GetPointer(capsule, "dwell.automaton"));
}

// automaton(words: list[str]) -> capsule
PyObject* automaton(PyObject*, PyObject* arg) {
    if (!PyList_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "automaton() needs a list of str");
        return nullptr;
    }
    // build: children as sorted (byte, target) lists per state
    std::vector<std::vector<std::pair<unsigned char, int>>> kids(1);
    std::vector<std::vector<int>> outs(1);
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
        int state = 0;
        for (Py_ssize_t i = 0; i < len; ++i) {
            auto b = static_cast<unsigned char>(bytes[i]);
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
    auto* a = new Automaton();
    size_t states = kids.size();
    a->words = static_cast<size_t>(n);
    a->stamp.assign(a->words, 0);
    a->root.assign(256, 0);
    a->first.assign(states, 0);
    a->count.assign(states, 0);
    a->fail.assign(states, 0);
    a->dict_link.assign(states, -1);
    a->out_first.assign(states, 0);
    a->out_count.assign(states, 0);
    for (size_t st = 0; st < states; ++st) {
        a->first[st] = static_cast<int>(a->edge_byte.size());
        a->count[st] = static_cast<uint16_t>(kids[st].size());  // at most 256
        for (auto& [b, t] : kids[st]) {
            a->edge_byte.push_back(b);
            a->edge_target.push_back(t);
        }
        a->out_first[st] = static_cast<int>(a->out_words.size());
        a->out_count[st] = static_cast<int>(outs[st].size());
        a->out_words.insert(a->out_words.end(), outs[st].begin(), outs[st].end());
    }
    for (auto& [b, t] : kids[0]) a->root[b] = t;
    // failure and dictionary links, breadth first
    std::vector<int> queue;
    for (auto& [b, t] : kids[0]) queue.push_back(t);
    for (size_t q = 0; q < queue.size(); ++q) {
        int st = queue[q];
        for (auto& [b, t] : kids[static_cast<size_t>(st)]) {
            int f = a->fail[static_cast<size_t>(st)];
            int target = st == 0 ? 0 : a->step(f, b);
            if (target == t) target = 0;
            a->fail[static_cast<size_t>(t)] = target;
            a->dict_link[static_cast<size_t>(t)] =
                a->out_count[static_cast<size_t>(target)] ? target
                                                          : a->dict_link[static_cast<size_t>(target)];
            queue.push_back(t);
        }
    }
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

PyMethodDef kMethods[] = {
    {"convert", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(convert)),
     METH_FASTCALL, "convert(text, fallback_time=...) -> row tuple, or None for the Python path"},
    {"convert_many", convert_many, METH_VARARGS,
     "convert_many(records, limit) -> (rows, declined, error, done)"},
    {"scan_text", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(scan_text)),
     METH_FASTCALL, "scan_text(view, names) -> the matcher's folded scan text, or None"},
    {"automaton", automaton, METH_O, "automaton(words) -> an Aho-Corasick automaton (capsule)"},
    {"find", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(find)), METH_FASTCALL,
     "find(automaton, text) -> indexes of the words found, each once"},
    {"scan_find", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(scan_find)),
     METH_FASTCALL, "scan_find(automaton, view, names) -> find() in scan_text(), or None"},
    {"configure", configure, METH_VARARGS,
     "configure(candidates, columns, prefixes): typed columns and System attribute prefixes"},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef kModule = {
    PyModuleDef_HEAD_INIT, "_native", "The evtx-JSON fast path of dwell's ingest.", -1,
    kMethods, nullptr, nullptr, nullptr, nullptr,
};

}  // namespace

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&kModule); }
