"""The fast evaluator: log-source buckets, one multi-pattern scan per event, closures per rule.

For an event with channel ``c`` and event id ``e`` only the rules whose targets cover
``(c, e)`` are considered (a *bucket*, built on first use). When the event id is an int, each
rule's tree is first *specialised* to it (``EventID`` tests become constants), so rules that
test another event id leave the bucket. Each remaining rule contributes a set of *needles* —
folded literals of which at least one occurs in the event whenever the rule matches (derived
from its tree: an OR needs a needle from every branch, an AND from one of its arguments;
regular expressions give their required literal runs). Which AND argument is taken is chosen
per bucket: by needle length at first, then by how often each needle occurred in the bucket's
first :data:`LEARN_EVENTS` events (the bucket scans for every possible needle meanwhile).

Per event, the bucket joins the texts of every field its needles come from, folds them once and
scans them once with one Aho-Corasick automaton of all its needles (``ahocorasick-rs`` when
installed, else ``pyahocorasick``); only the rules whose needles were seen (plus rules without
needles) have their conditions evaluated, as pre-compiled closures over a lower-cased view of
the event whose folded strings are computed at most once.

Needles only select candidates (a needle seen in another field than its own merely costs an
evaluation), so the result is always exactly that of the rules' conditions, whatever needles
were chosen; ``tests/engine/test_matcher_property.py`` checks it against the reference.

Hunts match stored ``fields`` texts in batches (:meth:`Matcher.match_column`): once a bucket
exists it is copied to the native module (``dwell.ingest._native``, see its matcher section),
which parses each text, scans it and evaluates the candidates' trees in three-valued logic,
calls Python's own ``re``/``ipaddress`` predicates for regular expressions, globs and cidr
tests, memoises outcomes by the values of the fields a bucket's rules read, and builds the
captured values of each hit. Python decodes only the events it leaves (a new bucket, a value it
does not render) and evaluates only the rules it leaves *unknown* (comparisons, keywords).
``tests/engine/test_native_matching.py`` compares it with this module's Python path.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ahocorasick
import orjson
import pyarrow as pa

try:  # the Rust automaton reports all matches in one call (much faster); optional
    import ahocorasick_rs
except ImportError:  # then pyahocorasick, with one Python iteration per match
    ahocorasick_rs = None  # type: ignore[assignment]

from dwell.engine.evaluate import (
    applies,
    compare,
    eval_test,
    event_key,
    ip_in,
    number,
    regex,
    strings,
    test_value,
)
from dwell.ingest.native import automata as _automata
from dwell.ingest.native import matching as _matching
from dwell.rules.ir import And, Node, Not, Or, Test, field_key, fold
from dwell.rules.load import read_cache, write_cache

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from dwell.rules import CompiledRule, RuleSet
    from dwell.rules.logsource import Target

MIN_NEEDLE = 3
#: Short ASCII needles made only of these characters would hit almost every event.
_COMMON = frozenset(" \\/.:-_'\"")
#: Single characters rare enough in Windows logs to gate a rule (PowerShell escapes, cmd carets).
_RARE = frozenset("`^")
_SEP = "\x1f"  # between the texts of one scan (a needle spanning it only costs an evaluation)

_re_parser: Any = importlib.import_module("re._parser")  # private, stable since 3.11


class _Keys(dict[str, str]):
    """Raw field name -> :func:`field_key`, memoised (field names repeat across events)."""

    def __missing__(self, key: str) -> str:
        low = field_key(key)
        if len(self) < 200_000:
            self[key] = low
        return low


_KEYS = _Keys()


def fast_view(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The event view of :func:`dwell.engine.evaluate.event_view` (lower-cased names).

    Null values may be kept or left out: absent and null fields read the same to every test.
    Names differing only in case (rare) take the slow path, where the first non-null value
    wins (the dict is built from the end, so earlier items overwrite later ones).
    """
    keys = _KEYS
    view = dict(zip(map(keys.__getitem__, fields), fields.values(), strict=True))
    if len(view) == len(fields):
        return view
    items = fields if isinstance(fields, dict) else dict(fields)
    return {keys[k]: v for k, v in reversed(items.items()) if v is not None}


def _text(value: Any) -> str:
    """The texts string tests see in a non-string value, joined for scanning."""
    return _SEP.join(strings(value))


def scan_text(view: Mapping[str, Any], names: tuple[str, ...] | None) -> str:
    """The folded texts of the values of ``names`` (all when None) that needles are looked
    for in, joined by :data:`_SEP`. ``dwell.ingest.native.scan_text`` builds the same string
    natively (or answers None for values it leaves to this function)."""
    items: Any = view.values() if names is None else [view[f] for f in names if f in view]
    return _SEP.join([v if type(v) is str else str(v) if type(v) is int else _text(v)
                      for v in items]).casefold()


class _Event:
    """One event as the closures see it: the lower-cased view and a cache of folded strings."""

    __slots__ = ("everything", "folded", "view")

    def __init__(self, view: dict[str, Any]) -> None:
        self.view = view
        self.folded: dict[str, list[str]] = {}
        self.everything: list[str] | None = None

    def all_texts(self) -> list[str]:
        """The folded texts of every value (what a keyword search sees)."""
        got = self.everything
        if got is None:
            got = []
            for name, value in self.view.items():
                got.extend(self.texts(name, value))
            self.everything = got
        return got

    def texts(self, name: str, value: Any) -> list[str]:
        got = self.folded.get(name)
        if got is None:
            got = [value.casefold()] if type(value) is str else [fold(t) for t in strings(value)]
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
        got = ev.folded.get(name)
        if got is not None:
            return got
        value = ev.view.get(name)
        if value is None:
            return []
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
        if len(parts) == 1:
            return parts[0]
        if len(parts) == 2:
            a, b = parts
            return lambda ev: a(ev) or b(ev)
        return lambda ev: any(p(ev) for p in parts)
    if isinstance(node, Not):
        inner = _pred(node.arg)
        return lambda ev: not inner(ev)
    return _test_pred(node)


