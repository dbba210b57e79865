"""Hand-made reconstruction inputs: events and detections as the stage reads them.

Rows carry only the columns :mod:`dwell.correlate.inputs` selects, so the pure reasoning is
tested without a store. Times are seconds from an arbitrary origin (2021-01-01 UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from dwell.correlate.inputs import CaseInputs

T0 = 1_609_459_200  # 2021-01-01T00:00:00Z
NS = 1_000_000_000
DAY = 86_400
HOUR = 3_600

EVENT_COLUMNS: dict[str, pa.DataType] = {
    "ts": pa.int64(), "host": pa.string(), "channel": pa.string(), "event_id": pa.int32(),
    "record_id": pa.int64(), "source_file": pa.string(), "source_pos": pa.int64(),
    "user": pa.string(), "image": pa.string(), "command_line": pa.string(),
    "parent_image": pa.string(), "target_filename": pa.string(), "src_ip": pa.string(),
    "dst_ip": pa.string(), "dst_port": pa.int64(), "logon_type": pa.int64(),
    "target_user": pa.string(), "target_domain": pa.string(), "workstation": pa.string(),
    "logon_id": pa.string(), "service_name": pa.string(), "service_file": pa.string(),
    "share_name": pa.string(), "p_user": pa.string(), "p_domain": pa.string(),
    "p_address": pa.string(), "initiated": pa.string(), "target_server": pa.string(),
    "target_sid": pa.string(), "task_name": pa.string(), "script": pa.string(),
    "object": pa.string(),
}
DET_COLUMNS: dict[str, pa.DataType] = {
    "rule_id": pa.string(), "title": pa.string(), "level": pa.string(),
    "tags": pa.list_(pa.string()), "rule_file": pa.string(), "ts": pa.int64(),
    "host": pa.string(), "user": pa.string(), "channel": pa.string(), "event_id": pa.int32(),
    "record_id": pa.int64(), "source_file": pa.string(), "source_pos": pa.int64(),
    "matched": pa.string(), "image": pa.string(), "command_line": pa.string(),
    "parent_image": pa.string(), "target_filename": pa.string(), "target_user": pa.string(),
    "src_ip": pa.string(), "service_file": pa.string(),
}


def ns(seconds: float) -> int:
    return int((T0 + seconds) * NS)


@dataclass
class Case:
    """Build a case's selected events and detections by hand."""

    ips: dict[str, str] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    dets: list[dict[str, Any]] = field(default_factory=list)
    _pos: int = 0

    def host(self, name: str, ip: str) -> Case:
        self.ips[name] = ip
        return self

    def _event(self, t: float, host: str, channel: str, eid: int, **cols: Any) -> dict[str, Any]:
        self._pos += 1
        row = {k: None for k in EVENT_COLUMNS}
        row.update(ts=ns(t), host=host, channel=channel, event_id=eid, record_id=self._pos,
                   source_file=f"{host}/{channel}.jsonl", source_pos=self._pos, **cols)
        self.events.append(row)
        return row

    def logon(self, t: float, dst: str, src: str, user: str, ltype: int = 10,
              logon_id: str | None = None) -> Case:
        ip = self.ips.get(src, src)
        workstation = src if src in self.ips or not _is_ip(src) else None
        self._event(t, dst, "Security", 4624, logon_type=ltype, target_user=user,
                    target_domain="CORP", src_ip=ip, workstation=workstation,
                    logon_id=logon_id)
        return self

    def process(self, t: float, host: str, image: str, cmd: str, parent: str = "",
                user: str = "CORP\\someone", logon_id: str | None = None) -> Case:
        self._event(t, host, "Microsoft-Windows-Sysmon/Operational", 1, image=image,
                    command_line=cmd, parent_image=parent, user=user, logon_id=logon_id)
        return self

    def clear(self, t: float, host: str, user: str = "someone") -> Case:
        self._event(t, host, "Security", 1102, user=user)
        return self

    def detection(self, t: float, host: str, level: str, rule: str, user: str | None = None,
                  cmd: str | None = None, tags: tuple[str, ...] = ()) -> Case:
        self._pos += 1
        row = {k: None for k in DET_COLUMNS}
        row.update(rule_id=rule, title=rule.replace("-", " "), level=level, tags=list(tags),
                   rule_file=f"{rule}.yml", ts=ns(t), host=host, user=user,
                   channel="Microsoft-Windows-Sysmon/Operational", event_id=1,
                   record_id=self._pos, source_file=f"{host}/sysmon.jsonl",
                   source_pos=self._pos, command_line=cmd)
        self.dets.append(row)
        return self

    def inputs(self) -> CaseInputs:
        events = pa.Table.from_pylist(self.events, schema=pa.schema(EVENT_COLUMNS))
        dets = pa.Table.from_pylist(self.dets, schema=pa.schema(DET_COLUMNS))
        hosts = {r["host"] for r in self.events} | {r["host"] for r in self.dets} | set(self.ips)
        times = [r["ts"] for r in self.events + self.dets] or [ns(0)]
        channels = pa.Table.from_pylist([
            {"host": h, "channel": "Security", "events": 1, "first_ts": min(times),
             "last_ts": max(times), "first_record": 1, "last_record": 1}
            for h in sorted(hosts)
        ] + [
            {"host": h, "channel": "Microsoft-Windows-Sysmon/Operational", "events": 1,
             "first_ts": min(times), "last_ts": max(times), "first_record": 1,
             "last_record": 1}
            for h in sorted(hosts)
        ])
        ip_rows = [{"ip": ip, "name": h, "ts": min(times)} for h, ip in self.ips.items()]
        return CaseInputs(
            events=events, detections=dets, channels=channels,
            gaps=pa.Table.from_pylist([], schema=pa.schema({
                "host": pa.string(), "channel": pa.string(), "prev_record": pa.int64(),
                "record_id": pa.int64(), "prev_ts": pa.int64(), "ts": pa.int64()})),
            ip_observations=pa.Table.from_pylist(ip_rows, schema=pa.schema({
                "ip": pa.string(), "name": pa.string(), "ts": pa.int64()})),
            sids=pa.Table.from_pylist([], schema=pa.schema({
                "sid": pa.string(), "target_user": pa.string()})),
        )


