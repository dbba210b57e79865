"""The native matcher (``Matcher.match_texts`` / ``match_column``) against the Python matcher and
the reference evaluator: same rules, same captured values, on generated and awkward events."""

from __future__ import annotations

import os
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_matcher_property import FIELDS, rulesets  # (tests/engine is on sys.path)

from dwell.engine import Matcher
from dwell.engine.evaluate import reference_match
from dwell.ingest.native import automata, matching
from dwell.rules import CompiledRule, Target
from dwell.rules.ir import And, Not, Or
from dwell.rules.ir import Test as FieldTest

SYSMON = "Microsoft-Windows-Sysmon/Operational"

#: Values the native side must render exactly as Python does, or leave to Python: floats,
#: objects, nested lists, non-ASCII case folding (ß, İ, the Kelvin sign), control characters.
values = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.integers(2**62, 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(alphabet="abcAB ßΣςiIİıK\u212a\\*?`^1\n\"", max_size=10),
    st.lists(st.one_of(st.none(), st.text(alphabet="abAB", max_size=3), st.integers(0, 2),
                       st.lists(st.integers(0, 1), max_size=1)), max_size=3),
    st.dictionaries(st.sampled_from(["a", "B"]), st.integers(0, 2), max_size=1),
)
channels = st.one_of(st.sampled_from([SYSMON, "Security", "security", "X"]), st.none(),
                     st.integers(0, 1))
event_ids = st.one_of(st.integers(1, 3), st.sampled_from(["2", None, True, 2.0, [1, 2]]))
events = st.fixed_dictionaries(
    {"Channel": channels, "EventID": event_ids},
    optional={"Image": values, "CommandLine": values, "commandLINE": values, "User": values,
              "Command Line": values, "eventid": values, "Other": values},
)


def _ids(matcher: Matcher, hits: list[int]) -> list[str]:
    return [matcher.rules[i].id for i in hits]


def _native(ruleset: list[CompiledRule], learn: int | None = None) -> Matcher:
    assert matching is not None, "the native module is built in CI (test_native_module_is_built)"
    matcher = Matcher(ruleset, learn=learn)
    matcher.capture([tuple(FIELDS)] * len(matcher.rules))
    return matcher


def _python(ruleset: list[CompiledRule]) -> Matcher:
    matcher = Matcher(ruleset, profile=True)  # (profiling keeps to the Python path)
    matcher.capture([tuple(FIELDS)] * len(matcher.rules))
    return matcher


@settings(max_examples=400, deadline=None)
@given(rulesets(), st.lists(events, min_size=1, max_size=12), st.sampled_from([None, 1, 3]))
def test_native_equals_python_and_reference(
    ruleset: list[CompiledRule], batch: list[dict[str, Any]], learn: int | None
) -> None:
    """(With ``learn``, a bucket's events stay in Python until it has chosen its needles.)"""
    texts = [orjson.dumps(event).decode() for event in batch]
    native, python = _native(ruleset, learn), _python(ruleset)
    column = pa.array(texts, pa.string())
    expected = python.match_texts(texts)
    # one item per hit, from the Arrow buffers: first with no bucket published (the events
    # Python completes are merged in order), then as below
    hits = ([i for i, hits, _ in expected for _ in hits],
            [h for _, hits, _ in expected for h in hits], [v for _, _, vs in expected for v in vs])
    assert [a.to_pylist() for a in _native(ruleset, learn).match_column_hits(column)] == [
        *hits]
    for _ in range(2):  # the second pass meets published buckets and memoised outcomes
        got = native.match_texts(texts)
        assert got == python.match_texts(texts)
        assert [a.to_pylist() for a in native.match_column_hits(column)] == [*hits]
        found = {i: _ids(native, hits) for i, hits, _ in got}
        for i, text in enumerate(texts):  # (the event as stored: JSON has no inf, for one)
            assert found.get(i, []) == [r.id for r in reference_match(ruleset, orjson.loads(text))]


def _rule(rid: str, node: Any, channel: str | None = "security", ids: Any = None
          ) -> CompiledRule:
    return CompiledRule(id=rid, title=rid, level="high", status="test", tags=[],
                        condition=node, targets=((Target(channel, ids), node),))