#: The string operations an OR's branches are grouped by (and generated code tests inline).
_STRING_OPS = ("eq", "contains", "startswith", "endswith")


def _or_groups(node: Or) -> tuple[dict[tuple[str | None, str], list[str]], list[Node]]:
    """An OR's folded string tests by (field, operation), and its other branches."""
    groups: dict[tuple[str | None, str], list[str]] = {}
    rest: list[Node] = []
    for arg in node.args:
        if isinstance(arg, Test) and not arg.cased and arg.op in _STRING_OPS:
            groups.setdefault((arg.field, arg.op), []).append(arg.value)
        else:
            rest.append(arg)
    return groups, rest


def _or_parts(node: Or) -> list[Pred]:
    """Predicates of an OR's branches; many string tests of one field/op become one test."""
    groups, rest = _or_groups(node)
    parts: list[Pred] = []
    for (name, op), literals in groups.items():
        if len(literals) < 3:
            parts.extend(_test_pred(Test(name, op, lit)) for lit in literals)
        else:
            parts.append(_grouped(name, op, literals))
    parts.extend(_pred(a) for a in rest)
    return parts


def _field_texts(name: str) -> Callable[[_Event], list[str]]:
    def texts(ev: _Event) -> list[str]:
        got = ev.folded.get(name)
        if got is not None:
            return got
        value = ev.view.get(name)
        return [] if value is None else ev.texts(name, value)

    return texts


def _grouped(name: str | None, op: str, literals: list[str]) -> Pred:
    """One test for an OR of string tests of one field (None: keywords) and operation."""

    texts = _Event.all_texts if name is None else _field_texts(name)

    if op == "eq":
        wanted = frozenset(literals)
        return lambda ev: not wanted.isdisjoint(texts(ev))
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
    search = automaton.iter

    def contains(ev: _Event) -> bool:
        for t in texts(ev):
            for _ in search(t):
                return True
        return False

    return contains


def _test_pred(test: Test) -> Pred:
    name, op, val = test.field, test.op, test.value
    if name is None:  # keyword search over every value
        if not test.cased and op in ("eq", "contains", "startswith", "endswith"):
            if op == "eq":
                return lambda ev: val in ev.all_texts()
            if op == "contains":
                return lambda ev: any(val in t for t in ev.all_texts())
            if op == "startswith":
                return lambda ev: any(t.startswith(val) for t in ev.all_texts())
            return lambda ev: any(t.endswith(val) for t in ev.all_texts())
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
        search = pat.search

        def re_pred(ev: _Event) -> bool:
            value = ev.view.get(name)
            if type(value) is str:
                return search(value) is not None
            return any(search(t) for t in strings(value))

        return re_pred
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


# --- generated predicates ---------------------------------------------------------------------
#
# A rule's condition becomes one Python function (source generated here, compiled once): the
# common tests (case-insensitive eq/contains/startswith/endswith of a field, and ORs of many
# literals of one field) inline, with a fast path for a field holding one string; every other
# test calls its closure from :func:`_test_pred`. Literals, field names and closures reach the
# generated code only as names bound in its namespace, never as source text.


def _g_any(texts: list[str], lit: Any) -> bool:
    return any(lit in t for t in texts)


def _g_starts(texts: list[str], lit: Any) -> bool:
    return any(t.startswith(lit) for t in texts)


def _g_ends(texts: list[str], lit: Any) -> bool:
    return any(t.endswith(lit) for t in texts)


def _g_texts(ev: _Event, name: str) -> list[str]:
    value = ev.view.get(name)
    return [] if value is None else ev.texts(name, value)


class _Gen:
    """Source and namespace of one generated predicate."""

    def __init__(self) -> None:
        self.names: dict[str, Any] = {"_any": _g_any, "_starts": _g_starts, "_ends": _g_ends,
                                      "_T": _g_texts}
        self.ids: dict[int, str] = {}
        self.temps = 0

    def const(self, value: Any) -> str:
        name = self.ids.get(id(value))
        if name is None or self.names.get(name) is not value:
            name = f"_k{len(self.names)}"
            self.names[name] = value
            self.ids[id(value)] = name
        return name

    def texts(self, field: str) -> tuple[str, str]:
        """An expression binding a fresh temp to the folded texts of ``field``; (expr, temp)."""
        key = self.const(field)
        self.temps += 1
        return f"(_t{self.temps} := (_f.get({key}) or _T(ev, {key})))", f"_t{self.temps}"

    def string(self, field: str, op: str, lit: Any) -> str:
        """``op`` of field texts against ``lit`` (a literal, or a tuple for starts/endswith)."""
        fetch, t = self.texts(field)
        k = self.const(lit)
        if op == "eq":
            return f"({k} in {fetch})"
        if op == "contains":
            one, many = f"{k} in {t}[0]", f"_any({t}, {k})"
        elif op == "startswith":
            one, many = f"{t}[0].startswith({k})", f"_starts({t}, {k})"
        else:
            one, many = f"{t}[0].endswith({k})", f"_ends({t}, {k})"
        return f"({one} if len({fetch}) == 1 else {many})"

    def expr(self, node: Node) -> str:
        if isinstance(node, And):
            return "(" + " and ".join(self.expr(a) for a in node.args) + ")"
        if isinstance(node, Or):
            return "(" + " or ".join(self.or_parts(node)) + ")"
        if isinstance(node, Not):
            return f"(not {self.expr(node.arg)})"
        return self.test(node)

    def test(self, test: Test) -> str:
        if test.field is not None and not test.cased and test.op in _STRING_OPS:
            return self.string(test.field, test.op, test.value)
        return f"{self.const(_test_pred(test))}(ev)"

    def or_parts(self, node: Or) -> list[str]:
        """As :func:`_or_parts`: many literals of one field and operation become one test."""
        groups, rest = _or_groups(node)
        parts: list[str] = []
        for (name, op), literals in groups.items():
            if len(literals) < 3:
                parts.extend(self.test(Test(name, op, lit)) for lit in literals)
            elif name is None or (op == "contains" and "" not in literals):
                parts.append(f"{self.const(_grouped(name, op, literals))}(ev)")
            elif op == "eq":
                fetch, _ = self.texts(name)
                parts.append(f"(not {self.const(frozenset(literals))}.isdisjoint({fetch}))")
            elif op == "contains":  # an empty literal: any text at all
                fetch, _ = self.texts(name)
                parts.append(f"bool({fetch})")
            else:
                parts.append(self.string(name, op, tuple(literals)))
        parts.extend(self.expr(a) for a in rest)
        return parts


