"""The self-contained HTML report: one file, no network, every claim linked to its events.

``build_context`` gathers what the page shows from the case (coverage, evidence events), the
detections and the campaign dict of ``dwell.correlate``; ``render_html`` fills the packaged
Jinja template (autoescape on, and every printed value display-cleaned of bidi controls).
The page carries a Content-Security-Policy that forbids scripts and any network access, so
even a template mistake cannot make it fetch or run anything.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import jinja2
import pyarrow as pa
from markupsafe import Markup

from dwell.report._data import tactic_of, tactics
from dwell.report.graph import SpreadGraph, build_graph, render_graph
from dwell.report.swimlane import lane_points, phase_bands, render_swimlane, swimlane_spec
from dwell.report.text import clean, iso, to_datetime

if TYPE_CHECKING:
    from dwell.store import CaseReader

MAX_HOST_DETECTIONS = 40
MAX_FIELDS = 60
CLAIM_WINDOW_S = 3600
LEVEL_RANK = {"informational": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


@dataclass(slots=True)
class EvidenceEvent:
    """One stored event behind a claim, shown in the evidence section."""

    anchor: str
    source_file: str
    source_pos: int | None
    record_id: int | None
    host: str = ""
    time: str = ""
    channel: str = ""
    event_id: int | None = None
    rules: list[tuple[str, str]] = field(default_factory=list)  # (title, level)
    summary: str = ""
    fields: list[tuple[str, str]] = field(default_factory=list)
    found: bool = False


class Evidence:
    """Registry of evidence events: references in, stable page anchors out."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str, int], EvidenceEvent] = {}

    @staticmethod
    def _key(ref: dict[str, Any]) -> tuple[str, str, int] | None:
        source = ref.get("source_file")
        if not source:
            return None
        if ref.get("source_pos") is not None:
            return (str(source), "pos", int(ref["source_pos"]))
        if ref.get("record_id") is not None:
            return (str(source), "rec", int(ref["record_id"]))
        return None

    def add(self, ref: dict[str, Any] | None) -> str | None:
        """The anchor of the event ``ref`` points at (registered on first use), or None."""
        if not isinstance(ref, dict):
            return None
        key = self._key(ref)
        if key is None:
            return None
        item = self.items.get(key)
        if item is None:
            item = EvidenceEvent(
                anchor=f"ev-{len(self.items) + 1}", source_file=key[0],
                source_pos=key[2] if key[1] == "pos" else None,
                record_id=key[2] if key[1] == "rec" else ref.get("record_id"),
                host=str(ref.get("host") or ""), channel=str(ref.get("channel") or ""),
                event_id=ref.get("event_id"),
            )
            self.items[key] = item
        if ref.get("rule") and all(r[0] != ref["rule"] for r in item.rules):
            item.rules.append((str(ref["rule"]), ""))
        return item.anchor

    def resolve(self, reader: CaseReader,
                rules_by_event: dict[tuple[str, int], list[tuple[str, str]]]) -> None:
        """Fill every registered item from the stored events (one query)."""
        if not self.items:
            return
        keys = pa.table({
            "source_file": [k[0] for k in self.items],
            "kind": [k[1] for k in self.items],
            "n": pa.array([k[2] for k in self.items], pa.int64()),
        })
        reader.db.register("_evidence_keys", keys)
        try:
            rows = reader.db.sql(
                "SELECT k.source_file, k.kind, k.n, e.host_short, e.timestamp, e.channel, "
                "e.event_id, e.record_id, e.source_pos, e.user, e.image, e.command_line, "
                "e.target_user, e.src_ip, e.fields FROM _evidence_keys k JOIN events e "
                "ON e.source_file = k.source_file AND ((k.kind = 'pos' AND e.source_pos = k.n) "
                "OR (k.kind = 'rec' AND e.record_id = k.n))").fetchall()
        finally:
            reader.db.unregister("_evidence_keys")
        for (source, kind, n, host, ts, channel, event_id, record_id, pos, user, image,
             command_line, target_user, src_ip, fields_json) in rows:
            item = self.items.get((source, kind, n))
            if item is None or item.found:
                continue
            item.found = True
            item.host, item.time = str(host or item.host), iso(ts)
            item.channel, item.event_id = str(channel or ""), event_id
            item.record_id, item.source_pos = record_id, pos
            for title, level in rules_by_event.get((source, pos), []):
                item.rules = [r for r in item.rules if r[0] != title]
                item.rules.append((title, level))
            bits = [f"user {user or target_user}" if (user or target_user) else "",
                    f"from {src_ip}" if src_ip else "", command_line or image or ""]
            item.summary = " · ".join(b for b in bits if b)
            item.fields = _fields(fields_json)


