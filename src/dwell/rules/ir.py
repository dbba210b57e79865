"""The compiled form of a Sigma detection: a small boolean tree over field tests.

The tree is plain data (picklable, hashable), evaluated by ``dwell.engine`` in Python and
emitted as SQL by :mod:`dwell.engine.sql`. Field names are lower case (events are matched
case-insensitively by name). Case-insensitive string tests hold *folded* literals
(:func:`fold`, Unicode case folding, which is context-free so substring tests stay exact).

Semantics of one :class:`Test` on an event:

- a field that is absent or null fails every test except ``null`` (and ``exists: false``);
- a list value passes if any element passes;
- string tests see ints and floats as their decimal text and booleans as ``true``/``false``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

#: String tests: ``value`` is the literal (folded unless ``cased``).
STRING_OPS: Final = frozenset({"eq", "contains", "startswith", "endswith", "glob"})
#: Every test operation.
OPS: Final = STRING_OPS | frozenset(
    {"re", "num", "cmp", "null", "exists", "bool", "fieldref", "cidr"}
)


def field_key(name: str) -> str:
    """Field names as compared: lower case, no spaces (``Source Name`` is ``SourceName``)."""
    return name.lower().replace(" ", "")


def fold(text: str) -> str:
    """Case-fold ``text`` (what case-insensitive Sigma tests compare)."""
    return text.casefold()


@dataclass(frozen=True, slots=True)
class Test:
    """One field test.

    ``field`` is the lower-cased field name, or None for a keyword (any field's value).
    ``value`` by ``op``: eq/contains/startswith/endswith: the literal; glob: a regular
    expression matched in full; re: a pattern (``flags`` are :mod:`re` flags); num: an int or
    float; cmp: ``(operator, number)`` with operator one of lt/lte/gt/gte/neq; null: None;
    exists/bool: a bool; fieldref: ``(other field, mode)`` with mode eq/startswith/endswith;
    cidr: a network in text form. ``needle`` is a folded literal that every matching value
    contains ("" when there is none); the fast engine scans for it.
    """

    field: str | None
    op: str
    value: Any
    cased: bool = False
    flags: int = 0
    needle: str = ""

    # Rule sets are pickled to every hunting worker: positional reduction is much faster than
    # the generic slots-dataclass state (tens of thousands of nodes per rule set).
    def __reduce__(self) -> tuple[type[Test], tuple[Any, ...]]:
        return Test, (self.field, self.op, self.value, self.cased, self.flags, self.needle)


@dataclass(frozen=True, slots=True)
class And:
    args: tuple[Node, ...]

    def __reduce__(self) -> tuple[type[And], tuple[Any, ...]]:
        return And, (self.args,)


@dataclass(frozen=True, slots=True)
class Or:
    args: tuple[Node, ...]

    def __reduce__(self) -> tuple[type[Or], tuple[Any, ...]]:
        return Or, (self.args,)


@dataclass(frozen=True, slots=True)
class Not:
    arg: Node

    def __reduce__(self) -> tuple[type[Not], tuple[Any, ...]]:
        return Not, (self.arg,)


Node = Test | And | Or | Not


def walk(node: Node) -> list[Test]:
    """All tests of a tree, in order."""
    out: list[Test] = []
    stack: list[Node] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Test):
            out.append(item)
        elif isinstance(item, Not):
            stack.append(item.arg)
        else:
            stack.extend(reversed(item.args))
    return out


def rename(node: Node, mapping: dict[str, str]) -> Node:
    """The tree with field names renamed by ``mapping`` (lower case names)."""
    if not mapping:
        return node
    if isinstance(node, Test):
        value = node.value
        if node.op == "fieldref":
            value = (mapping.get(value[0], value[0]), value[1])
        if node.field is None or (node.field not in mapping and value is node.value):
            return node
        field = mapping.get(node.field, node.field) if node.field is not None else None
        return Test(field, node.op, value, node.cased, node.flags, node.needle)
    if isinstance(node, Not):
        return Not(rename(node.arg, mapping))
    args = tuple(rename(arg, mapping) for arg in node.args)
    return And(args) if isinstance(node, And) else Or(args)


def fields_of(node: Node) -> list[str]:
    """Field names a tree reads (first-seen order)."""
    seen: dict[str, None] = {}
    for test in walk(node):
        if test.field is not None:
            seen.setdefault(test.field, None)
        if test.op == "fieldref":
            seen.setdefault(test.value[0], None)
    return list(seen)
