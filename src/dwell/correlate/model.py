"""Value types of campaign reconstruction and their JSON form.

Times are integer nanoseconds since the epoch (UTC) inside the stage and ISO 8601 with ``Z``
in :meth:`CampaignReport.to_dict`. Host names are short and upper case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

NS = 1_000_000_000
HOUR = 3600 * NS
DAY = 24 * HOUR


def iso(ns: int | None) -> str | None:
    """ISO 8601 UTC with ``Z`` to the second; None stays None."""
    if ns is None:
        return None
    return datetime.fromtimestamp(ns // NS, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class EventRef:
    """Where a piece of evidence is: the stored event and, for detections, the rule."""

    source_file: str | None
    record_id: int | None
    source_pos: int | None
    host: str | None = None
    channel: str | None = None
    event_id: int | None = None
    rule: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_file": self.source_file, "record_id": self.record_id,
            "source_pos": self.source_pos, "host": self.host, "channel": self.channel,
            "event_id": self.event_id, "rule": self.rule,
        }


@dataclass(frozen=True, slots=True)
class Edge:
    """One movement from ``src`` to ``dst`` (short host name, IP or external client name)."""

    time: int
    src: str
    dst: str
    account: str | None
    method: str
    ref: EventRef = field(compare=False)
    src_kind: str = "host"  # "host" | "external" | "internal-ip" | "loopback"

    def to_dict(self) -> dict[str, Any]:
        return {
            "src": self.src, "dst": self.dst, "time": iso(self.time), "account": self.account,
            "method": self.method, "src_kind": self.src_kind, "evidence": self.ref.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Activity:
    """One attacker action on a host: a detection, an edge, an impact or exfiltration step."""

    time: int
    host: str
    kind: str  # "detection" | "movement" | "impact" | "exfiltration" | "credential-access"
    what: str
    ref: EventRef = field(compare=False)
    account: str | None = None
    label: str | None = None  # impact kind or exfiltration method

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host, "time": iso(self.time), "kind": self.kind, "evidence": self.what,
            "account": self.account, "label": self.label, "ref": self.ref.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Caveat:
    """A hole in the evidence, and what it could change."""

    kind: str  # "log-cleared" | "record-gap" | "late-start" | "no-sysmon" | "silent"
    host: str
    time: int | None
    message: str
    channel: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "host": self.host, "channel": self.channel,
                "time": iso(self.time), "message": self.message}


@dataclass(frozen=True, slots=True)
class HostEntry:
    """A compromised host: first/last attacker activity and how the attacker got there."""

    host: str
    first_seen: int
    last_seen: int
    reached_from: str | None
    via: str | None
    account: str | None
    evidence: tuple[EventRef, ...] = field(compare=False, default=())
    caveats: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host, "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen), "reached_from": self.reached_from,
            "via": self.via, "account": self.account,
            "evidence": [r.to_dict() for r in self.evidence], "caveats": list(self.caveats),
        }


@dataclass(frozen=True, slots=True)
class AccountEntry:
    """A compromised account and when the attacker used it."""

    account: str
    first_seen: int
    last_seen: int
    hosts: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"account": self.account, "first_seen": iso(self.first_seen),
                "last_seen": iso(self.last_seen), "hosts": list(self.hosts)}


@dataclass(frozen=True, slots=True)
class Campaign:
    """One intrusion: where it started, where it went, what it did, whether it is still on."""

    first_seen: int
    last_seen: int
    beachhead: HostEntry
    beachhead_evidence: tuple[Activity, ...]
    hosts: tuple[HostEntry, ...]
    accounts: tuple[AccountEntry, ...]
    edges: tuple[Edge, ...]
    impact: tuple[Activity, ...]
    exfiltration: tuple[Activity, ...]
    activity: tuple[Activity, ...]
    external_sources: tuple[str, ...]
    evicted_at: int | None
    after_eviction: tuple[Activity, ...]
    caveats: tuple[Caveat, ...]

    @property
    def still_present(self) -> bool:
        return bool(self.after_eviction)

    @property
    def dwell_time_days(self) -> float:
        return round((self.last_seen - self.first_seen) / DAY, 2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "dwell_time_days": self.dwell_time_days,
            "beachhead": {
                "host": self.beachhead.host,
                "time": iso(self.beachhead.first_seen),
                "reached_from": self.beachhead.reached_from,
                "evidence": [a.to_dict() for a in self.beachhead_evidence],
                "caveats": list(self.beachhead.caveats),
            },
            "hosts": [h.to_dict() for h in self.hosts],
            "accounts": [a.to_dict() for a in self.accounts],
            "edges": [e.to_dict() for e in self.edges],
            "impact": [
                {"host": a.host, "time": iso(a.time), "kind": a.label or a.what,
                 "evidence": a.what, "ref": a.ref.to_dict()}
                for a in self.impact
            ],
            "exfiltration": [
                {"host": a.host, "time": iso(a.time), "evidence": a.what, "ref": a.ref.to_dict()}
                for a in self.exfiltration
            ],
            "external_sources": list(self.external_sources),
            "still_present": {
                "evicted_at": iso(self.evicted_at),
                "verdict": self.still_present,
                "first_after_eviction": iso(self.after_eviction[0].time)
                if self.after_eviction else None,
                "after_eviction": [
                    {"host": a.host, "time": iso(a.time), "evidence": a.what,
                     "kind": a.kind, "account": a.account, "ref": a.ref.to_dict()}
                    for a in self.after_eviction
                ],
            },
            "caveats": [c.to_dict() for c in self.caveats],
        }


@dataclass(frozen=True, slots=True)
class CampaignReport:
    """Every campaign found in a case, largest first, plus case-wide caveats."""

    campaigns: tuple[Campaign, ...]
    evicted_at: int | None = None
    caveats: tuple[Caveat, ...] = ()
    stats: dict[str, float] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "evicted_at": iso(self.evicted_at),
            "campaigns": [c.to_dict() for c in self.campaigns],
            "caveats": [c.to_dict() for c in self.caveats],
            "stats": dict(self.stats),
        }