def _fields(text: str | None) -> list[tuple[str, str]]:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return [("(raw)", text or "")]
    if not isinstance(data, dict):
        return [("(raw)", str(data))]
    out = []
    for key, value in list(data.items())[:MAX_FIELDS]:
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        out.append((str(key), shown))
    if len(data) > MAX_FIELDS:
        out.append(("…", f"{len(data) - MAX_FIELDS} more fields"))
    return out


def _ns(value: Any) -> int | None:
    when = to_datetime(value)
    return None if when is None else int(when.timestamp() * 1e9)


class _Detections:
    """Detections in plain Python lists, for claim fallback lookups and per-host lists."""

    def __init__(self, table: pa.Table | None) -> None:
        cols = ("timestamp", "host_short", "title", "level", "tags", "source_file",
                "source_pos", "record_id", "channel", "event_id", "user")
        self.rows: list[dict[str, Any]] = []
        if table is not None and table.num_rows:
            self.rows = table.select(list(cols)).to_pylist()
        self.rows.sort(key=lambda r: (r["timestamp"] is None, r["timestamp"] or 0))
        self.by_event: dict[tuple[str, int], list[tuple[str, str]]] = {}
        for r in self.rows:
            self.by_event.setdefault((r["source_file"], r["source_pos"]), []).append(
                (str(r["title"]), str(r["level"] or "")))

    def near(self, host: str, when: Any, limit: int = 2) -> list[dict[str, Any]]:
        at = _ns(when)
        if at is None:
            return []
        found = [r for r in self.rows if r["host_short"] == host and r["timestamp"] is not None
                 and abs(_ns(r["timestamp"]) - at) <= CLAIM_WINDOW_S * 1e9]  # type: ignore[operator]
        found.sort(key=lambda r: (-LEVEL_RANK.get(str(r["level"]), 0),
                                  abs(_ns(r["timestamp"]) - at)))  # type: ignore[operator]
        return found[:limit]


def _ref_of(det: dict[str, Any]) -> dict[str, Any]:
    return {"source_file": det["source_file"], "source_pos": det["source_pos"],
            "record_id": det["record_id"], "host": det["host_short"],
            "channel": det["channel"], "event_id": det["event_id"], "rule": det["title"]}


def _links(evidence: Evidence, dets: _Detections, host: Any, when: Any,
           *refs: Any) -> list[str]:
    """Anchors for a claim: its own references, else detections on the host near the time."""
    anchors = [a for a in (evidence.add(r) for r in refs if isinstance(r, dict)) if a]
    if not anchors and host:
        anchors = [a for a in (evidence.add(_ref_of(d)) for d in dets.near(str(host), when))
                   if a]
    return list(dict.fromkeys(anchors))


def _activity_refs(item: dict[str, Any]) -> list[Any]:
    refs = [item.get("ref")]
    ev = item.get("evidence")
    if isinstance(ev, dict):
        refs.append(ev)
    elif isinstance(ev, list):
        refs.extend(e.get("ref", e) if isinstance(e, dict) else None for e in ev)
    return [r for r in refs if isinstance(r, dict)]


def _text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("message", "text", "what", "evidence", "caveat"):
            if isinstance(value.get(key), str):
                return str(value[key])
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, list):
        return "; ".join(_text_of(v) for v in value)
    return "" if value is None else str(value)


