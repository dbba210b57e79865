"""Compiled Sigma rules as SQL: one dialect-neutral sqlglot AST, printed for DuckDB or Spark.

The SQL has the semantics of :mod:`dwell.engine.evaluate` over a *row source* that exposes
each field an event's rules read, extracted from the ``fields`` JSON column once per row:

- ``"v:<key>"`` the value as text (numbers as decimal, booleans as ``true``/``false``), NULL
  when absent, null or a list; ``"l:<key>"`` the same lower-cased;
- ``"a:<key>"``/``"la:<key>"`` the elements of a list value as text (raw, lower-cased), NULL
  when the value is not a list (only for fields the :class:`FieldInfo` says can be lists);
- ``"i4:<key>"``/``"i6:<key>"`` the value parsed as an IPv4 address (an integer) or an IPv6
  address (32 lower-case hex digits), NULL when it is not one (only for ``cidr`` fields);
- ``_all``/``_lall`` every value of the event (list elements flattened) for keyword searches;
- ``_channel`` (lower case) and ``_eid`` for the log-source test.

Field names are matched case-insensitively: the JSON keeps each event's own spelling, so the
row source reads every spelling of a field present in the data (a :data:`FieldCatalog`, computed
from the case by :func:`field_catalog`). Every test is two-valued (``COALESCE(..., FALSE)``), so
``NOT`` of a test on an absent field is true, as in Python.

Known differences from the Python evaluator, all on unusual input: SQL ``lower()`` is not
Unicode case folding (``ß``/``ss``, ``ς``/``σ``, ``İ``); regular expressions run on RE2 (DuckDB)
or Java (Spark), where ``\\d``/``\\w``/``\\b`` are ASCII-only and ``$`` does not match before
a final newline; when two spellings of one field are both non-null in one event, the first
spelling in the catalog wins (Python: the first in the event). Rules the SQL cannot express
(regular expressions using look-around, back-references or other Python-only syntax;
correlation rules, which run over detections) are reported, never dropped silently.
"""

from __future__ import annotations

import ipaddress
import os
import re
import string
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

import duckdb
from sqlglot import exp

from dwell.errors import DwellError
from dwell.rules import RuleSet
from dwell.rules.ir import And, Node, Not, Or, Test, field_key, walk
from dwell.store import open_case

if TYPE_CHECKING:
    from collections.abc import Callable, Container, Iterable, Mapping, Sequence

    from dwell.rules import CompiledRule
    from dwell.rules.logsource import Target

DIALECTS: Final = ("duckdb", "spark")
_ESCAPE: Final = "\\"
_OCTET: Final = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_IPV4_RE: Final = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"
_IPV4_SUFFIX_RE: Final = rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"
_HEXG: Final = "[0-9a-f]{1,4}"
_IPV6_SHAPE_RE: Final = rf"^({_HEXG}(:{_HEXG})*)?(::({_HEXG}(:{_HEXG})*)?)?$"
#: Python-only regular-expression syntax (neither RE2 nor, mostly, Java has it).
_PY_ONLY_RE: Final = re.compile(
    r"\(\?(?:=|!|<=|<!|P|>|#)"  # look-around, named groups, atomic groups, comments
    r"|\\[1-9]"  # back-references
    r"|\\[ZA]"  # \Z and \A differ (RE2 has no \Z)
    r"|[*+?}]\+"  # possessive quantifiers
    r"|\{,"  # {,n}: Python only
)
_RE_FLAGS: Final = ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"))


class SqlUnsupportedError(DwellError):
    """A rule construct the SQL backend cannot express exactly; the message is the reason."""


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """How a field (by :func:`~dwell.rules.ir.field_key`) is spelled in the JSON, and whether
    any event holds a list under it."""

    spellings: tuple[str, ...]
    lists: bool = False


