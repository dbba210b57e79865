"""The native fast path (C++/RapidJSON) gives exactly the rows of the Python path, or declines.

``convert`` may answer None (the record then takes the Python path, which owns every warning);
whenever it answers a row, that row must equal ``row_of(flatten_evtx_json(...))`` byte for
byte, including the ``fields`` JSON. Checked on every record of the shared corpora, on
hand-made awkward records, on generated ones, and end to end on whole ingests.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import evtx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dwell.cli._console import Ui
from dwell.cli.ingest_cmd import ingest_paths
from dwell.engine.matcher import scan_text
from dwell.ingest import native
from dwell.ingest.flatten import flatten_evtx_json
from dwell.ingest.normalize import row_of
from dwell.ingest.readers import json as json_reader
from dwell.store import open_case

convert = native.convert


def test_native_module_is_built() -> None:
    # CI installs a C++ compiler: the fast path must be there (else every test below is moot)
    assert convert is not None, native.status()
    assert native.status().startswith("native")


def _python_row(text: str | bytes, fallback: Any = None, *, evtx_record: bool = True) -> Any:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return "undecodable"
    flat = flatten_evtx_json(doc) if isinstance(doc, dict) else None
    if flat is None:
        return "not evtx-json"
    if evtx_record and "TimeCreated" not in flat:
        flat["TimeCreated"] = fallback
    return row_of(flat)


def _agrees(text: str | bytes, fallback: Any = None, *, evtx_record: bool = True) -> bool:
    """The native answer is a decline or the Python row; returns whether it answered."""
    assert convert is not None
    got = convert(text, fallback) if evtx_record else convert(text)
    if got is None:
        return False
    assert got == _python_row(text, fallback, evtx_record=evtx_record), text
    return True


def test_every_corpus_record_matches(shared_data: Path) -> None:
    assert convert is not None
    files = sorted((shared_data / "evtx-attack-samples").rglob("*.evtx"))
    files += sorted((shared_data / "sigma" / "regression_data").rglob("*.evtx"))
    records = declined = 0
    for path in files:
        try:
            parsed = list(evtx.PyEvtxParser(str(path), number_of_threads=1).records_json())
        except (OSError, RuntimeError):
            continue  # a damaged sample: the reader's business, tested elsewhere
        for rec in parsed:
            records += 1
            declined += not _agrees(rec["data"], rec.get("timestamp"))
    assert records > 8000
    assert declined == 0  # real records are the plain case: all take the fast path


def _event(event_data: Any = None, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon", "Guid": "{x}"}},
            "EventID": 1,
            "TimeCreated": {"#attributes": {"SystemTime": "2022-07-15T10:00:00.123456Z"}},
            "EventRecordID": 42,
            "Execution": {"#attributes": {"ProcessID": 4, "ThreadID": 8}},
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": "WS01.corp.local",
            "Security": {"#attributes": {"UserID": "S-1-5-18"}},
        },
        **extra,
    }
    if event_data is not None:
        event["EventData"] = event_data
    return {"Event": event}


AWKWARD: list[Any] = [
    _event({"Image": "C:\\Windows\\cmd.exe", "CommandLine": "cmd /c \"echo\u00e9\u2028\"",
            "User": "-", "SubjectUserName": "alice"}),
    _event({"Data": ["a", "b", 3]}),
    _event({"Data": {"#text": "x", "#attributes": {"Name": "n"}}}),
    _event({"Data": {"Name": "only attributes"}}),
    _event({"#attributes": {"Name": "EventData attrs"}, "Channel": "collides with System"}),
    _event({"Computer": "shadow", "Image": None, "Nested": {"A": {"#text": "t"}}}),
    _event("a bare string"),
    _event(None, UserData={"EventXML": {"#attributes": {"xmlns": "u", "k": 1},
                                        "Param1": "p", "Data": {"#text": "d"}}}),
    _event({"Image": "\u0000\u0001\u001f\u007f\\\"/"}),
    _event({"ProcessId": 18446744073709551615, "Negative": -9223372036854775808}),
    _event({"Flag": True, "Other": False, "Empty": "", "List": [{"k": [1, [2, {}]]}]}),
    {"Event": {"System": {"EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 7045},
                          "TimeCreated": {"SystemTime": "no attributes"}}}},
    {"Event": {"System": {"EventID": {"#attributes": "odd"}}, "EventData": {"A": 1}}},
    {"Event": {"System": "not an object", "EventData": {}}},
    {"Event": {}},
]


@pytest.mark.parametrize("doc", AWKWARD, ids=range(len(AWKWARD)))
def test_awkward_records_match(doc: Any) -> None:
    text = orjson.dumps(doc)
    assert _agrees(text.decode(), "2020-01-01T00:00:00Z")
    assert _agrees(text, None)  # bytes, and a None fallback
    assert _agrees(text, evtx_record=False)  # JSON Lines: no fallback time at all


@pytest.mark.parametrize("text", [
    '{"Event": {"System": {"EventID": 1}, "EventData": {"A": 1.5}}}',  # a float: orjson's repr
    '{"Event": {"System": {"EventID": 1}, "EventData": {"A": 1, "A": 2}}}',  # repeated key
    '{"Event": {"System": {"EventID": 1}, "EventData": {"A": "\\udc00"}}}',  # lone surrogate
    '{"Event": {"System": {"EventID": 1}}}\x00',  # a NUL after the document
    '{"Event": {"System": {"EventID": 1}}} trailing',
    '{"Event": {"System": {"EventID": 1e400}}}',
    '[{"Event": {}}]',
    '{"NotEvent": 1}',
    '{"Event": "x"}',
    "not json at all",
    '{"Event": {"EventData": {"A": ' + "[" * 200 + "]" * 200 + "}}}",  # deep nesting
    '{"Event": {"EventData": {"A": ' + "[" * 4070 + "]" * 4070 + "}}}",  # as deep as 8 KiB goes
    '{"Event": {"EventData": {"A": ' + "[" * 90000 + "]" * 90000 + "}}}",  # parsed iteratively
    '{"Event": {"EventData": {' + ",".join(f'"k{i}": {i}' for i in range(600)) + "}}}",
    # what orjson refuses, even where the flattening would not look: a lone surrogate in an
    # ignored key, nesting past orjson's depth limit under the ignored Event attributes
    '{"Event": {"#att\\udc00ributes": {"x": 1}, "System": {"EventID": 1}}}',
    '{"Event": {"#attributes": ' + "[" * 1100 + "]" * 1100 + ', "System": {"EventID": 1}}}',
])
def test_declines_what_only_python_may_judge(text: str) -> None:
    assert convert is not None
    assert convert(text, None) is None
    assert convert(text.encode(), None) is None


def test_invalid_utf8_bytes_are_declined() -> None:
    assert convert is not None
    assert convert(b'{"Event": {"EventData": {"A": "\xff\xfe"}}}') is None
    assert convert(b'{"Event": {"EventData": {"A": "caf\xc3\xa9"}}}') is not None


_keys = st.sampled_from(["Data", "#text", "#attributes", "xmlns", "Name", "Channel",
                         "Computer", "EventID", "TimeCreated", "A", "a.b", "Image", "User"])
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1),
                     st.text(max_size=8), st.sampled_from(["", "-"]))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_keys, inner, max_size=4)), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(system=st.dictionaries(_keys, _values, max_size=5),
       rest=st.dictionaries(st.sampled_from(["EventData", "UserData", "#attributes", "X"]),
                            _values, max_size=3))
def test_generated_records_match(system: dict[str, Any], rest: dict[str, Any]) -> None:
    text = orjson.dumps({"Event": {"System": system, **rest}})
    _agrees(text, "2021-01-01T00:00:00Z")
    _agrees(text.decode(), evtx_record=False)


@settings(max_examples=300, deadline=None)
@given(system=st.dictionaries(_keys, _values, max_size=4),
       data=st.dictionaries(_keys, st.one_of(_values, st.floats(allow_nan=False)), max_size=4),
       indent=st.sampled_from([None, 0, 2]), ascii_only=st.booleans(), spaced=st.booleans())
def test_records_in_any_json_spelling_match(system: dict[str, Any], data: dict[str, Any],
                                            indent: int | None, ascii_only: bool,
                                            spaced: bool) -> None:
    """Record texts are read by dwell's own in-place reader when they are the usual shape and
    by RapidJSON otherwise (floats, escaped surrogates, deep nesting...): whitespace, escapes
    and layout never change the row."""
    import json

    doc = {"Event": {"System": {"EventID": 4688, **system}, "EventData": data}}
    separators = (", ", ": ") if spaced else (",", ":")
    text = json.dumps(doc, indent=indent, ensure_ascii=ascii_only, separators=separators)
    answered = _agrees(text, "2021-01-01T00:00:00Z")
    _agrees(text.encode(), None)
    if not any(isinstance(v, float) for v in data.values()):
        assert answered or "\\ud" in text.lower()  # (only surrogates may be declined here)


@pytest.mark.parametrize("depth", [30, 31, 32, 33, 40])
def test_deeply_nested_records_match_on_either_reader(depth: int) -> None:
    value: Any = "leaf"
    for level in range(depth):
        value = {"k": value} if level % 2 else [value, 1]
    assert _agrees(orjson.dumps(_event({"Deep": value})).decode(), None)


def _rows(case: Path) -> list[tuple[Any, ...]]:
    with open_case(case) as reader:
        return reader.sql(
            "SELECT * EXCLUDE (source_file) FROM events ORDER BY source_sha256, source_pos"
        ).fetchall()


def test_whole_ingest_is_the_same_without_native(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = shared_data / "evtx-attack-samples" / "Lateral Movement"
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_bytes(b"".join(
        rec["data"].replace("\n", "").encode() + b"\n"
        for path in sorted(folder.glob("*.evtx"))[:5]
        for rec in evtx.PyEvtxParser(str(path)).records_json()
    ))
    ui = Ui(quiet=True)
    ingest_paths([str(folder), str(jsonl)], str(tmp_path / "native"), ui)
    monkeypatch.setattr(native, "blocks", None)  # readers, batches: all in Python
    ingest_paths([str(folder), str(jsonl)], str(tmp_path / "python"), ui)
    native_rows = _rows(tmp_path / "native")
    assert len(native_rows) > 1000
    assert native_rows == _rows(tmp_path / "python")


def _block_rows(block: Any) -> list[tuple[int, tuple[Any, ...]]]:
    from dwell.ingest.reader import RowBlock

    item = RowBlock(block)
    return list(zip(item.positions(), item.rows(), strict=True))


def test_convert_records_reports_iterator_errors_and_stops_at_declines() -> None:
    blocks = native.blocks
    assert blocks is not None
    good = orjson.dumps(_event({"Image": "a.exe"})).decode()

    def records() -> Any:
        yield {"data": good, "timestamp": None}
        yield {"data": "{broken", "timestamp": None}
        yield {"no data": 1}
        raise RuntimeError("damaged chunk")

    iterator = records()
    block = blocks.new(native.ROW_KINDS)
    assert blocks.convert_records(block, iterator, 10, 0) == (
        1, {"data": "{broken", "timestamp": None}, None, False)
    assert _block_rows(block) == [(1, _python_row(good))]
    assert blocks.convert_records(block, iterator, 10, 2) == (0, {"no data": 1}, None, False)
    count, declined, error, done = blocks.convert_records(block, iterator, 10, 3)
    assert (count, declined, done) == (0, None, False)
    assert isinstance(error, RuntimeError) and str(error) == "damaged chunk"
    assert blocks.convert_records(block, iterator, 10, 3) == (0, None, None, True)
    assert blocks.len(block) == 1


def test_convert_records_stops_at_its_limit_and_lets_interrupts_through() -> None:
    blocks = native.blocks
    assert blocks is not None
    good = orjson.dumps(_event({"Image": "a.exe"})).decode()
    iterator = iter([{"data": good, "timestamp": None}] * 5)
    block = blocks.new(native.ROW_KINDS)
    assert blocks.convert_records(block, iterator, 3, 10) == (3, None, None, False)
    assert [pos for pos, _ in _block_rows(block)] == [11, 12, 13]

    def interrupted() -> Any:
        yield {"data": good, "timestamp": None}
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        blocks.convert_records(block, interrupted(), 10, 0)
    assert blocks.len(block) == 4  # (the record before the interrupt is in)


def test_blocks_keep_odd_values_as_they_are_and_refuse_bad_calls() -> None:
    blocks = native.blocks
    assert blocks is not None
    width = len(native.ROW_KINDS)
    plain = (b'{"a":1}', "2022-01-01T00:00:00Z", "PC", "Security", "P", 4624, 7) + \
        (None,) * (width - 7)
    odd = (b"{}", 1.5, 3, ["x"], True, 2**40, 2**64) + ("u", 2**70) + (None,) * (width - 9)
    block = blocks.new(native.ROW_KINDS)
    blocks.append(block, [plain, odd], [5, 6])
    assert _block_rows(block) == [(5, plain), (6, odd)]
    other = blocks.new(native.ROW_KINDS)
    blocks.append(other, [odd], [9])
    blocks.extend(block, other)
    assert _block_rows(block) == [(5, plain), (6, odd), (9, odd)]
    with pytest.raises(ValueError, match="width"):
        blocks.append(block, [(1, 2)], [1])
    with pytest.raises(ValueError, match="as many positions"):
        blocks.append(block, [plain], [])
    with pytest.raises(ValueError, match="same columns"):
        blocks.extend(block, blocks.new("js"))
    other_kinds = native.ROW_KINDS[:-1] + ("s" if native.ROW_KINDS[-1] != "s" else "i")
    stranger = blocks.new(other_kinds)
    blocks.append(stranger, [plain], [1])
    with pytest.raises(ValueError, match="same columns"):  # (one column of another kind)
        blocks.extend(block, stranger)
    blocks.append(block, [odd], [10])  # (nothing of it was added, to no column)
    assert _block_rows(block) == [(5, plain), (6, odd), (9, odd), (10, odd)]
    with pytest.raises(ValueError, match="unknown column kind"):
        blocks.new("jx")
    assert blocks.len(block) == 4  # (nothing half-added)
    taken, positions = blocks.take(block)
    assert len(positions) == 4 * 8 and blocks.len(block) == 0
    assert taken[5][4] == [4624, 2**40, 2**40, 2**40]  # an int32 column, an int beyond: values


def test_version_says_which_ingest_path_is_used() -> None:
    def version(**env: str) -> str:
        done = subprocess.run([sys.executable, "-m", "dwell", "--version"], check=True,
                              capture_output=True, text=True, env={**os.environ, **env})
        return done.stdout.strip()

    assert version().endswith("ingest path: native (C++/RapidJSON)")
    assert version(DWELL_NATIVE="0").endswith("ingest path: pure Python (DWELL_NATIVE=0)")


_TOKENS = [b'"', b"\\", b"{", b"}", b"[", b"]", b",", b":", b"\\u0000", b"\\ud800",
           b"\\udc00", b"1.5", b"-0", b"1e400", b"\x00", b"\xed\xa0\x80", b"\xff", b'"#text"',
           b'"#attributes"', b'"Data"', b'"EventData"', b'"System"', b"null", b"true",
           b"18446744073709551616"]


def test_mutated_records_match_or_are_declined(shared_data: Path) -> None:
    """Corpus records with bytes cut, inserted and flipped: never a different answer."""
    rng = random.Random(7)
    folder = shared_data / "evtx-attack-samples" / "Lateral Movement"
    texts = [rec["data"].encode() for path in sorted(folder.glob("*.evtx"))[:10]
             for rec in evtx.PyEvtxParser(str(path)).records_json()]
    answered = 0
    for _ in range(3000):
        data = bytearray(rng.choice(texts))
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(data) + 1)
            roll = rng.random()
            if roll < 0.3 and len(data) > 1:
                del data[pos:pos + rng.randint(1, 20)]
            elif roll < 0.6:
                data[pos:pos] = rng.choice(_TOKENS)
            elif roll < 0.8 and data:
                data[min(pos, len(data) - 1)] = rng.randrange(256)
            else:
                data[pos:pos] = data[rng.randrange(len(data)):][:rng.randint(1, 200)]
        answered += _agrees(bytes(data), "2020-01-01T00:00:00Z")
    assert answered > 300  # (most mutants are broken JSON, declined)


_scan_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
              st.text(alphabet="aZ\\ \x1féÉßΣİı\u0130😀", max_size=6)),
    lambda inner: st.lists(inner, max_size=3), max_leaves=6)


@settings(max_examples=400, deadline=None)
@given(view=st.dictionaries(st.sampled_from(["image", "user", "x", "y"]), _scan_values),
       names=st.one_of(st.none(), st.lists(st.sampled_from(["image", "x", "zz"]),
                                           max_size=3).map(tuple)))
def test_scan_text_is_the_matchers(view: dict[str, Any], names: tuple[str, ...] | None) -> None:
    assert native.scan_text is not None
    got = native.scan_text(view, names)
    if got is not None:  # (None: values it leaves to the Python builder)
        assert got == scan_text(view, names)


def test_scan_text_takes_the_usual_values() -> None:
    assert native.scan_text is not None
    view = {"a": "AbC", "b": 5, "c": None, "d": True, "e": ["X", None, 2, "É"]}
    expected = "abc\x1f5\x1f\x1ftrue\x1fx\x1f2\x1fé"
    assert native.scan_text(view, None) == scan_text(view, None) == expected
    assert native.scan_text({"f": 1.5}, None) is None


@settings(max_examples=300, deadline=None)
@given(words=st.lists(st.text(alphabet="abé\x1fΣ😀", min_size=1, max_size=4), min_size=1,
                      max_size=12),
       text=st.text(alphabet="abé\x1fΣσ😀 ", max_size=40))
def test_automaton_finds_exactly_the_words_in_the_text(words: list[str], text: str) -> None:
    automata = native.automata
    assert automata is not None
    found = automata.find(automata.build(words), text)
    assert sorted(found) == [i for i, word in enumerate(words) if word in text]


def test_scan_find_is_find_in_scan_text() -> None:
    automata = native.automata
    assert automata is not None
    auto = automata.build(["abc", "true", "é x", "zz"])
    view = {"a": "xABCx", "b": True, "c": ["É X"], "d": None}
    assert automata.scan_find(auto, view, None) == \
        automata.find(auto, scan_text(view, None)) == [0, 1, 2]
    assert automata.scan_find(auto, {"f": 1.5}, None) is None


def _reader_items(items: list[Any]) -> list[tuple[Any, ...]]:
    """Rows (with their line) and warnings, in the order a reader gave them."""
    from dwell.ingest.reader import RawRecord, RowBatch, RowBlock

    out: list[tuple[Any, ...]] = []
    for item in items:
        if isinstance(item, RowBlock):
            out += [("row", pos, row) for row, pos in zip(item.rows(), item.positions(),
                                                          strict=True)]
        elif isinstance(item, RowBatch):
            out += [("row", pos, row) for row, pos in zip(item.rows, item.positions, strict=True)]
        elif isinstance(item, RawRecord):
            out.append(("row", item.pos, row_of(item.event())))
        else:
            out.append(("warning", item.line, item.offset, item.reason))
    return out


@pytest.mark.parametrize("tail", [b"\n", b"", b"\r\n", b"\n \t\n"])
def test_json_lines_in_native_blocks_keep_the_files_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tail: bytes
) -> None:
    """Lines the native converter declines (a float, a BOM, malformed JSON) and warnings (an
    overlong line, also one running across blocks) come in their place among the converted
    ones, in blocks and across them: the same items as line by line in Python."""
    event = {"Event": {"System": {"EventID": 1, "Channel": "Security", "Computer": "PC"},
                       "EventData": {"User": "bob"}}}
    lines = [b"\xef\xbb\xbf" + orjson.dumps(event)]
    for n in range(7):
        lines += [orjson.dumps({**event, "n": n}), b"{malformed", b"", b" \t",
                  orjson.dumps({"Event": {"System": {"EventID": 2.5}}}), b"x" * (300 + 97 * n),
                  orjson.dumps({"Event": {"EventData": {"User": f"u{n}"}}}) + b"\r"]
    lines.append(orjson.dumps({**event, "last": True}))
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + tail)
    reader = json_reader.JsonReader(max_line=200)

    def read() -> list[tuple[Any, ...]]:
        with open(path, "rb") as fh:
            return _reader_items(list(reader.read(fh, str(path))))

    results = []
    for block in (7, 64, 202, 1000, 1 << 20):  # lines across blocks, and whole in one
        monkeypatch.setattr(json_reader, "BLOCK_BYTES", block)
        results.append(read())
    monkeypatch.setattr(native, "blocks", None)
    python_items = read()
    assert all(items == python_items for items in results)
    kinds = [item[0] for item in python_items]
    assert kinds.count("row") == 2 + 7 * 3 and kinds.count("warning") == 7 * 2
    assert [item[1] for item in python_items] == sorted(item[1] for item in python_items)
    start = len(b"\n".join(lines[:6])) + 1  # the first overlong line: line 7
    assert ("warning", 7, start, "line longer than 200 bytes (301 bytes) skipped") in python_items


@pytest.mark.parametrize("byte", range(0x20))
def test_raw_control_characters_are_refused_wherever_they_sit(byte: int) -> None:
    """JSON forbids raw control characters in strings (orjson refuses them). RapidJSON's vector
    string scan looks at 16 bytes at a time; upstream let 0x1A-0x1F through (see
    third_party/rapidjson/DWELL.md): each one, at every offset in a long string, is refused."""
    assert convert is not None
    for at in range(40):
        value = "A" * at + chr(byte) + "B" * (40 - at)
        text = '{"Event": {"System": {"EventID": 1}, "EventData": {"Image": "' + value + '"}}}'
        assert convert(text, None) is None, (byte, at)
        escaped = value.replace("B", "\\\\", 1)  # an escape first: the copying scan
        text = '{"Event": {"System": {"EventID": 1}, "EventData": {"Image": "' + escaped + '"}}}'
        assert convert(text, None) is None, (byte, at)


_LINES = st.one_of(
    st.sampled_from([b"", b" ", b"\t\r", b"\x0b\x0c", b"\x00", b"{", b"[1]", b"null",
                     b'{"Event": {"System": {"EventID": 1.5}}}', b"\xef\xbb\xbf{}",
                     b"\xff\xfe", b'{"a": "\xc3\xa9"}']),
    st.builds(lambda user, n: orjson.dumps({"Event": {"System": {"EventID": n, "Computer": "PC"},
                                                      "EventData": {"User": user}}}),
              st.text(max_size=6), st.integers(0, 70000)),
    st.binary(max_size=40),
)


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(_LINES, max_size=25), endings=st.sampled_from([b"\n", b"\r\n"]),
       last=st.booleans(), block=st.sampled_from([5, 64, 1 << 20]))
def test_any_json_lines_file_reads_alike_in_blocks_and_line_by_line(
    lines: list[bytes], endings: bytes, last: bool, block: int, tmp_path_factory: Any
) -> None:
    """Whatever the lines hold (blank or whitespace-only lines, NULs, invalid UTF-8, a BOM,
    floats, other shapes, long ones), reading them natively in blocks gives the Python line
    reader's items: the same rows, positions, warnings and offsets."""
    path = tmp_path_factory.mktemp("lines") / "x.jsonl"
    path.write_bytes(endings.join(lines) + (endings if last else b""))
    reader = json_reader.JsonReader(max_line=48)

    def read() -> list[tuple[Any, ...]]:
        with open(path, "rb") as fh:
            return _reader_items(list(reader._lines(fh, str(path))))

    original = json_reader.BLOCK_BYTES
    blocks = native.blocks
    try:
        json_reader.BLOCK_BYTES = block
        got = read()
        native.blocks = None
        assert got == read()
    finally:
        json_reader.BLOCK_BYTES = original
        native.blocks = blocks
