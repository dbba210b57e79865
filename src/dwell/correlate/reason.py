"""Compromise reasoning: which hosts, accounts and sources belong to which campaign.

One chronological pass over detections, classified events and movement edges:

* A campaign starts on a host with a burst of non-routine high/critical detections (two rules
  within a day, or one critical) that no attacker-controlled source explains.
* A host joins a campaign when an edge reaches it, at that time, from a host already in the
  campaign (or from one of the campaign's external sources) with a compromised account, or
  after credential theft on the source; or when non-routine detections on it follow such an
  edge within a few hours. An edge pattern (source, destination, account) that was routine
  before the source was compromised needs those detections as corroboration.
* Edges from hosts that are not compromised never pull hosts in, whatever the account, and a
  burst of detections right after such a control edge (sanctioned PsExec, helpdesk RDP) is
  administration, not the start of a campaign.
* An account is compromised when the attacker uses it (accepted edge, detection on a
  compromised host, account created by a compromised account); credential theft on a host
  exposes the accounts that had interactive sessions there shortly before.

A second pass attributes activity: accepted edges and high detections on compromised hosts are
the attacker's; medium detections and classified events are when they use a compromised account
or sit within hours of such activity on the same host. Routine patterns (the same rule, host and
masked command on several days) are never the attacker's.
"""

from __future__ import annotations

import bisect
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from dwell.correlate.activity import (
    ACCOUNT_CREATED,
    CRED,
    EXFIL,
    IMPACT,
    WEB_SCRIPT,
    Detection,
    Fact,
    WebRequest,
    day_starts,
)
from dwell.correlate.edges import UNKNOWN
from dwell.correlate.entities import clean_ip, ip_kind
from dwell.correlate.model import DAY, HOUR, Activity, Edge, EventRef
from dwell.model import Severity

if TYPE_CHECKING:
    from dwell.correlate.edges import Session

PENDING_WINDOW: Final = 4 * HOUR
#: How far before a corroborated burst an earlier, lone high alert on the same host still counts
#: as the start of that intrusion.
SEED_LOOKBACK: Final = 2 * DAY
FOLLOW_WINDOW: Final = HOUR // 2
#: Methods that give the source's operator control of the destination.
STRONG: Final = frozenset({
    "rdp", "rdp-tunnel", "wmi", "winrm", "psexec", "remote-service", "scheduled-task",
    "admin-share-copy", "explicit-credentials",
})
#: Connections without a logon: someone knocked, nobody is known to have entered.
WEAK: Final = frozenset({
    "smb-connection", "rdp-connection", "winrm-connection", "rpc-connection", "ftp", "ssh",
})
SEED_WINDOW: Final = 24 * HOUR
ASSOC_WINDOW: Final = 6 * HOUR
EXPOSURE_WINDOW: Final = 30 * DAY
EXTERNAL_SEED_WINDOW: Final = HOUR // 2
ROUTINE_EDGE_DAYS: Final = 2
EXFIL_BYTES: Final = 1_000_000
#: Names every Windows machine has: sharing one does not tie two intrusions together.
BUILTIN: Final = frozenset({"administrator", "admin", "guest", "user", "root"})

HIGH: Final = int(Severity.HIGH)
MEDIUM: Final = int(Severity.MEDIUM)
CRITICAL: Final = int(Severity.CRITICAL)


@dataclass(slots=True)
class HostState:
    time: int
    cid: int
    reached_from: str | None
    via: str | None
    account: str | None
    ref: EventRef
    from_kind: str | None = None


