"""Assemble campaigns from the reasoning graph: the public entry points of the stage."""

from __future__ import annotations

import os
import time as _time
from collections import defaultdict
from dataclasses import replace
from typing import TYPE_CHECKING

import pyarrow.compute as pc

from dwell.correlate import activity as act
from dwell.correlate.coverage import caveats as coverage_caveats
from dwell.correlate.coverage import holes_after, holes_before
from dwell.correlate.edges import LOGON_COLUMNS, METHOD_RANK, build_host_map, extract
from dwell.correlate.entities import Accounts, is_sid
from dwell.correlate.inputs import CaseInputs, load_inputs
from dwell.correlate.model import (
    NS,
    AccountEntry,
    Activity,
    Campaign,
    CampaignReport,
    Caveat,
    Edge,
    HostEntry,
)
from dwell.correlate.reason import ASSOC_WINDOW, Graph, attribute, propagate
from dwell.errors import UsageError

if TYPE_CHECKING:
    import pyarrow as pa

MAX_AFTER_EVICTION = 500



def _at_compromise(graph: Graph, det: act.Detection) -> act.Detection:
    """A pattern that began shortly before its host was found compromised began with the
    intrusion (an implant's first beacon precedes the alerts that expose it): judge its start
    as of the compromise."""
    state = graph.hosts.get(det.host)
    if state is not None and state.time - ASSOC_WINDOW <= det.time < state.time:
        return replace(det, time=state.time)
    return det

def parse_when(text: str) -> int:
    """Epoch ns from an ISO 8601 date or time (UTC unless a zone is given)."""
    from datetime import UTC, datetime

    value = text.strip()
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"cannot read time {text!r}; use ISO 8601 such as 2022-11-15 or "
            "2022-11-15T12:00:00Z"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp()) * NS + stamp.microsecond * 1000


def reconstruct_case(case: str | os.PathLike[str], evicted_at: int | None = None,
                     detections: pa.Table | None = None) -> CampaignReport:
    """Reconstruct the campaigns of a stored case (detections from the hunt, if any)."""
    from dwell.store import open_case

    started = _time.perf_counter()
    if detections is None:
        detections = _stored_detections(case)
    with open_case(case) as reader:
        inputs = load_inputs(reader, detections)
    loaded = _time.perf_counter() - started
    report = reconstruct(inputs, evicted_at)
    report.stats["load_seconds"] = round(loaded, 3)
    report.stats["total_seconds"] = round(_time.perf_counter() - started, 3)
    return report


def _stored_detections(case: str | os.PathLike[str]) -> pa.Table | None:
    try:
        from dwell.engine import read_detections  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return None
    table: pa.Table = read_detections(case)
    return table


