"""Benchmark: campaign reconstruction time over a large case (target: 1M events < 30 s).

Builds a synthetic case of N events directly as Parquet parts (default 1,000,000; 300 hosts, a
mix weighted towards the events reconstruction reads: 4624 logons, Sysmon 1/3/11, 5145 admin
shares, 4688, 7045, with ~450-byte ``fields``), plus D detections (default 20,000) on random
events, a third of them high or critical, then times ``reconstruct_case`` in this process and
prints the figures. Exits 1 when reconstruction takes longer than the budget.

    python bench/campaign.py [--rows 1000000] [--detections 20000] [--dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from dwell.correlate import reconstruct_case
from dwell.model import SourceSummary
from dwell.schema import DETECTION_SCHEMA, EVENT_SCHEMA
from dwell.store import CaseWriter, PartWriter

BUDGET_S = 30.0
BATCH = 250_000
START_NS = 1_620_000_000 * 10**9
SPAN_NS = 400 * 86_400 * 10**9
HOSTS = 300

#: kind -> (channel, event id, percent of events)
KINDS = (
    ("Security", 4624, 35),
    ("Microsoft-Windows-Sysmon/Operational", 1, 28),
    ("Microsoft-Windows-Sysmon/Operational", 3, 15),
    ("Security", 5145, 8),
    ("Security", 4688, 6),
    ("Microsoft-Windows-Sysmon/Operational", 11, 6),
    ("System", 7045, 2),
)
COMMANDS = (
    "C:\\Windows\\System32\\svchost.exe -k netsvcs -p", "cmd.exe /c dir C:\\Users",
    "powershell.exe -NoProfile -File C:\\scripts\\inventory.ps1", "net stop spooler",
    "vssadmin list shadows", "rar.exe a -hpX C:\\ProgramData\\b.rar C:\\data",
    "cmd.exe /Q /c whoami 1> \\\\127.0.0.1\\ADMIN$\\__1 2>&1", "taskhostw.exe",
)
PARENTS = ("C:\\Windows\\explorer.exe", "C:\\Windows\\System32\\services.exe",
           "C:\\Windows\\System32\\wbem\\WmiPrvSE.exe", "C:\\Windows\\System32\\svchost.exe")


def _ints(n: int, high: int) -> pa.Array:
    return pc.cast(pc.floor(pc.multiply(pc.random(n), float(high))), pa.int64())


def _pick(values: tuple[object, ...], weights: tuple[int, ...], n: int, typ: pa.DataType
          ) -> pa.Array:
    table = pa.array([v for v, w in zip(values, weights, strict=True) for _ in range(w)], typ)
    return table.take(_ints(n, len(table)))


def build_case(case: Path, rows: int) -> None:
    sha = "c" * 64
    hosts = pa.array([f"HOST{i:03d}" for i in range(HOSTS)])
    fqdns = pa.array([f"host{i:03d}.corp.local" for i in range(HOSTS)])
    ips = pa.array([f"10.20.{i // 250}.{i % 250 + 1}" for i in range(HOSTS)])
    users = pa.array([f"user{i:03d}" for i in range(800)] + ["Administrator"] * 40)
    kind_of = pa.array([k for k, (_, _, pct) in enumerate(KINDS) for _ in range(pct)], pa.int64())
    channels = pa.array([c for c, _, _ in KINDS])
    eids = pa.array([e for _, e, _ in KINDS], pa.int32())
    with CaseWriter(case) as writer:
        sink = PartWriter(str(case), sha)
        done = 0
        while done < rows:
            n = min(BATCH, rows - done)
            kind = kind_of.take(_ints(n, len(kind_of)))
            host = _ints(n, HOSTS)
            peer = _ints(n, HOSTS)
            user = users.take(_ints(n, len(users)))
            cmd = _pick(COMMANDS, (60, 20, 10, 3, 3, 1, 1, 2), n, pa.string())
            cols = {name: pa.nulls(n, f.type) for name, f in
                    zip(EVENT_SCHEMA.names, EVENT_SCHEMA, strict=True)}
            cols["timestamp"] = pc.add(_ints(n, SPAN_NS), START_NS).cast(
                pa.timestamp("ns", tz="UTC"))
            cols["host"] = fqdns.take(host)
            cols["host_short"] = hosts.take(host)
            cols["channel"] = channels.take(kind)
            cols["provider"] = pa.array(["bench"] * n)
            cols["event_id"] = eids.take(kind)
            cols["record_id"] = pa.array(range(done, done + n), pa.int64())
            cols["data_type"] = pa.array(["windows:evtx:record"] * n)
            cols["source_file"] = pa.array(["bench/synthetic.evtx"] * n)
            cols["source_sha256"] = pa.array([sha] * n)
            cols["source_pos"] = cols["record_id"]
            cols["user"] = user
            cols["image"] = pa.array(["C:\\Windows\\System32\\cmd.exe"] * n)
            cols["command_line"] = cmd
            cols["parent_image"] = _pick(PARENTS, (70, 20, 2, 8), n, pa.string())
            cols["target_filename"] = _pick(("C:\\Windows\\Temp\\x.tmp", "C:\\Docs\\a.docx",
                                             "C:\\ProgramData\\b.rar"), (90, 9, 1), n,
                                            pa.string())
            cols["src_ip"] = ips.take(peer)
            cols["dst_ip"] = ips.take(peer)
            cols["dst_port"] = _pick((445, 443, 3389, 80, 53, 5985), (30, 40, 5, 15, 9, 1), n,
                                     pa.int64())
            cols["logon_type"] = _pick((3, 10, 2, 5), (70, 10, 10, 10), n, pa.int64())
            cols["target_user"] = user
            cols["workstation"] = hosts.take(peer)
            cols["logon_id"] = pc.cast(_ints(n, 10**9), pa.string())
            cols["service_name"] = pa.array(["svc"] * n)
            cols["service_file"] = _pick(("C:\\Windows\\System32\\drivers\\x.sys",
                                          "%COMSPEC% /c echo hi"), (95, 5), n, pa.string())
            cols["share_name"] = _pick(("\\\\*\\IPC$", "\\\\*\\ADMIN$", "\\\\*\\C$"),
                                       (80, 10, 10), n, pa.string())
            cols["fields"] = pc.binary_join_element_wise(
                '{"Provider_Name":"bench","Version":5,"Level":4,"Task":1,"Opcode":0,'
                '"Keywords":"0x8000000000000000","Initiated":"true","RuleName":"-",'
                '"ProcessGuid":"{747f3d96-1f5a-5f1b-0000-0010b5e01a00}","ProcessId":4242,'
                '"TargetUserSid":"S-1-5-21-1-2-3-1001","User":"', user,
                '","IntegrityLevel":"High","CommandLine":"',
                pc.replace_substring(cmd, "\\", "\\\\"), '"}', "")
            sink.write(pa.RecordBatch.from_arrays([cols[c] for c in EVENT_SCHEMA.names],
                                                  schema=EVENT_SCHEMA))
            done += n
        parts = sink.close()
        summary = SourceSummary("bench/synthetic.evtx", sha, rows * 100, "synthetic", rows, 0,
                                START_NS, START_NS + SPAN_NS)
        writer.commit_sources(sha, [(summary, [])], parts)


def detections(count: int, rows: int) -> pa.Table:
    rng = random.Random(7)
    out = []
    for _ in range(count):
        pos = rng.randrange(rows)
        host = rng.randrange(HOSTS)
        level = rng.choice(("medium", "medium", "high", "low", "critical", "high"))
        rule = rng.randrange(120)
        out.append({
            "rule_id": f"rule-{rule}", "title": f"Rule {rule}", "level": level,
            "status": "test", "tags": ["attack.t1003.001"] if rule % 17 == 0 else [],
            "rule_file": f"r{rule}.yml", "rule_sha256": "0" * 64,
            "timestamp": START_NS + rng.randrange(SPAN_NS), "host": f"host{host:03d}.corp.local",
            "host_short": f"HOST{host:03d}", "user": f"user{rng.randrange(800):03d}",
            "channel": "Microsoft-Windows-Sysmon/Operational", "event_id": 1,
            "record_id": pos, "source_file": "bench/synthetic.evtx", "source_sha256": "c" * 64,
            "source_pos": pos, "matched": "{}", "correlation": None,
        })
    return pa.Table.from_pylist(out, schema=DETECTION_SCHEMA)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--detections", type=int, default=20_000)
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="dwell-bench-campaign-"))
    case = root / "case"
    try:
        started = time.perf_counter()
        if not case.exists():
            build_case(case, args.rows)
        print(f"built {args.rows:,} events in {time.perf_counter() - started:.1f} s")
        dets = detections(args.detections, args.rows)
        started = time.perf_counter()
        cpu = time.process_time()
        report = reconstruct_case(case, evicted_at=START_NS + SPAN_NS // 2, detections=dets)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        stats = report.stats
        print(f"reconstructed {args.rows:,} events, {args.detections:,} detections in "
              f"{seconds:.1f} s wall, {cpu:.1f} s CPU (load {stats.get('load_seconds')} s, "
              f"reasoning "
              f"{stats.get('reason_seconds')} s): {len(report.campaigns)} campaigns, "
              f"{int(stats.get('events_read', 0)):,} events read, "
              f"{int(stats.get('edges', 0)):,} edges")
        return 0 if seconds <= BUDGET_S else 1
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
