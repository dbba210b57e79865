"""EVTX via the ``evtx`` package (Rust parser, multi-threaded per file)."""

from __future__ import annotations

import io
import os
import struct
from typing import TYPE_CHECKING, Any

import evtx
import orjson

from dwell.ingest import native
from dwell.ingest.flatten import flatten_evtx_json
from dwell.ingest.reader import Item, RawRecord, RowBlock
from dwell.model import IngestWarning

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO

MAGIC = b"ElfFile\x00"
CHUNK_MAGIC = b"ElfChnk\x00"
_HEADER_BLOCK = 4096
_CHUNK = 65536


def _minimal_header() -> bytes:
    """A valid empty file header: the parser then finds the chunks by scanning."""
    header = bytearray(_HEADER_BLOCK)
    header[:8] = MAGIC
    struct.pack_into("<QQQIHHHH", header, 8, 0, 0, 1, 128, 1, 3, _HEADER_BLOCK, 0)
    return bytes(header)


class _Overlay(io.RawIOBase):
    """``fh`` with its first bytes replaced (a rebuilt header), without copying the file."""

    def __init__(self, fh: BinaryIO, head: bytes) -> None:
        self._fh = fh
        self._head = head
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == os.SEEK_SET:
            self._pos = offset
        elif whence == os.SEEK_CUR:
            self._pos += offset
        else:
            self._pos = self._fh.seek(0, os.SEEK_END) + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = len(buffer)
        if self._pos < len(self._head):
            data = self._head[self._pos : self._pos + want]
        else:
            self._fh.seek(self._pos)
            data = self._fh.read(want)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


class EvtxReader:
    """Windows XML Event Log files (``ElfFile`` signature)."""

    name = "evtx"

    def __init__(self, threads: int = 0, disk_path: str | None = None) -> None:
        self.threads = threads
        # The file on disk, when the stream is one: the parser then reads it itself (faster
        # than through a Python file object). A damaged header still goes through ``fh``.
        self.disk_path = disk_path

    def sniff(self, head: bytes) -> bool:
        return head.startswith(MAGIC) or head[_HEADER_BLOCK : _HEADER_BLOCK + 8] == CHUNK_MAGIC

    def read(self, fh: BinaryIO, path: str) -> Iterator[Item | IngestWarning]:
        head = fh.read(_HEADER_BLOCK)
        size = fh.seek(0, os.SEEK_END)
        fh.seek(0)
        if len(head) < 128:
            yield IngestWarning(path, "not an EVTX file: file header too short", offset=0)
            return
        intact = head.startswith(MAGIC)
        if not intact:
            if fh.read(_HEADER_BLOCK + 8)[_HEADER_BLOCK:] != CHUNK_MAGIC:
                yield IngestWarning(path, "not an EVTX file: bad file header", offset=0)
                return
            yield IngestWarning(
                path, "damaged file header; records recovered from the chunks that follow",
                offset=0,
            )
            fh.seek(0)
            fh = io.BufferedReader(_Overlay(fh, _minimal_header()))
            head = _minimal_header()
        declared = struct.unpack_from("<H", head, 42)[0]
        complete = max(0, (size - _HEADER_BLOCK) // _CHUNK)
        if (size - _HEADER_BLOCK) % _CHUNK and size < _HEADER_BLOCK + max(declared, 1) * _CHUNK:
            yield IngestWarning(
                path,
                f"file truncated: header declares {declared} chunks but only {complete} are "
                f"complete; records in the cut chunk are lost",
                offset=_HEADER_BLOCK + complete * _CHUNK,
            )
        source: BinaryIO | str = fh
        if self.disk_path is not None and intact:
            source = self.disk_path
        try:
            parser = evtx.PyEvtxParser(source, number_of_threads=self.threads)
        except (OSError, RuntimeError, ValueError) as exc:
            yield IngestWarning(path, f"unreadable EVTX: {_short(exc)}", offset=0)
            return
        records: Iterator[dict[str, Any]] = parser.records_json()  # type: ignore[assignment]
        if native.blocks is not None:
            yield from _native_records(records, path)
            return
        ordinal = 0
        while True:
            try:
                rec = next(records)
            except StopIteration:
                break
            except (OSError, RuntimeError, ValueError) as exc:
                yield IngestWarning(path, f"skipped damaged chunk: {_short(exc)}", record=ordinal)
                continue
            ordinal += 1
            yield _python_record(rec, ordinal, path)


#: records converted per call of the native fast path
NATIVE_BATCH = 1024


def _native_records(
    records: Iterator[dict[str, Any]], path: str
) -> Iterator[RowBlock | RawRecord | IngestWarning]:
    """The records as blocks of rows, converted natively; declined ones take the Python path
    (in their place between blocks)."""
    blocks = native.blocks
    assert blocks is not None
    ordinal = 0
    while True:
        block = blocks.new(native.ROW_KINDS)
        count, declined, error, done = blocks.convert_records(block, records, NATIVE_BATCH,
                                                              ordinal)
        ordinal += count
        if count:
            yield RowBlock(block)
        if declined is not None:
            ordinal += 1
            yield _python_record(declined, ordinal, path)
            continue
        if error is not None:
            if not isinstance(error, OSError | RuntimeError | ValueError):
                raise error
            yield IngestWarning(path, f"skipped damaged chunk: {_short(error)}", record=ordinal)
        elif done:
            return


def _python_record(rec: dict[str, Any], ordinal: int, path: str) -> RawRecord | IngestWarning:
    """One record of ``records_json()`` the Python way."""
    try:
        doc = orjson.loads(rec["data"])
    except orjson.JSONDecodeError as exc:
        return IngestWarning(path, f"record not decodable: {exc}",
                             record=rec.get("event_record_id"))
    fields = flatten_evtx_json(doc)
    if fields is None:
        return IngestWarning(path, "record has no Event element", record=ordinal)
    if "TimeCreated" not in fields:
        fields["TimeCreated"] = rec.get("timestamp")
    return RawRecord(fields, ordinal)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300]
