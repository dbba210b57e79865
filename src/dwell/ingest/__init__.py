"""Ingest: read log files of any supported format and turn them into canonical event rows."""

from __future__ import annotations

from dwell.ingest.pipeline import IngestOptions, SourceResult, discover, read_source
from dwell.ingest.reader import RawRecord, Reader

__all__ = ["IngestOptions", "RawRecord", "Reader", "SourceResult", "discover", "read_source"]
