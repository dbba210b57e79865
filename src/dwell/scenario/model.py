"""Scenario definition types: hosts, accounts, attacker steps, milestones, benign bait.

A variant module (``albania``, ``harbor``) builds one :class:`Scenario`. The generator expands
its steps into events and derives the answer key from the same steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from dwell.scenario._context import Ctx


class Action(Protocol):
    """Something that happens on one host and leaves events there."""

    @property
    def host(self) -> str: ...

    @property
    def at(self) -> float: ...

    @property
    def observer(self) -> bool:
        """True when the host only observes the actor (a DC issuing tickets), not compromised."""

    def emit(self, ctx: Ctx, t0: int) -> None:
        """Emit this action's events; ``t0`` is the step time in microseconds."""

    def accounts(self) -> tuple[str, ...]:
        """Account names (sAMAccountName, any case) the actor used."""

    def peer_ips(self) -> tuple[str, ...]:
        """Remote addresses the action involves (source or destination)."""


@dataclass(frozen=True, slots=True)
class Host:
    """One Windows machine of the scenario network."""

    name: str
    ip: str
    role: str
    kind: str  # "dc" | "server" | "workstation"
    os: str = "2016"  # "2012r2" | "2016" | "2019" | "win10"
    sysmon: bool = True
    proc_audit: bool = False
    features: frozenset[str] = frozenset()
    users: tuple[str, ...] = ()
    computer: str = ""  # Computer field form; empty means NAME.domain-lower
    renamed: tuple[tuple[int, str], ...] = ()  # (from_us, Computer form) after a rebuild


@dataclass(frozen=True, slots=True)
class Account:
    """A domain or local account that appears in the logs."""

    sam: str
    rid: int
    full_name: str = ""
    admin: bool = False
    local: bool = False


@dataclass(frozen=True, slots=True)
class Step:
    """One attacker step: a time, a primary host, a description and its actions."""

    id: str
    time: int
    host: str
    what: str
    actions: tuple[Action, ...]
    impact: tuple[str, ...] = ()  # hosts this step encrypts or wipes
    exfil: tuple[str, ...] = ()  # hosts data leaves the network from in this step

    def hosts(self) -> tuple[str, ...]:
        """Hosts this step leaves evidence on, primary host first."""
        seen = [self.host]
        for action in self.actions:
            if action.host not in seen and not action.observer:
                seen.append(action.host)
        return tuple(seen)

    def end(self) -> int:
        """Time of the step's last action."""
        offsets = [action.at for action in self.actions] or [0.0]
        return self.time + int(max(offsets) * 1_000_000)

    def touches(self) -> dict[str, int]:
        """First time (microseconds) this step acts on each host."""
        first: dict[str, int] = {}
        for action in self.actions:
            if action.observer:
                continue
            when = self.time + int(action.at * 1_000_000)
            if action.host not in first or when < first[action.host]:
                first[action.host] = when
        return first


@dataclass(frozen=True, slots=True)
class Milestone:
    """A defender-side event: eviction, public statement, rebuild of a host."""

    id: str
    time: int
    kind: str  # "eviction" | "statement" | "rebuild"
    what: str
    host: str = ""
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True, slots=True)
class Cadence:
    """When a bait activity recurs (times are local to the scenario's time zone)."""

    every: str  # "daily" | "weekdays" | "weekly" | "monthly" | "quarterly"
    hour: float
    jitter_minutes: int = 20
    probability: float = 1.0
    weekday: int = 0  # for weekly: Monday is 0
    day: int = 1  # for monthly/quarterly: day of month
    start: int = 0
    end: int = 0


BaitFn = Callable[["Ctx", int], None]


@dataclass(frozen=True, slots=True)
class Bait:
    """Benign activity that looks like attacker tradecraft (false-positive bait)."""

    id: str
    what: str
    cadence: Cadence
    run: BaitFn = field(compare=False)


@dataclass(frozen=True, slots=True)
class Scenario:
    """A whole synthetic intrusion: network, timeline and benign background."""

    variant: str
    domain: str  # DNS name upper-case, e.g. GOVAL.LOCAL
    netbios: str
    domain_sid: str
    start: int
    end: int
    tz_hours: int
    hosts: tuple[Host, ...]
    accounts: tuple[Account, ...]
    steps: tuple[Step, ...]
    milestones: tuple[Milestone, ...]
    baits: tuple[Bait, ...]
    density: float = 1.0
    dns_servers: tuple[str, ...] = ()
    staff: tuple[str, ...] = ()

    def host(self, name: str) -> Host:
        """The host called ``name`` (short, any case)."""
        wanted = name.upper()
        for host in self.hosts:
            if host.name == wanted:
                return host
        raise KeyError(name)

    def account(self, sam: str) -> Account | None:
        """The account called ``sam`` (any case), if defined."""
        wanted = sam.lower()
        for account in self.accounts:
            if account.sam.lower() == wanted:
                return account
        return None
