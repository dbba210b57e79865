"""Streaming writer: one JSON-lines file per host and channel, record ids assigned in order.

Records arrive in time order per file. A ``None`` record truncates the file (the channel was
cleared): the lines written so far are dropped but the record-id counter keeps running, so the
cleared log has a hole, as a real one does.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dwell.scenario._evtx import Record

_FLUSH_LINES = 2000  # per file
_FLUSH_TOTAL = 40_000  # across files: bounds memory whatever the number of files

try:
    import orjson

    def _dumps(record: Record) -> str:
        return orjson.dumps(record).decode()
except ImportError:  # pragma: no cover - orjson is a declared dependency

    def _dumps(record: Record) -> str:
        return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def channel_file(channel: str) -> str:
    """File name of a channel: ``/`` and spaces become ``_``."""
    return channel.replace("/", "_").replace(" ", "_") + ".jsonl"


def first_record_id(variant: str, seed: int, host: str, channel: str) -> int:
    """The EventRecordID a host's channel starts at (logs have rolled over before)."""
    return 1 + zlib.crc32(f"{variant}|{seed}|{host}|{channel}".encode()) % 2000


class _Sink:
    __slots__ = ("buffer", "count", "next_id", "path")

    def __init__(self, path: Path, first_id: int) -> None:
        self.path = path
        self.buffer: list[str] = []
        self.next_id = first_id
        self.count = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")

    def write(self, record: Record) -> None:
        record["Event"]["System"]["EventRecordID"] = self.next_id
        self.next_id += 1
        self.count += 1
        self.buffer.append(_dumps(record))
        if len(self.buffer) >= _FLUSH_LINES:
            self.flush()

    def truncate(self) -> None:
        self.buffer.clear()
        self.count = 0
        self.path.write_bytes(b"")

    def flush(self) -> None:
        if self.buffer:
            with self.path.open("a", encoding="utf-8", newline="\n") as fh:
                fh.write("\n".join(self.buffer))
                fh.write("\n")
            self.buffer.clear()


class LogWriter:
    """Writes ``logs/<HOST>/<channel>.jsonl`` under a staging directory, then swaps it in."""

    def __init__(self, out_dir: Path, variant: str, seed: int) -> None:
        self.out_dir = out_dir
        self.variant = variant
        self.seed = seed
        out_dir.mkdir(parents=True, exist_ok=True)
        self.stage = Path(tempfile.mkdtemp(prefix=".logs-", dir=out_dir))
        self.sinks: dict[tuple[str, str], _Sink] = {}
        self.total = 0
        self._buffered = 0

    def put(self, host: str, channel: str, record: Record | None) -> None:
        """Append ``record`` to its file, or truncate the file when it is None."""
        key = (host, channel)
        sink = self.sinks.get(key)
        if sink is None:
            sink = _Sink(self.stage / host / channel_file(channel),
                         first_record_id(self.variant, self.seed, host, channel))
            self.sinks[key] = sink
        if record is None:
            self.total -= sink.count
            sink.truncate()
        else:
            sink.write(record)
            self.total += 1
            self._buffered += 1
            if self._buffered >= _FLUSH_TOTAL:
                for each in self.sinks.values():
                    each.flush()
                self._buffered = 0

    def commit(self) -> None:
        """Flush every file and move the finished tree to ``out_dir/logs``."""
        for sink in self.sinks.values():
            sink.flush()
        final = self.out_dir / "logs"
        old: Path | None = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=".logs-old-", dir=self.out_dir))
            os.replace(final, old / "logs")
        os.replace(self.stage, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        """Remove the staging directory after a failure."""
        shutil.rmtree(self.stage, ignore_errors=True)


def write_json_atomic(path: Path, data: object) -> None:
    """Write ``data`` as pretty JSON via a temporary file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