def generate(node: Node) -> Pred:
    """The predicate of ``node`` as one generated function (same results as :func:`_pred`)."""
    gen = _Gen()
    body = gen.expr(node)
    source = f"def _pred(ev):\n    _f = ev.folded\n    return bool({body})\n"
    exec(compile(source, "<dwell rule>", "exec"), gen.names)
    pred: Pred = gen.names["_pred"]
    return pred


# --- specialisation to one event id -----------------------------------------------------------

def specialise(node: Node, eid: int) -> Node | bool:
    """``node`` for events whose ``eventid`` value is the int ``eid``: its tests of that field
    replaced by their (constant) outcome, the tree simplified; True/False if it is constant."""
    if isinstance(node, Test):
        if node.field == "eventid" and node.op != "fieldref":
            return eval_test(node, {"eventid": eid})
        return node
    if isinstance(node, Not):
        inner = specialise(node.arg, eid)
        if isinstance(inner, bool):
            return not inner
        return node if inner is node.arg else Not(inner)
    is_and = isinstance(node, And)
    args: list[Node] = []
    changed = False
    for arg in node.args:
        got = specialise(arg, eid)
        if isinstance(got, bool):
            changed = True
            if got is not is_and:  # False in an AND, True in an OR decides it
                return got
            continue
        changed = changed or got is not arg
        args.append(got)
    if not args:
        return is_and
    if not changed:
        return node
    if len(args) == 1:
        return args[0]
    return And(tuple(args)) if is_and else Or(tuple(args))


# --- needles ----------------------------------------------------------------------------------

Needles = frozenset[tuple[str | None, str]]


def useful(word: str) -> bool:
    """Whether a needle is selective enough to gate a rule (short common ones hit always)."""
    if len(word) >= MIN_NEEDLE:
        return True
    if not word:
        return False
    if any(ord(c) > 127 for c in word) or word in _RARE:
        return True
    return len(word) == 2 and not all(c.isalnum() or c in _COMMON for c in word)


Score = Callable[[str], float]


def static_score(word: str) -> float:
    """A guess at how often ``word`` occurs in an event (longer is rarer), before counting."""
    return 0.5 ** len(word)


def _cost(items: Needles, score: Score) -> tuple[float, int]:
    return (sum(score(w) for _, w in items), len(items))


@functools.lru_cache(maxsize=16384)
def regex_needles(pattern: str, flags: int) -> frozenset[str] | None:
    """Folded literals one of which every text matched by ``re.search(pattern)`` contains.

    Literal runs of the pattern (and of groups and repeats of at least one) qualify; case
    insensitive runs only from ASCII characters other than ``i`` (``(?i)i`` also matches
    ``İ``/``ı``, whose case folds differ), so a folded run is a substring of the folded text.
    """
    try:
        parsed = _re_parser.parse(pattern, flags)
    except Exception:  # an unparsable pattern just has no needles
        return None
    return _re_seq(list(parsed), bool(parsed.state.flags & re.IGNORECASE))


def _required_sub(name: str, av: Any) -> list[tuple[Any, Any]] | None:
    """The items of a group matched at least once in place (no flag changes), else None."""
    if name == "SUBPATTERN" and not av[1] and not av[2]:
        return list(av[3])
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and av[0] >= 1:
        return list(av[2])
    return None


def _edge(items: list[tuple[Any, Any]], icase: bool, *, lead: bool) -> list[str]:
    """The literal characters a sequence must start (``lead``) or end with."""
    seq = items if lead else items[::-1]
    out: list[str] = []
    for op, av in seq:
        name = str(op)
        if name == "LITERAL":
            ch = chr(av)
            if icase and (ord(ch) > 127 or ch in "iI"):
                break
            out.append(ch)
            continue
        if not out:
            inner = _required_sub(name, av)
            if inner is not None:
                out = _edge(inner, icase, lead=lead)
                if not lead:
                    out.reverse()
        break
    return out if lead else out[::-1]


def _re_seq(items: list[tuple[Any, Any]], icase: bool) -> frozenset[str] | None:
    options: list[frozenset[str]] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            word = fold("".join(run))
            if useful(word):
                options.append(frozenset({word}))
            run.clear()

    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            ch = chr(av)
            if icase and (ord(ch) > 127 or ch in "iI"):
                flush()
            else:
                run.append(ch)
            continue
        inner_items = _required_sub(name, av)
        if inner_items is not None and run:  # "a(?:bc)+" requires "ab"
            run.extend(_edge(inner_items, icase, lead=True))
        flush()
        if inner_items is not None:  # "(?:ab)+c" requires "bc"
            run.extend(_edge(inner_items, icase, lead=False))
        got: frozenset[str] | None = None
        if name == "SUBPATTERN":
            _group, add, delete, sub = av
            inner = (icase or bool(add & re.IGNORECASE)) and not (delete & re.IGNORECASE)
            got = _re_seq(list(sub), inner)
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _high, sub = av
            if low >= 1:
                got = _re_seq(list(sub), icase)
        elif name == "ATOMIC_GROUP":
            got = _re_seq(list(av), icase)
        elif name == "BRANCH":
            union: set[str] = set()
            for branch in av[1]:
                one = _re_seq(list(branch), icase)
                if one is None:
                    union.clear()
                    break
                union |= one
            got = frozenset(union) if union else None
        if got:
            options.append(got)
    flush()
    if not options:
        return None
    return min(options, key=lambda s: (len(s), -min(len(w) for w in s)))