def reconstruct(inputs: CaseInputs, evicted_at: int | None = None) -> CampaignReport:
    """Campaigns, largest first, from the tables of :func:`dwell.correlate.load_inputs`."""
    started = _time.perf_counter()
    events = inputs.events
    is_logon = pc.and_(pc.equal(events.column("event_id"), 4624),
                       pc.equal(pc.utf8_lower(events.column("channel")), "security"))
    is_logon = pc.fill_null(is_logon, False)
    logon_table = events.filter(is_logon)
    logons = {c: logon_table.column(c).to_pylist() for c in LOGON_COLUMNS}
    rows = events.filter(pc.invert(is_logon)).to_pylist()
    accounts = Accounts()
    for row in inputs.sids.to_pylist():
        accounts.add(row.get("target_user"), row.get("sid"))
    channel_rows = inputs.channels.to_pylist()
    hosts = sorted({r["host"] for r in channel_rows})
    hmap = build_host_map(hosts, inputs.ip_observations.to_pylist())
    edges, sessions = extract(rows, hmap, accounts, logons)
    facts = act.event_facts(rows)
    dets = act.detections(inputs.detections.to_pylist())
    dets = [_resolve_sid(d, accounts) for d in dets]
    routine = act.routine_keys([(d.routine_key, d.time) for d in dets])
    routine |= act.routine_keys([(f.routine_key, f.time) for f in facts])
    first_seen: dict[str, int] = {}
    for key, t in [(d.routine_key, d.time) for d in dets] + [(f.routine_key, f.time)
                                                              for f in facts]:
        if key in routine and (key not in first_seen or t < first_seen[key]):
            first_seen[key] = t
    recurring = [d for d in dets if d.routine_key in routine]
    recurring_facts = [f for f in facts if f.routine_key and f.routine_key in routine]
    dets = [d for d in dets if d.routine_key not in routine]
    facts = [f for f in facts if not f.routine_key or f.routine_key not in routine]
    web = act.web_requests(inputs.web.to_pylist()) if inputs.web is not None else []
    graph = propagate(dets, facts, edges, sessions, web, evicted_at)
    # A recurring pattern that began only once its host was compromised, and began as the
    # attacker's, is persistence (a beacon, a planted task), not the host's routine.
    starts = [_at_compromise(graph, d) for d in recurring if d.time == first_seen[d.routine_key]]
    starts_f = [f for f in recurring_facts if f.time == first_seen[f.routine_key]]
    first = attribute(graph, starts, starts_f, [], web, core_from=dets, strict=True)
    begun = {a.ref for acts in first.values() for a in acts}
    keep = {d.routine_key for d in starts if d.ref in begun} | \
        {f.routine_key for f in starts_f if f.ref in begun}
    activities = attribute(graph, dets + [d for d in recurring if d.routine_key in keep],
                           facts + [f for f in recurring_facts if f.routine_key in keep],
                           edges, web)
    clears = [(r["ts"], r["host"], (r.get("object") if r.get("event_id") == 104 else None)
               or r.get("channel") or "") for r in rows
              if r.get("event_id") in (1102, 104)
              and (r.get("channel") or "").lower() in ("security", "system")]
    cav = coverage_caveats(channel_rows, inputs.gaps.to_pylist(), clears)
    campaigns = _campaigns(graph, activities, cav, accounts, evicted_at)
    campaign_hosts = {h.host for c in campaigns for h in c.hosts}
    report = CampaignReport(
        campaigns=tuple(campaigns), evicted_at=evicted_at,
        caveats=tuple(c for c in cav if c.host not in campaign_hosts)[:200],
    )
    report.stats.update({
        "events_read": float(events.num_rows), "detections": float(len(dets)),
        "routine_patterns": float(len(routine)), "edges": float(len(edges)),
        "accepted_edges": float(len(graph.accepted)),
        "reason_seconds": round(_time.perf_counter() - started, 3),
    })
    return report


def _resolve_sid(det: act.Detection, accounts: Accounts) -> act.Detection:
    if det.account and is_sid(det.account):
        from dataclasses import replace

        return replace(det, account=accounts.key(det.account))
    return det


