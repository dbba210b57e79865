"""The case store: Parquet event parts plus a DuckDB catalog, in one directory."""

from __future__ import annotations

from dwell.store.query import CaseReader, open_case
from dwell.store.writer import CaseWriter, PartWriter

__all__ = ["CaseReader", "CaseWriter", "PartWriter", "open_case"]