@dataclass(slots=True)
class Graph:
    """What the chronological pass concluded."""

    parent: dict[int, int] = field(default_factory=dict)
    hosts: dict[str, HostState] = field(default_factory=dict)
    accounts: dict[str, tuple[int, int]] = field(default_factory=dict)
    exposed: dict[str, tuple[int, int]] = field(default_factory=dict)
    sources: dict[str, tuple[int, int]] = field(default_factory=dict)
    cred: dict[str, int] = field(default_factory=dict)
    accepted: list[tuple[Edge, int]] = field(default_factory=list)
    seeds: dict[int, list[Detection]] = field(default_factory=dict)
    evicted_at: int | None = None
    #: Accounts, exposures and credential thefts established after the declared eviction:
    #: passwords were reset then, so later reasoning may only use these.
    accounts_after: dict[str, tuple[int, int]] = field(default_factory=dict)
    exposed_after: dict[str, tuple[int, int]] = field(default_factory=dict)
    cred_after: dict[str, int] = field(default_factory=dict)
    #: Times of control edges (PsExec, RDP, WinRM...) from clean hosts, per destination.
    clean_control: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    def compromised_before(self, host: str, t: int) -> bool:
        state = self.hosts.get(host)
        return state is not None and state.time <= t

    def administered(self, host: str, t: int) -> bool:
        """Did a clean host take control of ``host`` just before ``t``?"""
        times = self.clean_control.get(host)
        if not times:
            return False
        i = bisect.bisect_right(times, t)
        return bool(i) and t - times[i - 1] <= FOLLOW_WINDOW

    def reset(self, t: int) -> bool:
        """Is ``t`` after the declared eviction (credentials were reset in between)?"""
        return self.evicted_at is not None and t > self.evicted_at

    def account_at(self, account: str | None, t: int, exposed: bool = False,
                   ever: bool = False) -> int | None:
        """Campaign holding ``account`` at ``t``, if any (``ever``: ignore the eviction)."""
        if not account:
            return None
        tables = (self.accounts_after, self.exposed_after) if self.reset(t) and not ever \
            else (self.accounts, self.exposed)
        for table in tables[: 2 if exposed else 1]:
            hit = table.get(account)
            if hit is not None and hit[0] <= t:
                return self.find(hit[1])
        return None

    def cred_at(self, host: str, t: int) -> bool:
        table = self.cred_after if self.reset(t) else self.cred
        return table.get(host, t + 1) <= t

    def find(self, cid: int) -> int:
        while self.parent[cid] != cid:
            self.parent[cid] = self.parent[self.parent[cid]]
            cid = self.parent[cid]
        return cid

    def new(self) -> int:
        cid = len(self.parent)
        self.parent[cid] = cid
        return cid

    def union(self, keep: int, other: int) -> int:
        a, b = self.find(keep), self.find(other)
        if a != b:
            # The older campaign (smaller id) absorbs the other.
            a, b = min(a, b), max(a, b)
            self.parent[b] = a
        return a


def _pattern(edge: Edge) -> tuple[str, str, str | None]:
    return (edge.src, edge.dst, edge.account)


class _Baseline:
    """When each (source, destination, account) pattern was seen, to tell routine from new."""

    def __init__(self, edges: list[Edge]) -> None:
        times: dict[tuple[str, str, str | None], list[int]] = defaultdict(list)
        for edge in edges:
            times[_pattern(edge)].append(edge.time)
        self._days = {k: day_starts(sorted(v)) for k, v in times.items()}

    def routine_before(self, edge: Edge, before: int) -> bool:
        """Was this pattern seen on several separate days before ``before``?"""
        days = self._days.get(_pattern(edge))
        if not days:
            return False
        return bisect.bisect_left(days, before) >= ROUTINE_EDGE_DAYS


def _follows(edge: Edge, det: Detection) -> bool:
    """Does ``det`` follow ``edge`` closely enough to be its consequence?

    Within minutes for any account; within hours when the detection names the edge's account.
    """
    if edge.time > det.time:
        return False
    if det.time - edge.time <= FOLLOW_WINDOW:
        return True
    return det.time - edge.time <= PENDING_WINDOW and det.account is not None \
        and det.account == edge.account


