"""Batched, crash-safe writes into a case.

A source's rows go to Parquet part files written under a temporary name and renamed when
complete; the catalog learns of the parts, the source and its warnings in one DuckDB
transaction. Until that commit the parts are invisible (readers only see parts listed in the
catalog), and a writer opening the case deletes parts no committed source owns, so a killed
ingest leaves nothing partial behind and a re-run completes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from dwell.errors import StoreError
from dwell.schema import EVENT_SCHEMA
from dwell.store.layout import (
    CATALOG,
    DDL,
    DETECTIONS_KEY,
    LOCK,
    PART_SUFFIX,
    TMP_SUFFIX,
    detections_dir,
    events_dir,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from dwell.model import IngestWarning, SourceSummary

PART_ROWS = 1_000_000
ROW_GROUP_ROWS = 32_768
#: Columns whose values repeat (dictionary-encoded); the others are mostly distinct per row
#: (trying a dictionary first only costs time and bytes).
_DICTIONARY = [name for name in EVENT_SCHEMA.names if name not in {
    "timestamp", "record_id", "source_pos", "command_line", "parent_command_line", "fields"}]
#: Columns with min/max statistics (for pruning row groups); not the fields JSON.
_STATISTICS = [name for name in EVENT_SCHEMA.names if name != "fields"]


def _sync_rename(tmp: Path, final: Path) -> None:
    """Make a finished file durable, then give it its final name (atomically)."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)


