"""The answer key: ground truth of a generated scenario, derived from its step table.

Times are ISO 8601 UTC strings ending in ``Z``. ``steps`` has one entry per (step, host):
a step that acts on several hosts (a push to every server) appears once per host, with the
time it first acts there. A host that only observes the attacker (a DC issuing Kerberos
tickets to a roasting client) is neither compromised nor a control host.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dwell.scenario._clock import iso

if TYPE_CHECKING:
    from dwell.scenario.model import Scenario


@dataclass(frozen=True, slots=True)
class Beachhead:
    """Where and when the intrusion started."""

    host: str
    time: str


@dataclass(frozen=True, slots=True)
class HostInfo:
    """A host's address and role."""

    name: str
    ip: str
    role: str


@dataclass(frozen=True, slots=True)
class StepInfo:
    """One attacker step on one host."""

    id: str
    time: str
    host: str
    what: str


@dataclass(frozen=True, slots=True)
class AnswerKey:
    """Ground truth for one generated variant."""

    variant: str
    domain: str
    beachhead: Beachhead
    compromised_hosts: tuple[str, ...]
    spread_order: tuple[str, ...]
    control_hosts: tuple[str, ...]
    accounts: tuple[str, ...]
    impact_hosts: tuple[str, ...]
    exfiltration_hosts: tuple[str, ...]
    first_seen: str
    last_seen: str
    evicted_at: str
    still_present: bool
    first_after_eviction: str | None
    hosts: tuple[HostInfo, ...]
    attacker_ips: tuple[str, ...]
    steps: tuple[StepInfo, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (the ``answer_key.json`` layout)."""
        return {
            "variant": self.variant,
            "domain": self.domain,
            "beachhead": {"host": self.beachhead.host, "time": self.beachhead.time},
            "compromised_hosts": list(self.compromised_hosts),
            "spread_order": list(self.spread_order),
            "control_hosts": list(self.control_hosts),
            "accounts": list(self.accounts),
            "impact_hosts": list(self.impact_hosts),
            "exfiltration_hosts": list(self.exfiltration_hosts),
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "evicted_at": self.evicted_at,
            "still_present": self.still_present,
            "first_after_eviction": self.first_after_eviction,
            "hosts": {h.name: {"ip": h.ip, "role": h.role} for h in self.hosts},
            "attacker_ips": list(self.attacker_ips),
            "steps": [
                {"id": s.id, "time": s.time, "host": s.host, "what": s.what} for s in self.steps
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnswerKey:
        """Inverse of :meth:`to_dict`."""
        return cls(
            variant=str(data["variant"]),
            domain=str(data["domain"]),
            beachhead=Beachhead(str(data["beachhead"]["host"]), str(data["beachhead"]["time"])),
            compromised_hosts=tuple(data["compromised_hosts"]),
            spread_order=tuple(data["spread_order"]),
            control_hosts=tuple(data["control_hosts"]),
            accounts=tuple(data["accounts"]),
            impact_hosts=tuple(data["impact_hosts"]),
            exfiltration_hosts=tuple(data["exfiltration_hosts"]),
            first_seen=str(data["first_seen"]),
            last_seen=str(data["last_seen"]),
            evicted_at=str(data["evicted_at"]),
            still_present=bool(data["still_present"]),
            first_after_eviction=(None if data["first_after_eviction"] is None
                                  else str(data["first_after_eviction"])),
            hosts=tuple(HostInfo(name, str(v["ip"]), str(v["role"]))
                        for name, v in data["hosts"].items()),
            attacker_ips=tuple(data["attacker_ips"]),
            steps=tuple(StepInfo(str(s["id"]), str(s["time"]), str(s["host"]), str(s["what"]))
                        for s in data["steps"]),
        )

    def host(self, name: str) -> HostInfo:
        """Address and role of ``name``."""
        for info in self.hosts:
            if info.name == name:
                return info
        raise KeyError(name)


_INTERNAL = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16",
    "0.0.0.0/8", "100.64.0.0/10", "::1/128", "fc00::/7", "fe80::/10"))


def _external(ip: str) -> bool:
    """Routable outside the victim network (documentation ranges count as external)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return not any(addr in net for net in _INTERNAL if net.version == addr.version)


def derive(scen: Scenario) -> AnswerKey:
    """Compute the answer key from the scenario's step table."""
    steps = sorted(scen.steps, key=lambda s: (s.time, s.id))
    if not steps:
        raise ValueError(f"scenario {scen.variant!r} has no attacker steps")
    first_touch: dict[str, int] = {}
    records: list[tuple[int, str, str, str]] = []
    accounts: set[str] = set()
    ips: set[str] = set()
    for step in steps:
        for host, when in step.touches().items():
            if host not in first_touch or when < first_touch[host]:
                first_touch[host] = when
            records.append((when, step.id, host, step.what))
        for action in step.actions:
            accounts.update(action.accounts())
            ips.update(ip for ip in action.peer_ips() if _external(ip))
    involved = {a.host for s in steps for a in s.actions}
    own = {h.ip for h in scen.hosts}
    ips -= own
    evictions = [m.time for m in scen.milestones if m.kind == "eviction"]
    if not evictions:
        raise ValueError(f"scenario {scen.variant!r} has no eviction milestone")
    evicted = min(evictions)
    after = [s.time for s in steps if s.time > evicted]
    beach = steps[0]
    names = [h.name for h in scen.hosts]
    return AnswerKey(
        variant=scen.variant,
        domain=scen.domain,
        beachhead=Beachhead(beach.host, iso(beach.time)),
        compromised_hosts=tuple(sorted(first_touch)),
        spread_order=tuple(sorted(first_touch, key=lambda h: (first_touch[h], h))),
        control_hosts=tuple(sorted(n for n in names if n not in involved)),
        accounts=tuple(sorted(accounts)),
        impact_hosts=tuple(sorted({h for s in steps for h in s.impact})),
        exfiltration_hosts=tuple(sorted({h for s in steps for h in s.exfil})),
        first_seen=iso(min(min(s.touches().values()) for s in steps)),
        last_seen=iso(max(s.end() for s in steps)),
        evicted_at=iso(evicted),
        still_present=bool(after),
        first_after_eviction=iso(min(after)) if after else None,
        hosts=tuple(HostInfo(h.name, h.ip, h.role) for h in scen.hosts),
        attacker_ips=tuple(sorted(ips, key=ipaddress.ip_address)),
        steps=tuple(StepInfo(sid, iso(when), host, what)
                    for when, sid, host, what in sorted(records)),
    )