#: Field key -> FieldInfo. A field missing from the catalog is absent from every event.
FieldCatalog = dict[str, FieldInfo]


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A rule the SQL backend left out, and why."""

    rule_id: str
    title: str
    reason: str


@dataclass(frozen=True, slots=True)
class RulesQuery:
    """One query evaluating many rules; it returns ``(rule_id, source_sha256, source_pos)``."""

    sql: str
    dialect: str
    rule_ids: tuple[str, ...]
    unsupported: tuple[Unsupported, ...]
    ast: exp.Expr = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SqlHunt:
    """Per-rule hit counts (0 included) of a SQL hunt, the rules left out, and its timings."""

    counts: dict[str, int]
    unsupported: tuple[Unsupported, ...]
    rows: int
    seconds: float
    catalog_seconds: float


# --- small AST helpers ------------------------------------------------------------------------

def _col(kind: str, key: str) -> exp.Column:
    return exp.column(f"{kind}:{key}", quoted=True)


def _s(text: str) -> exp.Literal:
    return exp.Literal.string(text)


def _n(value: float) -> exp.Expr:
    return exp.Literal.number(value)


def _fn(name: str, *args: exp.Expr) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _and(args: Sequence[exp.Expr]) -> exp.Expr:
    if not args:
        return exp.true()
    return exp.and_(*args, copy=False) if len(args) > 1 else args[0]


def _or(args: Sequence[exp.Expr]) -> exp.Expr:
    if not args:
        return exp.false()
    return exp.or_(*args, copy=False) if len(args) > 1 else args[0]


def _case(cond: exp.Expr, then: exp.Expr,
          default: exp.Expr | None = None) -> exp.Expr:
    """``CASE WHEN cond THEN then [ELSE default] END`` (Spark's IF needs three arguments)."""
    return exp.Case(ifs=[exp.If(this=cond, true=then)], default=default)


def _paren(node: exp.Expr) -> exp.Expr:
    return exp.Paren(this=node)


def _lambda(var: str, body: exp.Expr) -> exp.Lambda:
    return exp.Lambda(this=body, expressions=[exp.to_identifier(var)])


def _any(array: exp.Expr, var: str, body: exp.Expr) -> exp.Expr:
    """Whether some element of ``array`` satisfies ``body`` (NULL when ``array`` is NULL)."""
    filtered = exp.ArrayFilter(this=array, expression=_lambda(var, body))
    return exp.GT(this=exp.ArraySize(this=filtered), expression=_n(0))


def _transform(array: exp.Expr, var: str, body: exp.Expr) -> exp.Expr:
    return exp.Transform(this=array, expression=_lambda(var, body))


def _like_pattern(literal: str) -> str:
    return "".join(_ESCAPE + ch if ch in "%_\\" else ch for ch in literal)


def _glob_to_like(pattern: str) -> str:
    """The LIKE pattern (escape ``\\``) of an IR ``glob`` regex (``re.escape``d parts, ``.*``,
    ``.``)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(_like_pattern(pattern[i + 1]))
            i += 2
        elif pattern.startswith(".*", i):
            out.append("%")
            i += 2
        elif ch == ".":
            out.append("_")
            i += 1
        elif ch in "^$*+?()[]{}|":
            raise SqlUnsupportedError(f"unexpected glob pattern {pattern!r}")
        else:
            out.append(_like_pattern(ch))
            i += 1
    return "".join(out)


def _regex(pattern: str, flags: int) -> str:
    if _PY_ONLY_RE.search(pattern):
        raise SqlUnsupportedError(
            f"regular expression {pattern!r} uses Python-only syntax (look-around, "
            "back-references, named or atomic groups, \\Z, possessive quantifiers)"
        )
    inline = "".join(letter for flag, letter in _RE_FLAGS if flags & flag)
    return f"(?{inline}){pattern}" if inline else pattern


# --- one test -------------------------------------------------------------------------------

def _string_pred(op: str, text: exp.Expr, literal: str) -> exp.Expr:
    lit = _s(literal)
    if op == "eq":
        return exp.EQ(this=text, expression=lit)
    if op == "contains":
        return exp.Anonymous(this="CONTAINS", expressions=[text, lit]) if literal else (
            exp.Not(this=exp.Is(this=text, expression=exp.null())))
    if op == "startswith":
        return exp.StartsWith(this=text, expression=lit)
    if op == "endswith":
        return exp.EndsWith(this=text, expression=lit)
    if op == "glob":
        return exp.Escape(this=exp.Like(this=text, expression=_s(_glob_to_like(literal))),
                          expression=_s(_ESCAPE))
    raise SqlUnsupportedError(f"unknown string test {op!r}")


def _grouped(op: str, literals: list[str]) -> Callable[[exp.Expr], exp.Expr]:
    """A predicate: the text passes ``op`` for one of ``literals``."""
    if len(literals) == 1 or (op != "eq" and len(literals) < 3):
        return lambda t: _or([_string_pred(op, t, lit) for lit in literals])
    if op == "eq":
        return lambda t: exp.In(this=t, expressions=[_s(lit) for lit in literals])
    # Many substrings: one regular expression of escaped literals (one scan per value).
    body = "|".join(_re_literal(lit) for lit in literals)
    pattern = {"contains": f"(?:{body})", "startswith": rf"\A(?:{body})",
               "endswith": rf"(?:{body})\z"}[op]
    return lambda t: exp.RegexpLike(this=t, expression=_s(pattern))


def _re_literal(text: str) -> str:
    """``text`` as a regular expression matching itself, for RE2 and Java alike."""
    return "".join("\\" + ch if ch in string.punctuation and ch != "_" else ch for ch in text)


def _number(text: exp.Expr) -> exp.Expr:
    return exp.TryCast(this=exp.Trim(this=text), to=exp.DataType.build("DOUBLE"))


_CMP: Final[dict[str, type[exp.Binary]]] = {
    "lt": exp.LT, "lte": exp.LTE, "gt": exp.GT, "gte": exp.GTE, "neq": exp.NEQ,
}


def _let(value: exp.Expr, var: str,
         body: Callable[[exp.Expr], exp.Expr]) -> exp.Expr:
    """``body`` with ``value`` bound to ``var`` (evaluated once): ``transform([value], ...)[0]``."""
    mapped = _transform(exp.Array(expressions=[value]), var, body(exp.column(var)))
    return exp.Bracket(this=mapped, expressions=[_n(0)])  # sqlglot indexes from 0


def _ip4_int(text: exp.Expr) -> exp.Expr:
    """``text`` as an IPv4 address (BIGINT), NULL unless it is one (as Python parses it)."""

    def parse(t: exp.Expr) -> exp.Expr:
        parts = [
            exp.TryCast(this=exp.RegexpExtract(this=t.copy(), expression=_s(_IPV4_RE),
                                               group=_n(i)), to=exp.DataType.build("BIGINT"))
            for i in range(1, 5)
        ]
        value: exp.Expr = parts[3]
        for i, part in enumerate(parts[:3]):
            value = exp.Add(this=value,
                            expression=exp.Mul(this=part, expression=_n(256 ** (3 - i))))
        return _case(exp.RegexpLike(this=t.copy(), expression=_s(_IPV4_RE)), value)

    return _let(exp.Trim(this=text), "ip4", parse)


def _ip6_hex(text: exp.Expr) -> exp.Expr:
    """``text`` as an IPv6 address: 32 lower-case hex digits, NULL unless it is one."""
    low = exp.Lower(this=exp.Trim(this=text))
    # A scope id (fe80::1%eth0) does not change the address.
    scoped = exp.RegexpReplace(this=low, expression=_s("%[^%]+$"), replacement=_s(""))

    def pad(group: exp.Expr) -> exp.Expr:
        return exp.Pad(this=group, expression=_n(4), fill_pattern=_s("0"), is_left=True)

    def v4_suffix(addr: exp.Expr) -> exp.Expr:
        """An IPv4 suffix (::ffff:1.2.3.4) as two hex groups."""
        octets = [
            exp.TryCast(this=exp.RegexpExtract(this=addr.copy(), expression=_s(_IPV4_SUFFIX_RE),
                                               group=_n(i)), to=exp.DataType.build("BIGINT"))
            for i in range(1, 5)
        ]

        def group(hi: exp.Expr, lo: exp.Expr) -> exp.Expr:
            num = exp.Add(this=exp.Mul(this=hi, expression=_n(256)), expression=lo)
            return pad(exp.Lower(this=exp.Hex(this=num)))

        suffix = exp.RegexpExtract(this=addr.copy(), expression=_s(_IPV4_SUFFIX_RE),
                                   group=_n(0))
        head_len = exp.Sub(this=exp.Length(this=addr.copy()),
                           expression=exp.Length(this=suffix))
        converted = exp.DPipe(
            this=exp.DPipe(this=exp.Substring(this=addr.copy(), start=_n(1), length=head_len),
                           expression=group(octets[0], octets[1])),
            expression=exp.DPipe(this=_s(":"), expression=group(octets[2], octets[3])),
        )
        has_v4 = exp.RegexpLike(this=addr.copy(), expression=_s(":" + _IPV4_SUFFIX_RE))
        return _case(has_v4, converted, addr.copy())

    def groups(part: exp.Expr) -> tuple[exp.Expr, exp.Expr]:
        split = exp.Split(this=part.copy(), expression=_s(":"))
        empty = exp.EQ(this=part.copy(), expression=_s(""))
        count = _case(empty, _n(0), exp.ArraySize(this=split.copy()))
        padded = exp.ArrayToString(this=_transform(split, "ip6g", pad(exp.column("ip6g"))),
                                   expression=_s(""))
        return count, _case(empty.copy(), _s(""), padded)

    def parse(t: exp.Expr) -> exp.Expr:
        dbl = exp.Anonymous(this="CONTAINS", expressions=[t.copy(), _s("::")])
        head = _case(dbl.copy(), exp.SplitPart(this=t.copy(), delimiter=_s("::"),
                                               part_index=_n(1)), t.copy())
        tail = _case(dbl.copy(), exp.SplitPart(this=t.copy(), delimiter=_s("::"),
                                               part_index=_n(2)), _s(""))
        n_head, hex_head = groups(head)
        n_tail, hex_tail = groups(tail)
        missing = exp.Sub(this=exp.Sub(this=_n(8), expression=n_head), expression=n_tail)
        zeros = exp.Repeat(this=_s("0000"), times=missing.copy())
        hexed = exp.DPipe(this=exp.DPipe(this=hex_head, expression=zeros), expression=hex_tail)
        # Valid: the shape regex, at most one '::' (no ':::'), 8 groups (fewer with '::').
        doubles = exp.Sub(this=exp.Length(this=t.copy()), expression=exp.Length(
            this=exp.Replace(this=t.copy(), expression=_s("::"), replacement=_s(""))))
        valid = _and([
            exp.RegexpLike(this=t.copy(), expression=_s(_IPV6_SHAPE_RE)),
            exp.LTE(this=doubles, expression=_n(2)),
            _case(dbl.copy(), exp.GTE(this=missing.copy(), expression=_n(1)),
                  exp.EQ(this=missing.copy(), expression=_n(0))),
        ])
        return _case(valid, hexed)

    return _let(_let(scoped, "ip6a", v4_suffix), "ip6t", parse)


def _network_test(kind: str, text_or_col: exp.Expr, net: str) -> exp.Expr:
    network = ipaddress.ip_network(net, strict=False)
    lo, hi = int(network.network_address), int(network.broadcast_address)
    if kind == "4":
        if network.version != 4:
            return exp.false()
        return exp.Between(this=text_or_col, low=_n(lo), high=_n(hi))
    if network.version != 6:
        return exp.false()
    return exp.Between(this=text_or_col, low=_s(f"{lo:032x}"), high=_s(f"{hi:032x}"))


@dataclass(slots=True)
class _Builder:
    """Builds the conditions of rules and records which row-source columns they read."""

    lists: Container[str] | None = None  # None: any field may hold a list
    used: dict[str, set[str]] = field(default_factory=dict)  # key -> kinds
    keywords: set[str] = field(default_factory=set)  # "_all" / "_lall"
    depth: int = 0

    def can_list(self, key: str) -> bool:
        return self.lists is None or key in self.lists

    def use(self, kind: str, key: str) -> exp.Column:
        self.used.setdefault(key, set()).add(kind)
        return _col(kind, key)

    def var(self) -> str:
        self.depth += 1
        return f"x{self.depth}"

    def any_value(self, key: str | None, folded: bool,
                  pred: Callable[[exp.Expr], exp.Expr]) -> exp.Expr:
        """Some value of field ``key`` (None: any field) passes ``pred`` (text in, bool out)."""
        if key is None:
            name = "_lall" if folded else "_all"
            self.keywords.add(name)
            var = self.var()
            return _any(exp.column(name), var, pred(exp.column(var)))
        scalar = pred(self.use("l" if folded else "v", key))
        if not self.can_list(key):
            return scalar
        var = self.var()
        listed = _any(self.use("la" if folded else "a", key), var, pred(exp.column(var)))
        return exp.or_(scalar, listed, copy=False)

    def present(self, key: str) -> exp.Expr:
        value = exp.Not(this=exp.Is(this=self.use("v", key), expression=exp.null()))
        if not self.can_list(key):
            return value
        listed = exp.Not(this=exp.Is(this=self.use("a", key), expression=exp.null()))
        return exp.or_(value, listed, copy=False)

    def test(self, test: Test) -> exp.Expr:
        op, key = test.op, test.field
        if op in ("null", "exists"):
            if key is None:
                raise SqlUnsupportedError(f"keyword {op} test")
            there = self.present(key)
            want_present = op == "exists" and test.value
            return _paren(there) if want_present else exp.Not(this=_paren(there))
        # May be NULL where Python says False: harmless under AND/OR, and NOT coalesces.
        return self._value_test(test)

    def _value_test(self, test: Test) -> exp.Expr:
        op, key = test.op, test.field
        if op in ("eq", "contains", "startswith", "endswith", "glob"):
            literal = str(test.value)
            return self.any_value(key, not test.cased,
                                  lambda t: _string_pred(op, t, literal))
        if op == "re":
            pattern = _regex(str(test.value), test.flags)
            return self.any_value(key, False,
                                  lambda t: exp.RegexpLike(this=t, expression=_s(pattern)))
        if op == "num":
            value = float(test.value)
            return self.any_value(key, False,
                                  lambda t: exp.EQ(this=_number(t), expression=_n(value)))
        if op == "cmp":
            kind, bound = test.value
            cls = _CMP[kind]
            return self.any_value(key, False,
                                  lambda t: cls(this=_number(t), expression=_n(float(bound))))
        if op == "bool":
            word = "true" if test.value else "false"
            return self.any_value(key, True, lambda t: exp.EQ(this=t, expression=_s(word)))
        if op == "cidr":
            return self._cidr(key, str(test.value))
        if op == "fieldref":
            if key is None:
                raise SqlUnsupportedError("keyword fieldref test")
            other, mode = test.value
            return self.any_value(key, True, lambda mine: self.any_value(
                other, True, lambda theirs: self._ref(mode, mine, theirs)))
        raise SqlUnsupportedError(f"unknown test {op!r}")

    @staticmethod
    def _ref(mode: str, mine: exp.Expr, theirs: exp.Expr) -> exp.Expr:
        if mode == "eq":
            return exp.EQ(this=mine, expression=theirs)
        if mode == "startswith":
            return exp.StartsWith(this=mine, expression=theirs)
        return exp.EndsWith(this=mine, expression=theirs)

    def _cidr(self, key: str | None, net: str) -> exp.Expr:
        kind = str(ipaddress.ip_network(net, strict=False).version)
        if key is None:  # keyword: parse every value of the event
            parse = _ip4_int if kind == "4" else _ip6_hex
            return self.any_value(None, False, lambda t: _network_test(kind, parse(t), net))
        # The parsed address is a row-source column, computed once per row.
        scalar = _network_test(kind, self.use(f"i{kind}", key), net)
        if not self.can_list(key):
            return scalar
        var = self.var()
        listed = _any(self.use(f"ai{kind}", key), var,
                      _network_test(kind, exp.column(var), net))
        return exp.or_(scalar, listed, copy=False)

    def node(self, node: Node) -> exp.Expr:
        if isinstance(node, Test):
            return self.test(node)
        if isinstance(node, Not):  # tests are NULL where Python says False
            return exp.Not(this=exp.Coalesce(this=self.node(node.arg),
                                             expressions=[exp.false()]))
        if isinstance(node, And):
            return _paren(_and([self.node(a) for a in node.args]))
        if isinstance(node, Or):
            return _paren(_or(self._or_args(node.args)))
        raise SqlUnsupportedError(f"not an IR node: {node!r}")

    def _or_args(self, args: Sequence[Node]) -> list[exp.Expr]:
        """OR-ed tests of one field and operation become one IN list or one regex."""
        groups: dict[tuple[str, str, bool], list[str]] = {}
        out: list[exp.Expr] = []
        for arg in args:
            if (isinstance(arg, Test) and arg.field is not None
                    and arg.op in ("eq", "contains", "startswith", "endswith")):
                groups.setdefault((arg.field, arg.op, arg.cased), []).append(str(arg.value))
            else:
                out.append(self.node(arg))
        for (key, op, cased), literals in groups.items():
            out.append(self.any_value(key, not cased, _grouped(op, literals)))
        return out


def _target_test(target: Target, eids: bool = True, channel: bool = True) -> list[exp.Expr]:
    out: list[exp.Expr] = []
    if channel and target.channel is not None:
        out.append(exp.EQ(this=exp.column("_channel"), expression=_s(target.channel)))
    if eids and target.event_ids is not None:
        out.append(exp.In(this=exp.column("_eid"),
                          expressions=[_n(i) for i in sorted(target.event_ids)]))
    return out


def to_sqlglot(rule: CompiledRule, *, lists: Container[str] | None = None) -> exp.Expr:
    """The WHERE condition of ``rule`` (log source included) over the row source.

    ``lists``: the field keys that may hold lists (None: any field). Raises
    :class:`SqlUnsupportedError` when the rule cannot be expressed.
    """
    if rule.correlation is not None:
        raise SqlUnsupportedError("correlation rules run over detections, not event rows")
    builder = _Builder(lists)
    terms = [_paren(_and([*_target_test(t), builder.node(cond)])) for t, cond in rule.targets]
    return _or(terms)


# --- the row source and the query over all rules -----------------------------------------------

def _json_path(name: str) -> exp.JSONPath:
    return exp.JSONPath(expressions=[exp.JSONPathRoot(), exp.JSONPathKey(this=name)])


def _extract(source: exp.Expr, name: str) -> exp.Expr:
    return exp.JSONExtractScalar(this=source.copy(), expression=_json_path(name))


def _is_array(source: exp.Expr, name: str) -> exp.Expr:
    return _fn("DWELL_JSON_IS_ARRAY", source.copy(), _s(name))


def _array(source: exp.Expr, name: str) -> exp.Expr:
    return _fn("DWELL_JSON_ARRAY", source.copy(), _s(name))


def _raw_columns(key: str, kinds: set[str], info: FieldInfo | None,
                 source: exp.Expr) -> list[exp.Expr]:
    """Inner-select columns ``v:``/``a:`` of one field."""
    out: list[exp.Expr] = []
    spellings = info.spellings if info is not None else ()
    lists = info is not None and info.lists
    values: list[exp.Expr] = []
    arrays: list[exp.Expr] = []
    for name in spellings:
        scalar = _extract(source, name)
        if lists:
            scalar = _case(_is_array(source, name), exp.null(), scalar)
            arrays.append(_case(_is_array(source, name), _array(source, name)))
        values.append(scalar)
    varchar = exp.DataType.build("VARCHAR")
    value = (exp.Cast(this=exp.null(), to=varchar) if not values
             else values[0] if len(values) == 1
             else exp.Coalesce(this=values[0], expressions=values[1:]))
    out.append(exp.alias_(value, f"v:{key}", quoted=True, copy=False))
    if kinds & {"a", "la"}:
        array: exp.Expr = (
            exp.Cast(this=exp.null(), to=exp.DataType.build("ARRAY<VARCHAR>")) if not arrays
            else arrays[0] if len(arrays) == 1
            else exp.Coalesce(this=arrays[0], expressions=arrays[1:]))
        out.append(exp.alias_(array, f"a:{key}", quoted=True, copy=False))
    return out


def _derived_columns(key: str, kinds: set[str]) -> list[exp.Expr]:
    """Middle-select columns computed once per row from the raw ones."""
    out: list[exp.Expr] = []
    if "l" in kinds:
        out.append(exp.alias_(exp.Lower(this=_col("v", key)), f"l:{key}", quoted=True, copy=False))
    if "la" in kinds:
        out.append(exp.alias_(_transform(_col("a", key), "y", exp.Lower(this=exp.column("y"))),
                              f"la:{key}", quoted=True))
    if "i4" in kinds:
        out.append(exp.alias_(_ip4_int(_col("v", key)), f"i4:{key}", quoted=True, copy=False))
    if "i6" in kinds:
        out.append(exp.alias_(_ip6_hex(_col("v", key)), f"i6:{key}", quoted=True, copy=False))
    for version, parse in (("4", _ip4_int), ("6", _ip6_hex)):
        if f"ai{version}" in kinds:
            out.append(exp.alias_(_transform(_col("a", key), "y", parse(exp.column("y"))),
                                  f"ai{version}:{key}", quoted=True))
    return out


@dataclass(slots=True)
class _Group:
    """Rules evaluated over the rows of one channel (None: every row)."""

    channel: str | None
    event_ids: set[int] | None = field(default_factory=set)
    conds: dict[str, list[exp.Expr]] = field(default_factory=dict)
    builder: _Builder = field(default_factory=_Builder)


def _group_query(group: _Group, table: str, catalog: Mapping[str, FieldInfo]) -> exp.Select:
    source = exp.column("fields")
    builder = group.builder
    raw: list[exp.Expr] = [
        exp.column("source_sha256"), exp.column("source_pos"),
        exp.alias_(exp.Lower(this=exp.column("channel")), "_channel", copy=False),
        exp.alias_(exp.column("event_id"), "_eid", copy=False),
    ]
    derived: list[exp.Expr] = []
    for key in sorted(builder.used):
        kinds = builder.used[key]
        needs_raw = set(kinds)
        if kinds & {"l", "i4", "i6"}:
            needs_raw.add("v")
        if kinds & {"la", "ai4", "ai6"}:
            needs_raw.add("a")
        raw.extend(_raw_columns(key, needs_raw, catalog.get(key), source))
        derived.extend(_derived_columns(key, kinds))
    if builder.keywords:
        raw.append(exp.alias_(_fn("DWELL_JSON_VALUES", source.copy()), "_all", copy=False))
        if "_lall" in builder.keywords:
            derived.append(exp.alias_(
                _transform(exp.column("_all"), "y", exp.Lower(this=exp.column("y"))), "_lall"))
    where: list[exp.Expr] = []
    if group.channel is not None:
        where.append(exp.EQ(this=exp.Lower(this=exp.column("channel")),
                            expression=_s(group.channel)))
    if group.event_ids is not None:
        where.append(exp.In(this=exp.column("event_id"),
                            expressions=[_n(i) for i in sorted(group.event_ids)]))
    inner = exp.select(*raw).from_(exp.to_table(table))
    if where:
        inner = inner.where(_and(where), copy=False)
    middle = (exp.select(exp.Star(), *derived).from_(inner.subquery("r", copy=False))
              if derived else inner)
    hits = exp.Array(expressions=[
        _case(_or(conds), _s(rid))
        for rid, conds in group.conds.items()
    ])
    outer = exp.select(exp.column("source_sha256"), exp.column("source_pos"),
                       exp.alias_(hits, "_hits", copy=False))
    outer = outer.from_(middle.subquery("m", copy=False), copy=False)
    unnest = exp.Unnest(expressions=[exp.column("_hits")],
                        alias=exp.TableAlias(this=exp.to_identifier("h"),
                                             columns=[exp.to_identifier("rule_id")]))
    return (exp.select(exp.column("rule_id", table="h"), exp.column("source_sha256"),
                       exp.column("source_pos"))
            .from_(outer.subquery("o", copy=False), copy=False)
            .join(unnest, join_type="CROSS", copy=False)
            .where(exp.Not(this=exp.Is(this=exp.column("rule_id", table="h"),
                                       expression=exp.null()))))


def _lower_dialect(ast: exp.Expr, dialect: str) -> exp.Expr:
    """Replace dwell's placeholder functions by the dialect's JSON functions."""

    def fix(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Anonymous) or not str(node.this).startswith("DWELL_"):
            return node
        name = str(node.this)
        args = node.expressions
        if dialect == "duckdb":
            if name == "DWELL_JSON_VALUES":  # scalars of the top level + elements of lists
                src = args[0]
                pairs = exp.Anonymous(this="list_zip", expressions=[
                    _fn("json_extract_string", src.copy(), _s("$.*")),
                    _fn("json_type", src.copy(), _s("$.*"))])
                scalars = _fn("list_transform", _fn(
                    "list_filter", pairs, _lambda("e", exp.NEQ(
                        this=exp.Bracket(this=exp.column("e"), expressions=[_n(1)]),  # 0-based
                        expression=_s("ARRAY")))),
                    _lambda("e", exp.Bracket(this=exp.column("e"), expressions=[_n(0)])))
                return _fn("list_concat", scalars,
                           _fn("json_extract_string", src.copy(), _s("$.*[*]")))
            path = '$."' + args[1].name.replace('"', '\\"') + '"'
            if name == "DWELL_JSON_IS_ARRAY":
                return exp.EQ(this=_fn("json_type", args[0].copy(), _s(path)),
                              expression=_s("ARRAY"))
            return _fn("json_extract_string", args[0].copy(), _s(path + "[*]"))
        # Spark: json text -> map / array of strings (list elements keep their JSON text).
        if name == "DWELL_JSON_VALUES":
            return _fn("map_values", _fn("from_json", args[0].copy(),
                                         _s("map<string,string>")))
        text = _extract(args[0], args[1].name)
        as_array = _fn("from_json", text, _s("array<string>"))
        if name == "DWELL_JSON_IS_ARRAY":
            return exp.and_(exp.Anonymous(this="STARTSWITH", expressions=[
                exp.Trim(this=text.copy()), _s("[")]),
                exp.Not(this=exp.Is(this=as_array.copy(), expression=exp.null())))
        return as_array

    return ast.transform(fix, copy=False)


def rules_sql(
    rules: Iterable[CompiledRule],
    dialect: str = "duckdb",
    table: str = "events",
    catalog: Mapping[str, FieldInfo] | None = None,
) -> RulesQuery:
    """One query evaluating every rule of ``rules`` over ``table`` in one pass per channel.

    ``table`` has the event store's columns (``channel``, ``event_id``, ``source_sha256``,
    ``source_pos``, ``fields``). ``catalog`` says how fields are spelled in the JSON (see
    :func:`field_catalog`); without it each field is read under its Sigma key only (lower case).
    Rules that cannot be expressed are listed in :attr:`RulesQuery.unsupported`.
    """
    if dialect not in DIALECTS:
        raise DwellError(f"unknown SQL dialect {dialect!r}; use one of {', '.join(DIALECTS)}")
    rules = list(rules)
    if catalog is None:
        catalog = {}
        for rule in rules:
            for key in _keys_read(rule):
                catalog.setdefault(key, FieldInfo((key,), True))
    lists = {key for key, info in catalog.items() if info.lists}
    groups: dict[str | None, _Group] = {}
    unsupported: list[Unsupported] = []
    ids: list[str] = []
    for rule in rules:
        try:
            if rule.correlation is not None:
                raise SqlUnsupportedError(
                    "correlation rules run over detections, not event rows")
            staged: list[tuple[_Group, list[exp.Expr], _Builder]] = []
            for target, cond in rule.targets:
                group = groups.get(target.channel) or _Group(target.channel,
                                                              builder=_Builder(lists))
                trial = _Builder(lists, depth=group.builder.depth)
                test = trial.node(cond)
                if dialect == "duckdb":
                    for node in test.find_all(exp.RegexpLike):
                        _check_duckdb_regex(node.expression.name)
                staged.append((group, [*_target_test(target, channel=False), test], trial))
                if target.event_ids is None:
                    group.event_ids = None
                elif group.event_ids is not None:
                    group.event_ids |= target.event_ids
        except SqlUnsupportedError as exc:
            unsupported.append(Unsupported(rule.id, rule.title, exc.message))
            continue
        for group, terms, trial in staged:
            groups.setdefault(group.channel, group)
            for key, kinds in trial.used.items():
                group.builder.used.setdefault(key, set()).update(kinds)
            group.builder.keywords |= trial.keywords
            group.builder.depth = max(group.builder.depth, trial.depth)
            group.conds.setdefault(rule.id, []).append(_paren(_and(terms)))
        ids.append(rule.id)
    selects = [_group_query(g, table, catalog) for _, g in sorted(
        groups.items(), key=lambda kv: kv[0] or "") if g.conds]
    if not selects:
        body: exp.Query = exp.select(
            exp.alias_(exp.Cast(this=exp.null(), to=exp.DataType.build("VARCHAR")), "rule_id",
                       copy=False),
            exp.alias_(exp.Cast(this=exp.null(), to=exp.DataType.build("VARCHAR")),
                       "source_sha256", copy=False),
            exp.alias_(exp.Cast(this=exp.null(), to=exp.DataType.build("BIGINT")),
                       "source_pos", copy=False),
        ).where(exp.false())
    else:
        body = selects[0]
        for sel in selects[1:]:
            body = exp.union(body, sel, distinct=False, copy=False)
    query = exp.select("rule_id", "source_sha256", "source_pos").distinct().from_(
        body.subquery("hits", copy=False))
    ast = _lower_dialect(query, dialect)
    return RulesQuery(ast.sql(dialect=dialect), dialect, tuple(ids), tuple(unsupported), ast)


def _keys_read(rule: CompiledRule) -> list[str]:
    keys: dict[str, None] = {}
    for _, cond in rule.targets:
        for test in walk(cond):
            if test.field is not None:
                keys.setdefault(test.field, None)
            if test.op == "fieldref":
                keys.setdefault(test.value[0], None)
    return list(keys)


_REGEX_OK: dict[str, str | None] = {}
_REGEX_DB: list[duckdb.DuckDBPyConnection] = []


def _check_duckdb_regex(pattern: str) -> None:
    """Raise when RE2 (DuckDB) rejects ``pattern``."""
    if pattern not in _REGEX_OK:
        if not _REGEX_DB:
            _REGEX_DB.append(duckdb.connect())
        try:
            _REGEX_DB[0].execute("SELECT regexp_matches('', ?)", [pattern]).fetchall()
            _REGEX_OK[pattern] = None
        except duckdb.Error as exc:
            _REGEX_OK[pattern] = " ".join(str(exc).split())
    problem = _REGEX_OK[pattern]
    if problem is not None:
        raise SqlUnsupportedError(f"regular expression {pattern!r} is not RE2: {problem}")


# --- running it on a case ----------------------------------------------------------------------

def _channel_filter(rules: Sequence[CompiledRule]) -> str:
    chans: set[str] = set()
    for rule in rules:
        for target, _ in rule.targets:
            if target.channel is None:
                return "TRUE"
            chans.add(target.channel)
    if not chans:
        return "FALSE"
    return "lower(channel) IN (" + ", ".join(exp.Literal.string(c).sql("duckdb")
                                             for c in sorted(chans)) + ")"


def field_catalog(db: duckdb.DuckDBPyConnection, table: str = "events",
                  where: str = "TRUE") -> FieldCatalog:
    """The spellings of every field key in ``table``'s ``fields`` JSON, and which hold lists."""
    rows = db.execute(
        "SELECT k, bool_or(t = 'ARRAY') FROM (SELECT unnest(json_keys(fields)) AS k, "
        f"unnest(json_type(fields, '$.*')) AS t FROM {table} WHERE {where}) GROUP BY k "
        "ORDER BY k"
    ).fetchall()
    out: dict[str, tuple[list[str], bool]] = {}
    for name, is_list in rows:
        entry = out.setdefault(field_key(name), ([], False))
        entry[0].append(name)
        out[field_key(name)] = (entry[0], entry[1] or bool(is_list))
    return {key: FieldInfo(tuple(names), lists) for key, (names, lists) in out.items()}


