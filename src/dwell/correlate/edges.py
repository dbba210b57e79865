"""Movement edges: who reached which host, when, with which account and by what method.

Sources of edges: logons (4624 types 3/8/10, TerminalServices 1149/21/25, tunnelled RDP from
127.0.0.1), explicit credentials (4648), admin shares (5140/5145, copies of programs to them),
remote services (7045/4697), scheduled tasks (4698), WMI (``wmiprvse.exe`` children), WinRM
(``wsmprovhost.exe``), PsExec, and Sysmon 3 connections to remote-administration ports.
Remote-execution artefacts on a host take their source and account from the network logon
they belong to (same logon id, else the latest network logon shortly before).
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Final

from dwell.correlate.entities import Accounts, HostMap, account_key, ip_kind, normalize_host
from dwell.correlate.model import NS, Edge, EventRef

#: Methods from most to least specific; a host's ``via`` is its first edge's most specific one.
METHOD_RANK: Final = (
    "psexec", "wmi", "winrm", "remote-service", "scheduled-task", "rdp-tunnel", "rdp",
    "admin-share-copy", "admin-share", "explicit-credentials", "network-cleartext",
    "network-logon", "kerberos-rc4", "ftp", "ssh", "smb-connection", "rdp-connection",
    "winrm-connection", "rpc-connection",
)
_PORT_METHOD: Final = {
    445: "smb-connection", 3389: "rdp-connection", 5985: "winrm-connection",
    5986: "winrm-connection", 135: "rpc-connection", 21: "ftp", 22: "ssh",
}
_LOGON_METHOD: Final = {3: "network-logon", 8: "network-cleartext", 10: "rdp", 12: "rdp"}
_INTERACTIVE: Final = frozenset({2, 10, 11, 12})
_LINK_WINDOW: Final = 120 * NS
UNKNOWN: Final = "unknown"
_PROGRAM: Final = re.compile(r"\.(exe|dll|bat|cmd|ps1|vbs|js|sys|scr)$", re.IGNORECASE)
_PSEXEC: Final = re.compile(r"psexe(svc|c)|paexec|remcom|csexec", re.IGNORECASE)
_REMOTE_SERVICE: Final = re.compile(
    r"%comspec%|cmd(\.exe)?\s+/[qc]|powershell|\\\\127\.0\.0\.1\\|\\admin\$\\|"
    r"\\windows\\temp\\|\\users\\public\\|\\programdata\\", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Session:
    """An interactive logon of an account on a host (credentials left in memory)."""

    time: int
    host: str
    account: str


def _ref(row: dict[str, Any]) -> EventRef:
    return EventRef(source_file=row.get("source_file"), record_id=row.get("record_id"),
                    source_pos=row.get("source_pos"), host=row.get("host"),
                    channel=row.get("channel"), event_id=row.get("event_id"))


def build_host_map(hosts: list[str], ip_rows: list[dict[str, Any]]) -> HostMap:
    """The estate (hosts that logged events) and IP observations."""
    hmap = HostMap()
    for host in hosts:
        hmap.add_host(host)
    for row in ip_rows:
        hmap.observe(row.get("ip"), row.get("name"), row["ts"])
    return hmap


def _split_user(text: str | None) -> str | None:
    return account_key(text)


LOGON_COLUMNS: Final = (
    "ts", "host", "workstation", "src_ip", "target_user", "target_sid", "logon_type",
    "logon_id", "source_file", "record_id", "source_pos", "channel", "event_id",
)


def extract(rows: list[dict[str, Any]], hmap: HostMap, accounts: Accounts,
            logons: dict[str, list[Any]] | None = None) -> tuple[list[Edge], list[Session]]:
    """All edges and interactive sessions in the selected events, in time order.

    ``logons`` optionally holds the Security 4624 events as columns (:data:`LOGON_COLUMNS`),
    the bulk of a large case, read without building a dict per row.
    """
    edges: list[Edge] = []
    sessions: list[Session] = []
    # Network logons per host for linking remote-execution artefacts to their source.
    by_logon: dict[tuple[str, str], Edge] = {}
    net_logons: dict[str, list[tuple[int, Edge]]] = defaultdict(list)
    later: list[dict[str, Any]] = []

    def add(row: dict[str, Any], src: tuple[str, str] | None, account: str | None,
            method: str) -> Edge | None:
        if src is None:
            return None
        name, kind = src
        dst = row["host"]
        if kind == "host" and name == dst:
            return None
        if kind == "loopback":
            if method != "rdp":
                return None
            method, name = "rdp-tunnel", "127.0.0.1"
        edge = Edge(row["ts"], name, dst, account, method, _ref(row), kind)
        edges.append(edge)
        return edge

    if logons is not None:
        resolve = hmap.resolve
        for (t, host, ws, ip, user, sid, ltype, lid, sfile, rid, pos, channel,
             eid) in zip(*(logons[c] for c in LOGON_COLUMNS), strict=True):
            account = accounts.add(user, sid)
            if ltype in _INTERACTIVE and account:
                sessions.append(Session(t, host, account))
            method = _LOGON_METHOD.get(ltype or -1)
            if method is None:
                continue
            src = resolve(ws, ip, t)
            if src is None or (src[1] == "host" and src[0] == host):
                continue
            name, kind = src
            if kind == "loopback":
                if method != "rdp":
                    continue
                method, name = "rdp-tunnel", "127.0.0.1"
            edge = Edge(t, name, host, account, method,
                        EventRef(sfile, rid, pos, host, channel, eid), kind)
            edges.append(edge)
            if ltype == 3:
                net_logons[host].append((t, edge))
                if lid:
                    by_logon[(host, str(lid).lower())] = edge

    for row in sorted(rows, key=lambda r: r["ts"]):
        eid = row.get("event_id")
        channel = (row.get("channel") or "").lower()
        t = row["ts"]
        if channel == "security" and eid == 4624:
            ltype = row.get("logon_type")
            account = accounts.add(row.get("target_user"), row.get("target_sid"))
            if ltype in _INTERACTIVE and account:
                sessions.append(Session(t, row["host"], account))
            method = _LOGON_METHOD.get(ltype or -1)
            if method is None:
                continue
            src = hmap.resolve(row.get("workstation"), row.get("src_ip"), t)
            made = add(row, src, account, method)
            if made is not None and ltype == 3:
                net_logons[row["host"]].append((t, made))
                if row.get("logon_id"):
                    by_logon[(row["host"], str(row["logon_id"]).lower())] = made
        elif eid == 1149 and "remoteconnectionmanager" in channel:
            account = accounts.add(row.get("p_user"))
            add(row, hmap.resolve(None, row.get("p_address"), t), account, "rdp")
        elif eid in (21, 25) and "localsessionmanager" in channel:
            account = accounts.add(row.get("user"))
            addr = row.get("p_address")
            if account and ip_kind(addr):
                sessions.append(Session(t, row["host"], account))
                add(row, hmap.resolve(None, addr, t), account, "rdp")
        elif channel == "security" and eid == 4648:
            server = normalize_host(row.get("target_server"))
            account = accounts.add(row.get("target_user"))
            if not server or server in ("LOCALHOST", row["host"]):
                continue
            dst = hmap.resolve(server, server if ip_kind(server) else None, t)
            if dst is None or dst[1] != "host" or dst[0] == row["host"]:
                continue
            edges.append(Edge(t, row["host"], dst[0], account, "explicit-credentials",
                              _ref(row), "host"))
        elif channel == "security" and eid == 4769:
            # An RC4 service ticket for a user service account: Kerberoasting from the client.
            add(row, hmap.resolve(None, row.get("src_ip"), t), accounts.add(row.get("target_user")),
                "kerberos-rc4")
        elif channel == "security" and eid in (5140, 5145):
            share = (row.get("share_name") or "").rstrip("\\")
            if not share.endswith("$"):
                continue
            target = row.get("target_filename") or ""
            method = "admin-share-copy" if eid == 5145 and _PROGRAM.search(target) else \
                "admin-share"
            add(row, hmap.resolve(None, row.get("src_ip"), t), accounts.add(row.get("user")),
                method)
        elif "sysmon" in channel and eid == 3:
            port = row.get("dst_port")
            method = _PORT_METHOD.get(port or -1)
            if method is None:
                continue
            initiated = str(row.get("initiated") or "").lower() in ("true", "1")
            account = accounts.add(row.get("user")) if initiated else None
            if initiated:
                dst = hmap.resolve(None, row.get("dst_ip"), t)
                if dst is None or (dst[1] == "host" and dst[0] == row["host"]):
                    continue
                if dst[1] == "loopback":
                    continue
                edges.append(Edge(t, row["host"], dst[0], account, method, _ref(row),
                                  "host" if dst[1] == "host" else "to-" + dst[1]))
            else:
                add(row, hmap.resolve(None, row.get("src_ip"), t), None, method)
        else:
            later.append(row)

    for items in net_logons.values():
        items.sort(key=lambda x: x[0])
    times = {host: [t for t, _ in items] for host, items in net_logons.items()}

    def linked(row: dict[str, Any]) -> Edge | None:
        host, t = row["host"], row["ts"]
        lid = row.get("logon_id")
        if lid:
            hit = by_logon.get((host, str(lid).lower()))
            if hit is not None:
                return hit
        items = net_logons.get(host)
        if not items:
            return None
        i = bisect.bisect_right(times[host], t)
        if i and t - items[i - 1][0] <= _LINK_WINDOW:
            return items[i - 1][1]
        return None

    for row in later:
        eid = row.get("event_id")
        method = None
        if eid in (7045, 4697):
            svc = f"{row.get('service_name') or ''} {row.get('service_file') or ''}"
            if _PSEXEC.search(svc):
                method = "psexec"
            elif _REMOTE_SERVICE.search(svc):
                method = "remote-service"
        elif eid == 4698:
            method = "scheduled-task"
        elif eid in (1, 4688):
            parent = (row.get("parent_image") or "").lower()
            image = (row.get("image") or "").lower()
            cmd = (row.get("command_line") or "").lower()
            if parent.endswith("wmiprvse.exe"):
                method = "wmi"
            elif parent.endswith("wsmprovhost.exe") or image.endswith("wsmprovhost.exe"):
                method = "winrm"
            elif _PSEXEC.search(image) or _PSEXEC.search(parent):
                method = "psexec"
            elif parent.endswith("services.exe") and "\\\\127.0.0.1\\" in cmd:
                method = "remote-service"
        if method is None:
            continue
        logon = linked(row)
        if logon is None:
            # The source was not logged: keep the artefact, with the account it ran as.
            edges.append(Edge(row["ts"], UNKNOWN, row["host"], accounts.add(row.get("user")),
                              method, _ref(row), UNKNOWN))
            continue
        edges.append(Edge(row["ts"], logon.src, row["host"], logon.account, method, _ref(row),
                          logon.src_kind))
    edges.sort(key=lambda e: (e.time, METHOD_RANK.index(e.method)
                              if e.method in METHOD_RANK else 99))
    sessions.sort(key=lambda s: s.time)
    return edges, sessions
