"""The reader contract, and the registry that sniffs a file's format from its first bytes.

A reader takes a binary file object and yields :class:`RawRecord` (one flattened event),
:class:`RowBatch` or :class:`RowBlock` (records in canonical row form) or
:class:`~dwell.model.IngestWarning` (one problem); it never globs paths or touches the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from dwell.ingest import native

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import BinaryIO

    from dwell.model import IngestWarning


@dataclass(slots=True)
class RawRecord:
    """One event, flattened to ``{field: value}`` with the system fields under canonical names.

    ``pos`` is the record's position in its file: the record ordinal for EVTX, the line number
    for JSON Lines, the element number for a JSON array. (Records the native fast path reads
    come in :class:`RowBlock`.)
    """

    fields: dict[str, Any]
    pos: int

    def event(self) -> dict[str, Any]:
        """The flattened fields."""
        return self.fields


@dataclass(slots=True)
class RowBatch:
    """Consecutive records of one file already in canonical row form (the native fast path).

    ``rows[i]`` is the :func:`dwell.ingest.normalize.row_of` tuple of the record at
    ``positions[i]``.
    """

    rows: list[tuple[Any, ...]]
    positions: list[int]


@dataclass(slots=True)
class RowBlock:
    """Records of one file converted natively, held column by column in a block (see
    :class:`dwell.ingest.native.Blocks`): no Python object per record."""

    block: Any

    def __len__(self) -> int:
        assert native.blocks is not None
        return native.blocks.len(self.block)

    def rows(self) -> list[tuple[Any, ...]]:
        """The records' canonical row tuples (as :func:`normalize.row_of` makes them)."""
        assert native.blocks is not None
        values = [native.blocks.values(self.block, c) for c in range(len(native.ROW_KINDS))]
        return list(zip(*values, strict=True))

    def positions(self) -> list[int]:
        assert native.blocks is not None
        return native.blocks.positions(self.block)


Item = RawRecord | RowBatch | RowBlock


def events(items: Iterable[Item | IngestWarning]) -> Iterator[dict[str, Any]]:
    """The flattened fields of every record a reader yields (warnings are left out)."""
    for item in items:
        if isinstance(item, RowBatch):
            for row in item.rows:
                yield orjson.loads(row[0])
        elif isinstance(item, RowBlock):
            assert native.blocks is not None
            for text in native.blocks.values(item.block, 0):
                yield orjson.loads(text)
        elif isinstance(item, RawRecord):
            yield item.event()


class Reader(Protocol):
    """A log format."""

    name: str

    def sniff(self, head: bytes) -> bool:
        """Whether ``head`` (the first bytes of a file) looks like this format."""
        ...

    def read(self, fh: BinaryIO, path: str) -> Iterator[Item | IngestWarning]:
        """Yield the records of ``fh``; problems are yielded as warnings, never raised."""
        ...


def sniff(head: bytes) -> Reader | None:
    """The reader for content starting with ``head``, or None."""
    from dwell.ingest.readers import READERS

    for reader in READERS:
        if reader.sniff(head):
            return reader
    return None