class PartWriter:
    """A Sink that writes one source's rows into Parquet parts of a case's ``events/`` folder."""

    def __init__(self, case: str | os.PathLike[str], sha256: str, part_rows: int = PART_ROWS):
        self._dir = events_dir(Path(case))
        self._sha = sha256
        self._part_rows = part_rows
        self._writer: pq.ParquetWriter | None = None
        self._tmp: Path | None = None
        self._rows_in_part = 0
        self._parts: list[tuple[str, int]] = []
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        """Buffer ``batch``; small batches (small files) are written as one row group."""
        if batch.num_rows == 0:
            return
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        if self._writer is None:
            self._open_part()
        assert self._writer is not None
        table = pa.Table.from_batches(self._pending, schema=EVENT_SCHEMA)
        self._writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        self._rows_in_part += table.num_rows
        self._pending.clear()
        self._pending_rows = 0
        if self._rows_in_part >= self._part_rows:
            self._close_part()

    def close(self) -> list[tuple[str, int]]:
        """Finish the last part; returns ``[(part file name, rows)]``."""
        self._flush()
        self._close_part()
        return list(self._parts)

    def abort(self) -> None:
        self._pending.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
        for name, _ in self._parts:
            (self._dir / name).unlink(missing_ok=True)
        self._parts.clear()

    def _open_part(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        name = f"{self._sha[:32]}-{uuid.uuid4().hex[:12]}{PART_SUFFIX}"
        self._tmp = self._dir / f".{name}{TMP_SUFFIX}"
        self._writer = pq.ParquetWriter(self._tmp, EVENT_SCHEMA, compression="zstd",
                                        use_dictionary=_DICTIONARY, write_statistics=_STATISTICS)
        self._rows_in_part = 0

    def _close_part(self) -> None:
        if self._writer is None or self._tmp is None:
            return
        self._writer.close()
        self._writer = None
        final = self._tmp.name[1 : -len(TMP_SUFFIX)]
        _sync_rename(self._tmp, self._dir / final)
        self._tmp = None
        self._parts.append((final, self._rows_in_part))


class CaseWriter:
    """The single writer of a case's catalog (an exclusive lock guards it)."""

    def __init__(self, case: str | os.PathLike[str]) -> None:
        self.case = Path(case)
        if self.case.exists() and not self.case.is_dir():
            raise StoreError(f"{self.case} is a file, not a case directory; pass --case DIR")
        self.case.mkdir(parents=True, exist_ok=True)
        events_dir(self.case).mkdir(exist_ok=True)
        self._lock = open(self.case / LOCK, "a+")  # noqa: SIM115 - held for the writer's life
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            raise StoreError(
                f"case {self.case} is in use by another dwell process; wait for it to finish"
            ) from None
        try:
            self.db = duckdb.connect(str(self.case / CATALOG))
        except duckdb.Error as exc:
            self._lock.close()
            raise StoreError(f"cannot open the catalog of {self.case}: {exc}") from exc
        for ddl in DDL:
            self.db.execute(ddl)
        self._recover()

    def _recover(self) -> None:
        """Delete part and detection files the catalog does not name (left by a killed run)."""
        owned = {row[0] for row in self.db.execute("SELECT file FROM parts").fetchall()}
        owned.update(row[0] for row in self.db.execute(
            "SELECT value FROM meta WHERE key = ?", [DETECTIONS_KEY]).fetchall())
        for folder in (events_dir(self.case), detections_dir(self.case)):
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if path.name not in owned and (
                    path.name.endswith(TMP_SUFFIX) or path.name.endswith(PART_SUFFIX)
                ):
                    path.unlink(missing_ok=True)

    def write_detections(self, table: pa.Table) -> str:
        """Write ``table`` as a new detections file (durable, not yet named by the catalog:
        the caller records the returned name under ``DETECTIONS_KEY`` in its transaction, or
        removes the file with :meth:`drop_detections`)."""
        folder = detections_dir(self.case)
        folder.mkdir(exist_ok=True)
        name = f"detections-{uuid.uuid4().hex}{PART_SUFFIX}"
        tmp = folder / f".{name}{TMP_SUFFIX}"
        try:
            pq.write_table(table, tmp, compression="zstd", row_group_size=ROW_GROUP_ROWS)
            _sync_rename(tmp, folder / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return name

    def drop_detections(self, name: str) -> None:
        """Delete a detections file the catalog no longer names."""
        (detections_dir(self.case) / name).unlink(missing_ok=True)

    def known_hashes(self) -> set[str]:
        """SHA-256 of every source already in the case."""
        return {str(row[0]) for row in self.db.execute("SELECT sha256 FROM sources").fetchall()}

    def commit_sources(
        self,
        key: str,
        sources: Sequence[tuple[SourceSummary, Sequence[IngestWarning]]],
        parts: Iterable[tuple[str, int]],
    ) -> None:
        """Record fully written sources, their shared parts and their warnings atomically."""
        now = datetime.now(UTC)
        self.db.execute("BEGIN TRANSACTION")
        try:
            if sources:
                summaries = [s for s, _ in sources]
                new_sources = pa.table({
                    "sha256": [s.sha256 for s in summaries],
                    "path": [s.path for s in summaries],
                    "size": pa.array([s.size for s in summaries], pa.int64()),
                    "format": [s.format for s in summaries],
                    "records": pa.array([s.records for s in summaries], pa.int64()),
                    "warnings": pa.array([s.warnings for s in summaries], pa.int64()),
                    "first_ts": pa.array([s.first for s in summaries], pa.timestamp("ns", "UTC")),
                    "last_ts": pa.array([s.last for s in summaries], pa.timestamp("ns", "UTC")),
                    "ingested_at": pa.array([now] * len(summaries), pa.timestamp("us", "UTC")),
                })
                self.db.from_arrow(new_sources).insert_into("sources")
            if parts:
                names = [name for name, _ in parts]
                self.db.from_arrow(pa.table({
                    "sha256": [key] * len(names), "file": names,
                    "rows": pa.array([count for _, count in parts], pa.int64()),
                })).insert_into("parts")
            self._insert_warnings(
                None, [], rows=[[s.sha256, w.file, w.record, w.line, w.offset, w.reason]
                                for s, ws in sources for w in ws])
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def add_warnings(self, warnings: Iterable[IngestWarning]) -> None:
        """Warnings about files that could not be read at all (no source row)."""
        self.db.execute("BEGIN TRANSACTION")
        try:
            self._insert_warnings(None, warnings, dedupe=True)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def add_skipped(self, path: str, reason: str) -> None:
        self.db.execute(
            "INSERT INTO skipped SELECT ?, ? WHERE NOT EXISTS "
            "(SELECT 1 FROM skipped WHERE path = ? AND reason = ?)",
            [path, reason, path, reason],
        )

    def _insert_warnings(
        self, sha: str | None, warnings: Iterable[IngestWarning], dedupe: bool = False,
        rows: list[list[Any]] | None = None,
    ) -> None:
        rows = rows or [[sha, w.file, w.record, w.line, w.offset, w.reason] for w in warnings]
        if not rows:
            return
        if dedupe:
            for row in rows:
                self.db.execute(
                    "INSERT INTO warnings SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM"
                    " warnings WHERE file = ? AND reason = ? AND source_sha256 IS NULL)",
                    [*row, row[1], row[5]],
                )
        else:
            self.db.executemany("INSERT INTO warnings VALUES (?, ?, ?, ?, ?, ?)", rows)

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.db.close()
        self._lock.close()

    def __enter__(self) -> CaseWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