def _campaign_view(index: int, camp: dict[str, Any], evidence: Evidence, dets: _Detections,
                   host_ids: dict[str, str], estate: list[str]) -> dict[str, Any]:
    beach = camp.get("beachhead") or {}
    beach_refs = _activity_refs(beach)
    for item in beach.get("evidence") or []:
        if isinstance(item, dict):
            beach_refs.extend(_activity_refs(item))
    first, last = to_datetime(camp.get("first_seen")), to_datetime(camp.get("last_seen"))
    dwell_days = camp.get("dwell_time_days")
    if dwell_days is None and first and last:
        dwell_days = round((last - first).total_seconds() / 86400, 1)
    hosts = []
    for h in camp.get("hosts") or []:
        name = str(h.get("host") or "")
        hosts.append({
            "host": name, "host_id": host_ids.get(name), "first_seen": iso(h.get("first_seen")),
            "last_seen": iso(h.get("last_seen")), "reached_from": h.get("reached_from") or "",
            "via": h.get("via") or "", "account": h.get("account") or "",
            "links": _links(evidence, dets, name, h.get("first_seen"),
                            *[r for r in (h.get("evidence") or []) if isinstance(r, dict)][:3]),
            "caveats": [_text_of(c) for c in h.get("caveats") or []],
        })
    edges = []
    for e in camp.get("edges") or []:
        if not isinstance(e, dict):
            continue
        edges.append({"src": e.get("src"), "dst": e.get("dst"), "time": iso(e.get("time")),
                      "account": e.get("account") or "", "method": e.get("method") or "",
                      "links": _links(evidence, dets, e.get("dst"), e.get("time"),
                                      *_activity_refs(e))})
    def rows(key: str, extra: str) -> list[dict[str, Any]]:
        out = []
        for item in camp.get(key) or []:
            if not isinstance(item, dict):
                continue
            out.append({"host": item.get("host") or "", "time": iso(item.get("time")),
                        "kind": item.get(extra) or "", "evidence": _text_of(item.get("evidence")),
                        "account": item.get("account") or "",
                        "links": _links(evidence, dets, item.get("host"), item.get("time"),
                                        *_activity_refs(item))})
        return out
    still = camp.get("still_present") or {}
    after = []
    for item in still.get("after_eviction") or []:
        if isinstance(item, dict):
            after.append({"host": item.get("host") or "", "time": iso(item.get("time")),
                          "evidence": _text_of(item.get("evidence")),
                          "kind": item.get("kind") or "", "account": item.get("account") or "",
                          "links": _links(evidence, dets, item.get("host"), item.get("time"),
                                          *_activity_refs(item))})
    graph = render_graph(build_graph(camp, estate))
    return {
        "index": index, "first_seen": iso(first), "last_seen": iso(last),
        "dwell_days": dwell_days,
        "beachhead": {"host": beach.get("host") or "", "time": iso(beach.get("time")),
                      "host_id": host_ids.get(str(beach.get("host") or "")),
                      "links": _links(evidence, dets, beach.get("host"), beach.get("time"),
                                      *beach_refs[:6])},
        "hosts": hosts, "edges": edges,
        "accounts": [{"account": a.get("account") or "", "first_seen": iso(a.get("first_seen")),
                      "last_seen": iso(a.get("last_seen")),
                      "hosts": ", ".join(str(x) for x in a.get("hosts") or [])}
                     for a in camp.get("accounts") or [] if isinstance(a, dict)],
        "impact": rows("impact", "kind"), "exfiltration": rows("exfiltration", "kind"),
        "still_present": {"evicted_at": iso(still.get("evicted_at")),
                          "verdict": bool(still.get("verdict")), "after": after},
        "caveats": [_caveat(c) for c in camp.get("caveats") or []],
        "graph": graph, "graph_svg": Markup(graph.svg),
    }


def _caveat(item: Any) -> dict[str, str]:
    if isinstance(item, dict):
        return {"host": str(item.get("host") or ""), "kind": str(item.get("kind") or ""),
                "time": iso(item.get("time")), "text": _text_of(item)}
    return {"host": "", "kind": "", "time": "", "text": _text_of(item)}


def _coverage(reader: CaseReader) -> list[dict[str, Any]]:
    rows = reader.sql(
        "SELECT coalesce(host_short, '?') AS h, count(*), min(timestamp), max(timestamp), "
        "count(DISTINCT channel), "
        "bool_or(channel = 'Microsoft-Windows-Sysmon/Operational'), "
        "count(*) FILTER (WHERE (event_id = 1102 AND channel = 'Security') OR "
        "(event_id = 104 AND channel = 'System')) "
        "FROM events GROUP BY h ORDER BY h").fetchall()
    return [{"host": h, "events": n, "first": iso(lo), "last": iso(hi), "channels": c,
             "sysmon": bool(s), "clears": int(k)} for h, n, lo, hi, c, s, k in rows]


def _matrix(dets: _Detections, hosts: list[str]) -> dict[str, Any]:
    counts: dict[tuple[str, str], int] = {}
    seen_hosts: dict[str, None] = {}
    for r in dets.rows:
        host = str(r["host_short"] or "?")
        for tag in r["tags"] or []:
            tactic = tactic_of(tag)
            if tactic:
                counts[(tactic.key, host)] = counts.get((tactic.key, host), 0) + 1
                seen_hosts.setdefault(host, None)
    columns = [h for h in hosts if h in seen_hosts] + [h for h in seen_hosts if h not in hosts]
    peak = max(counts.values(), default=1)
    rows = []
    for tactic in tactics().values():
        cells = [counts.get((tactic.key, h), 0) for h in columns]
        if any(cells):
            rows.append({"tactic": tactic.name, "id": tactic.id, "cells": [
                {"n": n, "shade": round(0.12 + 0.78 * math.log1p(n) / math.log1p(peak), 2)
                 if n else 0} for n in cells]})
    return {"hosts": columns, "rows": rows}


