"""Reports an investigator can hand over: timelines, the HTML report, the terminal summary.

- :mod:`dwell.report.timeline`: Timesketch-ready CSV/JSONL, streamed from DuckDB.
- :mod:`dwell.report.html`: the self-contained HTML report (spread graph, swimlane, matrix,
  evidence); :mod:`~dwell.report.graph` and :mod:`~dwell.report.swimlane` draw its figures.
- :mod:`dwell.report.terminal`: ``render_summary`` for a rich console.
- :mod:`dwell.report.manifest`: run manifests stored in the case.

Presentation is data: ``data/timeliner.yaml`` (messages, timestamp descriptions) and
``data/attack.yaml`` (tactics and phases); HTML comes from ``templates/report.html.j2``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dwell._lazy import lazy_exports

if TYPE_CHECKING:
    from dwell.report.html import build_context, render_html
    from dwell.report.manifest import latest_manifest, write_manifest
    from dwell.report.terminal import render_summary
    from dwell.report.text import clean, parse_utc
    from dwell.report.timeline import COLUMNS, TimelineOptions, export

__all__ = [
    "COLUMNS",
    "TimelineOptions",
    "build_context",
    "clean",
    "export",
    "latest_manifest",
    "parse_utc",
    "render_html",
    "render_summary",
    "write_manifest",
]

__getattr__ = lazy_exports(__name__, {
    "html": ("build_context", "render_html"),
    "manifest": ("latest_manifest", "write_manifest"),
    "terminal": ("render_summary",),
    "text": ("clean", "parse_utc"),
    "timeline": ("COLUMNS", "TimelineOptions", "export"),
})
