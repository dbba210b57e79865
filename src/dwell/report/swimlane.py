"""The swimlane timeline: one lane per host, detections by level over time, phases shaded.

A Vega-Lite spec rendered to SVG offline by ``vl-convert-python`` (no browser, no network).
Detections are counted per host, day and level, so the SVG stays small for any case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from dwell.report._data import phases, tactic_of
from dwell.report.text import clean, to_datetime

if TYPE_CHECKING:
    import pyarrow as pa

LEVELS = ("informational", "low", "medium", "high", "critical")
LEVEL_COLORS = ("#bdbdbd", "#74a9cf", "#fdae61", "#e6550d", "#7f0000")
MAX_POINTS = 4000


@dataclass(frozen=True, slots=True)
class PhaseBand:
    name: str
    start: datetime
    end: datetime
    color: str


def _rank(level: Any) -> int:
    text = str(level or "").lower()
    return LEVELS.index(text) if text in LEVELS else 0


def phase_bands(detections: pa.Table | None, hosts: set[str] | None, end: datetime | None,
                first: datetime | None = None) -> list[PhaseBand]:
    """Contiguous kill-chain phases: each from its first medium+ detection to the next one's.

    ``hosts`` restricts to the campaign's hosts; ``first`` (the beachhead time) opens the
    initial-access phase; phase starts are made monotonic in kill-chain order.
    """
    starts: dict[str, datetime] = {}
    if detections is not None and detections.num_rows:
        cols = detections.select(["timestamp", "host_short", "level", "tags"]).to_pydict()
        for ts, host, level, tags in zip(cols["timestamp"], cols["host_short"], cols["level"],
                                         cols["tags"], strict=True):
            if ts is None or _rank(level) < 2 or (hosts and clean(host) not in hosts):
                continue
            for tag in tags or []:
                tactic = tactic_of(tag)
                if tactic and (tactic.phase not in starts or ts < starts[tactic.phase]):
                    starts[tactic.phase] = ts
    if first is not None:
        starts["Initial access"] = min(first, starts.get("Initial access", first))
    ordered: list[tuple[str, datetime, str]] = []
    latest: datetime | None = None
    for phase in phases():
        when = starts.get(phase.name)
        if when is None:
            continue
        if latest is not None and when < latest:
            when = latest
        ordered.append((phase.name, when, phase.color))
        latest = when
    bands: list[PhaseBand] = []
    for i, (name, start, color) in enumerate(ordered):
        stop = ordered[i + 1][1] if i + 1 < len(ordered) else (end or start)
        if stop > start:
            bands.append(PhaseBand(name, start, stop, color))
    return bands


def lane_points(detections: pa.Table | None, lanes: list[str]) -> list[dict[str, Any]]:
    """Detections counted per (host, day or week, level), for the lanes given."""
    if detections is None or detections.num_rows == 0:
        return []
    cols = detections.select(["timestamp", "host_short", "level"]).to_pydict()
    wanted = set(lanes)
    for days in (1, 7, 30):
        counts: dict[tuple[str, str, str], int] = {}
        for ts, host, level in zip(cols["timestamp"], cols["host_short"], cols["level"],
                                   strict=True):
            name = clean(host)
            if ts is None or name not in wanted:
                continue
            day = ts.date()
            if days > 1:
                day = day - timedelta(days=(day.toordinal() % days))
            key = (name, day.isoformat(), LEVELS[_rank(level)])
            counts[key] = counts.get(key, 0) + 1
        if len(counts) <= MAX_POINTS or days == 30:
            break
    return [{"host": h, "day": d, "level": lvl, "count": n, "bucket_days": days}
            for (h, d, lvl), n in sorted(counts.items())]


def swimlane_spec(points: list[dict[str, Any]], lanes: list[str], bands: list[PhaseBand],
                  evicted_at: datetime | None, width: int = 1000) -> dict[str, Any]:
    """The Vega-Lite spec (data inline)."""
    times = [to_datetime(p["day"]) for p in points]
    times += [b.start for b in bands] + [b.end for b in bands]
    if evicted_at is not None:
        times.append(evicted_at)
    known = [t for t in times if t is not None]
    domain = None
    if known:
        lo, hi = min(known), max(known)
        pad = max((hi - lo) * 0.02, timedelta(days=1))
        domain = [(lo - pad).isoformat(), (hi + pad).isoformat()]
    x_scale: dict[str, Any] = {"domain": domain} if domain else {}
    height = max(60, 26 * len(lanes))
    layers: list[dict[str, Any]] = []
    if bands:
        layers.append({
            "data": {"values": [{"phase": b.name, "start": b.start.isoformat(),
                                 "end": b.end.isoformat()} for b in bands]},
            "mark": {"type": "rect", "opacity": 0.55},
            "encoding": {
                "x": {"field": "start", "type": "temporal", "scale": x_scale},
                "x2": {"field": "end"},
                "color": {"field": "phase", "type": "nominal", "title": "phase",
                          "scale": {"domain": [b.name for b in bands],
                                    "range": [b.color for b in bands]},
                          "legend": {"orient": "top", "direction": "horizontal"}},
            },
        })
    layers.append({
        "data": {"values": points},
        "mark": {"type": "circle", "opacity": 0.85, "stroke": "#333", "strokeWidth": 0.3},
        "encoding": {
            "x": {"field": "day", "type": "temporal", "title": "time (UTC)", "scale": x_scale,
                  "axis": {"format": "%Y-%m", "labelAngle": 0}},
            "y": {"field": "host", "type": "nominal", "sort": lanes, "title": None,
                  "scale": {"domain": lanes}},
            "fill": {"field": "level", "type": "nominal", "title": "level",
                     "scale": {"domain": list(LEVELS), "range": list(LEVEL_COLORS)},
                     "legend": {"orient": "right"}},
            "size": {"field": "count", "type": "quantitative", "title": "detections",
                     "scale": {"type": "sqrt", "range": [30, 400], "zero": False},
                     "legend": {"format": "d", "tickMinStep": 1}},
        },
    })
    if evicted_at is not None:
        layers.append({
            "data": {"values": [{"t": evicted_at.isoformat(), "label": "declared eviction"}]},
            "layer": [
                {"mark": {"type": "rule", "color": "#000", "strokeDash": [6, 3],
                          "strokeWidth": 2},
                 "encoding": {"x": {"field": "t", "type": "temporal", "scale": x_scale}}},
                {"mark": {"type": "text", "align": "left", "dx": 4, "dy": -4, "y": 0,
                          "fontWeight": "bold"},
                 "encoding": {"x": {"field": "t", "type": "temporal", "scale": x_scale},
                              "text": {"field": "label"}}},
            ],
        })
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "width": width, "height": height, "background": "white",
        "config": {"font": "sans-serif", "view": {"stroke": "#ccc"}},
        "resolve": {"scale": {"color": "independent", "fill": "independent"}},
        "layer": layers,
    }


def render_swimlane(spec: dict[str, Any]) -> str:
    """SVG text of ``spec`` (vl-convert, offline); raises ImportError when it is missing."""
    import vl_convert

    svg: str = vl_convert.vegalite_to_svg(vl_spec=spec)
    return svg.replace("<svg ", '<svg role="img" aria-label="swimlane timeline" '
                       'class="swimlane" ', 1)
