"""JSON events: evtx-JSON, flattened JSON and Winlogbeat/ECS, as JSON Lines or a JSON document.

One event per line is read as a stream with a bounded line length. A file whose first line is
not a complete JSON value is read as one JSON document (an object or an array of events),
bounded in size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from dwell.ingest import native
from dwell.ingest.flatten import flatten_any
from dwell.ingest.reader import Item, RawRecord, RowBlock
from dwell.model import IngestWarning

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO

MAX_LINE = 16 * 1024 * 1024
MAX_DOCUMENT = 256 * 1024 * 1024
#: Bytes of JSON Lines read and converted natively at a time (a longer line is carried over
#: to the next read, up to the line limit).
BLOCK_BYTES = 1024 * 1024
_BOM = b"\xef\xbb\xbf"


class JsonReader:
    """JSON Lines or a JSON document of Windows events."""

    name = "json"

    def __init__(self, max_line: int = MAX_LINE, max_document: int = MAX_DOCUMENT) -> None:
        self.max_line = max_line
        self.max_document = max_document

    def sniff(self, head: bytes) -> bool:
        text = head.removeprefix(_BOM).lstrip()
        return text[:1] in (b"{", b"[")

    def read(self, fh: BinaryIO, path: str) -> Iterator[Item | IngestWarning]:
        first = self._first_line(fh)
        fh.seek(0)
        try:
            value = orjson.loads(first.removeprefix(_BOM)) if first.strip() else None
        except orjson.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            yield from self._lines(fh, path)
        else:
            yield from self._document(fh, path)

    def _first_line(self, fh: BinaryIO) -> bytes:
        while True:
            line = fh.readline(self.max_line + 1)
            if not line or line.strip():
                return line

    def _lines(self, fh: BinaryIO, path: str) -> Iterator[Item | IngestWarning]:
        if native.blocks is not None:
            yield from self._blocks(fh, path)
            return
        lineno = 0
        offset = 0
        while True:
            line = fh.readline(self.max_line + 1)
            if not line:
                break
            lineno += 1
            start = offset
            offset += len(line)
            if len(line) > self.max_line and not line.endswith(b"\n"):
                skipped = len(line) + self._skip_rest(fh)
                offset = start + skipped
                yield self._too_long(skipped, lineno, path, start)
                continue
            if line.strip():
                yield self._line(line, lineno, path, start)

    def _blocks(self, fh: BinaryIO, path: str) -> Iterator[Item | IngestWarning]:
        """:meth:`_lines` natively: blocks of bytes split into lines and converted into blocks
        of rows (no Python object per line); the lines it leaves (declined, too long) take
        the Python path in their place. The same rows, positions and warnings."""
        blocks = native.blocks
        assert blocks is not None
        number = 0  # lines before the block
        offset = 0  # bytes before the block
        carry = b""  # the unfinished last line of the previous block
        while True:
            chunk = fh.read(BLOCK_BYTES)
            final = not chunk
            data = carry + chunk if carry else chunk
            start = 0
            while True:
                block = blocks.new(native.ROW_KINDS)
                event, start, count = blocks.convert_lines(
                    block, data, start, self.max_line, final, number, offset)
                number += count
                if blocks.len(block):
                    yield RowBlock(block)
                if event is None:
                    break
                kind, line, at, length = event  # a line left to Python
                if kind == 0:
                    yield self._line(data[at - offset:at - offset + length], line, path, at)
                else:
                    yield self._too_long(length, line, path, at)
            offset += start
            carry = data[start:]
            if final:
                return
            if len(carry) > self.max_line:  # a line past the limit that goes on: skip the rest
                skipped = len(carry) + self._skip_rest(fh)
                yield self._too_long(skipped, number + 1, path, offset)
                number += 1
                offset += skipped
                carry = b""

    def _too_long(self, skipped: int, lineno: int, path: str, start: int) -> IngestWarning:
        return IngestWarning(path, f"line longer than {self.max_line} bytes ({skipped} bytes) "
                             "skipped", line=lineno, offset=start)

    def _line(self, line: bytes, lineno: int, path: str, start: int
              ) -> RawRecord | IngestWarning:
        """One line in Python (what the native path declined, or without it)."""
        try:
            doc = orjson.loads(line.removeprefix(_BOM) if lineno == 1 else line)
        except orjson.JSONDecodeError as exc:
            return IngestWarning(path, f"malformed JSON: {exc}", line=lineno, offset=start)
        return self._record(doc, lineno, path, start)

    def _skip_rest(self, fh: BinaryIO) -> int:
        skipped = 0
        while True:
            chunk = fh.readline(1024 * 1024)
            skipped += len(chunk)
            if not chunk or chunk.endswith(b"\n"):
                return skipped

    def _document(self, fh: BinaryIO, path: str) -> Iterator[RawRecord | IngestWarning]:
        data = fh.read(self.max_document + 1)
        if len(data) > self.max_document:
            yield IngestWarning(
                path,
                f"JSON document larger than {self.max_document} bytes; convert it to JSON Lines",
                offset=0,
            )
            return
        try:
            doc = orjson.loads(data.removeprefix(_BOM))
        except orjson.JSONDecodeError as exc:
            yield IngestWarning(path, f"malformed JSON document: {exc}", offset=0)
            return
        items = doc if isinstance(doc, list) else [doc]
        for index, item in enumerate(items, start=1):
            yield self._record(item, index, path, None)

    @staticmethod
    def _record(doc: Any, pos: int, path: str, offset: int | None) -> RawRecord | IngestWarning:
        shaped = flatten_any(doc)
        if shaped is None:
            return IngestWarning(path, "not a Windows event (unknown JSON shape)", line=pos,
                                 offset=offset)
        return RawRecord(shaped[1], pos)


def looks_like_events(fh: BinaryIO, reader: JsonReader) -> bool:
    """Whether the first JSON value of ``fh`` is a Windows event of a shape we know."""
    first = reader._first_line(fh)
    fh.seek(0)
    try:
        value = orjson.loads(first.removeprefix(_BOM))
    except orjson.JSONDecodeError:
        data = fh.read(reader.max_document + 1)
        fh.seek(0)
        if len(data) > reader.max_document:
            return True  # too large to tell here; reading it will say why it is skipped
        try:
            value = orjson.loads(data.removeprefix(_BOM))
        except orjson.JSONDecodeError:
            return False
    if isinstance(value, list):
        value = value[0] if value else None
    return flatten_any(value) is not None
