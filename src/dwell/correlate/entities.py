"""Entity resolution: one identity per host (FQDN, short name, IP) and per account.

Hosts of the estate are the machines that logged events (their ``Computer``). A client name
seen only as a logon ``WorkstationName`` is an external source. IP addresses map to hosts from
evidence with a time: the latest observation at or before the moment asked, else the first
after it, since addresses move.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Final

from dwell.schema import normalize_host as _normalize_host

normalize_host = functools.lru_cache(maxsize=65536)(_normalize_host)

#: Accounts that are the system acting, not a person or an attacker-held credential.
_GENERIC: Final = frozenset({
    "system", "local service", "network service", "anonymous logon", "localservice",
    "networkservice", "iusr", "defaultaccount", "guest", "wdagutilityaccount", "-", "",
    "n/a", "nt authority\\system",
})
_GENERIC_RE: Final = re.compile(r"^(dwm-\d+|umfd-\d+|font driver host\\.*|window manager\\.*)$")
#: Address space of an estate (RFC 1918, shared CGNAT space, IPv6 ULA). Documentation ranges
#: count as the internet, as the addresses attackers use in write-ups and tests do.
_INTERNAL: Final = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7",
))
_SID_RE: Final = re.compile(r"^S-1-[0-9-]+$", re.IGNORECASE)


def account_key(name: str | None) -> str | None:
    """Canonical account identity: lower-case user name without domain; None if generic.

    ``GOVAL\\Administrator``, ``administrator@goval.local``, ``.\\Administrator`` and
    ``Administrator`` are one identity. Machine accounts (``NAME$``) are not accounts here.
    """
    return _account_key(name) if name else None


@functools.lru_cache(maxsize=65536)
def _account_key(name: str) -> str | None:
    text = name.strip()
    if "\\" in text:
        text = text.rsplit("\\", 1)[1]
    elif "@" in text and not _SID_RE.match(text):
        text = text.split("@", 1)[0]
    key = text.strip().lower()
    if key in _GENERIC or key.endswith("$") or _GENERIC_RE.match(key):
        return None
    return key


def is_sid(text: str | None) -> bool:
    return bool(text and _SID_RE.match(text.strip()))


def ip_kind(text: str | None) -> str | None:
    """``loopback``, ``internal`` (private/link-local) or ``external``; None if not an IP."""
    if not text:
        return None
    return _ip_kind(text)


@functools.lru_cache(maxsize=65536)
def _ip_kind(text: str) -> str | None:
    value = text.strip()
    if value.startswith("::ffff:"):
        value = value[7:]
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return None
    if addr.is_loopback or addr.is_unspecified:
        return "loopback"
    if addr.is_link_local or any(addr in net for net in _INTERNAL if net.version == addr.version):
        return "internal"
    return "external"


def clean_ip(text: str | None) -> str | None:
    if not text:
        return None
    value = text.strip()
    if value.startswith("::ffff:"):
        value = value[7:]
    return value if ip_kind(value) else None


@dataclass(slots=True)
class Accounts:
    """Display names and SID resolution for account keys."""

    display: dict[str, str] = field(default_factory=dict)
    sids: dict[str, str] = field(default_factory=dict)
    _seen_sids: set[str] = field(default_factory=set)

    def add(self, name: str | None, sid: str | None = None) -> str | None:
        key = account_key(name)
        if key is None:
            return None
        if key in self.display and (sid is None or sid in self._seen_sids):
            return key
        self.display.setdefault(key, name.rsplit("\\", 1)[-1].split("@", 1)[0].strip()
                                if name else key)
        if sid and sid not in self._seen_sids:
            self._seen_sids.add(sid)
            if is_sid(sid):
                self.sids.setdefault(sid.strip().upper(), key)
        return key

    def key(self, name: str | None) -> str | None:
        """Account key of a name or SID (SIDs resolve through names seen with them)."""
        if name and is_sid(name):
            return self.sids.get(name.strip().upper())
        return account_key(name)

    def show(self, key: str) -> str:
        return self.display.get(key, key)


@dataclass(slots=True)
class HostMap:
    """Estate hosts plus a time-aware IP → host map."""

    estate: set[str] = field(default_factory=set)
    _obs: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))
    _sorted: bool = True

    def add_host(self, name: str | None) -> None:
        short = normalize_host(name)
        if short and ip_kind(short) is None:
            self.estate.add(short)

    def observe(self, ip: str | None, host: str | None, time: int) -> None:
        """Evidence that ``ip`` belonged to ``host`` at ``time``."""
        addr = clean_ip(ip)
        short = normalize_host(host)
        if addr is None or short is None or short not in self.estate:
            return  # only machines that logged events; client names may be anyone's
        if ip_kind(addr) == "loopback":
            return
        self._obs[addr].append((time, short))
        self._sorted = False

    def _sort(self) -> None:
        if not self._sorted:
            for items in self._obs.values():
                items.sort()
            self._sorted = True

    def host_of_ip(self, ip: str, time: int) -> str | None:
        """The estate host that held ``ip`` at ``time``, if any evidence says so."""
        self._sort()
        items = self._obs.get(ip)
        if not items:
            return None
        i = bisect.bisect_right(items, (time, "\uffff"))
        candidates = items[i - 1:i] if i else items[:1]
        host = candidates[0][1]
        return host if host in self.estate else None

    def ips(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = defaultdict(set)
        for ip, items in self._obs.items():
            for _, host in items:
                out[host].add(ip)
        return dict(out)

    def resolve(self, name: str | None, ip: str | None, time: int) -> tuple[str, str] | None:
        """(identity, kind) of a remote party named by a client name and/or an IP.

        kind is ``host`` (estate host), ``loopback``, ``external`` (public IP or a client name
        that never logged events itself) or ``internal-ip`` (a private address with no host).
        """
        addr = clean_ip(ip)
        kind = ip_kind(addr)
        if kind == "loopback":
            return ("127.0.0.1", "loopback")
        short = normalize_host(name)
        if short and ip_kind(short) is None and short in self.estate:
            return (short, "host")
        if addr is not None and kind == "internal":
            host = self.host_of_ip(addr, time)
            if host is not None:
                return (host, "host")
        if addr is not None and kind == "external":
            return (addr, "external")
        if short and ip_kind(short) is None:
            return (short, "external")
        if addr is not None:
            return (addr, "internal-ip")
        return None