def build_context(reader: CaseReader, detections: pa.Table | None,
                  campaign: dict[str, Any] | None, evicted_at: datetime | None,
                  manifest: dict[str, Any] | None = None,
                  notes: list[str] | None = None) -> dict[str, Any]:
    """Everything the template shows (plain data; log text still raw, cleaned at render)."""
    dets = _Detections(detections)
    evidence = Evidence()
    coverage = _coverage(reader)
    estate = [c["host"] for c in coverage if c["host"] != "?"]
    campaigns = list((campaign or {}).get("campaigns") or [])
    order: list[str] = []
    for camp in campaigns:
        bh = (camp.get("beachhead") or {}).get("host")
        for name in [bh] + [h.get("host") for h in camp.get("hosts") or []]:
            if name and str(name) not in order:
                order.append(str(name))
    det_hosts = sorted({str(r["host_short"]) for r in dets.rows if r["host_short"]})
    all_hosts = order + [h for h in estate + det_hosts if h not in order]
    host_ids = {h: f"host-{i}" for i, h in enumerate(dict.fromkeys(all_hosts))}
    views = [_campaign_view(i + 1, c, evidence, dets, host_ids, estate)
             for i, c in enumerate(campaigns)]
    # Per-host evidence: the campaign's hosts (or every host with detections), top detections.
    host_sections = []
    for host in (order or det_hosts):
        rows = [r for r in dets.rows if r["host_short"] == host]
        top = sorted(rows, key=lambda r: (-LEVEL_RANK.get(str(r["level"]), 0),
                                          r["timestamp"]))[:MAX_HOST_DETECTIONS]
        top.sort(key=lambda r: r["timestamp"])
        host_sections.append({
            "host": host, "id": host_ids.get(host), "total": len(rows),
            "detections": [{"time": iso(r["timestamp"]), "title": r["title"],
                            "level": r["level"] or "", "anchor": evidence.add(_ref_of(r))}
                           for r in top],
        })
    evidence.resolve(reader, dets.by_event)
    lanes = [h for h in all_hosts if any(r["host_short"] == h for r in dets.rows)]
    first_beach = None
    if campaigns:
        first_beach = to_datetime((campaigns[0].get("beachhead") or {}).get("time"))
    camp_hosts = set(order) or None
    ends = [t for t in (to_datetime(c.get("last_seen")) for c in campaigns) if t is not None]
    last = max(ends, default=None)
    if last is None and dets.rows:
        last = to_datetime(dets.rows[-1]["timestamp"])
    swimlane_svg, swimlane_note = "", ""
    if lanes:
        spec = swimlane_spec(lane_points(detections, lanes), lanes,
                             phase_bands(detections, camp_hosts, last, first_beach), evicted_at)
        try:
            swimlane_svg = render_swimlane(spec)
        except ImportError:
            swimlane_note = "vl-convert-python is not installed; the swimlane is not drawn"
    levels: dict[str, int] = {}
    for r in dets.rows:
        levels[str(r["level"])] = levels.get(str(r["level"]), 0) + 1
    span = [iso(c["first"]) for c in coverage if c["first"]] + \
        [iso(c["last"]) for c in coverage if c["last"]]
    return {
        "generated": iso(datetime.now().astimezone()),
        "case": str(reader.case),
        "evicted_at": iso(evicted_at) if evicted_at else "",
        "campaigns": views,
        "campaign_available": campaign is not None,
        "case_caveats": [_caveat(c) for c in (campaign or {}).get("caveats") or []],
        "coverage": coverage,
        "events_total": sum(int(c["events"]) for c in coverage),
        "span": (min(span), max(span)) if span else ("", ""),
        "detections_total": len(dets.rows),
        "levels": sorted(levels.items(), key=lambda kv: -LEVEL_RANK.get(kv[0], -1)),
        "matrix": _matrix(dets, order),
        "host_sections": host_sections,
        "evidence": sorted(evidence.items.values(), key=lambda e: (e.time or "~", e.anchor)),
        "swimlane_svg": Markup(swimlane_svg),
        "swimlane_note": swimlane_note,
        "manifest_json": json.dumps(manifest, indent=2, ensure_ascii=False) if manifest else "",
        "notes": list(notes or []),
    }


def _finalize(value: Any) -> Any:
    """Applied to every ``{{ }}`` value: neutralise bidi/control characters in raw text."""
    if isinstance(value, Markup) or not isinstance(value, str):
        return "" if value is None else value
    return clean(value)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("dwell.report", "templates"),
        autoescape=True, finalize=_finalize, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["clean"] = clean
    return env


def render_html(context: dict[str, Any]) -> str:
    """The report page for ``context`` (from ``build_context``)."""
    return environment().get_template("report.html.j2").render(**context)


__all__ = ["Evidence", "SpreadGraph", "build_context", "render_html"]