def _is_ip(text: str) -> bool:
    return text.replace(".", "").isdigit()


def network() -> Case:
    """A small estate: web server, file server, two DCs, a workstation, a helpdesk PC."""
    case = Case()
    for name, ip in (("WEB", "10.0.0.5"), ("FS", "10.0.0.6"), ("DC", "10.0.0.2"),
                     ("DC2", "10.0.0.3"), ("WS", "10.0.0.7"), ("HELP", "10.0.0.8"),
                     ("KIOSK", "10.0.0.9")):
        case.host(name, ip)
    return case


def attacked(benign: bool = True) -> Case:
    """A campaign WEB → FS (RDP after credential theft) → WS (WMI), a clear and a re-entry.

    The helpdesk PC RDPs to every server as ``admin`` each weekday (benign), and an unrelated
    intrusion hits KIOSK on day 50.
    """
    case = network()
    if benign:
        for day in range(0, 60):
            for server in ("WEB", "FS", "DC", "DC2"):
                case.logon(day * DAY + 9 * HOUR, server, "HELP", "admin")
            case.process(day * DAY + 2 * HOUR, "FS", "C:\\Windows\\System32\\vssadmin.exe",
                         "vssadmin delete shadows /for=D: /oldest", user="CORP\\backup")
            case.detection(day * DAY + 2 * HOUR, "FS", "high", "shadow-copy-deletion",
                           user="backup", cmd="vssadmin delete shadows /for=D: /oldest",
                           tags=("attack.t1490",))
    # Day 10: web shell on WEB.
    case.detection(10 * DAY, "WEB", "high", "webshell-child", user="svc_web",
                   cmd="cmd /c whoami")
    case.detection(10 * DAY + 60, "WEB", "high", "webshell-recon", user="svc_web",
                   cmd="cmd /c net localgroup administrators")
    # Day 12: credential theft on WEB.
    case.detection(12 * DAY, "WEB", "high", "mimikatz", user="svc_web",
                   cmd="m64.exe sekurlsa::logonpasswords exit", tags=("attack.t1003.001",))
    # Day 13 21:00: RDP WEB -> FS as admin.
    case.logon(13 * DAY + 21 * HOUR, "FS", "WEB", "admin")
    case.process(13 * DAY + 21 * HOUR + 600, "FS", "C:\\Windows\\System32\\cmd.exe",
                 "cmd /c dir /s \\\\FS\\Docs$", user="CORP\\admin")
    # Day 14: WMI WEB -> WS as admin.
    case.logon(14 * DAY + 20 * HOUR, "WS", "WEB", "admin", ltype=3, logon_id="0x1234")
    case.process(14 * DAY + 20 * HOUR + 5, "WS", "C:\\Windows\\System32\\cmd.exe",
                 "cmd.exe /Q /c whoami 1> \\\\127.0.0.1\\ADMIN$\\__1 2>&1",
                 parent="C:\\Windows\\System32\\wbem\\WmiPrvSE.exe", user="CORP\\admin",
                 logon_id="0x1234")
    case.detection(14 * DAY + 20 * HOUR + 5, "WS", "high", "wmiexec", user="admin",
                   cmd="cmd.exe /Q /c whoami 1> \\\\127.0.0.1\\ADMIN$\\__1 2>&1")
    # Day 20: staging and impact on FS.
    case.process(20 * DAY + 21 * HOUR, "FS", "C:\\Program Files\\WinRAR\\rar.exe",
                 "rar.exe a -hpS3cret C:\\ProgramData\\d.rar C:\\Docs", user="CORP\\admin")
    case.logon(20 * DAY + 20 * HOUR + 1800, "FS", "WEB", "admin")
    case.process(20 * DAY + 22 * HOUR, "FS", "C:\\Windows\\System32\\vssadmin.exe",
                 "vssadmin.exe delete shadows /all /quiet", user="CORP\\admin")
    case.clear(20 * DAY + 23 * HOUR, "FS", user="admin")
    # Day 40 (after an eviction on day 30): re-entry from the internet as admin.
    case.logon(40 * DAY + 3 * HOUR, "FS", "203.0.113.90", "admin")
    # Day 50: an unrelated intrusion on KIOSK.
    case.detection(50 * DAY, "KIOSK", "critical", "ransomware-note", user="kioskuser",
                   tags=("attack.t1486",))
    return case
