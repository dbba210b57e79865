"""The fast evaluator: log-source buckets, one Aho-Corasick scan per field, closures per rule.

For an event with channel ``c`` and event id ``e`` only the rules whose targets cover
``(c, e)`` are considered (a *bucket*, built on first use). Each rule contributes a set of
*needles* — folded literals of which at least one occurs in a given field whenever the rule
matches (derived from its tree: an OR needs a needle from every branch, an AND from one). The
bucket scans each field it has needles for once with an automaton of all its needles; only the
rules whose needles were seen (plus rules without needles) have their conditions evaluated, as
pre-compiled closures over a lower-cased view of the event whose folded strings are computed once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ahocorasick

from dwell.engine.evaluate import (
    applies,
    compare,
    event_key,
    event_view,
    ip_in,
    number,
    regex,
    strings,
    test_value,
)
from dwell.rules.ir import And, Node, Not, Or, Test, fold

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dwell.rules import CompiledRule, RuleSet

MIN_NEEDLE = 3


class _Event:
    """One event as the closures see it: the lower-cased view and a cache of folded strings."""

    __slots__ = ("folded", "view")

    def __init__(self, view: dict[str, Any]) -> None:
        self.view = view
        self.folded: dict[str, list[str]] = {}

    def texts(self, name: str, value: Any) -> list[str]:
        got = self.folded.get(name)
        if got is None:
            got = [fold(t) for t in strings(value)]
            self.folded[name] = got
        return got


Pred = Callable[[_Event], bool]


def _string_pred(test: Test) -> Pred:
    name, op, lit = test.field, test.op, test.value
    assert name is not None
    if test.cased:
        if op == "glob":
            pat = regex(lit, re.DOTALL)
            return lambda ev: any(pat.fullmatch(t) is not None
                                  for t in strings(ev.view.get(name)))
        checks: dict[str, Callable[[str], bool]] = {
            "eq": lambda t: t == lit, "contains": lambda t: lit in t,
            "startswith": lambda t: t.startswith(lit), "endswith": lambda t: t.endswith(lit),
        }
        check = checks[op]
        return lambda ev: any(check(t) for t in strings(ev.view.get(name)))

    def texts(ev: _Event) -> list[str]:
        value = ev.view.get(name)
        if value is None:
            return []
        if isinstance(value, str):
            got = ev.folded.get(name)
            if got is None:
                got = [value.casefold()]
                ev.folded[name] = got
            return got
        return ev.texts(name, value)

    if op == "eq":
        return lambda ev: lit in texts(ev)
    if op == "contains":
        return lambda ev: any(lit in t for t in texts(ev))
    if op == "startswith":
        return lambda ev: any(t.startswith(lit) for t in texts(ev))
    if op == "endswith":
        return lambda ev: any(t.endswith(lit) for t in texts(ev))
    pat = regex(lit, re.DOTALL)
    return lambda ev: any(pat.fullmatch(t) is not None for t in texts(ev))


def _pred(node: Node) -> Pred:
    if isinstance(node, And):
        parts = [_pred(a) for a in node.args]
        if len(parts) == 2:
            a, b = parts
            return lambda ev: a(ev) and b(ev)
        return lambda ev: all(p(ev) for p in parts)
    if isinstance(node, Or):
        parts = _or_parts(node)
        if len(parts) == 2:
            a, b = parts
            return lambda ev: a(ev) or b(ev)
        return lambda ev: any(p(ev) for p in parts)
    if isinstance(node, Not):
        inner = _pred(node.arg)
        return lambda ev: not inner(ev)
    return _test_pred(node)


def _or_parts(node: Or) -> list[Pred]:
    """Predicates of an OR's branches; many string tests of one field/op become one test."""
    groups: dict[tuple[str, str], list[str]] = {}
    rest: list[Node] = []
    for arg in node.args:
        if isinstance(arg, Test) and arg.field is not None and not arg.cased and \
                arg.op in ("eq", "contains", "startswith", "endswith"):
            groups.setdefault((arg.field, arg.op), []).append(arg.value)
        else:
            rest.append(arg)
    parts: list[Pred] = []
    for (name, op), literals in groups.items():
        if len(literals) < 4:
            parts.extend(_string_pred(Test(name, op, lit)) for lit in literals)
        else:
            parts.append(_grouped(name, op, literals))
    parts.extend(_pred(a) for a in rest)
    return parts


def _grouped(name: str, op: str, literals: list[str]) -> Pred:
    def texts(ev: _Event) -> list[str]:
        value = ev.view.get(name)
        return [] if value is None else ev.texts(name, value)

    if op == "eq":
        wanted = frozenset(literals)
        return lambda ev: any(t in wanted for t in texts(ev))
    if op == "startswith":
        prefixes = tuple(literals)
        return lambda ev: any(t.startswith(prefixes) for t in texts(ev))
    if op == "endswith":
        suffixes = tuple(literals)
        return lambda ev: any(t.endswith(suffixes) for t in texts(ev))
    if "" in literals:
        return lambda ev: bool(texts(ev))
    automaton = ahocorasick.Automaton()
    for lit in literals:
        automaton.add_word(lit, lit)
    automaton.make_automaton()

    def contains(ev: _Event) -> bool:
        for t in texts(ev):
            for _ in automaton.iter(t):
                return True
        return False

    return contains


