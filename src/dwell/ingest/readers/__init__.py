"""Reader implementations, one format per module."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dwell.ingest.readers.evtx import EvtxReader
from dwell.ingest.readers.json import JsonReader

if TYPE_CHECKING:
    from dwell.ingest.reader import Reader

READERS: tuple[Reader, ...] = (EvtxReader(), JsonReader())

__all__ = ["READERS", "EvtxReader", "JsonReader"]
