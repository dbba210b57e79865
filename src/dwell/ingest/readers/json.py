"""JSON events: evtx-JSON, flattened JSON and Winlogbeat/ECS, as JSON Lines or a JSON document.

One event per line is read as a stream with a bounded line length. A file whose first line is
not a complete JSON value is read as one JSON document (an object or an array of events),
bounded in size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from dwell.ingest.flatten import flatten_any
from dwell.ingest.native import convert_list
from dwell.ingest.reader import RawRecord, RowBatch
from dwell.model import IngestWarning

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO

MAX_LINE = 16 * 1024 * 1024
MAX_DOCUMENT = 256 * 1024 * 1024
#: Lines converted natively in one call (JSON Lines: no Python object per line but its bytes).
BATCH_LINES = 2048
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

    def read(self, fh: BinaryIO, path: str) -> Iterator[RawRecord | RowBatch | IngestWarning]:
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

    def _lines(self, fh: BinaryIO, path: str) -> Iterator[RawRecord | RowBatch | IngestWarning]:
        lineno = 0
        offset = 0
        # lines waiting for the native converter: their bytes, numbers and offsets
        batch: list[bytes] = []
        numbers: list[int] = []
        starts: list[int] = []
        while True:
            line = fh.readline(self.max_line + 1)
            if not line:
                break
            lineno += 1
            start = offset
            offset += len(line)
            if len(line) > self.max_line and not line.endswith(b"\n"):
                yield from self._convert(batch, numbers, starts, path)  # (the file's order)
                skipped = len(line) + self._skip_rest(fh)
                offset = start + skipped
                yield IngestWarning(
                    path,
                    f"line longer than {self.max_line} bytes ({skipped} bytes) skipped",
                    line=lineno,
                    offset=start,
                )
                continue
            if not line.strip():
                continue
            if convert_list is None:
                yield self._line(line, lineno, path, start)
                continue
            batch.append(line)
            numbers.append(lineno)
            starts.append(start)
            if len(batch) >= BATCH_LINES:
                yield from self._convert(batch, numbers, starts, path)
        yield from self._convert(batch, numbers, starts, path)

    def _convert(self, batch: list[bytes], numbers: list[int], starts: list[int], path: str
                 ) -> Iterator[RawRecord | RowBatch | IngestWarning]:
        """The waiting lines converted natively, in order (declined ones in Python); emptied."""
        if not batch:
            return
        assert convert_list is not None
        rows, declined = convert_list(batch)
        done = 0  # lines handled
        used = 0  # rows handled
        for k in declined:
            if k > done:
                yield RowBatch(rows[used:used + k - done], numbers[done:k])
                used += k - done
            yield self._line(batch[k], numbers[k], path, starts[k])
            done = k + 1
        if done < len(batch):
            yield RowBatch(rows[used:], numbers[done:])
        batch.clear()
        numbers.clear()
        starts.clear()

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
