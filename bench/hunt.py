"""Hunt benchmark: raw `evtx` + JSON decode rate vs dwell's cold hunt and retro-hunt.

    python bench/hunt.py [--events 1000000] [--json-share 0.55] [--work bench/_work/hunt]

Builds (once, then reuses) a mixed Windows log corpus of at least ``--events`` events:

- evtx-JSON lines from the demo scenario generator (``dwell.scenario.generate`` at a scale
  giving about ``--json-share`` of the events: benign background plus the campaign);
- EVTX: copies of ../shared/data/evtx-attack-samples, each with a distinct byte in the unused
  part of the file header (so that each copy has its own SHA-256 and is not deduplicated).

Then measures in the same run, with the full SigmaHQ Windows rule set (rules,
rules-emerging-threats, rules-threat-hunting) plus dwell's own pack:

1. raw: `evtx` records_json() + orjson.loads of every EVTX record, and orjson.loads of every
   JSON line; one process, and one process per CPU;
2. cold hunt: ``dwell hunt PATHS --case NEW --rules ...`` (ingest + match + store detections);
3. retro-hunt: ``dwell hunt --case SAME --rules ...`` over the stored case.

Each step first runs once untimed (warm-up), then ``--rounds`` rounds of the three steps run back
to back and the medians are reported, with each round's ratios. Both dwell runs are
subprocesses; then both run once more with the peak memory of their whole process tree
sampled (sampling takes CPU, so it stays out of the timed runs). It prints events/s of each,
cold/raw, the retro speed-up over cold and the peak RSS, and the CPU seconds (user + system,
children included) per event of each step: on a shared machine the
wall-clock ratios move with other load, the CPU ones much less.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import evtx
import orjson
import psutil

from _memory import watch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".." / "shared" / "data"
SAMPLES = DATA / "evtx-attack-samples"
SIGMA = DATA / "sigma"
RULE_DIRS = ("rules", "rules-emerging-threats", "rules-threat-hunting")
#: events per unit of the scenario generator's ``scale`` (measured: 9.2 -> 430k events)
EVENTS_PER_SCALE = 47_000


def count_lines(files: list[Path]) -> int:
    n = 0
    for path in files:
        with open(path, "rb") as fh:
            n += sum(1 for line in fh if line.strip())
    return n


def build_json(work: Path, events: int) -> list[Path]:
    """The scenario's JSON lines for about ``events`` events (reused if built for that many)."""
    folder = work / "jsonl"
    marker = folder / ".events"  # "<events asked> <lines written>"
    if marker.is_file() and int(marker.read_text().split()[0]) == events:
        return sorted(folder.rglob("*.jsonl"))
    from dwell.scenario import generate

    shutil.rmtree(folder, ignore_errors=True)
    scale = max(0.1, events / EVENTS_PER_SCALE)
    generate(folder, scale=scale)
    files = sorted(folder.rglob("*.jsonl"))
    marker.write_text(f"{events} {count_lines(files)}")
    return files


