"""Where things live inside a case directory, and the catalog's DDL."""

from __future__ import annotations

from pathlib import Path
from typing import Final

CATALOG: Final = "catalog.duckdb"
EVENTS_DIR: Final = "events"
#: the case's detections: one Parquet file, named by the catalog's meta key below
DETECTIONS_DIR: Final = "detections"
DETECTIONS_KEY: Final = "detections_file"
LOCK: Final = ".lock"
PART_SUFFIX: Final = ".parquet"
TMP_SUFFIX: Final = ".tmp"

DDL: Final = (
    """CREATE TABLE IF NOT EXISTS sources (
        sha256 VARCHAR PRIMARY KEY, path VARCHAR, size BIGINT, format VARCHAR,
        records BIGINT, warnings BIGINT, first_ts TIMESTAMPTZ, last_ts TIMESTAMPTZ,
        ingested_at TIMESTAMPTZ)""",
    "CREATE TABLE IF NOT EXISTS parts (sha256 VARCHAR, file VARCHAR, rows BIGINT)",
    """CREATE TABLE IF NOT EXISTS warnings (
        source_sha256 VARCHAR, file VARCHAR, record BIGINT, line BIGINT, "offset" BIGINT,
        reason VARCHAR)""",
    "CREATE TABLE IF NOT EXISTS skipped (path VARCHAR, reason VARCHAR)",
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
)


def events_dir(case: Path) -> Path:
    return case / EVENTS_DIR


def detections_dir(case: Path) -> Path:
    return case / DETECTIONS_DIR


def is_case(case: Path) -> bool:
    return (case / CATALOG).is_file()
