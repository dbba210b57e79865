"""Emission context: the random stream, identities (SIDs, PIDs, GUIDs) and the event sink."""

from __future__ import annotations

import itertools
import random
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dwell.scenario._clock import DAY

if TYPE_CHECKING:
    from dwell.scenario._evtx import Record
    from dwell.scenario.model import Host, Scenario

# (time_us, sequence, host, channel, record or None for "truncate this channel here")
Ev = tuple[int, int, str, str, "Record | None"]

WELL_KNOWN_SIDS = {
    "NT AUTHORITY\\SYSTEM": "S-1-5-18",
    "NT AUTHORITY\\LOCAL SERVICE": "S-1-5-19",
    "NT AUTHORITY\\NETWORK SERVICE": "S-1-5-20",
}


def crc(text: str) -> int:
    """A stable 32-bit hash (``hash()`` is salted per process)."""
    return zlib.crc32(text.encode())


@dataclass(slots=True)
class ProcInfo:
    """A process as later events refer to it."""

    guid: str
    pid: int
    image: str
    cmd: str
    user: str


@dataclass(slots=True)
class Session:
    """A logon session on one host."""

    logon_id: int
    sysmon_guid: str
    tsid: int
    user: str


class Ctx:
    """Where actions put their events, plus the identities they need."""

    def __init__(
        self,
        scen: Scenario,
        rng: random.Random,
        seed: int,
        out: list[Ev],
        seq: itertools.count[int],
        cache: dict[tuple[str, str, int], ProcInfo] | None = None,
    ) -> None:
        self.scen = scen
        self.rng = rng
        self.seed = seed
        self.out = out
        self._seq = seq
        self.procs: dict[tuple[str, str], ProcInfo] = {}
        self.sessions: dict[tuple[str, str], Session] = {}
        self._hosts = {host.name: host for host in scen.hosts}
        self.silent: dict[str, list[tuple[int, int]]] = {}
        self.scale = 1.0
        self._cache: dict[tuple[str, str, int], ProcInfo] = {} if cache is None else cache
        self._pids: dict[tuple[str, str, int], int] = {}
        self._sids: dict[str, str] = {}

    # -- sink -------------------------------------------------------------------------------

    def emit(self, host: str, t: int, record: Record) -> None:
        """Queue ``record`` for ``host`` at ``t``."""
        channel = record["Event"]["System"]["Channel"]
        self.out.append((t, next(self._seq), host, channel, record))

    def truncate(self, host: str, channel: str, t: int) -> None:
        """Drop every earlier record of ``channel`` on ``host`` (log cleared)."""
        self.out.append((t, next(self._seq), host, channel, None))

    # -- hosts and accounts -----------------------------------------------------------------

    def host(self, name: str) -> Host:
        """Host definition by short name."""
        return self._hosts[name]

    def alive(self, name: str, t: int) -> bool:
        """False while ``name`` is wiped and not yet rebuilt."""
        return not any(a <= t < b for a, b in self.silent.get(name, ()))

    def computer(self, name: str, t: int) -> str:
        """The ``Computer`` value ``name`` logs with at ``t``."""
        host = self._hosts[name]
        form = host.computer or f"{host.name}.{self.scen.domain.lower()}"
        for start, renamed in host.renamed:
            if t >= start:
                form = renamed
        return form

    def fqdn(self, name: str) -> str:
        """DNS name of a host, lower-case."""
        return f"{name.lower()}.{self.scen.domain.lower()}"

    def host_by_ip(self, ip: str) -> Host | None:
        """The scenario host with address ``ip``, if any."""
        for host in self.scen.hosts:
            if host.ip == ip:
                return host
        return None

    def machine_sid(self, name: str) -> str:
        """Local machine SID prefix of a host."""
        h = crc(f"{self.scen.variant}|machine|{name}")
        return (f"S-1-5-21-{1000000000 + h % 900000000}-{2000000000 + h % 123456789}-"
                f"{h % 99991 + 1000000}")

    def sid(self, user: str) -> str:
        """SID for ``DOMAIN\\name`` (domain or local accounts, well-known principals)."""
        found = self._sids.get(user)
        if found is None:
            found = self._sid(user)
            self._sids[user] = found
        return found

    def _sid(self, user: str) -> str:
        upper = user.upper()
        if upper in WELL_KNOWN_SIDS:
            return WELL_KNOWN_SIDS[upper]
        domain, _, name = user.rpartition("\\")
        if domain.upper() == "IIS APPPOOL":
            h = crc(name.lower())
            return f"S-1-5-82-{h}-{h % 77777}-{h % 99991}-{h % 65521}-{h % 31337}"
        if domain.upper() == "NT SERVICE":
            h = crc(name.lower())
            return f"S-1-5-80-{h}-{h % 77777}-{h % 99991}-{h % 65521}-{h % 31337}"
        if domain.upper() == self.scen.netbios.upper() or not domain:
            account = self.scen.account(name)
            if name.endswith("$"):
                rid = 1000 + crc(name.upper()) % 4000
            elif account is not None:
                rid = account.rid
            else:
                rid = 1100 + crc(name.lower()) % 8000
            return f"{self.scen.domain_sid}-{rid}"
        # local account on host ``domain``
        rid = 500 if name.lower() == "administrator" else 1000 + crc(name.lower()) % 50
        return f"{self.machine_sid(domain.upper())}-{rid}"

    # -- identities -------------------------------------------------------------------------

    def pid(self) -> int:
        """A fresh process id."""
        return (60 + int(self.rng.random() * 3940)) * 4

    def tid(self) -> int:
        """A fresh thread id."""
        return (60 + int(self.rng.random() * 3940)) * 4

    def _prefix(self, host: str) -> int:
        return crc(f"{self.scen.variant}|sysmon|{host}")

    def proc_guid(self, host: str, t: int) -> str:
        """Sysmon ProcessGuid: machine part, creation time, counter."""
        sec = t // 1_000_000
        return (
            f"{self._prefix(host):08X}-{sec & 0xFFFF:04X}-{(sec >> 16) & 0xFFFF:04X}-"
            f"{self.rng.getrandbits(16):04X}-0000000{self.rng.randrange(0x10000, 0xFFFFF):05X}"
        )

    def logon_guid(self, host: str, t: int, logon_id: int) -> str:
        """Sysmon LogonGuid: machine part, logon time, little-endian logon id."""
        sec = t // 1_000_000
        raw = logon_id.to_bytes(8, "little").hex().upper()
        return (
            f"{self._prefix(host):08X}-{sec & 0xFFFF:04X}-{(sec >> 16) & 0xFFFF:04X}-"
            f"{raw[:4]}-{raw[4:]}"
        )

    def guid(self) -> str:
        """A random GUID, upper-case, no braces."""
        value = f"{self.rng.getrandbits(128):032X}"
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"

    def logon_id(self) -> int:
        """A fresh logon id."""
        return self.rng.randrange(0x200000, 0x3FFFFFF)

    def port(self) -> int:
        """An ephemeral source port."""
        return 49152 + int(self.rng.random() * 16348)

    def stable(self, host: str, what: str, t: int, period: int = 30 * DAY) -> random.Random:
        """A random stream fixed per host, purpose and period (long-lived identities)."""
        return random.Random(f"{self.seed}|{self.scen.variant}|{host}|{what}|{t // period}")

    def service_pid(self, host: str, name: str, t: int) -> int:
        """PID of a long-running system process (changes at monthly reboots)."""
        key = (host, name, t // (30 * DAY))
        pid = self._pids.get(key)
        if pid is None:
            h = crc(f"{self.seed}|{self.scen.variant}|{host}|{name}|{key[2]}")
            pid = (100 + h % 1100) * 4
            self._pids[key] = pid
        return pid

    def stable_proc(
        self, host: str, image: str, cmd: str, user: str, t: int, period: int = 30 * DAY
    ) -> ProcInfo:
        """A long-running process (w3wp, wmiprvse, services, explorer, ...)."""
        key = (host, f"{image.lower()}|{user.lower()}|{cmd}", t // period)
        found = self._cache.get(key)
        if found is not None:
            return found
        rng = self.stable(host, image.lower() + user.lower(), t, period)
        start = t - t % period + rng.randrange(0, 3600) * 1_000_000
        sec = start // 1_000_000
        guid = (
            f"{self._prefix(host):08X}-{sec & 0xFFFF:04X}-{(sec >> 16) & 0xFFFF:04X}-"
            f"{rng.getrandbits(16):04X}-0000000{rng.randrange(0x10000, 0xFFFFF):05X}"
        )
        proc = ProcInfo(guid, rng.randrange(100, 3000) * 4, image, cmd, user)
        self._cache[key] = proc
        return proc

    # -- state ------------------------------------------------------------------------------

    def session(self, host: str, user: str, t: int, tsid: int = 0) -> Session:
        """The current logon session of ``user`` on ``host``, created on first use."""
        key = (host, user.lower())
        found = self.sessions.get(key)
        if found is None:
            if user.upper() in WELL_KNOWN_SIDS:
                logon = {"S-1-5-18": 0x3E7, "S-1-5-19": 0x3E5, "S-1-5-20": 0x3E4}[
                    WELL_KNOWN_SIDS[user.upper()]
                ]
            else:
                logon = self.logon_id()
            found = Session(logon, self.logon_guid(host, t, logon), tsid, user)
            self.sessions[key] = found
        return found

    def new_session(self, host: str, user: str, t: int, tsid: int = 0) -> Session:
        """Start a fresh logon session (a new logon replaces the old one)."""
        logon = self.logon_id()
        session = Session(logon, self.logon_guid(host, t, logon), tsid, user)
        self.sessions[(host, user.lower())] = session
        return session

    def remember(self, host: str, proc: ProcInfo) -> None:
        """Record ``proc`` as the latest instance of its image on ``host``."""
        self.procs[(host, proc.image.lower())] = proc

    def recall(self, host: str, image: str) -> ProcInfo | None:
        """The latest process of ``image`` on ``host``."""
        return self.procs.get((host, image.lower()))
