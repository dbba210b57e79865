"""The case store is idempotent and crash-safe."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pyarrow.parquet as pq

from dwell.cli._console import Ui
from dwell.cli.ingest_cmd import case_info, ingest_paths
from dwell.store import open_case
from dwell.store.query import list_parts


def _write_events(path: Path, count: int, host: str) -> None:
    with open(path, "wb") as fh:
        for i in range(count):
            fh.write(orjson.dumps({"Event": {
                "System": {"EventID": 4688, "Channel": "Security", "Computer": host,
                           "EventRecordID": i + 1, "Provider": {"#attributes": {
                               "Name": "Microsoft-Windows-Security-Auditing"}},
                           "TimeCreated": {"#attributes": {
                               "SystemTime": f"2022-05-04T21:{i // 6000 % 60:02d}:"
                                             f"{i // 100 % 60:02d}.{i % 100:02d}0000Z"}}},
                "EventData": {"NewProcessName": "C:\\Windows\\System32\\cmd.exe",
                              "CommandLine": f"cmd /c echo {i} " + "padding " * 40,
                              "SubjectUserName": "alice"}}}) + b"\n")


def _consistent(case: Path) -> int:
    """Events visible == sum of committed sources' records == rows in the committed parts."""
    with open_case(case) as reader:
        events = reader.sql("SELECT count(*) FROM events").fetchone()
        declared = reader.sql("SELECT coalesce(sum(records), 0) FROM sources").fetchone()
        files = list(reader.part_files)
    assert events is not None and declared is not None
    assert events[0] == declared[0]
    assert sum(pq.ParquetFile(f).metadata.num_rows for f in files) == events[0]
    parts = list_parts(case)  # (the catalog alone: the same parts and rows)
    assert sorted(str(case / "events" / name) for _, name, _ in parts) == sorted(files)
    assert sum(rows for _, _, rows in parts) == events[0]
    return int(events[0])


def test_reingest_adds_nothing(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    _write_events(logs / "a.jsonl", 500, "WS1")
    _write_events(logs / "b.jsonl", 300, "WS2")
    case = tmp_path / "case"
    first = ingest_paths([str(logs)], str(case), Ui(quiet=True))
    assert first.records == 800
    # same content again, under another name too
    (tmp_path / "copy.jsonl").write_bytes((logs / "a.jsonl").read_bytes())
    second = ingest_paths([str(logs), str(tmp_path / "copy.jsonl")], str(case), Ui(quiet=True))
    assert second.records == 0 and second.duplicates == 3
    info = case_info(str(case))
    assert info["events"] == 800 and info["sources"] == 2
    assert info["hosts"] == {"WS1": 500, "WS2": 300}
    assert _consistent(case) == 800


def test_killed_ingest_leaves_no_partial_data(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    per_file, files = 20_000, 8
    for n in range(files):
        _write_events(logs / f"host{n}.jsonl", per_file, f"H{n}")
    case = tmp_path / "case"
    cmd = [sys.executable, "-m", "dwell", "ingest", str(logs), "--case", str(case),
           "--jobs", "1", "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    events = case / "events"
    deadline = time.monotonic() + 120
    # kill while a part is being written (a temporary file exists), after at least one commit
    while time.monotonic() < deadline and proc.poll() is None:
        names = [p.name for p in events.glob("*")] if events.is_dir() else []
        if any(n.endswith(".parquet") and not n.startswith(".") for n in names) and any(
            n.endswith(".tmp") for n in names
        ):
            break
        time.sleep(0.005)
    assert proc.poll() is None, "ingest finished before it could be killed; make the input larger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    partial = _consistent(case)  # readable, and only whole sources are visible
    assert partial % per_file == 0 and partial < per_file * files
    report = ingest_paths([str(logs)], str(case), Ui(quiet=True))
    assert report.records == per_file * files - partial
    assert _consistent(case) == per_file * files
    leftovers = [p.name for p in events.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_listing_parts_of_no_case_names_the_fix(tmp_path: Path) -> None:
    import pytest

    from dwell.errors import StoreError

    with pytest.raises(StoreError, match=r"no case at .*dwell ingest PATH --case"):
        list_parts(tmp_path / "none")


def test_parts_keep_statistics_and_dictionaries_where_they_serve(tmp_path: Path) -> None:
    """Row groups can be pruned by time, host, channel and event id (min/max statistics);
    the fields JSON (large, distinct per event) has neither statistics nor a dictionary."""
    logs = tmp_path / "logs"
    logs.mkdir()
    _write_events(logs / "a.jsonl", 200, "WS1")
    case = tmp_path / "case"
    ingest_paths([str(logs)], str(case), Ui(quiet=True))
    (part,) = (case / "events").glob("*.parquet")
    group = pq.ParquetFile(part).metadata.row_group(0)
    columns = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    for name in ("timestamp", "host", "channel", "event_id"):
        assert columns[name].is_stats_set, name
    assert str(columns["timestamp"].statistics.min).startswith("2022-05-04 21:00:00")
    assert not columns["fields"].is_stats_set
    assert "RLE_DICTIONARY" in columns["channel"].encodings
    assert "RLE_DICTIONARY" not in columns["fields"].encodings