def _seed_worthy(dets: list[Detection], times: list[int], i: int) -> bool:
    """Does the burst starting at detection ``i`` on one host look like an intrusion?"""
    first = dets[i]
    if first.level >= CRITICAL:
        return True
    end = bisect.bisect_right(times, first.time + SEED_WINDOW)
    return len({d.rule_id for d in dets[i:end] if d.level >= HIGH}) >= 2


def propagate(detections: list[Detection], facts: list[Fact], edges: list[Edge],
              sessions: list[Session], web: list[WebRequest] | None = None,
              evicted_at: int | None = None) -> Graph:
    """The chronological pass (see the module docstring). Inputs must be non-routine.

    After ``evicted_at`` (credentials reset), accounts and credential thefts count only when
    established again by later evidence; hosts and attacker addresses stay suspect.
    """
    g = Graph(evicted_at=evicted_at)
    baseline = _Baseline(edges)
    per_host: dict[str, list[Detection]] = defaultdict(list)
    for det in detections:
        per_host[det.host].append(det)
    host_times: dict[str, list[int]] = {}
    index: dict[int, tuple[str, int]] = {}
    for host, dets in per_host.items():
        dets.sort(key=lambda d: d.time)
        host_times[host] = [d.time for d in dets]
        for i, det in enumerate(dets):
            index[id(det)] = (host, i)
    sessions_by_host: dict[str, list[Session]] = defaultdict(list)
    for s in sessions:
        sessions_by_host[s.host].append(s)
    # Edges into each host in the last PENDING_WINDOW, oldest first, awaiting corroboration.
    recent: dict[str, deque[tuple[Edge, int | None]]] = defaultdict(deque)

    def remember(edge: Edge, cid: int | None) -> None:
        queue = recent[edge.dst]
        while queue and queue[0][0].time < edge.time - PENDING_WINDOW:
            queue.popleft()
        queue.append((edge, cid))
    busy: dict[str, int] = {}  # host -> time of the latest attacker activity seen there
    clean_in: dict[str, deque[Edge]] = defaultdict(deque)  # recent control from clean hosts
    shells: dict[str, set[str]] = defaultdict(set)  # host -> web pages the attacker planted

    def compromised_cid(host: str, t: int) -> int | None:
        state = g.hosts.get(host)
        return g.find(state.cid) if state is not None and state.time <= t else None

    def src_cid(edge: Edge) -> int | None:
        if edge.src_kind == "host":
            return compromised_cid(edge.src, edge.time)
        if edge.src_kind == "loopback":
            return None
        src = g.sources.get(edge.src)
        return g.find(src[1]) if src is not None and src[0] <= edge.time else None

    def account_cid(account: str | None, t: int) -> int | None:
        return g.account_at(account, t, exposed=True)

    def mark_account(account: str | None, t: int, cid: int) -> None:
        if not account:
            return
        for table in (g.accounts, g.accounts_after) if g.reset(t) else (g.accounts,):
            old = table.get(account)
            if old is None or old[0] > t:
                table[account] = (t, cid)

    def join(host: str, t: int, cid: int, reached_from: str | None, via: str | None,
             account: str | None, ref: EventRef, from_kind: str | None) -> None:
        state = g.hosts.get(host)
        if state is None or state.time > t:
            if state is not None:
                cid = g.union(cid, state.cid)
            g.hosts[host] = HostState(t, cid, reached_from, via, account, ref, from_kind)
        elif g.find(state.cid) != g.find(cid):
            g.union(cid, state.cid)

    def accept(edge: Edge, cid: int) -> None:
        g.accepted.append((edge, cid))
        busy[edge.dst] = edge.time
        if edge.src_kind == "host":
            busy[edge.src] = edge.time
        if edge.src_kind in ("external", "internal-ip") and edge.src not in g.sources:
            g.sources[edge.src] = (edge.time, cid)
        mark_account(edge.account, edge.time, cid)
        if edge.src_kind == "loopback":
            return
        join(edge.dst, edge.time, cid, None if edge.src_kind == UNKNOWN else edge.src,
             edge.method, edge.account, edge.ref, edge.src_kind)

    def on_edge(edge: Edge) -> None:
        if edge.src_kind.startswith("to-"):
            return
        scid = src_cid(edge)
        acid = account_cid(edge.account, edge.time)
        if scid is not None:
            state = g.hosts.get(edge.src)
            since = state.time if edge.src_kind == "host" and state else edge.time - DAY
            routine = baseline.routine_before(edge, since)
            # Between hosts only control methods count on their own: plain network logons
            # are what every user of a compromised workstation does all day.
            strong = edge.method in STRONG
            cred = edge.src_kind == "host" and g.cred_at(edge.src, edge.time)
            ok = strong and (acid == scid or cred)
            if edge.src_kind != "host" and edge.method not in WEAK:
                ok = True
            if not routine and ok:
                accept(edge, scid)
                return
            remember(edge, scid)
            return
        if edge.src_kind == "host":
            # A clean host never pulls another in; what it does explains what follows there.
            if edge.method in STRONG:
                g.clean_control[edge.dst].append(edge.time)
                queue = clean_in[edge.dst]
                while queue and queue[0].time < edge.time - FOLLOW_WINDOW:
                    queue.popleft()
                queue.append(edge)
            return
        if edge.src_kind != UNKNOWN:
            # A stolen account used from outside after the eviction is still the attacker's.
            acid = g.account_at(edge.account, edge.time, exposed=True, ever=True)
        if acid is not None and edge.method not in WEAK \
                and (edge.src_kind != UNKNOWN or edge.method in STRONG) \
                and not baseline.routine_before(edge, edge.time - DAY):
            accept(edge, acid)
            return
        remember(edge, None)

    def on_detection(det: Detection) -> None:
        t = det.time
        if any(0 <= t - e.time <= FOLLOW_WINDOW for e in clean_in.get(det.host, ())):
            return  # what a clean host's administrator does there is not the attacker's
        queue = recent.get(det.host)
        while queue and queue[0][0].time < t - PENDING_WINDOW:
            queue.popleft()
        pending = [(e, c) for e, c in queue or () if _follows(e, det)]
        hcid = compromised_cid(det.host, t)
        for edge, cid in pending:
            if cid is not None:
                accept(edge, cid)
            elif hcid is not None:
                accept(edge, hcid)
        if pending:
            taken = {id(e) for e, _ in pending}
            recent[det.host] = deque((e, c) for e, c in recent[det.host] if id(e) not in taken)
        hcid = compromised_cid(det.host, t)
        if hcid is None and det.level >= HIGH:
            host, i = index[id(det)]
            if not _seed_worthy(per_host[host], host_times[host], i):
                return
            acid = account_cid(det.account, t) if det.account not in BUILTIN else None
            if acid is not None:
                join(det.host, t, acid, None, "compromised-account", det.account, det.ref,
                     None)
            else:
                ext = [e for e, _ in recent.get(det.host, ())
                       if e.src_kind in ("external", "internal-ip") and e.account
                       and t - EXTERNAL_SEED_WINDOW <= e.time <= t]
                cid = g.new()
                g.seeds[cid] = [det]
                if ext:
                    accept(ext[-1], cid)
                else:
                    # An uncorroborated high alert shortly before the corroborated burst on the
                    # same host is where this intrusion began: start the host there.
                    lo = bisect.bisect_left(host_times[host], t - SEED_LOOKBACK)
                    start = next((d for d in per_host[host][lo:i] if d.level >= HIGH), det)
                    join(det.host, start.time, cid, None, None, start.account or det.account,
                         start.ref, None)
            hcid = compromised_cid(det.host, t)
            if hcid is not None:
                dets = per_host[host]
                lo = bisect.bisect_left(host_times[host], t - HOUR)
                hi = bisect.bisect_right(host_times[host], t + SEED_WINDOW)
                for near in dets[lo:hi]:
                    if near.level >= MEDIUM:
                        attacker_client(near, hcid)
        if hcid is None:
            return
        busy[det.host] = t
        if det.target and WEB_SCRIPT.search(det.target):
            shells[det.host].add(det.target.replace("/", "\\").rsplit("\\", 1)[-1].lower())
        if det.level >= HIGH:
            mark_account(det.account, t, hcid)
        attacker_client(det, hcid)
        if any(cat == CRED for cat, _ in det.categories):
            credential_theft(det.host, t, hcid)

    def attacker_client(det: Detection, cid: int) -> None:
        """The external client of a detected request on a compromised host is the attacker's."""
        ip = clean_ip(det.src_ip)
        if ip and ip_kind(ip) == "external" and ip not in g.sources:
            g.sources[ip] = (det.time, cid)

    def credential_theft(host: str, t: int, cid: int) -> None:
        after = g.reset(t)
        for table in (g.cred, g.cred_after) if after else (g.cred,):
            if host not in table or table[host] > t:
                table[host] = t
        exposed = g.exposed_after if after else g.exposed
        for s in sessions_by_host.get(host, ()):
            if t - EXPOSURE_WINDOW <= s.time <= t and g.account_at(s.account, t) is None:
                old = exposed.get(s.account)
                if old is None or old[0] > t:
                    exposed[s.account] = (t, cid)

    def on_fact(fact: Fact) -> None:
        hcid = compromised_cid(fact.host, fact.time)
        if fact.category == ACCOUNT_CREATED:
            acid = account_cid(fact.account, fact.time)
            actor = None
            if acid is None and fact.actor_host and fact.actor_host != fact.host:
                acid = compromised_cid(fact.actor_host, fact.time)
                last = busy.get(fact.actor_host)
                if acid is None or last is None or fact.time - last > ASSOC_WINDOW:
                    return
                actor = fact.actor_host
            if acid is None:
                return
            mark_account(fact.extra, fact.time, acid)
            join(fact.host, fact.time, acid, actor, "account-management", fact.account,
                 fact.ref, "host" if actor else None)
            return
        if hcid is not None and fact.category == CRED:
            credential_theft(fact.host, fact.time, hcid)

    def on_web(req: WebRequest) -> None:
        hcid = compromised_cid(req.host, req.time)
        if hcid is not None and req.page in shells.get(req.host, ()) \
                and req.ip not in g.sources:
            g.sources[req.ip] = (req.time, hcid)

    timeline: list[tuple[int, int, int, object]] = []
    for n, req in enumerate(web or ()):
        timeline.append((req.time, 3, n, req))
    for n, edge in enumerate(edges):
        timeline.append((edge.time, 0, n, edge))
    for n, fact in enumerate(facts):
        timeline.append((fact.time, 1, n, fact))
    for n, det in enumerate(detections):
        if det.level >= MEDIUM:
            timeline.append((det.time, 2, n, det))
    timeline.sort(key=lambda x: (x[0], x[1], x[2]))
    for _, kind, _, item in timeline:
        if kind == 0:
            assert isinstance(item, Edge)
            on_edge(item)
        elif kind == 1:
            assert isinstance(item, Fact)
            on_fact(item)
        elif kind == 2:
            assert isinstance(item, Detection)
            on_detection(item)
        else:
            assert isinstance(item, WebRequest)
            on_web(item)
    return g


