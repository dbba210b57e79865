"""Ingest benchmark: raw `evtx` parse rate vs dwell's full ingest into a case store.

    python bench/ingest.py [--gb 2.0] [--work bench/_work] [--repeat 3]

Replicates ../shared/data/evtx-attack-samples until the corpus reaches ``--gb`` gigabytes
(each copy gets a distinct byte in the unused part of the EVTX file header so that it has its
own SHA-256 and is not deduplicated), then measures in the same run:

1. raw: `evtx` records_json() + orjson.loads of every record, no storage, one process
   (``--repeat`` rounds, each right before an ingest; medians reported);
2. raw, two processes (files split across a process pool, like dwell's ingest);
3. dwell ingest into a fresh case (default --jobs), timed; then once more with the peak memory
   of the whole process tree sampled (the sampling costs CPU, so it is not in the timed run).

It prints records/s and MB/s of each and the ratio ingest/raw.
"""

from __future__ import annotations

import argparse
import os
import platform
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
SAMPLES = REPO / ".." / "shared" / "data" / "evtx-attack-samples"


def replicate(work: Path, gigabytes: float) -> list[Path]:
    corpus = work / "corpus"
    target = int(gigabytes * 1e9)
    sources = sorted(p for p in SAMPLES.rglob("*.evtx"))
    files = sorted(corpus.rglob("*.evtx")) if corpus.is_dir() else []
    if sum(f.stat().st_size for f in files) >= target and all(
        len(files) % len(sources) == 0 for _ in [0]
    ):
        return files
    shutil.rmtree(corpus, ignore_errors=True)
    corpus.mkdir(parents=True)
    total, copy = 0, 0
    files = []
    while total < target:
        folder = corpus / f"copy{copy:04d}"
        folder.mkdir()
        for src in sources:
            data = bytearray(src.read_bytes())
            # bytes 128..4095 of the header block are unused padding: make each copy unique
            data[200:204] = copy.to_bytes(4, "little")
            dst = folder / src.relative_to(SAMPLES)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(data)
            files.append(dst)
            total += len(data)
        copy += 1
    return files


def _parse(paths: list[str]) -> int:
    n = 0
    for path in paths:
        for rec in evtx.PyEvtxParser(path, number_of_threads=1).records_json():
            orjson.loads(rec["data"])
            n += 1
    return n


def raw(files: list[Path], workers: int) -> tuple[int, float]:
    paths = [str(f) for f in files]
    start = time.perf_counter()
    if workers == 1:
        n = 0
        for path in paths:
            for rec in evtx.PyEvtxParser(path).records_json():
                orjson.loads(rec["data"])
                n += 1
    else:
        shards = [paths[i::workers] for i in range(workers)]
        with ProcessPoolExecutor(workers) as pool:
            n = sum(pool.map(_parse, shards))
    return n, time.perf_counter() - start


def ingest(corpus: Path, case: Path, sample_memory: bool) -> tuple[float, int, int]:
    """(seconds, peak RSS sum, peak PSS sum) of one `dwell ingest` into a new case.

    Memory is sampled only when asked: reading the tree's smaps takes CPU from the run, so the
    timed run and the memory run are separate runs.
    """
    shutil.rmtree(case, ignore_errors=True)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "dwell", "ingest", str(corpus),
                             "--case", str(case), "-q"])
    rss = pss = 0
    if sample_memory:
        rss, pss = watch(proc)
    else:
        proc.wait()
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 3):
        raise SystemExit(f"dwell ingest failed with exit code {proc.returncode}")
    return elapsed, rss, pss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=2.0)
    parser.add_argument("--work", type=Path, default=REPO / "bench" / "_work")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of raw + ingest")
    args = parser.parse_args()
    files = replicate(args.work, args.gb)
    size = sum(f.stat().st_size for f in files)
    print(f"machine: {platform.machine()} {os.cpu_count()} cpus, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB; python {platform.python_version()}")
    print(f"corpus: {len(files)} EVTX files, {size / 1e9:.2f} GB")
    for f in files:  # warm the page cache so that no measurement pays for the disk
        f.read_bytes()
    raw(files, 1)  # and warm the parser's allocator
    ingest(args.work / "corpus", args.work / "case", sample_memory=False)  # and dwell's, alike
    # Rounds of (raw, ingest) back to back, so that both see the same machine: a shared machine's
    # speed drifts by several per cent between minutes. The medians are the figures.
    raws: list[float] = []
    ingests: list[float] = []
    n1 = 0
    for round_ in range(1, args.repeat + 1):
        n1, t1 = raw(files, 1)
        t3, _, _ = ingest(args.work / "corpus", args.work / "case", sample_memory=False)
        raws.append(t1)
        ingests.append(t3)
        print(f"round {round_}: raw {t1:.2f} s, dwell ingest {t3:.2f} s, ratio {t1 / t3:.2f}")
    t1, t3 = statistics.median(raws), statistics.median(ingests)
    print(f"raw evtx+orjson, 1 process : {n1:,} records in {t1:.1f} s = {n1 / t1:,.0f} rec/s, "
          f"{size / t1 / 1e6:,.0f} MB/s (median)")
    n2, t2 = raw(files, os.cpu_count() or 1)
    print(f"raw evtx+orjson, {os.cpu_count()} processes: {n2 / t2:,.0f} rec/s, "
          f"{size / t2 / 1e6:,.0f} MB/s")
    _, rss, pss = ingest(args.work / "corpus", args.work / "case", sample_memory=True)
    print(f"dwell ingest               : {n1:,} records in {t3:.1f} s = {n1 / t3:,.0f} rec/s, "
          f"{size / t3 / 1e6:,.0f} MB/s (median); peak memory of the process tree: "
          f"PSS {pss / 2**20:,.0f} MiB, RSS sum {rss / 2**20:,.0f} MiB")
    print(f"ratio ingest/raw (1 process)  : {t1 / t3:.2f} (medians; per round "
          f"{', '.join(f'{r / i:.2f}' for r, i in zip(raws, ingests, strict=True))})")
    print(f"ratio ingest/raw ({os.cpu_count()} processes): {t2 / t3:.2f}")

if __name__ == "__main__":
    main()