def needles(node: Node, score: Score = static_score) -> Needles | None:
    """(field, folded literal) pairs, one of which occurs whenever ``node`` holds; None: none.

    An AND takes the needles of the argument whose needles ``score`` rates rarest.
    """
    if isinstance(node, Test):
        return _test_needles(node)
    if isinstance(node, Not):
        return None
    if isinstance(node, Or):
        out: set[tuple[str | None, str]] = set()
        for arg in node.args:
            got = needles(arg, score)
            if got is None:
                return None
            out |= got
        return frozenset(out)
    best: Needles | None = None
    best_cost: tuple[float, int] | None = None
    for arg in node.args:
        got = needles(arg, score)
        if got is not None:
            cost = _cost(got, score)
            if best_cost is None or cost < best_cost:
                best, best_cost = got, cost
    return best


def _test_needles(test: Test) -> Needles | None:
    if test.op in ("eq", "contains", "startswith", "endswith", "glob"):
        return frozenset({(test.field, test.needle)}) if useful(test.needle) else None
    if test.op == "re":
        words = regex_needles(test.value, test.flags)
        return None if words is None else frozenset((test.field, w) for w in words)
    return None


def all_needles(node: Node) -> set[tuple[str | None, str]]:
    """Every needle any choice of :func:`needles` could take from ``node``."""
    out: set[tuple[str | None, str]] = set()
    stack: list[Node] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Test):
            out |= _test_needles(item) or frozenset()
        elif isinstance(item, Not):
            continue  # never a needle source
        else:
            stack.extend(item.args)
    return out


# --- the native form of a tree ---------------------------------------------------------------

#: Node kinds and test operations of the native evaluator (``_native.cpp``, NodeKind, TestOp).
_AND, _OR, _NOT, _TRUE, _UNKNOWN, _TEST = range(6)
_NATIVE_OPS = {"eq": 0, "contains": 1, "startswith": 2, "endswith": 3, "null": 4, "exists": 5,
               "num": 6, "bool": 7}
_CALL, _FIELDREF = 8, 9  # a Python predicate on each text; a string test against another field
_REF_MODES = ("eq", "startswith", "endswith")
_INT64 = range(-(2**63), 2**63)


def _method(pattern: str, flags: int, name: str) -> Callable[[str], Any]:
    """A compiled pattern's ``search`` or ``fullmatch``."""
    return getattr(regex(pattern, flags), name)  # type: ignore[no-any-return]


def native_spec(node: Node | None) -> tuple[Any, ...]:
    """A tree as the native evaluator builds it.

    Regular expressions, globs and cidr tests are Python predicates it calls on a value's
    texts (made on first use, from the partials here); what it does not evaluate (comparisons,
    keyword tests other than string ones, odd literals) is *unknown* there, and Python
    evaluates the rule when its outcome depends on one. None (no condition left) is true."""
    if node is None:
        return (_TRUE,)
    return _memo(node, "native", _native_spec)  # type: ignore[no-any-return]


def _native_spec(node: Node) -> tuple[Any, ...]:
    if isinstance(node, Test):
        op = _NATIVE_OPS.get(node.op)
        value = node.value
        if node.field is not None and type(value) is str:
            if node.op == "re":  # re.search on the raw texts
                return (_TEST, node.field, _CALL,
                        functools.partial(_method, value, node.flags, "search"), True)
            if node.op == "glob":  # a full match on the folded (or raw, when cased) texts
                return (_TEST, node.field, _CALL,
                        functools.partial(_method, value, re.DOTALL, "fullmatch"), node.cased)
            if node.op == "cidr":
                return (_TEST, node.field, _CALL,
                        functools.partial(functools.partial, ip_in, net=value), True)
        if node.field is not None and node.op == "fieldref" and value[1] in _REF_MODES:
            return (_TEST, node.field, _FIELDREF, (value[0], _NATIVE_OPS[value[1]]), False)
        if node.field is None:  # a keyword: string tests natively, others in Python
            ok = op is not None and op <= 3 and type(value) is str
            return (_TEST, None, op, value, node.cased) if ok else (_UNKNOWN,)
        if op is None:
            return (_UNKNOWN,)
        if op <= 3 and type(value) is not str:
            return (_UNKNOWN,)
        if node.op == "num" and (type(value) is not int or value not in _INT64):
            return (_UNKNOWN,)
        if node.op in ("exists", "bool") and type(value) is not bool:
            return (_UNKNOWN,)
        return (_TEST, node.field, op, value, node.cased)
    if isinstance(node, Not):
        return (_NOT, (_native_spec(node.arg),))
    return (_AND if isinstance(node, And) else _OR, tuple(map(_native_spec, node.args)))


# --- buckets and the matcher ------------------------------------------------------------------

#: (id of a rule tree, kind) -> (the tree, its needles): trees are shared by many buckets
_MEMO: dict[tuple[int, str], tuple[Node, Any]] = {}


def _memo(node: Node, kind: str, compute: Callable[[Node], Any]) -> Any:
    """``compute(node)``, remembered per tree object (kept alive so that its id stays its own)."""
    key = (id(node), kind)
    found = _MEMO.get(key)
    if found is not None and found[0] is node:
        return found[1]
    if len(_MEMO) > 200_000:
        _MEMO.clear()
    value = compute(node)
    _MEMO[key] = (node, value)
    return value

#: What a native bucket is made from: (scanned fields, needles of fields, needles of keyword
#: tests, per needle its slots, slots always evaluated, per slot its rule index, per slot its
#: tree as :func:`native_spec`). Plain data, picklable: hunts keep them between runs.
Plan = tuple[tuple[str, ...], list[str], list[str], list[list[int]], list[int], list[int],
             list[tuple[Any, ...]]]
#: Plans a matcher hands out (a bound: keys are attacker-chosen channel / event id pairs).
MAX_PLANS = 20_000


