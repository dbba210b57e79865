"""pySigma's parsed detection (condition tree + typed values) -> the IR of :mod:`dwell.rules.ir`."""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from dwell.rules.ir import And, Node, Not, Or, Test, field_key, fold

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sigma.rule import SigmaRule


class CompileError(Exception):
    """A construct the engine cannot evaluate; the message is the reason."""


_CMP = {
    CompareOperators.LT: "lt",
    CompareOperators.LTE: "lte",
    CompareOperators.GT: "gt",
    CompareOperators.GTE: "gte",
    CompareOperators.NEQ: "neq",
}
_RE_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
    SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
    SigmaRegularExpressionFlag.DOTALL: re.DOTALL,
}


def compile_detection(
    rule: SigmaRule, placeholders: Mapping[str, Sequence[str]] | None = None
) -> Node:
    """The condition of ``rule`` as one IR tree (several conditions are OR-ed)."""
    trees: list[Node] = []
    for condition in rule.detection.parsed_condition:
        try:
            parsed = condition.parsed
        except Exception as exc:  # pySigma raises its own error types and some plain ones
            raise CompileError(f"condition {condition.condition!r}: {exc}") from exc
        trees.append(_node(parsed, placeholders or {}))
    if not trees:
        raise CompileError("rule has no condition")
    return trees[0] if len(trees) == 1 else Or(tuple(trees))


def _node(item: Any, ph: Mapping[str, Sequence[str]]) -> Node:
    if isinstance(item, ConditionAND):
        return _flat(And, [_node(arg, ph) for arg in item.args])
    if isinstance(item, ConditionOR):
        return _flat(Or, [_node(arg, ph) for arg in item.args])
    if isinstance(item, ConditionNOT):
        return Not(_node(item.args[0], ph))
    if isinstance(item, ConditionFieldEqualsValueExpression):
        return _value(field_key(item.field) if item.field else None, item.value, ph)
    if isinstance(item, ConditionValueExpression):
        return _value(None, item.value, ph)
    raise CompileError(f"unsupported condition element {type(item).__name__}")


def _flat(kind: type[And] | type[Or], args: list[Node]) -> Node:
    out: list[Node] = []
    for arg in args:
        if isinstance(arg, kind):
            out.extend(arg.args)
        else:
            out.append(arg)
    return out[0] if len(out) == 1 else kind(tuple(out))


def _value(field: str | None, value: Any, ph: Mapping[str, Sequence[str]]) -> Node:
    if isinstance(value, SigmaExpansion):
        return _flat(Or, [_value(field, v, ph) for v in value.values])
    if isinstance(value, SigmaString):
        return string_test(field, value, ph)
    if isinstance(value, SigmaRegularExpression):
        flags = 0
        for flag in value.flags:
            flags |= _RE_FLAGS.get(flag, 0)
        pattern = str(value.regexp)
        try:
            re.compile(pattern, flags)
        except re.error as exc:
            raise CompileError(f"bad regular expression {pattern!r}: {exc}") from exc
        return Test(field, "re", pattern, flags=flags)
    if isinstance(value, SigmaBool):
        return Test(field, "bool", bool(value.boolean))
    if isinstance(value, SigmaCompareExpression):
        return Test(field, "cmp", (_CMP[value.op], value.number.number))
    if isinstance(value, SigmaNumber):
        if type(value).__name__ == "SigmaTimestampPart":
            raise CompileError("timestamp modifiers (minute, hour, ...) are not supported")
        return Test(field, "num", value.number)
    if isinstance(value, SigmaNull):
        return Test(field, "null", None)
    if isinstance(value, SigmaExists):
        return Test(field, "exists", bool(value.exists))
    if isinstance(value, SigmaFieldReference):
        mode = "startswith" if value.starts_with else "endswith" if value.ends_with else "eq"
        return Test(field, "fieldref", (field_key(value.field), mode))
    if isinstance(value, SigmaCIDRExpression):
        network = ipaddress.ip_network(str(value.network), strict=False)
        return Test(field, "cidr", str(network))
    raise CompileError(f"unsupported value type {type(value).__name__}")


def string_test(
    field: str | None, value: SigmaString, ph: Mapping[str, Sequence[str]] | None = None
) -> Node:
    """A Sigma string (with ``*``/``?`` wildcards) as the cheapest equivalent test."""
    cased = isinstance(value, SigmaCasedString)
    parts = list(value.s)
    if field is None:  # keywords are full-text searches: match anywhere in a value
        parts = [SpecialChars.WILDCARD_MULTI, *parts, SpecialChars.WILDCARD_MULTI]
    if any(isinstance(p, Placeholder) for p in parts):
        return _placeholders(field, parts, cased, ph or {})
    return _parts_test(field, parts, cased)


def _placeholders(
    field: str | None, parts: list[Any], cased: bool, ph: Mapping[str, Sequence[str]]
) -> Node:
    variants: list[list[Any]] = [[]]
    for part in parts:
        if isinstance(part, Placeholder):
            values = ph.get(part.name)
            if values is None:
                raise CompileError(
                    f"placeholder %{part.name}% has no value; pass a placeholder config"
                )
            expanded = [_wildcard_parts(v) for v in values]
            variants = [v + e for v in variants for e in expanded]
        else:
            variants = [[*v, part] for v in variants]
    if not variants or (not variants[0] and len(variants) == 1 and not parts):
        raise CompileError("placeholder expands to nothing")
    return _flat(Or, [_parts_test(field, v, cased) for v in variants])


def _wildcard_parts(text: str) -> list[Any]:
    out: list[Any] = []
    buf = ""
    for ch in text:
        if ch in "*?":
            if buf:
                out.append(buf)
                buf = ""
            out.append(SpecialChars.WILDCARD_MULTI if ch == "*" else SpecialChars.WILDCARD_SINGLE)
        else:
            buf += ch
    if buf:
        out.append(buf)
    return out


def _parts_test(field: str | None, parts: list[Any], cased: bool) -> Test:
    merged: list[Any] = []
    for part in parts:
        if isinstance(part, str):
            text = part if cased else fold(part)
            if merged and isinstance(merged[-1], str):
                merged[-1] += text
            elif text:
                merged.append(text)
        elif part is SpecialChars.WILDCARD_MULTI:
            if not merged or merged[-1] is not SpecialChars.WILDCARD_MULTI:
                merged.append(part)
        else:
            merged.append(part)
    literals = [p for p in merged if isinstance(p, str)]
    needle = fold(max(literals, key=len)) if literals else ""
    star = SpecialChars.WILDCARD_MULTI
    shape = tuple("s" if p is star else "l" if isinstance(p, str) else "?" for p in merged)
    if shape == ():
        return Test(field, "eq", "", cased, needle="")
    if shape == ("l",):
        return Test(field, "eq", merged[0], cased, needle=needle)
    if shape == ("s",):
        return Test(field, "contains", "", cased, needle="")
    if shape == ("s", "l"):
        return Test(field, "endswith", merged[1], cased, needle=needle)
    if shape == ("l", "s"):
        return Test(field, "startswith", merged[0], cased, needle=needle)
    if shape == ("s", "l", "s"):
        return Test(field, "contains", merged[1], cased, needle=needle)
    pattern = "".join(
        re.escape(p) if isinstance(p, str) else ".*" if p is star else "." for p in merged
    )
    return Test(field, "glob", pattern, cased, needle=needle)