def attribute(g: Graph, detections: list[Detection], facts: list[Fact],
              edges_out: list[Edge], web: list[WebRequest] | None = None,
              core_from: list[Detection] | None = None, strict: bool = False,
              ) -> dict[int, list[Activity]]:
    """Attacker activity per campaign root id (see the module docstring).

    ``core_from`` are the detections whose high ones anchor activity (default: all);
    ``strict`` asks every detection, high or not, to be tied to that anchor or to a
    compromised account.
    """
    out: dict[int, list[Activity]] = defaultdict(list)
    core: dict[str, list[int]] = defaultdict(list)

    def host_cid(host: str, t: int) -> int | None:
        state = g.hosts.get(host)
        return g.find(state.cid) if state is not None and state.time <= t else None

    def acct_cid(account: str | None, t: int) -> int | None:
        return g.account_at(account, t)

    for edge, edge_cid in g.accepted:
        root = g.find(edge_cid)
        who = f" as {edge.account}" if edge.account else ""
        out[root].append(Activity(edge.time, edge.dst, "movement",
                                  f"{edge.method} from {edge.src}{who}", edge.ref, edge.account))
        core[edge.dst].append(edge.time)
        if edge.src_kind == "host":
            out[root].append(Activity(edge.time, edge.src, "movement",
                                      f"{edge.method} to {edge.dst}{who}", edge.ref,
                                      edge.account))
            core[edge.src].append(edge.time)
    for host, state in g.hosts.items():
        if state.via in ("account-management", "compromised-account") or state.reached_from \
                is None:
            core[host].append(state.time)
    for req in web or ():
        src = g.sources.get(req.ip)
        cid = host_cid(req.host, req.time)
        if src is None or cid is None or src[0] > req.time or g.find(src[1]) != cid:
            continue
        core[req.host].append(req.time)
        if req.bytes >= EXFIL_BYTES:
            out[cid].append(Activity(
                req.time, req.host, EXFIL,
                f"{req.bytes / 1e6:.1f} MB sent to attacker address {req.ip} "
                f"({req.method} {req.stem})", req.ref, None, "web transfer to attacker"))
        else:
            out[cid].append(Activity(req.time, req.host, "web",
                                     f"request from attacker address {req.ip}: {req.method} "
                                     f"{req.stem}", req.ref))
    highs = [d for d in (detections if core_from is None else core_from) if d.level >= HIGH]
    for det in highs:
        if host_cid(det.host, det.time) is not None and not g.administered(det.host, det.time):
            core[det.host].append(det.time)
    for times in core.values():
        times.sort()

    def near_core(host: str, t: int) -> bool:
        times = core.get(host)
        if not times:
            return False
        i = bisect.bisect_left(times, t - ASSOC_WINDOW)
        return i < len(times) and times[i] <= t + ASSOC_WINDOW

    def kinds(cats: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> str:
        for cat in (IMPACT, EXFIL, CRED):
            if any(c == cat for c, _ in cats):
                return cat
        return "detection"

    for det in detections:
        cid = host_cid(det.host, det.time)
        if cid is None or g.administered(det.host, det.time):
            continue
        if (det.level < HIGH or strict) and not (
            det.level >= MEDIUM and (acct_cid(det.account, det.time) == cid
                                     or near_core(det.host, det.time))
        ):
            continue
        kind = kinds(det.categories)
        label = next((k for c, k in det.categories if c == kind), None)
        what = f"{label}: {det.what}" if label else det.what
        out[cid].append(Activity(det.time, det.host, kind, what, det.ref, det.account, label))
    for fact in facts:
        cid = host_cid(fact.host, fact.time)
        if cid is None or g.administered(fact.host, fact.time):
            continue
        if fact.category == ACCOUNT_CREATED:
            if acct_cid(fact.account, fact.time) == cid:
                out[cid].append(Activity(fact.time, fact.host, "account", fact.what, fact.ref,
                                         fact.account))
            continue
        if not (acct_cid(fact.account, fact.time) == cid or near_core(fact.host, fact.time)):
            continue
        kind = fact.category if fact.category in (IMPACT, EXFIL, CRED) else "detection"
        out[cid].append(Activity(fact.time, fact.host, kind, fact.what, fact.ref, fact.account,
                                 fact.kind))
    for edge in edges_out:
        cid = host_cid(edge.src, edge.time)
        if cid is None or edge.method not in ("ftp", "ssh") or edge.src_kind != "to-external":
            continue
        if not near_core(edge.src, edge.time):
            continue
        out[cid].append(Activity(edge.time, edge.src, EXFIL,
                                 f"{edge.method} connection to external {edge.dst}", edge.ref,
                                 edge.account, f"{edge.method} to external"))
    return out
