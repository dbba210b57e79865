"""Property: the fast matcher returns exactly what the reference evaluator returns."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sigma.types import SigmaString

from dwell.engine import Matcher
from dwell.engine.evaluate import reference_match
from dwell.rules import CompiledRule, Target
from dwell.rules.compile import string_test
from dwell.rules.ir import And, Node, Not, Or
from dwell.rules.ir import Test as FieldTest

FIELDS = ["image", "commandline", "user"]
CHANNELS = ["microsoft-windows-sysmon/operational", "security"]
TEXT = st.text(alphabet="abcAB*?\\ ßΣς", min_size=0, max_size=6)


@st.composite
def field_tests(draw: st.DrawFn) -> Node:
    field = draw(st.sampled_from([*FIELDS, None]))
    kind = draw(st.sampled_from(["str", "str", "str", "num", "null", "exists", "re", "cased"]))
    if field is None or kind in ("str", "cased"):
        value = SigmaString(draw(TEXT))
        if kind == "cased":
            from sigma.types import SigmaCasedString

            value = SigmaCasedString.from_sigma_string(value)
        return string_test(field, value)
    if kind == "num":
        return FieldTest(field, "num", draw(st.integers(0, 3)))
    if kind == "null":
        return FieldTest(field, "null", None)
    if kind == "exists":
        return FieldTest(field, "exists", draw(st.booleans()))
    return FieldTest(field, "re", draw(st.sampled_from(["^a", "b$", "A.", "ß"])),
                flags=draw(st.sampled_from([0, 2])))


nodes = st.recursive(
    field_tests(),
    lambda inner: st.one_of(
        st.builds(lambda a: And(tuple(a)), st.lists(inner, min_size=2, max_size=3)),
        st.builds(lambda a: Or(tuple(a)), st.lists(inner, min_size=2, max_size=3)),
        st.builds(Not, inner),
    ),
    max_leaves=6,
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
    st.none(), st.integers(0, 3), st.text(alphabet="abcAB ßΣς\\*?", max_size=8),
    st.lists(st.text(alphabet="abAB", max_size=3), max_size=2),
)
events = st.fixed_dictionaries(
    {"Channel": st.sampled_from(["Microsoft-Windows-Sysmon/Operational", "Security", "X"]),
     "EventID": st.one_of(st.integers(1, 3), st.sampled_from(["2", None]))},
    optional={"Image": values, "CommandLine": values, "commandLINE": values, "User": values},
)


@settings(max_examples=400, deadline=None)
@given(rulesets(), st.lists(events, min_size=1, max_size=5))
def test_fast_equals_reference(ruleset: list[CompiledRule], batch: list[dict[str, Any]]) -> None:
    matcher = Matcher(ruleset)
    for event in batch:
        assert [r.id for r in matcher.match(event)] == \
            [r.id for r in reference_match(ruleset, event)]