def test_memoised_outcomes_do_not_hide_keyword_hits() -> None:
    """Events alike in every field the rules test may differ elsewhere: a keyword rule (which
    reads every field) still sees each of them."""
    keyword = _rule("kw", FieldTest(None, "contains", "mimikatz", needle="mimikatz"), None)
    image = _rule("img", FieldTest("image", "endswith", "\\cmd.exe", needle="\\cmd.exe"))
    native = _native([keyword, image])
    base = {"Channel": "Security", "EventID": 4688, "Image": "C:\\Windows\\cmd.exe"}
    batch = [base, {**base, "Note": "mimikatz here"}, base, {**base, "Note": "MimiKatz"}, base]
    for _ in range(2):
        got = native.match_texts([orjson.dumps(e).decode() for e in batch])
        assert [(i, _ids(native, h)) for i, h, _ in got] == [
            (0, ["img"]), (1, ["kw", "img"]), (2, ["img"]), (3, ["kw", "img"]), (4, ["img"])]


def test_unknown_tests_are_decided_in_python() -> None:
    """Comparisons are not evaluated natively: three-valued logic leaves them to Python only
    when the outcome depends on them."""
    cmp = FieldTest("logontype", "cmp", ("gt", 3))
    rule = _rule("cmp", And((FieldTest("user", "eq", "bob", needle="bob"), cmp)))
    either = _rule("either", Or((FieldTest("user", "eq", "bob", needle="bob"), Not(cmp))))
    native = _native([rule, either])
    batch = [{"Channel": "Security", "EventID": 1, "User": "BOB", "LogonType": n}
             for n in (2, 10, "10", None)] + [{"Channel": "Security", "EventID": 1, "User": "al",
                                               "LogonType": 10}]
    got = {i: _ids(native, h) for i, h, _ in
           native.match_texts([orjson.dumps(e).decode() for e in batch])}
    assert got == {0: ["cmp", "either"][1:], 1: ["cmp", "either"], 2: ["cmp", "either"],
                   3: ["either"]}


def test_captured_values_are_orjsons_text() -> None:
    rule = _rule("r", FieldTest("user", "contains", "b", needle="b"))
    native, python = _native([rule]), _python([rule])
    batch = [{"Channel": "Security", "EventID": 1, "User": "b\u00e9\n\"\\", "Image": [1, None, "x"],
              "CommandLine": 2**63, "commandline": "shadowed"},
             {"Channel": "Security", "EventID": 1, "User": "b", "Image": 1.5}]
    texts = [orjson.dumps(e).decode() for e in batch]
    got = native.match_texts(texts)
    assert got == python.match_texts(texts)
    assert orjson.loads(got[0][2][0]) == {"image": [1, None, "x"], "commandline": 2**63,
                                          "user": "b\u00e9\n\"\\", "eventid": 1}
    assert orjson.loads(got[1][2][0]) == {"image": 1.5, "user": "b", "eventid": 1}


def test_match_column_reads_sliced_arrays_with_nulls() -> None:
    rule = _rule("r", FieldTest("user", "eq", "bob", needle="bob"))
    native = _native([rule])
    texts = [orjson.dumps({"Channel": "Security", "EventID": 1, "User": u}).decode()
             for u in ("bob", "al", "Bob", "bob")]
    column = pa.array(["{}", *texts[:2], None, *texts[2:], '{"Channel": 1}'], type=pa.string())
    whole = native.match_column(column)
    assert [(i, h) for i, h, _ in whole] == [(1, [0]), (4, [0]), (5, [0])]
    sliced = native.match_column(column.slice(2, 4))  # al, None, Bob, bob
    assert [(i, h) for i, h, _ in sliced] == [(2, [0]), (3, [0])]
    assert sliced == native.match_texts(column.slice(2, 4).to_pylist())


