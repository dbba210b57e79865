"""What the report stage reads from the stages before it: detections and the campaign.

Both are looked up lazily, so the report and timeline still work (with less in them) on a case
that has not been hunted, or before the campaign stage exists.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dwell.schema import DETECTION_SCHEMA

if TYPE_CHECKING:
    from datetime import datetime

log = logging.getLogger(__name__)


def _attr(module: str, names: tuple[str, ...]) -> Any:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    for name in names:
        found = getattr(mod, name, None)
        if callable(found):
            return found
    return None


def load_detections(case_dir: str) -> pa.Table | None:
    """The case's detections (``DETECTION_SCHEMA``) from ``dwell.engine``, or None if unhunted."""
    reader = _attr("dwell.engine", ("read_detections",))
    if reader is None:
        return None
    table = reader(case_dir)
    if table is None:
        return None
    if not isinstance(table, pa.Table):
        table = pa.table(table)
    missing = [n for n in DETECTION_SCHEMA.names if n not in table.schema.names]
    if missing:
        log.warning("detections lack columns %s; ignored", missing)
        return None
    return table


def load_campaign(case_dir: str, evicted_at: datetime | None,
                  detections: pa.Table | None = None) -> dict[str, Any] | None:
    """The campaign report dict of ``dwell.correlate`` (``{"campaigns": [...]}``), or None."""
    build = _attr("dwell.correlate", ("reconstruct_case",))
    if build is None:
        return None
    evicted_ns = None if evicted_at is None else int(evicted_at.timestamp() * 1e6) * 1000
    result = build(case_dir, evicted_ns, detections=detections)
    if hasattr(result, "to_dict"):
        result = result.to_dict()
    if isinstance(result, dict) and isinstance(result.get("campaigns"), list):
        return result
    log.warning("dwell.correlate returned no campaign report; rendering without campaigns")
    return None