def build_evtx(work: Path, events: int, per_copy: int) -> list[Path]:
    folder = work / "evtx"
    sources = sorted(SAMPLES.rglob("*.evtx"))
    copies = max(1, -(-events // per_copy))
    files = sorted(folder.rglob("*.evtx")) if folder.is_dir() else []
    if len(files) == copies * len(sources):
        return files
    shutil.rmtree(folder, ignore_errors=True)
    files = []
    for copy in range(copies):
        for src in sources:
            data = bytearray(src.read_bytes())
            data[200:204] = copy.to_bytes(4, "little")  # unused header padding
            dst = folder / f"copy{copy:04d}" / src.relative_to(SAMPLES)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(data)
            files.append(dst)
    return files


def _raw_evtx(paths: list[str]) -> int:
    n = 0
    for path in paths:
        try:
            for rec in evtx.PyEvtxParser(path, number_of_threads=1).records_json():
                orjson.loads(rec["data"])
                n += 1
        except (OSError, RuntimeError):  # a damaged sample: count what was read
            continue
    return n


def _raw_json(paths: list[str]) -> int:
    n = 0
    for path in paths:
        with open(path, "rb") as fh:
            for line in fh:
                if line.strip():
                    orjson.loads(line)
                    n += 1
    return n


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its waited-for descendants so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def raw(evtx_files: list[Path], json_files: list[Path], workers: int) -> tuple[int, int, float]:
    """(EVTX records, JSON lines, seconds) of decoding everything with ``workers`` processes."""
    ev = [str(f) for f in evtx_files]
    js = [str(f) for f in json_files]
    start = time.perf_counter()
    if workers == 1:
        n_evtx, n_json = _raw_evtx(ev), _raw_json(js)
    else:
        with ProcessPoolExecutor(workers) as pool:
            a = pool.map(_raw_evtx, [ev[i::workers] for i in range(workers)])
            b = pool.map(_raw_json, [js[i::workers] for i in range(workers)])
            n_evtx, n_json = sum(a), sum(b)
    return n_evtx, n_json, time.perf_counter() - start


def run_dwell(args: list[str], log: Path, *, sample_memory: bool = False,
              ) -> tuple[float, int, str, float]:
    """Run ``dwell ARGS``; (seconds, peak RSS of the process tree, output, CPU seconds).

    Memory is sampled only when asked (reading the tree's smaps takes CPU from the run): the
    timed runs and the memory runs are separate runs.
    """
    cpu = cpu_seconds()
    start = time.perf_counter()
    peak = 0
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dwell", *args], stdout=out,
                                stderr=subprocess.STDOUT)
        if sample_memory:
            rss, pss = watch(proc)
            peak = rss  # the sum over the tree (overstates shared pages; PSS printed too)
            print(f"  (peak memory of `dwell {args[0]}`: PSS {pss / 2**20:,.0f} MiB, "
                  f"RSS sum {rss / 2**20:,.0f} MiB)")
        else:
            proc.wait()
    elapsed = time.perf_counter() - start
    text = log.read_text()
    if proc.returncode not in (0, 3):
        raise SystemExit(f"dwell {' '.join(args[:2])} failed ({proc.returncode}):\n{text[-3000:]}")
    return elapsed, peak, text, cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--json-share", type=float, default=0.55)
    parser.add_argument("--work", type=Path, default=REPO / "bench" / "_work" / "hunt")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=3,
                        help="timed rounds of raw, cold and retro (medians reported)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    cache = args.work / "rule-cache"
    os.environ["DWELL_CACHE_DIR"] = str(cache)  # the subprocesses share the compiled rules

    per_copy = _raw_evtx([str(p) for p in sorted(SAMPLES.rglob("*.evtx"))])
    json_files = build_json(args.work, int(args.events * args.json_share))
    n_json_target = int((args.work / "jsonl" / ".events").read_text().split()[1])
    evtx_files = build_evtx(args.work, max(0, args.events - n_json_target), per_copy)
    rules: list[str] = []
    for name in RULE_DIRS:
        rules += ["--rules", str(SIGMA / name)]

    from dwell.rules import load_rules  # compile (or load) the rule set once, outside timing

    ruleset = load_rules([SIGMA / name for name in RULE_DIRS])
    size = sum(f.stat().st_size for f in [*evtx_files, *json_files])
    print(f"date: {dt.date.today()}; machine: {platform.machine()} {os.cpu_count()} cpus, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB; python {platform.python_version()}")
    print(f"rules: {len(ruleset.rules)} ({len(ruleset.errors)} unusable, reported)")

    case = args.work / "case"
    paths = [str(args.work / "evtx"), str(args.work / "jsonl" / "logs")]
    cold_args = ["hunt", *paths, "--case", str(case), *rules, "--jobs", str(args.jobs)]
    retro_args = ["hunt", "--case", str(case), *rules, "--jobs", str(args.jobs)]

    def timed_raw() -> tuple[int, int, float, float]:
        cpu = cpu_seconds()
        n_ev, n_js, seconds = raw(evtx_files, json_files, 1)
        return n_ev, n_js, seconds, cpu_seconds() - cpu

    # untimed warm-up of each step (page cache, first-run effects: the first round ran slow)
    n_ev, n_js, _, _ = timed_raw()
    total = n_ev + n_js
    print(f"corpus: {total:,} events = {n_ev:,} EVTX records ({len(evtx_files)} files) + "
          f"{n_js:,} evtx-JSON lines ({len(json_files)} files), {size / 1e9:.2f} GB")
    shutil.rmtree(case, ignore_errors=True)
    run_dwell(cold_args, args.work / "cold.log")
    run_dwell(retro_args, args.work / "retro.log")
    _, _, tn = raw(evtx_files, json_files, args.jobs)
    print(f"raw evtx+orjson / JSON decode, {args.jobs} processes: {total / tn:>9,.0f} events/s "
          f"({tn:.1f} s)")
    rounds: list[dict[str, float]] = []
    detections = "?"
    for number in range(1, args.rounds + 1):
        _, _, t1, c1 = timed_raw()
        shutil.rmtree(case, ignore_errors=True)
        t_cold, _, out, c_cold = run_dwell(cold_args, args.work / "cold.log")
        t_retro, _, out_retro, c_retro = run_dwell(retro_args, args.work / "retro.log")
        found = re.search(r"hunted ([\d,]+) events .*?: ([\d,]+) detections", out)
        again = re.search(r"hunted ([\d,]+) events .*?: ([\d,]+) detections", out_retro)
        detections = found.group(2) if found else "?"
        if not again or again.group(2) != detections:
            raise SystemExit(f"cold and retro-hunt disagree: {detections} vs "
                             f"{again.group(2) if again else '?'} detections")
        rounds.append({"raw": t1, "cold": t_cold, "retro": t_retro, "c_raw": c1,
                       "c_cold": c_cold, "c_retro": c_retro})
        print(f"round {number}: raw {total / t1:,.0f} ev/s, cold {total / t_cold:,.0f} ev/s "
              f"({t_cold:.1f} s), retro {total / t_retro:,.0f} ev/s ({t_retro:.1f} s): "
              f"cold/raw {t1 / t_cold:.2f}, retro speed-up {t_cold / t_retro:.2f}x")

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    t1, t_cold, t_retro = median("raw"), median("cold"), median("retro")
    c1, c_cold, c_retro = median("c_raw"), median("c_cold"), median("c_retro")
    print(f"medians of {len(rounds)} rounds:")
    print(f"raw evtx+orjson / JSON decode, 1 process : {total / t1:>9,.0f} events/s ({t1:.1f} s; "
          f"{total / c1:,.0f} events per CPU-second)")
    print(f"dwell cold hunt (ingest+hunt), {args.jobs} jobs : {total / t_cold:>9,.0f} events/s "
          f"({t_cold:.1f} s, {detections} detections); "
          f"{total / c_cold:,.0f} events per CPU-second")
    print(f"dwell retro-hunt, {args.jobs} jobs            : {total / t_retro:>9,.0f} events/s "
          f"({t_retro:.1f} s, {detections} detections); "
          f"{total / c_retro:,.0f} events per CPU-second")
    # the same two runs again, with the process trees' memory sampled
    shutil.rmtree(case, ignore_errors=True)
    _, rss_cold, _, _ = run_dwell(cold_args, args.work / "cold.log", sample_memory=True)
    _, rss_retro, _, _ = run_dwell(retro_args, args.work / "retro.log", sample_memory=True)
    ratios = ", ".join(f"{r['raw'] / r['cold']:.2f}" for r in rounds)
    speedups = ", ".join(f"{r['cold'] / r['retro']:.2f}x" for r in rounds)
    print(f"cold / raw (1 process)              : {t1 / t_cold:.2f}  (target >= 0.50; "
          f"rounds {ratios})")
    print(f"cold / raw ({args.jobs} processes)            : {tn / t_cold:.2f}")
    print(f"retro speed-up over cold            : {t_cold / t_retro:.2f}x  (target >= 3x; "
          f"rounds {speedups})")
    print(f"CPU per event: raw {c1 / total * 1e6:.1f} us, cold {c_cold / total * 1e6:.1f} us, "
          f"retro {c_retro / total * 1e6:.1f} us (cold/raw by CPU {c1 / c_cold:.2f}, retro "
          f"speed-up by CPU {c_cold / c_retro:.2f}x; independent of other load on the machine)")
    print(f"peak RSS (max of both)              : {max(rss_cold, rss_retro) / 2**20:,.0f} MiB "
          "(target < 1024)")

if __name__ == "__main__":
    main()
