"""Ingest: read log files of any supported format and turn them into canonical event rows."""

from __future__ import annotations

from dwell.ingest.pipeline import (
    GroupResult,
    IngestOptions,
    Sink,
    SourceResult,
    discover,
    plan_groups,
    read_group,
    read_source,
    run_groups,
)
from dwell.ingest.reader import RawRecord, Reader

__all__ = [
    "GroupResult", "IngestOptions", "RawRecord", "Reader", "Sink", "SourceResult", "discover",
    "plan_groups", "read_group", "read_source", "run_groups",
]
