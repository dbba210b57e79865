"""Benchmark: peak RSS and time of a streamed ``dwell timeline`` export of a large case.

Builds a synthetic case of N events (default 10 million: unsorted timestamps, 200 hosts, a
few channels, 50-byte command lines, 450-byte ``fields``) directly as Parquet parts with
pyarrow (no numpy); then runs ``dwell timeline --format csv|jsonl -o FILE`` as a subprocess,
samples its RSS (with children) every 50 ms via psutil, and prints rows, bytes, seconds and
peak RSS. Exits 1 when the peak exceeds the budget (500 MiB).

    python bench/timeline.py [--rows 10000000] [--dir /tmp/dwell-bench] [--keep]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.compute as pc

from dwell.model import SourceSummary
from dwell.schema import EVENT_SCHEMA
from dwell.store import CaseWriter, PartWriter

BUDGET_MIB = 500
BATCH = 500_000
START_NS = 1_620_000_000 * 10**9
SPAN_NS = 600 * 86_400 * 10**9


def _ints(n: int, high: int) -> pa.Array:
    """``n`` pseudo-random ints in [0, high)."""
    return pc.cast(pc.floor(pc.multiply(pc.random(n), float(high))), pa.int64())


def _json_escaped(values: pa.Array) -> pa.Array:
    return pc.replace_substring(values, "\\", "\\\\")


def build_case(case: Path, rows: int) -> None:
    sha = "b" * 64
    hosts = pa.array([f"HOST{i:03d}" for i in range(200)])
    fqdns = pa.array([f"host{i:03d}.goval.local" for i in range(200)])
    users = pa.array([f"GOVAL\\user{i:03d}" for i in range(500)])
    channels = pa.array(["Security", "Microsoft-Windows-Sysmon/Operational", "System"])
    event_ids = pa.array([4624, 1, 7045], pa.int32())
    with CaseWriter(case) as writer:
        sink = PartWriter(str(case), sha)
        done = 0
        while done < rows:
            n = min(BATCH, rows - done)
            kind = _ints(n, 3)
            host = _ints(n, 200)
            user = users.take(_ints(n, 500))
            cols = {name: pa.nulls(n, field.type) for name, field in
                    zip(EVENT_SCHEMA.names, EVENT_SCHEMA, strict=True)}
            cols["timestamp"] = pc.add(_ints(n, SPAN_NS), START_NS).cast(
                pa.timestamp("ns", tz="UTC"))
            cols["host"] = fqdns.take(host)
            cols["host_short"] = hosts.take(host)
            cols["channel"] = channels.take(kind)
            cols["provider"] = pa.array(["Microsoft-Windows-Security-Auditing"] * n)
            cols["event_id"] = event_ids.take(kind)
            cols["record_id"] = pa.array(range(done, done + n), pa.int64())
            cols["data_type"] = pa.array(["windows:evtx:record"] * n)
            cols["source_file"] = pa.array(["bench/synthetic.evtx"] * n)
            cols["source_sha256"] = pa.array([sha] * n)
            cols["source_pos"] = cols["record_id"]
            cols["user"] = user
            cols["image"] = pa.array(["C:\\Windows\\System32\\cmd.exe"] * n)
            cols["command_line"] = pc.binary_join_element_wise(
                "cmd.exe /c copy \\\\fs01\\docs$\\kabineti\\file-",
                pc.cast(_ints(n, 10**9), pa.string()), "")
            cols["logon_type"] = pc.add(_ints(n, 9), 2)
            cols["target_user"] = user
            cols["src_ip"] = pa.array(["10.10.1.20"] * n)
            cols["fields"] = pc.binary_join_element_wise(  # a realistic ~450-byte event
                '{"Provider_Name":"Microsoft-Windows-Sysmon","EventID":1,"Version":5,'
                '"Level":4,"Task":1,"Opcode":0,"Keywords":"0x8000000000000000",'
                '"Channel":"Microsoft-Windows-Sysmon/Operational","RuleName":"-",'
                '"ProcessGuid":"{747f3d96-1f5a-5f1b-0000-0010b5e01a00}","ProcessId":4242,'
                '"Image":"C:\\\\Windows\\\\System32\\\\cmd.exe","CommandLine":"',
                _json_escaped(cols["command_line"]), '","User":"', _json_escaped(user),
                '","IntegrityLevel":"High"}', "")
            sink.write(pa.RecordBatch.from_arrays([cols[c] for c in EVENT_SCHEMA.names],
                                                  schema=EVENT_SCHEMA))
            done += n
        parts = sink.close()
        summary = SourceSummary("bench/synthetic.evtx", sha, rows * 100, "synthetic", rows, 0,
                                START_NS, START_NS + SPAN_NS)
        writer.commit_sources(sha, [(summary, [])], parts)


def measure(cmd: list[str]) -> tuple[float, int, int]:
    """Run ``cmd``; (seconds, peak RSS bytes of it and its children, exit code)."""
    started = time.perf_counter()
    proc = psutil.Popen(cmd)
    peak = 0
    while proc.poll() is None:
        try:
            rss = proc.memory_info().rss + sum(
                c.memory_info().rss for c in proc.children(recursive=True))
        except psutil.Error:
            rss = 0
        peak = max(peak, rss)
        time.sleep(0.05)
    return time.perf_counter() - started, peak, int(proc.returncode)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--dir", default=None, help="work directory (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the case and outputs")
    parser.add_argument("--formats", default="csv,jsonl")
    args = parser.parse_args()
    work = Path(args.dir or tempfile.mkdtemp(prefix="dwell-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    case = work / "case"
    failed = False
    try:
        if not (case / "catalog.duckdb").exists():
            t0 = time.perf_counter()
            build_case(case, args.rows)
            print(f"built {args.rows:,} events in {time.perf_counter() - t0:.1f} s", flush=True)
        dwell = shutil.which("dwell") or str(Path(sys.executable).parent / "dwell")
        for fmt in args.formats.split(","):
            out = work / f"timeline.{fmt}"
            seconds, peak, code = measure(
                [dwell, "timeline", "-q", "--case", str(case), "--format", fmt, "-o", str(out)])
            with open(out, "rb") as fh:
                lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b""))
            size = out.stat().st_size
            mib = peak / 2**20
            ok = code == 0 and mib < BUDGET_MIB
            failed |= not ok
            print(f"{fmt}: exit {code}, {lines:,} lines, {size / 1e9:.2f} GB in {seconds:.1f} s "
                  f"({args.rows / seconds:,.0f} rows/s); peak RSS {mib:.0f} MiB "
                  f"(budget {BUDGET_MIB} MiB) {'OK' if ok else 'FAIL'}", flush=True)
            if not args.keep:
                out.unlink(missing_ok=True)
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
