"""Read-only access to a case: an ``events`` view over the committed Parquet parts."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from dwell.errors import StoreError
from dwell.schema import EVENT_SCHEMA
from dwell.store.layout import CATALOG, events_dir, is_case

if TYPE_CHECKING:
    from collections.abc import Iterator


class CaseReader:
    """A DuckDB connection with ``events``, ``sources``, ``warnings`` and ``skipped`` views.

    The catalog is copied into memory at open, so a reader never holds the catalog file and
    only sees sources that were committed when it opened.
    """

    def __init__(self, case: str | os.PathLike[str]) -> None:
        self.case = Path(case)
        self.db = _attached(self.case)
        for table in ("sources", "parts", "warnings", "skipped", "meta"):
            self.db.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM cat.{table}")
        self.db.execute("DETACH cat")
        files = [
            str(events_dir(self.case) / row[0])
            for row in self.db.execute("SELECT file FROM parts ORDER BY file").fetchall()
        ]
        self.part_files = files
        if files:
            self.db.read_parquet(files).create_view("events")
        else:
            self._empty = pa.Table.from_batches([], schema=EVENT_SCHEMA)
            self.db.from_arrow(self._empty).create_view("events")

    def sql(self, query: str, params: list[Any] | None = None) -> duckdb.DuckDBPyConnection:
        """Run ``query`` (values only ever as ``params``); fetch from the returned cursor."""
        return self.db.execute(query, params or [])

    def arrow(self, query: str, params: list[Any] | None = None) -> pa.Table:
        """The result of ``query`` as an Arrow table (values only ever as ``params``)."""
        return self.db.sql(query, params=params or None).to_arrow_table()

    def batches(
        self, query: str, params: list[Any] | None = None, batch_size: int = 65_536
    ) -> pa.RecordBatchReader:
        """Stream the result of ``query`` as Arrow record batches (bounded memory)."""
        return self.db.sql(query, params=params or None).to_arrow_reader(batch_size)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> CaseReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_case(case: str | os.PathLike[str]) -> CaseReader:
    return CaseReader(case)


def _attached(case: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with the case's catalog attached read-only as ``cat``."""
    if not is_case(case):
        raise StoreError(f"no case at {case}; create one with `dwell ingest PATH --case {case}`")
    db = duckdb.connect()
    try:
        db.execute("ATTACH ? AS cat (READ_ONLY)", [str(case / CATALOG)])
    except duckdb.Error as exc:
        db.close()
        raise StoreError(
            f"cannot read the catalog of {case} (is an ingest running?): {exc}") from exc
    return db


@contextlib.contextmanager
def read_catalog(case: str | os.PathLike[str]) -> Iterator[duckdb.DuckDBPyConnection]:
    """The case's catalog alone, read-only as ``cat`` (cheaper than a :class:`CaseReader` when
    the catalog's tables are all a caller needs); a query error becomes a StoreError."""
    path = Path(case)
    db = _attached(path)
    try:
        yield db
    except duckdb.Error as exc:
        raise StoreError(f"cannot read the catalog of {path}: {exc}") from exc
    finally:
        db.close()


def list_parts(case: str | os.PathLike[str]) -> list[tuple[str, str, int]]:
    """``(sha256 of the group, file name, rows)`` of each committed part, by file name."""
    with read_catalog(case) as db:
        rows = db.execute("SELECT sha256, file, rows FROM cat.parts ORDER BY file").fetchall()
    return [(str(sha), str(name), int(count or 0)) for sha, name, count in rows]


#: ``report.text.iso_utc`` of a TIMESTAMPTZ column in SQL (the same text, whatever the
#: session's zone)
_ISO_SQL = ("CASE WHEN epoch_us({c}) % 1000000 = 0 "
            "THEN strftime(make_timestamp(epoch_us({c})), '%Y-%m-%dT%H:%M:%SZ') "
            "ELSE strftime(make_timestamp(epoch_us({c})), '%Y-%m-%dT%H:%M:%S.%fZ') END")


def catalog_facts(db: duckdb.DuckDBPyConnection, prefix: str = "cat.") -> dict[str, Any]:
    """What a catalog holds, for run manifests: ``events`` (rows of the committed parts),
    ``sources`` (one dict per source: path, sha256, size, format, records, warnings, first
    and last times as ISO UTC texts) and ``warnings`` (file, record, line, offset, reason
    tuples, ordered). ``prefix``: where the tables are (``cat.`` through
    :func:`read_catalog`, empty through a writer's own connection)."""
    sources = db.sql(
        "SELECT path, sha256, size, format, records, warnings, "
        f"{_ISO_SQL.format(c='first_ts')} AS first, {_ISO_SQL.format(c='last_ts')} AS last "
        f"FROM {prefix}sources ORDER BY path, sha256").to_arrow_table()
    warnings = db.execute(
        f'SELECT file, record, line, "offset", reason FROM {prefix}warnings '
        "ORDER BY file, record, line").fetchall()
    events = db.execute(f"SELECT coalesce(sum(rows), 0) FROM {prefix}parts").fetchall()
    return {"events": int(events[0][0]) if events else 0, "sources": sources.to_pylist(),
            "warnings": warnings}