def test_bad_bucket_specs_are_refused() -> None:
    assert matching is not None
    bucket = matching.bucket()
    with pytest.raises(ValueError, match="one program per rule slot"):
        matching.set_bucket(bucket, (), None, None, 0, [], [], [0], [])
    with pytest.raises(ValueError, match="slot out of range"):
        matching.set_bucket(bucket, (), None, None, 0, [], [3], [0], [(3,)])
    with pytest.raises(ValueError, match="bad node kind"):
        matching.set_bucket(bucket, (), None, None, 0, [], [], [0], [(42,)])
    with pytest.raises(ValueError, match="bad node spec arguments"):
        matching.set_bucket(bucket, (), None, None, 0, [], [], [0], [(2, ((3,), (3,)))])
    with pytest.raises(ValueError, match="one target list per word"):
        assert automata is not None
        matching.set_bucket(bucket, (), automata.build(["abc"]), None, 1, [], [], [], [])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="abcAB:.\u00e9", min_size=1, max_size=6), min_size=1,
                max_size=300, unique=True),
       st.text(alphabet="abcAB:.\u00e9 \\", max_size=200))
def test_automata_small_and_large_find_what_str_finds(words: list[str], text: str) -> None:
    """Up to 128 words the automaton looks for each word by its rarest pair of bytes (32
    positions at a time with AVX2, one at a time without), beyond by its states."""
    assert automata is not None
    folded = [w.casefold() for w in words]
    expected = [i for i, w in enumerate(folded) if w in text.casefold()]
    assert sorted(automata.find(automata.build(folded), text.casefold())) == expected
    saved = os.environ.get("DWELL_NO_AVX2")
    os.environ["DWELL_NO_AVX2"] = "1"
    try:
        scalar = automata.build(folded)
    finally:
        if saved is None:
            del os.environ["DWELL_NO_AVX2"]
    assert sorted(automata.find(scalar, text.casefold())) == expected


def test_keyword_tests_read_what_the_event_view_holds() -> None:
    """A keyword test reads each field name's first non-null value (names compared in lower
    case), list items one by one; a float it cannot render is left to Python."""
    rule = _rule("kw", FieldTest(None, "contains", "mimi", needle="mimi"), None)
    native = _native([rule])
    batch = [{"Channel": "Security", "EventID": 1, "Foo": "a", "FOO": "mimikatz"},
             {"Channel": "Security", "EventID": 1, "Foo": None, "FOO": "MIMIkatz"},
             {"Channel": "Security", "EventID": 1, "Foo": ["x", None, "xmimi"]},
             {"Channel": "Security", "EventID": 1, "Foo": 1.5, "Bar": "mimi"},
             {"Channel": "Security", "EventID": 1, "Foo": 1.5, "Bar": "no"}]
    texts = [orjson.dumps(e).decode() for e in batch]
    got = native.match_texts(texts)
    assert [i for i, _, _ in got] == [1, 2, 3]
    assert got == _python([rule]).match_texts(texts)


def test_lone_surrogates_and_nul_go_to_python() -> None:
    """Texts Python's JSON would refuse or read otherwise are never matched natively."""
    assert matching is not None
    rule = _rule("r", FieldTest("user", "contains", "a", needle="a"), None)
    native = _native([rule])
    native.match_texts(['{"EventID": 1, "User": "a"}'])  # (publishes the bucket)
    texts = ['{"EventID": 1, "User": "a\\udc00"}', '{"EventID": 1, "User": "a\\ud800"}',
             '{"EventID": 1, "User": "a\udc00"}'.encode("utf-8", "surrogatepass").decode(
                 "utf-8", "replace"),
             '{"EventID": 1, "User": "a"}\x00{"x": 1}', '{"EventID": 1, "User": "\\\\udc00a"}']
    got = matching.run(native._native, texts)
    assert [(i, hits) for i, hits, _, _ in got] == [(0, None), (1, None), (2, [0]), (3, None),
                                                   (4, [0])]


