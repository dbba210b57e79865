"""Property: the fast matcher returns exactly what the reference evaluator returns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sigma.types import SigmaString

from dwell.engine import Matcher, matcher
from dwell.engine.evaluate import reference_match
from dwell.engine.matcher import regex_needles, specialise
from dwell.rules import CompiledRule, Target
from dwell.rules.compile import string_test
from dwell.rules.ir import And, Node, Not, Or
from dwell.rules.ir import Test as FieldTest

if TYPE_CHECKING:
    import pytest

FIELDS = ["image", "commandline", "user", "eventid"]
CHANNELS = ["microsoft-windows-sysmon/operational", "security"]
TEXT = st.text(alphabet="abcAB*?\\ ßΣςiIİı`^", min_size=0, max_size=6)
#: Regular expressions with and without literal runs (the fast path scans for those runs),
#: case-insensitive ones included (``(?i)i`` also matches ``İ`` and ``ı``).
REGEXES = ["^a", "b$", "A.", "ß", "abc", "(?i)abc", "(?i)aib", "a(?:bc|cb)+", "(?:ab)+c?",
           "a|bc", "(?i:ab)c", "`a", "ab\\d", "[ab]c", "x?abc{2}", "1$", "^(?:1|2)$",
           "a(?:bc)+b", "(?:ab)+c", "(?i)a(?:b[ab])+c", r'"(?:\{\d\})+"', "c(?i:ab)+"]


@st.composite
def field_tests(draw: st.DrawFn) -> Node:
    field = draw(st.sampled_from([*FIELDS, None]))
    kind = draw(st.sampled_from(["str", "str", "str", "num", "cmp", "null", "exists", "re",
                                 "re", "cased"]))
    if field is None or kind in ("str", "cased"):
        value = SigmaString(draw(TEXT))
        if kind == "cased":
            from sigma.types import SigmaCasedString

            value = SigmaCasedString.from_sigma_string(value)
        return string_test(field, value)
    if kind == "num":
        return FieldTest(field, "num", draw(st.integers(0, 3)))
    if kind == "cmp":
        return FieldTest(field, "cmp", (draw(st.sampled_from(["lt", "lte", "gt", "gte", "neq"])),
                                        draw(st.integers(0, 3))))
    if kind == "null":
        return FieldTest(field, "null", None)
    if kind == "exists":
        return FieldTest(field, "exists", draw(st.booleans()))
    return FieldTest(field, "re", draw(st.sampled_from(REGEXES)),
                     flags=draw(st.sampled_from([0, 2])))


@st.composite
def big_ors(draw: st.DrawFn) -> Node:
    """A long OR of string tests of one field and operation (merged into one test when fast)."""
    field = draw(st.sampled_from(FIELDS))
    texts = draw(st.lists(TEXT, min_size=3, max_size=12))
    ops = draw(st.sampled_from(["", "*{}", "{}*", "*{}*", "mixed"]))
    args: list[Node] = []
    for i, text in enumerate(texts):
        shape = ["", "*{}", "{}*", "*{}*"][i % 4] if ops == "mixed" else ops
        args.append(string_test(field, SigmaString(shape.format(text) if shape else text)))
    return Or(tuple(args))


nodes = st.recursive(
    st.one_of(field_tests(), big_ors()),
    lambda inner: st.one_of(
        st.builds(lambda a: And(tuple(a)), st.lists(inner, min_size=2, max_size=3)),
        st.builds(lambda a: Or(tuple(a)), st.lists(inner, min_size=2, max_size=8)),
        st.builds(Not, inner),
    ),
    max_leaves=8,
)


@st.composite
def rules(draw: st.DrawFn, index: int) -> CompiledRule:
    condition = draw(nodes)
    channel = draw(st.sampled_from([*CHANNELS, None]))
    ids = draw(st.one_of(st.none(), st.frozensets(st.integers(1, 3), min_size=1)))
    target = Target(channel, ids)
    return CompiledRule(id=f"r{index}", title="t", level="low", status="test", tags=[],
                        condition=condition, targets=((target, condition),))


@st.composite
def rulesets(draw: st.DrawFn) -> list[CompiledRule]:
    return [draw(rules(i)) for i in range(draw(st.integers(1, 6)))]


values = st.one_of(
    st.none(), st.integers(0, 3), st.text(alphabet="abcAB ßΣς\\*?iIİı`^1", max_size=10),
    st.lists(st.text(alphabet="abAB", max_size=3), max_size=2),
)
events = st.fixed_dictionaries(
    {"Channel": st.sampled_from(["Microsoft-Windows-Sysmon/Operational", "Security", "X"]),
     "EventID": st.one_of(st.integers(1, 3),
                          st.sampled_from(["2", " 1", None, True, 2.0, [1, 2]]))},
    optional={"Image": values, "CommandLine": values, "commandLINE": values, "User": values,
              "eventid": values},
)


@settings(max_examples=500, deadline=None)
@given(rulesets(), st.lists(events, min_size=1, max_size=8), st.sampled_from([0, 1, 3]))
def test_fast_equals_reference(
    ruleset: list[CompiledRule], batch: list[dict[str, Any]], learn: int
) -> None:
    matcher = Matcher(ruleset, learn=learn)  # learn: events per bucket before re-choosing
    for event in batch:
        assert [r.id for r in matcher.match(event)] == \
            [r.id for r in reference_match(ruleset, event)]


def test_regex_needles_are_required_literals() -> None:
    assert regex_needles("(?i)cmd.{0,5}(?:/c|/r)", 0) == frozenset({"cmd"})
    assert regex_needles("(?i)mimi", 0) is None  # runs split at i: "m" alone is too short
    assert regex_needles("abc|def", 0) == frozenset({"abc", "def"})
    assert regex_needles("[ab]+x", 0) is None
    assert regex_needles(r'"(?:\{\d\})+"\s*-f', 0) == frozenset({'"{'})
    assert regex_needles("x(?:ab)+yz", 0) == frozenset({"abyz"})


def test_specialise_folds_event_id_tests() -> None:
    rule = And((FieldTest("eventid", "num", 4624), FieldTest("user", "eq", "bob")))
    assert specialise(rule, 4625) is False
    assert specialise(rule, 4624) == FieldTest("user", "eq", "bob")
    assert specialise(Not(FieldTest("eventid", "num", 1)), 2) is True


def test_scanner_without_the_native_or_the_rust_automaton(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    words = ["ab", "b", "xyz", "é"]
    native = set(matcher.Scanner(words).find("xab bé"))
    monkeypatch.setattr(matcher, "_automata", None)
    rust = set(matcher.Scanner(words).find("xab bé"))
    monkeypatch.setattr(matcher, "ahocorasick_rs", None)
    assert set(matcher.Scanner(words).find("xab bé")) == rust == native == {0, 1, 3}