def hunt_sql(case_dir: str | os.PathLike[str], ruleset: RuleSet | Sequence[CompiledRule]
             ) -> SqlHunt:
    """Hit counts per rule from running the rules as one DuckDB query over a case's Parquet."""
    rules = list(ruleset.rules if isinstance(ruleset, RuleSet) else ruleset)
    detection = [r for r in rules if r.correlation is None]
    started = time.perf_counter()
    with open_case(Path(case_dir)) as reader:
        catalog = field_catalog(reader.db, "events", _channel_filter(detection))
        catalog_seconds = time.perf_counter() - started
        query = rules_sql(rules, "duckdb", "events", catalog)
        try:
            found = reader.sql(
                f"SELECT rule_id, count(*) FROM ({query.sql}) GROUP BY rule_id").fetchall()
        except duckdb.Error as exc:
            raise DwellError(f"the SQL hunt failed: {' '.join(str(exc).split())}") from exc
    counts = dict.fromkeys(query.rule_ids, 0)
    counts.update({str(rid): int(n) for rid, n in found})
    return SqlHunt(counts, query.unsupported, sum(counts.values()),
                   time.perf_counter() - started, catalog_seconds)


__all__ = [
    "FieldCatalog",
    "FieldInfo",
    "RulesQuery",
    "SqlHunt",
    "SqlUnsupportedError",
    "Unsupported",
    "field_catalog",
    "hunt_sql",
    "rules_sql",
    "to_sqlglot",
]