@settings(max_examples=200, deadline=None)
@given(rulesets(), st.lists(events, min_size=1, max_size=12))
def test_buckets_made_from_saved_plans_match_alike(
    ruleset: list[CompiledRule], batch: list[dict[str, Any]]
) -> None:
    """A matcher given another's plans makes its native buckets from them (no Python bucket
    first) and finds the same hits, unknown tests and captured values included."""
    texts = [orjson.dumps(event).decode() for event in batch]
    first = _native(ruleset)
    expected = first.match_texts(texts)
    reused = _native(ruleset)
    reused.use_plans(first.new_plans)
    for _ in range(2):
        assert reused.match_texts(texts) == expected
    assert not set(reused.new_plans) & set(first.new_plans)  # (given plans are not handed out)


def test_plans_spare_the_python_buckets_and_survive_a_file(tmp_path: Any) -> None:
    from dwell.engine.matcher import load_plans, save_plans

    image = _rule("img", FieldTest("image", "endswith", "\\cmd.exe", needle="\\cmd.exe"))
    texts = [orjson.dumps({"Channel": c, "EventID": 4688, "Image": i}).decode()
             for c in ("Security", "SECURITY") for i in ("C:\\cmd.exe", "C:\\x.exe")]
    first = _native([image])
    expected = first.match_texts(texts)
    assert set(first.new_plans) == {("security", 4688)}
    path = str(tmp_path / "sub" / "plans.pickle")
    save_plans(path, first.new_plans)
    reused = _native([image])
    reused.use_plans(load_plans(path))
    # planned buckets are registered at once: the native side matches the first events of
    # the key itself, in any case of an ASCII channel (nothing left to Python)
    assert matching is not None
    assert [(i, hits) for i, hits, _, _ in matching.run(reused._native, texts)] == [
        (0, [0]), (2, [0])]
    assert reused.match_texts(texts) == expected
    assert not reused._shared and not reused.new_plans  # no Python bucket was built
    # a damaged or foreign file is no plans at all
    (tmp_path / "bad.pickle").write_bytes(b"\x80\x05garbage")
    (tmp_path / "list.pickle").write_bytes(__import__("pickle").dumps([1, 2]))
    assert load_plans(str(tmp_path / "bad.pickle")) == {}
    assert load_plans(str(tmp_path / "list.pickle")) == {}
    assert load_plans(str(tmp_path / "missing.pickle")) == {}


def test_keyword_words_found_in_names_numbers_or_folding_alike() -> None:
    """Keyword words are first looked for in the whole parsed text (ASCII only): a word in a
    field name only, or across two values, is no hit; one a JSON escape makes, in upper case,
    in a list item or a number's text is; so is one that only case folding of a non-ASCII
    character makes (the Kelvin sign folds to k)."""
    keyword = _rule("kw", FieldTest(None, "contains", "kerberos::", needle="kerberos::"), None)
    digits = _rule("num", FieldTest(None, "contains", "4242", needle="4242"), None)
    exponent = _rule("exp", FieldTest(None, "contains", "e+300", needle="e+300"), None)
    native, python = _native([keyword, digits, exponent]), _python([keyword, digits, exponent])
    base = {"Channel": "Security", "EventID": 4769}
    batch = [
        {**base, "kerberos::": "in the name only"},
        {**base, "Note": "ESCAPED"},  # (its text is written below)
        {**base, "Note": "KERBEROS::PTT upper case"},
        {**base, "Note": "\u212aerberos::ptt (Kelvin sign)"},
        {**base, "Count": 424242, "Flag": True},
        {**base, "Note": ["x", "kerberos::tgt"]},
        {**base, "Note": "kerberos:", "Other": ":"},
        {**base, "Big": 1e300},  # JSON "1e300", Python's text "1e+300"
    ]
    texts = [orjson.dumps(e).decode() for e in batch]
    texts[1] = texts[1].replace("ESCAPED", "kerberos:\\u003a escaped")  # a JSON escape
    for _ in range(2):
        got = native.match_texts(texts)
        assert got == python.match_texts(texts)
        assert {i: _ids(native, h) for i, h, _ in got} == {
            1: ["kw"], 2: ["kw"], 3: ["kw"], 4: ["num"], 5: ["kw"], 7: ["exp"]}