def _campaigns(g: Graph, activities: dict[int, list[Activity]], cav: list[Caveat],
               accounts: Accounts, evicted_at: int | None) -> list[Campaign]:
    members: dict[int, list[str]] = defaultdict(list)
    for host, state in g.hosts.items():
        members[g.find(state.cid)].append(host)
    reached: dict[str, list[Edge]] = defaultdict(list)
    for edge, cid in g.accepted:
        reached[f"{g.find(cid)}|{edge.dst}"].append(edge)
    out: list[Campaign] = []
    for root, hosts in members.items():
        acts = _dedupe_activity(activities.get(root, []))
        by_host: dict[str, list[Activity]] = defaultdict(list)
        for a in acts:
            by_host[a.host].append(a)
        entries: list[HostEntry] = []
        for host in hosts:
            state = g.hosts[host]
            times = [a.time for a in by_host.get(host, [])] + [state.time]
            first, last = min(times), max(times)
            via = _best_via(reached, f"{root}|{host}", state.time) or state.via
            notes = holes_before(cav, host, first) + holes_after(cav, host, last)
            entries.append(HostEntry(
                host=host, first_seen=first, last_seen=last, reached_from=state.reached_from,
                via=via, account=accounts.show(state.account) if state.account else None,
                evidence=(state.ref,), caveats=tuple(dict.fromkeys(notes)),
            ))
        entries.sort(key=lambda e: (e.first_seen, e.host))
        beach = next((e for e in entries if g.hosts[e.host].from_kind != "host"), entries[0])
        beach_acts = tuple(by_host.get(beach.host, [])[:8])
        acct_times: dict[str, list[int]] = defaultdict(list)
        acct_hosts: dict[str, set[str]] = defaultdict(set)
        for key, (t, cid) in g.accounts.items():
            if g.find(cid) == root:
                acct_times[key].append(t)
        for a in acts:
            if a.account and a.account in acct_times:
                acct_times[a.account].append(a.time)
                acct_hosts[a.account].add(a.host)
        acct_entries = sorted(
            (AccountEntry(accounts.show(k), min(v), max(v), tuple(sorted(acct_hosts[k])))
             for k, v in acct_times.items()),
            key=lambda e: (e.first_seen, e.account),
        )
        impact = _first_per(acts, act.IMPACT, lambda a: (a.host, a.label or a.what))
        exfil = _first_per(acts, act.EXFIL,
                           lambda a: (a.host, a.label or a.what, a.time // (86400 * NS)))
        edges = _dedupe_edges([e for e, cid in g.accepted if g.find(cid) == root])
        all_times = [e.first_seen for e in entries] + [a.time for a in acts]
        first_seen, last_seen = min(all_times), max(all_times)
        after: tuple[Activity, ...] = ()
        if evicted_at is not None:
            seen: set[tuple[str, str, int]] = set()
            picked = []
            for a in acts:
                if a.time > evicted_at and (a.host, a.what, a.time) not in seen:
                    seen.add((a.host, a.what, a.time))
                    picked.append(a)
            after = tuple(picked[:MAX_AFTER_EVICTION])
        names = {e.host for e in entries}
        beach_notes = list(beach.caveats)
        earlier = [c for c in cav if c.host in names and c.host != beach.host
                   and c.kind in ("log-cleared", "late-start") and c.time is not None
                   and c.time <= beach.first_seen + 365 * 86400 * NS]
        if earlier:
            beach_notes.append(
                f"logs of {', '.join(sorted({c.host for c in earlier}))} have holes (cleared "
                "or starting late): an earlier entry point there cannot be ruled out")
        beach = HostEntry(beach.host, beach.first_seen, beach.last_seen, beach.reached_from,
                          beach.via, beach.account, beach.evidence, tuple(beach_notes))
        out.append(Campaign(
            first_seen=first_seen, last_seen=last_seen, beachhead=beach,
            beachhead_evidence=beach_acts, hosts=tuple(entries), accounts=tuple(acct_entries),
            edges=tuple(edges), impact=tuple(impact), exfiltration=tuple(exfil),
            activity=tuple(acts),
            external_sources=tuple(sorted(s for s, (_, c) in g.sources.items()
                                          if g.find(c) == root)),
            evicted_at=evicted_at, after_eviction=after,
            caveats=tuple(c for c in cav if c.host in names),
        ))
    out.sort(key=lambda c: (-len(c.hosts), c.first_seen))
    return out


def _dedupe_activity(items: list[Activity]) -> list[Activity]:
    """One activity per event: a detection of an event wins over its classification."""
    ordered = sorted(items, key=lambda a: (a.time, a.ref.rule is None, a.host, a.what))
    seen: set[tuple[object, ...]] = set()
    out = []
    for a in ordered:
        key: tuple[object, ...] = (a.ref.source_file, a.ref.source_pos, a.host, a.kind) \
            if a.ref.source_file is not None else (a.host, a.what, a.time)
        if key in seen:
            continue
        seen.add(key)
        out.append(a)
    return out


def _best_via(reached: dict[str, list[Edge]], host: str, at: int) -> str | None:
    """The most specific method among accepted edges that reached ``host`` around ``at``."""
    methods = [e.method for e in reached.get(host, ()) if abs(e.time - at) <= 300 * NS]
    if not methods:
        return None
    return min(methods, key=lambda m: METHOD_RANK.index(m) if m in METHOD_RANK else 99)


def _first_per(acts: list[Activity], kind: str, key: object) -> list[Activity]:
    seen: set[object] = set()
    out = []
    for a in acts:
        if a.kind != kind:
            continue
        k = key(a)  # type: ignore[operator]
        if k not in seen:
            seen.add(k)
            out.append(a)
    return out


def _dedupe_edges(edges: list[Edge]) -> list[Edge]:
    seen: set[tuple[str, str, str | None, str, int]] = set()
    out = []
    for e in sorted(edges, key=lambda e: e.time):
        k = (e.src, e.dst, e.account, e.method, e.time // (60 * NS))
        if k not in seen:
            seen.add(k)
            out.append(e)
    return out
