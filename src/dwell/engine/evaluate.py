"""The exact reference evaluator: walk each rule's tree over one event, no shortcuts.

It is deliberately simple (every rule, every event, interpreted tree) and defines the semantics
the fast :class:`~dwell.engine.matcher.Matcher` must reproduce (a property test checks it).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import TYPE_CHECKING, Any

import orjson

from dwell.rules.ir import And, Node, Not, Or, Test, field_key, fold

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from dwell.rules import CompiledRule
    from dwell.rules.logsource import Target


def event_view(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Lower-cased field names -> values (names differing only in case: first non-null wins)."""
    view: dict[str, Any] = {}
    for key, value in fields.items():
        low = field_key(key)
        if view.get(low) is None:
            view[low] = value
    return view


def strings(value: Any) -> Iterator[str]:
    """The text forms string tests see: list elements each, numbers as decimal, bools as words."""
    if value is None:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, bool):
        yield "true" if value else "false"
    elif isinstance(value, int | float):
        yield str(value)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)
    else:
        yield orjson.dumps(value).decode()


def number(value: Any) -> int | float | None:
    """A number from an int, float or decimal string; None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return None
    return None


@functools.lru_cache(maxsize=65536)
def regex(pattern: str, flags: int) -> re.Pattern[str]:
    return re.compile(pattern, flags)


@functools.lru_cache(maxsize=4096)
def network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text, strict=False)


def string_test(op: str, literal: str, text: str) -> bool:
    """One string operation of the IR on prepared (folded or raw) text."""
    if op == "eq":
        return text == literal
    if op == "contains":
        return literal in text
    if op == "startswith":
        return text.startswith(literal)
    if op == "endswith":
        return text.endswith(literal)
    return regex(literal, re.DOTALL).fullmatch(text) is not None  # glob


def compare(op: str, left: float, right: float) -> bool:
    if op == "lt":
        return left < right
    if op == "lte":
        return left <= right
    if op == "gt":
        return left > right
    if op == "gte":
        return left >= right
    return left != right  # neq


def ip_in(text: str, net: str) -> bool:
    address = _address(text)
    if address is None:
        return False
    target = network(net)
    return address.version == target.version and address in target


@functools.lru_cache(maxsize=65_536)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address ``text`` holds, or None (addresses repeat across events: memoised)."""
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def test_value(test: Test, value: Any, view: Mapping[str, Any]) -> bool:
    """Whether one (non-null) field value passes ``test``."""
    op = test.op
    if op in ("eq", "contains", "startswith", "endswith", "glob"):
        for text in strings(value):
            if string_test(op, test.value, text if test.cased else fold(text)):
                return True
        return False
    if op == "re":
        pattern = regex(test.value, test.flags)
        return any(pattern.search(text) for text in strings(value))
    if op == "num":
        items = value if isinstance(value, list) else [value]
        for item in items:
            num = number(item)
            if num is not None and num == test.value:
                return True
        return False
    if op == "cmp":
        items = value if isinstance(value, list) else [value]
        for item in items:
            num = number(item)
            if num is not None and compare(test.value[0], num, test.value[1]):
                return True
        return False
    if op == "bool":
        if isinstance(value, bool):
            return value is test.value
        return any(fold(t) == ("true" if test.value else "false") for t in strings(value))
    if op == "cidr":
        return any(ip_in(text, test.value) for text in strings(value))
    if op == "fieldref":
        other = view.get(test.value[0])
        if other is None:
            return False
        mode = test.value[1]
        mine = [fold(t) for t in strings(value)]
        return any(string_test(mode, fold(o), m) for o in strings(other) for m in mine)
    raise ValueError(f"unknown test {op!r}")


def eval_test(test: Test, view: Mapping[str, Any]) -> bool:
    if test.field is None:  # keyword: any field's value
        return any(
            value is not None and test_value(test, value, view) for value in view.values()
        )
    value = view.get(test.field)
    if test.op == "null":
        return value is None
    if test.op == "exists":
        return (value is not None) is test.value
    if value is None:
        return False
    return test_value(test, value, view)


def eval_node(node: Node, view: Mapping[str, Any]) -> bool:
    """Evaluate a tree on an event view (see :func:`event_view`)."""
    if isinstance(node, Test):
        return eval_test(node, view)
    if isinstance(node, Not):
        return not eval_node(node.arg, view)
    if isinstance(node, And):
        return all(eval_node(arg, view) for arg in node.args)
    if isinstance(node, Or):
        return any(eval_node(arg, view) for arg in node.args)
    raise TypeError(f"not an IR node: {node!r}")


def event_key(view: Mapping[str, Any]) -> tuple[str | None, int | None]:
    """(channel in lower case, event id) of an event view."""
    channel = view.get("channel")
    eid = view.get("eventid")
    if isinstance(eid, list):
        eid = eid[0] if eid else None
    num = number(eid)
    return (
        channel.lower() if isinstance(channel, str) else None,
        int(num) if isinstance(num, int) else None,
    )


def applies(target: Target, key: tuple[str | None, int | None]) -> bool:
    """Whether an event with ``key`` (channel, event id) belongs to ``target``."""
    if target.channel is not None and target.channel != key[0]:
        return False
    return target.event_ids is None or key[1] in target.event_ids


def reference_match(rules: Iterable[CompiledRule], fields: Mapping[str, Any]) -> list[CompiledRule]:
    """Detection rules matching one flattened event (slow, exact)."""
    view = event_view(fields)
    key = event_key(view)
    out: list[CompiledRule] = []
    for rule in rules:
        if rule.correlation is not None:
            continue
        if any(applies(t, key) and eval_node(cond, view) for t, cond in rule.targets):
            out.append(rule)
    return out
