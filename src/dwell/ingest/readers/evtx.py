"""EVTX via the ``evtx`` package (Rust parser, multi-threaded per file)."""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING, Any

import evtx
import orjson

from dwell.ingest.flatten import flatten_evtx_json
from dwell.ingest.reader import RawRecord
from dwell.model import IngestWarning

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO

MAGIC = b"ElfFile\x00"
_HEADER_BLOCK = 4096
_CHUNK = 65536


class EvtxReader:
    """Windows XML Event Log files (``ElfFile`` signature)."""

    name = "evtx"

    def __init__(self, threads: int = 0) -> None:
        self.threads = threads

    def sniff(self, head: bytes) -> bool:
        return head.startswith(MAGIC)

    def read(self, fh: BinaryIO, path: str) -> Iterator[RawRecord | IngestWarning]:
        head = fh.read(_HEADER_BLOCK)
        size = fh.seek(0, os.SEEK_END)
        fh.seek(0)
        if len(head) < 128 or not head.startswith(MAGIC):
            yield IngestWarning(path, "not an EVTX file: bad or short file header", offset=0)
            return
        declared = struct.unpack_from("<H", head, 42)[0]
        complete = max(0, (size - _HEADER_BLOCK) // _CHUNK)
        if size < _HEADER_BLOCK + declared * _CHUNK and (size - _HEADER_BLOCK) % _CHUNK:
            yield IngestWarning(
                path,
                f"file truncated: header declares {declared} chunks but only {complete} are "
                f"complete; records in the cut chunk are lost",
                offset=_HEADER_BLOCK + complete * _CHUNK,
            )
        try:
            parser = evtx.PyEvtxParser(fh, number_of_threads=self.threads)
        except (OSError, RuntimeError, ValueError) as exc:
            yield IngestWarning(path, f"unreadable EVTX: {_short(exc)}", offset=0)
            return
        records: Iterator[dict[str, Any]] = parser.records_json()  # type: ignore[assignment]
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
            try:
                doc = orjson.loads(rec["data"])
            except orjson.JSONDecodeError as exc:
                yield IngestWarning(
                    path, f"record not decodable: {exc}", record=rec.get("event_record_id")
                )
                continue
            fields = flatten_evtx_json(doc)
            if fields is None:
                yield IngestWarning(path, "record has no Event element", record=ordinal)
                continue
            if "TimeCreated" not in fields:
                fields["TimeCreated"] = rec.get("timestamp")
            yield RawRecord(fields, ordinal)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300]