def plans_key(ruleset_key: str) -> str:
    """The name of the plans of a matcher over rules with this :attr:`RuleSet.key`, made by
    this version of the matcher (its code and the native module's build)."""
    digest = hashlib.sha256(ruleset_key.encode())
    digest.update(_code_version().encode())
    return digest.hexdigest()


@functools.cache
def _code_version() -> str:
    digest = hashlib.sha256()
    here = Path(__file__).resolve()
    for path in (here, here.parent / "evaluate.py"):
        digest.update(path.read_bytes())
    spec = importlib.util.find_spec("dwell.ingest._native")
    origin = spec.origin if spec is not None else None
    if origin:
        stat = Path(origin).stat()
        digest.update(f"{origin}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def load_plans(path: str) -> dict[tuple[str | None, int], Plan]:
    """Plans saved by :func:`save_plans` ({} when there are none or they do not load)."""
    plans = read_cache(Path(path))
    return plans if isinstance(plans, dict) else {}


def save_plans(path: str, plans: Mapping[tuple[str | None, int], Plan]) -> None:
    """Write ``plans`` atomically (a cache: an unwritable place only costs time)."""
    write_cache(Path(path), dict(list(plans.items())[:MAX_PLANS]), "plans-*.pickle")


#: Events a bucket scans for every needle of its rules, counting how often each occurs, before
#: it chooses each rule's rarest needles by those counts.
LEARN_EVENTS = 2000


class Scanner:
    """Which of a fixed list of words occur in a text: indexes into the list (maybe repeated).

    Natively (``dwell.ingest.native.automata``) when built, else ``ahocorasick-rs``, else
    ``pyahocorasick``.
    """

    __slots__ = ("_auto", "_find", "_py")

    @property
    def automaton(self) -> Any:
        """The native automaton (None with the fallback libraries)."""
        return self._auto

    def __init__(self, words: list[str]) -> None:
        self._py: Any = None
        self._auto: Any = None
        if _automata is not None:
            self._auto = _automata.build(words)
        elif ahocorasick_rs is not None:
            self._find = ahocorasick_rs.AhoCorasick(words).find_matches_as_indexes
        else:
            self._py = ahocorasick.Automaton()
            for i, word in enumerate(words):
                self._py.add_word(word, i)
            self._py.make_automaton()

    def find(self, text: str) -> list[int]:
        if self._auto is not None:
            assert _automata is not None
            return _automata.find(self._auto, text)
        if self._py is None:
            return [m[0] for m in self._find(text, True)]
        return [i for _, i in self._py.iter(text)]

    def find_in(self, view: dict[str, Any], names: tuple[str, ...] | None) -> list[int]:
        """:meth:`find` in ``scan_text(view, names)``, built natively when possible."""
        if self._auto is not None:
            assert _automata is not None
            found = _automata.scan_find(self._auto, view, names)
            if found is not None:
                return found
        return self.find(scan_text(view, names))


class _Pending:
    """A predicate generated on its first use (most rules of a bucket are never evaluated)."""

    __slots__ = ("node", "pred")

    def __init__(self, node: Node) -> None:
        self.node = node
        self.pred: Pred | None = None

    def get(self) -> Pred:
        if self.pred is None:
            self.pred = generate(self.node)
        return self.pred


def _always(ev: _Event) -> bool:
    return True


class _Compiled:
    """One rule target, compiled on first use (and per event id when specialised)."""

    __slots__ = ("cond", "pred", "specialised", "target")

    def __init__(self, target: Target, cond: Node) -> None:
        self.target = target
        self.cond = cond
        self.pred = _Pending(cond)
        self.specialised: dict[int, tuple[_Pending | Pred, Node | None] | None] = {}

    def general(self) -> tuple[_Pending | Pred, Node | None]:
        return self.pred, self.cond

    def at(self, eid: int | None) -> tuple[_Pending | Pred, Node | None] | None:
        """Predicate and tree for events with int event id ``eid`` (None: any); None: never."""
        if eid is None:
            return self.general()
        if eid in self.specialised:
            return self.specialised[eid]
        cond = specialise(self.cond, eid)
        found: tuple[_Pending | Pred, Node | None] | None
        if cond is False:
            found = None
        elif cond is True:
            found = (_always, None)
        elif cond is self.cond:
            found = self.general()
        else:
            assert not isinstance(cond, bool)
            found = (_Pending(cond), cond)
        self.specialised[eid] = found
        return found


class _Bucket:
    """The rules of one (channel, event id) and how their candidates are found."""

    __slots__ = ("always", "counts", "entries", "keywords", "learning", "native", "nodes",
                 "scan", "scanner", "seen", "split", "targets", "words")

    def __init__(self, chosen: list[tuple[int, _Pending | Pred, Node | None]],
                 learn: int) -> None:
        self.entries: list[tuple[int, Pred]] = [
            (index, self._stub(slot, index, pred) if isinstance(pred, _Pending) else pred)
            for slot, (index, pred, _) in enumerate(chosen)]
        self.nodes = [node for _, _, node in chosen]
        self.always: tuple[int, ...] = ()
        self.scan: tuple[str, ...] = ()  # the fields the needles of fields come from
        self.scanner: Scanner | None = None  # words[:split] in those fields' texts
        self.keywords: Scanner | None = None  # words[split:] (of keyword tests) in every field
        self.split = 0
        self.targets: list[frozenset[int]] = []  # per word: the entry slots it selects
        self.words: list[str] = []
        self.seen = 0
        self.learning = learn > 0
        self.counts: list[int] = []
        self.native: Any = None  # its native copy, once published
        self.choose(static_score, scan_all=self.learning)

    def _stub(self, slot: int, index: int, pending: _Pending) -> Pred:
        """A predicate that generates the real one on its first call and puts it in its place."""

        def first_call(ev: _Event) -> bool:
            pred = pending.get()
            self.entries[slot] = (index, pred)
            return pred(ev)

        return first_call

    def choose(self, score: Score, *, scan_all: bool) -> None:
        """Pick each rule's needles by ``score``; scan for them (or for every needle)."""
        always: list[int] = []
        words: dict[str, set[int]] = {}  # needles of fields
        kwords: dict[str, set[int]] = {}  # needles of keyword tests (found in any field)
        fields: set[str] = set()
        for slot, node in enumerate(self.nodes):
            if node is None:
                best = None
            elif score is static_score:
                best = _memo(node, "static", lambda n: needles(n, static_score))
            else:
                best = needles(node, score)
            if best is None:
                always.append(slot)
                continue
            for fname, word in best:
                (kwords if fname is None else words).setdefault(word, set()).add(slot)
                if fname is not None:
                    fields.add(fname)
        if scan_all:
            for node in self.nodes:
                for fname, word in _memo(node, "all", all_needles) if node is not None else ():
                    (kwords if fname is None else words).setdefault(word, set())
                    if fname is not None:
                        fields.add(fname)
        field_words, keyword_words = sorted(words), sorted(kwords)
        self.words = field_words + keyword_words
        self.split = len(field_words)
        self.always = tuple(always)
        self.scan = tuple(sorted(fields))
        self.scanner = Scanner(field_words) if field_words else None
        self.keywords = Scanner(keyword_words) if keyword_words else None
        self.targets = [*(frozenset(words[w]) for w in field_words),
                        *(frozenset(kwords[w]) for w in keyword_words)]
        self.counts = [0] * len(self.words) if scan_all else []

    def learned(self) -> None:
        """Choose needles by the counts of the events seen so far."""
        counts: dict[str, int] = {}
        for word, count in zip(self.words, self.counts, strict=True):
            counts[word] = counts.get(word, 0) + count
        seen = self.seen + 1

        def score(word: str) -> float:
            return (counts.get(word, 0) + static_score(word)) / seen

        self.learning = False
        self.choose(score, scan_all=False)


def _plan_key(channel: str | None, eid: int) -> tuple[str | None, int]:
    """The key of a bucket's plan (and of its native bucket): the channel in lower case."""
    return (channel.lower() if channel is not None else None, eid)


def _native_bucket(plan: Plan, field_automaton: Any, keyword_automaton: Any) -> Any:
    """A native bucket made from a plan and the automata of its field and keyword words."""
    assert _matching is not None
    made = _matching.bucket()
    scan, field_words, _, targets, always, rules, programs = plan
    _matching.set_bucket(made, scan, field_automaton, keyword_automaton, len(field_words),
                         targets, always, rules, programs)
    return made


def _hits(found: list[tuple[int, list[int], list[str]]]
          ) -> tuple[list[int], list[int], list[str]]:
    """Per-event results as (rows, rule indexes, matched values), one item per hit."""
    rows: list[int] = []
    rules: list[int] = []
    matched: list[str] = []
    for i, hits, values in found:
        rows.extend([i] * len(hits))
        rules.extend(hits)
        matched.extend(values)
    return rows, rules, matched


def _hit_arrays(rows: list[int], rules: list[int], matched: list[str]
                ) -> tuple[pa.Array, pa.Array, pa.Array]:
    return (pa.array(rows, pa.int32()), pa.array(rules, pa.int32()),
            pa.array(matched, pa.string()))


class _Lazy:
    """Items of an Arrow array as Python objects, made on access (few are needed)."""

    __slots__ = ("_array",)

    def __init__(self, array: pa.Array) -> None:
        self._array = array

    def __getitem__(self, i: int) -> Any:
        return self._array[i].as_py()

    def __len__(self) -> int:
        return len(self._array)


class Matcher:
    """Match events against the detection rules of a rule set (fast path).

    ``learn``: events per bucket to count needle frequencies on before choosing (0: never;
    None: :data:`LEARN_EVENTS` in Python, never natively, where an evaluation costs less than
    choosing again: measured 2.50 against 2.77 s on 400k stored events).
    """

    def __init__(self, ruleset: RuleSet | list[CompiledRule], *, profile: bool = False,
                 learn: int | None = None) -> None:
        rules = ruleset if isinstance(ruleset, list) else ruleset.rules
        self.rules = [r for r in rules if r.correlation is None]
        self._compiled = [[_Compiled(t, c) for t, c in rule.targets] for rule in self.rules]
        # channel (None: any) -> indices of the rules with a target on it, in rule order
        self._by_channel: dict[str | None, list[int]] = {}
        for index, rule in enumerate(self.rules):
            for channel in dict.fromkeys(t.channel for t, _ in rule.targets):
                self._by_channel.setdefault(channel, []).append(index)
        # (raw channel, event id, True) -> bucket, for events with a str channel and int id
        self._buckets: dict[tuple[Any, Any, bool], _Bucket] = {}
        self._shared: dict[tuple[str | None, int | None, bool], _Bucket] = {}
        self.profile = profile
        self.seconds: list[float] = [0.0] * len(self.rules)
        self.evaluations: list[int] = [0] * len(self.rules)
        # native matching of event texts (not when profiling: it times rules one by one)
        self._native: Any = _matching.matcher() if _matching is not None and not profile else None
        self._learn = learn if learn is not None else 0 if self._native is not None \
            else LEARN_EVENTS
        self._published: set[tuple[str | None, int]] = set()
        self._capture: list[tuple[str, ...]] = [()] * len(self.rules)
        # native buckets straight from plans (see :meth:`use_plans`), by lower-case key
        self._plans: dict[tuple[str | None, int], Plan] = {}
        self._made: dict[tuple[str | None, int], Any] = {}
        #: plans of the native buckets made here from Python buckets (to keep: hunt.py)
        self.new_plans: dict[tuple[str | None, int], Plan] = {}

    def use_plans(self, plans: Mapping[tuple[str | None, int], Plan]) -> None:
        """Native buckets to make from these plans (made by an earlier run of the same rules:
        see :func:`plans_key`) instead of building their Python buckets first: the events of
        a new key are then matched natively from the first one. A bucket's Python form is
        still made if an event needs it (a rule left undecided, a value the native side
        leaves to Python)."""
        if self._native is not None:
            self._plans.update(plans)
            # Registered now: events of these keys are matched natively from the first one,
            # with no round trip through Python (an ASCII channel in any case finds its
            # bucket natively; other spellings are registered as they come).
            for channel, eid in plans:
                self._publish_plan(channel, eid)

    def capture(self, names: list[tuple[str, ...]]) -> None:
        """Per rule (index), the lower-case fields whose non-null values :meth:`match_texts`
        returns for its hits."""
        self._capture = list(names)
        if self._native is not None and _matching is not None:
            _matching.capture(self._native, self._capture)

    def matched(self, view: dict[str, Any], index: int) -> str:
        """The captured values of a hit of rule ``index`` on an event: JSON text."""
        return orjson.dumps({f: view[f] for f in self._capture[index]
                             if view.get(f) is not None}, default=str).decode()

    def _bucket(self, key: tuple[str | None, int | None], exact: bool) -> _Bucket:
        """The bucket of (lower-case channel, event id); ``exact``: the id is an int value."""
        shared = self._shared.get((*key, exact))
        if shared is not None:
            return shared
        chosen: list[tuple[int, _Pending | Pred, Node | None]] = []
        candidates = self._by_channel.get(None, [])
        if key[0] is not None and key[0] in self._by_channel:
            candidates = sorted({*candidates, *self._by_channel[key[0]]})
        for index in candidates:
            for compiled in self._compiled[index]:
                if not applies(compiled.target, key):
                    continue
                got = compiled.at(key[1] if exact else None)
                if got is not None:
                    chosen.append((index, *got))
                break  # one target per rule and event
        bucket = _Bucket(chosen, self._learn)
        self._shared[(*key, exact)] = bucket
        return bucket

    def match(self, fields: Mapping[str, Any]) -> list[CompiledRule]:
        """The detection rules matching one flattened event."""
        return [self.rules[i] for i in self.match_indices(fields)]

    def match_indices(self, fields: Mapping[str, Any]) -> list[int]:
        """Indices into :attr:`rules` of the rules matching one flattened event."""
        return self.match_view(fast_view(fields))

    def match_view(self, view: dict[str, Any]) -> list[int]:
        """:meth:`match_indices` of an event already in :func:`fast_view` form."""
        bucket = self._view_bucket(view)
        entries = bucket.entries
        if not entries:
            return []
        slots: set[int] = set(bucket.always)
        scanner = bucket.scanner
        keywords = bucket.keywords
        if scanner is not None or keywords is not None:
            found = scanner.find_in(view, bucket.scan) if scanner is not None else []
            if keywords is not None:
                split = bucket.split
                found += [split + i for i in keywords.find_in(view, None)]
            if found:
                targets = bucket.targets
                slots.update(*[targets[i] for i in found])
            if bucket.learning:
                counts = bucket.counts
                for i in set(found):
                    counts[i] += 1
                bucket.seen += 1
                if bucket.seen >= self._learn:
                    bucket.learned()
        if not slots:
            return []
        ev = _Event(view)
        out: list[int] = []
        if self.profile:
            for slot in sorted(slots):
                index, pred = entries[slot]
                started = time.perf_counter()
                hit = pred(ev)
                self.seconds[index] += time.perf_counter() - started
                self.evaluations[index] += 1
                if hit:
                    out.append(index)
        else:
            for slot in sorted(slots):
                index, pred = entries[slot]
                if pred(ev):
                    out.append(index)
        return out

    def _view_bucket(self, view: dict[str, Any]) -> _Bucket:
        channel = view.get("channel")
        eid = view.get("eventid")
        exact = type(eid) is int
        bkey = (channel, eid, exact) if exact and type(channel) is str else None
        bucket = self._buckets.get(bkey) if bkey is not None else None
        if bucket is None:
            key = event_key(view)
            bucket = self._bucket(key, exact and key[1] == eid)
            if bkey is not None and len(self._buckets) < 100_000:
                self._buckets[bkey] = bucket
        return bucket

    def _buffers(self, column: pa.Array) -> list[Any] | None:
        """(validity, offsets, data) of a string column the native matcher can read, else None
        (no native module, another type, an empty or all-null array)."""
        if self._native is None or _matching is None or column.type != pa.string():
            return None
        buffers: list[Any] = column.buffers()
        return buffers if buffers[1] is not None and buffers[2] is not None else None

    def match_column(self, column: pa.Array) -> list[tuple[int, list[int], list[str]]]:
        """:meth:`match_texts` over an Arrow string array (natively from its buffers)."""
        buffers = self._buffers(column)
        if buffers is None:
            return self.match_texts(column.to_pylist())
        assert _matching is not None
        validity, offsets, data = buffers
        found = _matching.run_arrow(self._native, offsets, data, validity, column.offset,
                                    len(column))
        return self._finish(found, _Lazy(column))

    def match_column_hits(self, column: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
        """:meth:`match_column` as one item per hit (not per event): its row, its rule index
        (int32 arrays) and the matched values (a string array), in row order; built natively
        with no Python object per event or hit for most."""
        buffers = self._buffers(column)
        if buffers is None:
            return _hit_arrays(*_hits(self.match_column(column)))
        assert _matching is not None
        validity, offsets, data = buffers
        (rows, rules, starts, texts), others = _matching.run_arrow(
            self._native, offsets, data, validity, column.offset, len(column), True)
        count = len(rows) // 4
        hits = (pa.Array.from_buffers(pa.int32(), count, [None, pa.py_buffer(rows)]),
                pa.Array.from_buffers(pa.int32(), count, [None, pa.py_buffer(rules)]),
                pa.Array.from_buffers(pa.string(), count,
                                      [None, pa.py_buffer(starts), pa.py_buffer(texts)]))
        rest = self._finish(others, _Lazy(column)) if others else []
        if not rest:
            return hits
        more = _hits(rest)
        # (an event is in one or the other; a stable sort keeps each event's hits in order)
        merged = sorted(zip([*hits[0].to_pylist(), *more[0]], [*hits[1].to_pylist(), *more[1]],
                            [*hits[2].to_pylist(), *more[2]], strict=True),
                        key=lambda hit: hit[0])
        return _hit_arrays([h[0] for h in merged], [h[1] for h in merged],
                           [h[2] for h in merged])

    def match_texts(self, texts: list[Any]) -> list[tuple[int, list[int], list[str]]]:
        """Match a batch of events given as flattened JSON texts (a ``fields`` column): for each
        event that matches a rule, (its index, the rule indices, per rule the JSON text of the
        values it captures (see :meth:`capture`)).

        Natively when the module is built: only the events that leave a rule undecided there or
        have an unusual shape are decoded in Python; the result is the same as
        :meth:`match_view` over every event (tests compare them).
        """
        loads = orjson.loads
        matched = self.matched
        out: list[tuple[int, list[int], list[str]]] = []
        if self._native is None or _matching is None:
            for i, text in enumerate(texts):
                view = fast_view(loads(text)) if text else {}
                hits = self.match_view(view)
                if hits:
                    out.append((i, hits, [matched(view, h) for h in hits]))
            return out
        return self._finish(_matching.run(self._native, texts), texts)

    def _finish(self, found: list[tuple[int, Any, Any, Any]], texts: Sequence[Any] | _Lazy,
                *, again: bool = True) -> list[tuple[int, list[int], list[str]]]:
        """The native results completed in Python (events it left, rules it left unknown).

        The first event of a new (channel, event id) is matched in Python, which publishes
        its bucket; the batch's other events of that key then go back to the native matcher
        (``again``).
        """
        loads = orjson.loads
        matched = self.matched
        out: list[tuple[int, list[int], list[str]]] = []
        before = set(self._published) if again else self._published
        retry: list[int] = []
        for i, native_hits, unknown, captured in found:
            if captured is not None:
                out.append((i, native_hits, captured))
                continue
            if native_hits is None and again and unknown is not None:
                if unknown not in self._published:
                    self._publish_plan(*unknown)
                if unknown not in before and unknown in self._published:
                    retry.append(i)  # its key had no bucket; now it has (made by an earlier
                    continue         # event of the batch, or from a plan)
            text = texts[i]
            view = fast_view(loads(text)) if text else {}
            if native_hits is None:
                hits = self.match_view(view)
                self._publish(view)
            elif unknown:
                hits = native_hits + self._undecided(view, unknown)
                hits.sort()
            else:
                hits = native_hits
            if hits:
                out.append((i, hits, [matched(view, h) for h in hits]))
        if retry:
            assert _matching is not None
            items = [texts[i] for i in retry]
            redo = self._finish(_matching.run(self._native, items), items, again=False)
            out.extend((retry[k], hits, values) for k, hits, values in redo)
            out.sort(key=lambda item: item[0])
        return out

    def _undecided(self, view: dict[str, Any], slots: list[int]) -> list[int]:
        """The rules of ``slots`` (of the event's bucket) that match, evaluated in Python."""
        bucket = self._view_bucket(view)
        ev = _Event(view)
        out: list[int] = []
        entries = bucket.entries
        for slot in slots:
            index, pred = entries[slot]
            if pred(ev):
                out.append(index)
        return out

    def _publish(self, view: dict[str, Any]) -> None:
        """Give the bucket of an event matched in Python to the native matcher (events with
        a str or no channel and an int event id)."""
        channel = view.get("channel")
        eid = view.get("eventid")
        if (channel is not None and type(channel) is not str) or type(eid) is not int \
                or eid not in _INT64:
            return
        if (channel, eid) in self._published or len(self._published) >= 100_000:
            return
        bucket = (self._buckets.get((channel, eid, True)) if channel is not None
                  else self._shared.get((None, eid, True)))
        scanners = (bucket.scanner, bucket.keywords) if bucket is not None else ()
        if bucket is None or any(s is not None and s.automaton is None for s in scanners):
            return  # (native matching comes with the native automaton: never the latter)
        if bucket.learning and any(s is not None for s in scanners):
            return  # its events stay in Python (which counts needles) until it has learned
        key = _plan_key(channel, eid)
        if bucket.native is None:
            bucket.native = self._made.get(key)
        if bucket.native is None:
            scanner, keywords = bucket.scanner, bucket.keywords
            plan = (bucket.scan, bucket.words[:bucket.split], bucket.words[bucket.split:],
                    [sorted(t) for t in bucket.targets], list(bucket.always),
                    [index for index, _ in bucket.entries],
                    [native_spec(node) for node in bucket.nodes])
            bucket.native = _native_bucket(
                plan, scanner.automaton if scanner is not None else None,
                keywords.automaton if keywords is not None else None)
            if key not in self._plans and len(self.new_plans) < MAX_PLANS:
                self.new_plans[key] = plan
        self._register(key, channel, eid, bucket.native)

    def _publish_plan(self, channel: str | None, eid: int) -> None:
        """Register the native bucket of (raw channel, event id) made from its plan, if any."""
        key = _plan_key(channel, eid)
        made = self._made.get(key)
        if made is None:
            plan = self._plans.get(key)
            if plan is None or len(self._published) >= 100_000 or _matching is None \
                    or _automata is None:
                return
            try:  # (a cache file: what does not fit is dropped, the Python bucket made instead)
                _, field_words, keyword_words, _, _, rules, _ = plan
                if not all(type(i) is int and 0 <= i < len(self.rules) for i in rules):
                    raise ValueError("a rule index out of range")
                made = _native_bucket(
                    plan, _automata.build(field_words) if field_words else None,
                    _automata.build(keyword_words) if keyword_words else None)
            except (TypeError, ValueError, OverflowError):
                del self._plans[key]
                return
        self._register(key, channel, eid, made)

    def _register(self, key: tuple[str | None, int], channel: str | None, eid: int,
                  native: Any) -> None:
        """Events of (raw channel, event id) go to this native bucket (kept by plan key)."""
        assert _matching is not None
        self._made[key] = native
        _matching.register(self._native, channel, eid, native)
        self._published.add((channel, eid))