def test_saved_plans_of_old_rule_sets_are_pruned(tmp_path: Any) -> None:
    from dwell.engine.matcher import save_plans
    from dwell.rules.load import CACHE_KEEP

    for i in range(CACHE_KEEP + 2):
        path = tmp_path / f"plans-{i}.pickle"
        path.write_bytes(b"old")
        os.utime(path, ns=(10**18 + i, 10**18 + i))
    (tmp_path / f"{0:064x}.pickle").write_bytes(b"a rule set")
    save_plans(str(tmp_path / "plans-new.pickle"), {})
    plans = {p.name for p in tmp_path.glob("plans-*.pickle")}
    assert len(plans) == CACHE_KEEP and "plans-new.pickle" in plans and "plans-0.pickle" \
        not in plans
    assert (tmp_path / f"{0:064x}.pickle").exists()


def test_plans_that_do_not_fit_are_dropped_not_fatal() -> None:
    """A plans file is a cache: a plan of the wrong shape, or naming rules this matcher does
    not have, is dropped and the bucket made the usual way."""
    image = _rule("img", FieldTest("image", "endswith", "\\cmd.exe", needle="\\cmd.exe"))
    texts = [orjson.dumps({"Channel": c, "EventID": e, "Image": "C:\\cmd.exe"}).decode()
             for c, e in (("Security", 1), ("Security", 2), ("Security", 3), ("X", 4))]
    expected = _native([image]).match_texts(texts)
    good = _native([image])
    good.match_texts(texts)
    plan = good.new_plans[("security", 1)]
    reused = _native([image])
    reused.use_plans({
        ("security", 1): (*plan[:5], [7], plan[6]),  # a rule index out of range
        ("security", 2): ("not", "a", "plan"),  # the wrong shape
        ("security", 3): (*plan[:3], [], *plan[4:]),  # refused natively (no slot list)
    })
    assert reused.match_texts(texts) == expected
    assert not reused._plans  # all three dropped


def test_raw_control_characters_go_to_python() -> None:
    """A stored text with a raw control character in a string is not JSON: never matched
    natively, at any offset of a long string (RapidJSON scans 16 bytes at a time)."""
    assert matching is not None
    rule = _rule("r", FieldTest("user", "contains", "a", needle="a"), None)
    native = _native([rule])
    native.match_texts(['{"EventID": 1, "User": "a"}'])  # (publishes the bucket)
    texts = []
    for byte in range(0x20):
        for at in (0, 7, 15, 16, 17, 31):
            value = "a" * at + chr(byte) + "b" * 20
            texts.append('{"EventID": 1, "User": "' + value + '"}')
            texts.append('{"EventID": 1, "User": "\\\\' + value + '"}')
    got = matching.run(native._native, texts)
    assert [hits for _, hits, _, _ in got] == [None] * len(texts)
    assert [i for i, _, _, _ in got] == list(range(len(texts)))


@settings(max_examples=300, deadline=None)
@given(rulesets(), st.lists(events, min_size=1, max_size=8), st.booleans(), st.booleans())
def test_texts_in_any_json_spelling_match_alike(
    ruleset: list[CompiledRule], batch: list[dict[str, Any]], ascii_only: bool, spaced: bool
) -> None:
    """Stored texts are usually compact orjson output, which the native side reads with its own
    flat-object parser; escapes (\\uXXXX, surrogate pairs) and whitespace take RapidJSON.
    Either way the hits are Python's."""
    import json

    separators = (", ", ": ") if spaced else (",", ":")
    texts = [json.dumps(event, ensure_ascii=ascii_only, separators=separators)
             for event in batch]
    native, python = _native(ruleset), _python(ruleset)
    for _ in range(2):
        assert native.match_texts(texts) == python.match_texts(texts)