def _test_pred(test: Test) -> Pred:
    name, op, val = test.field, test.op, test.value
    if name is None:  # keyword search over every value
        return lambda ev: any(v is not None and test_value(test, v, ev.view)
                              for v in ev.view.values())
    if op in ("eq", "contains", "startswith", "endswith", "glob"):
        return _string_pred(test)
    if op == "null":
        return lambda ev: ev.view.get(name) is None
    if op == "exists":
        return lambda ev: (ev.view.get(name) is not None) is val
    if op == "re":
        pat = regex(val, test.flags)
        return lambda ev: any(pat.search(t) for t in strings(ev.view.get(name)))
    if op == "num":

        def num_pred(ev: _Event) -> bool:
            value = ev.view.get(name)
            if value is None:
                return False
            if type(value) is int:
                return bool(value == val)
            items = value if isinstance(value, list) else [value]
            return any((n := number(i)) is not None and n == val for i in items)

        return num_pred
    if op == "cmp":
        cop, right = val

        def cmp_pred(ev: _Event) -> bool:
            value = ev.view.get(name)
            items = value if isinstance(value, list) else [value]
            return any((n := number(i)) is not None and compare(cop, n, right) for i in items)

        return cmp_pred
    if op == "cidr":
        return lambda ev: any(ip_in(t, val) for t in strings(ev.view.get(name)))
    return lambda ev: (v := ev.view.get(name)) is not None and test_value(test, v, ev.view)


def needles(node: Node) -> set[tuple[str | None, str]] | None:
    """(field, folded literal) pairs, one of which occurs whenever ``node`` holds; None: none."""
    if isinstance(node, Test):
        if node.op in ("eq", "contains", "startswith", "endswith", "glob") and \
                len(node.needle) >= MIN_NEEDLE:
            return {(node.field, node.needle)}
        return None
    if isinstance(node, Not):
        return None
    if isinstance(node, Or):
        out: set[tuple[str | None, str]] = set()
        for arg in node.args:
            got = needles(arg)
            if got is None:
                return None
            out |= got
        return out
    best: set[tuple[str | None, str]] | None = None
    for arg in node.args:
        got = needles(arg)
        if got is not None and (best is None or _cost(got) < _cost(best)):
            best = got
    return best


def _cost(items: set[tuple[str | None, str]]) -> tuple[int, int]:
    return (len(items), -min(len(n) for _, n in items))


@dataclass(slots=True)
class _Entry:
    rule: CompiledRule
    index: int
    pred: Pred


@dataclass(slots=True)
class _Bucket:
    entries: list[_Entry]
    always: list[int]  # entries without needles
    automata: dict[str, Any] = field(default_factory=dict)  # field -> automaton
    keyword: Any = None  # automaton over every value


class Matcher:
    """Match events against the detection rules of a rule set (fast path)."""

    def __init__(self, ruleset: RuleSet | list[CompiledRule], *, profile: bool = False) -> None:
        rules = ruleset if isinstance(ruleset, list) else ruleset.rules
        self.rules = [r for r in rules if r.correlation is None]
        self._compiled: list[list[tuple[Any, Pred, set[tuple[str | None, str]] | None]]] = []
        for rule in self.rules:
            self._compiled.append(
                [(target, _pred(cond), needles(cond)) for target, cond in rule.targets]
            )
        self._buckets: dict[tuple[str | None, int | None], _Bucket] = {}
        self.profile = profile
        self.seconds: list[float] = [0.0] * len(self.rules)
        self.evaluations: list[int] = [0] * len(self.rules)

    def _bucket(self, key: tuple[str | None, int | None]) -> _Bucket:
        entries: list[_Entry] = []
        always: list[int] = []
        words: dict[str | None, dict[str, set[int]]] = {}
        for index, targets in enumerate(self._compiled):
            for target, pred, need in targets:
                if not applies(target, key):
                    continue
                slot = len(entries)
                entries.append(_Entry(self.rules[index], index, pred))
                if need is None:
                    always.append(slot)
                else:
                    for fname, word in need:
                        words.setdefault(fname, {}).setdefault(word, set()).add(slot)
                break  # one target per rule and event
        bucket = _Bucket(entries, always)
        for fname, table in words.items():
            automaton = ahocorasick.Automaton()
            for word, slots in table.items():
                automaton.add_word(word, tuple(sorted(slots)))
            automaton.make_automaton()
            if fname is None:
                bucket.keyword = automaton
            else:
                bucket.automata[fname] = automaton
        self._buckets[key] = bucket
        return bucket

    def match(self, fields: Mapping[str, Any]) -> list[CompiledRule]:
        """The detection rules matching one flattened event."""
        return [self.rules[i] for i in self.match_indices(fields)]

    def match_indices(self, fields: Mapping[str, Any]) -> list[int]:
        """Indices into :attr:`rules` of the rules matching one flattened event."""
        view = event_view(fields)
        key = event_key(view)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._bucket(key)
        if not bucket.entries:
            return []
        ev = _Event(view)
        candidates: set[int] = set(bucket.always)
        for fname, automaton in bucket.automata.items():
            value = view.get(fname)
            if value is None:
                continue
            for text in ev.texts(fname, value):
                for _, slots in automaton.iter(text):
                    candidates.update(slots)
        if bucket.keyword is not None:
            for fname, value in view.items():
                if value is None:
                    continue
                for text in ev.texts(fname, value):
                    for _, slots in bucket.keyword.iter(text):
                        candidates.update(slots)
        out: list[int] = []
        entries = bucket.entries
        if self.profile:
            for slot in sorted(candidates):
                entry = entries[slot]
                started = time.perf_counter()
                hit = entry.pred(ev)
                self.seconds[entry.index] += time.perf_counter() - started
                self.evaluations[entry.index] += 1
                if hit:
                    out.append(entry.index)
        else:
            for slot in sorted(candidates):
                entry = entries[slot]
                if entry.pred(ev):
                    out.append(entry.index)
        out.sort()
        return out