def test_awkward_stored_texts_match_as_python_reads_them() -> None:
    assert matching is not None
    rule = _rule("r", FieldTest("user", "contains", "a\\b", needle="a\\b"), None)
    texts = [
        '{"EventID":1,"User":"xa\\\\by"}',           # an escape: decoded in place
        '{"EventID":1,"User":"xa\\u005cby"}',         # the same, as \\u
        '{"EventID":1,"User":["q","xa\\\\b",null]}',  # a list
        '{"EventID":1,"User":"a\\\\b","N":-0}',
        '{"EventID":1,"User":"a\\\\b","N":12345678901234567890}',  # 20 digits: RapidJSON
        '{"EventID":1,"User":"a\\\\b","N":1e3}',      # a double
        '{"EventID":1,"User":"a\\\\b","N":{"x":1}}',  # an object value
        '{"EventID":1,"User":"a\\\\b","N":[[1]]}',    # a nested list
        '{"EventID":1,"User":"a\\\\b"} ',             # trailing space: still JSON
        '{"EventID":1,"User":"a\\\\b","User":"zz"}',  # a repeated name
        '{"EventID":1,"User":"zz"}',
        '{}',
    ]
    native, python = _native([rule]), _python([rule])
    expected = python.match_texts(texts)
    assert [i for i, _, _ in expected] == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    for _ in range(2):
        assert native.match_texts(texts) == expected
    # not JSON (never stored by dwell): the native side leaves each to Python
    broken = ['{"EventID":1,"User":"a\\\\b","N":01}', '{"EventID":1,"User":"a\\\\b"}x',
              '{"EventID":1,"User":"a\\\\b",}', '{"EventID":1,"User":"a\\\\b\\x"}',
              '{"EventID":1,"User":"a\\\\b', '{"EventID":1,"User":tru}']
    got = matching.run(native._native, broken)
    assert [(i, hits) for i, hits, _, _ in got] == [(i, None) for i in range(len(broken))]


def test_answers_of_python_predicates_are_kept_per_text() -> None:
    """cidr, regex and glob tests call Python; their answers are kept per text (values repeat),
    with the same hits as asking each time, cased and folded texts apart."""
    rules = [
        _rule("net", FieldTest("destinationip", "cidr", "10.0.0.0/8"), None),
        _rule("re", FieldTest("image", "re", r"\\Cmd\.exe$"), None),
        _rule("glob", FieldTest("user", "glob", "adm*n"), None),
    ]
    events = []
    for n in range(60):
        events.append({"EventID": 3, "DestinationIp": ["10.1.2.3", "8.8.8.8", "fe80::1",
                                                         "10.0.0.256", " 10.9.9.9 "][n % 5],
                       "Image": ["C:\\Windows\\Cmd.exe", "c:\\windows\\cmd.exe"][n % 2],
                       "User": ["ADMIN", "administrator", "Admn"][n % 3]})
    texts = [orjson.dumps(e).decode() for e in events]
    native, python = _native(rules), _python(rules)
    expected = python.match_texts(texts)
    for _ in range(3):
        assert native.match_texts(texts) == expected
    found = {i: _ids(native, hits) for i, hits, _ in expected}
    for i, event in enumerate(events):
        assert found.get(i, []) == [r.id for r in reference_match(rules, event)]
    assert {rid for ids in found.values() for rid in ids} == {"net", "re", "glob"}


def test_a_full_memo_starts_again_and_answers_alike() -> None:
    """The memos' size is bounded; when full they are emptied (values met early need not be
    the ones that repeat later) and fill again: the same hits all along."""
    from dwell.ingest import _native as module  # type: ignore[attr-defined]

    rules = [_rule("img", FieldTest("image", "endswith", "\\cmd.exe", needle="\\cmd.exe")),
             _rule("usr", FieldTest("user", "contains", "adm", needle="adm"))]
    events = [{"Channel": "Security", "EventID": 4688, "Image": f"c:\\x{n % 37}\\cmd.exe"
               if n % 3 else f"c:\\y{n}.exe", "User": ["admin", "bob", f"u{n % 11}"][n % 3]}
              for n in range(400)]
    texts = [orjson.dumps(e).decode() for e in events]
    expected = _python(rules).match_texts(texts)
    before = module.memo_limit(2000)  # a few dozen outcomes
    try:
        native = _native(rules)
        for _ in range(3):
            assert native.match_texts(texts) == expected
    finally:
        module.memo_limit(before)
    assert before == 32 << 20
    assert len(expected) > 200
