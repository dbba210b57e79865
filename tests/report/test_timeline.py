"""Timesketch timelines: the column contract, time order (also across sort slices), filters."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from report_case import SCRIPT, build_detections

from dwell.cli import main
from dwell.cli.timeline_cmd import write_output
from dwell.report import timeline as tl
from dwell.report.timeline import COLUMNS, TimelineOptions, compile_template, export
from dwell.store import open_case

if TYPE_CHECKING:
    import pyarrow as pa

#: What Timesketch needs to import a CSV/JSONL without mapping (its docs: message, datetime,
#: timestamp_desc), plus what we promise on top.
REQUIRED = ("message", "datetime", "timestamp_desc")
PROMISED = ("host", "user", "rule", "level", "tactic", "technique", "source_file", "record_id")
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")


def _export(case: Path, fmt: str, detections: pa.Table | None = None, **options: Any) -> bytes:
    with open_case(case) as reader:
        return b"".join(export(reader, detections, TimelineOptions(**options), fmt))  # type: ignore[arg-type]


def _csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def _jsonl_rows(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def _check_contract(rows: list[dict[str, Any]]) -> None:
    assert rows
    for row in rows:
        assert set(REQUIRED + PROMISED) <= set(row)
        assert ISO_UTC.match(str(row["datetime"])), row["datetime"]
        assert row["message"] and row["timestamp_desc"]
        parsed = datetime.fromisoformat(str(row["datetime"]).replace("Z", "+00:00"))
        assert int(row["timestamp"]) == int(parsed.timestamp() * 1_000_000)
    times = [str(r["datetime"]) for r in rows]
    assert times == sorted(times)


def test_csv_column_contract(plain_case: Path) -> None:
    detections = build_detections(plain_case)
    data = _export(plain_case, "csv", detections)
    header = data.split(b"\n", 1)[0].decode()
    assert header == ",".join(f'"{c}"' for c in COLUMNS)
    rows = _csv_rows(data)
    _check_contract(rows)
    assert len(rows) == 13  # every event once
    logon = next(r for r in rows if r["datetime"].startswith("2022-05-04T21:15"))
    assert logon["timestamp_desc"] == "Logon"
    assert logon["message"] == ("[MEDIUM] Admin RDP Logon | Logon type 10 of GOVAL\\Administrator "
                                "on FS01 from 10.10.1.20 (WEB01)")
    assert logon["tactic"] == "Lateral Movement" and logon["technique"] == "T1021.001"
    assert logon["host"] == "FS01" and logon["record_id"] == "101"
    assert logon["source_file"].endswith("fs01_goval_local.jsonl")
    quiet = next(r for r in rows if r["host"] == "DC02")
    assert quiet["rule"] == "" and quiet["level"] == ""
    assert not quiet["message"].startswith("[")


def test_jsonl_column_contract_and_types(plain_case: Path) -> None:
    rows = _jsonl_rows(_export(plain_case, "jsonl", build_detections(plain_case)))
    _check_contract(rows)
    assert list(rows[0]) == list(COLUMNS)
    first = rows[0]
    assert first["datetime"] == "2021-05-11T02:14:00.000000Z"
    assert first["timestamp_desc"] == "Process Start"
    assert isinstance(first["event_id"], int) and isinstance(first["record_id"], int)
    assert first["tactic"] == "Initial Access, Persistence"
    assert first["technique"] == "T1190"
    assert "w3wp.exe" in first["message"] and first["message"].startswith("[HIGH] Webshell")


def test_detections_only_one_row_per_detection(plain_case: Path) -> None:
    detections = build_detections(plain_case)
    rows = _csv_rows(_export(plain_case, "csv", detections, detections_only=True))
    _check_contract(rows)
    assert len(rows) == detections.num_rows == 12
    assert all(r["rule"] and r["level"] for r in rows)
    clear = next(r for r in rows if r["rule"] == "Security Log Cleared")
    assert clear["timestamp_desc"] == "Log Cleared"
    assert clear["message"] == ("[HIGH] Security Log Cleared | Security log cleared by "
                                "Administrator on PRINT01")
    assert any(SCRIPT in r["rule"] for r in rows)  # data stays data in the export


def test_filters_time_window_and_host(plain_case: Path) -> None:
    rows = _csv_rows(_export(plain_case, "csv", None,
                             start=datetime(2022, 5, 1, tzinfo=UTC),
                             end=datetime(2022, 5, 31, tzinfo=UTC)))
    assert [r["datetime"][:16] for r in rows] == [
        "2022-05-03T22:10", "2022-05-04T21:15", "2022-05-04T21:30", "2022-05-09T20:10",
        "2022-05-09T20:25", "2022-05-12T21:40"]
    for name in ("fs01", "FS01", "fs01.goval.local"):
        rows = _csv_rows(_export(plain_case, "csv", None, host=name))
        assert {r["host"] for r in rows} == {"FS01"} and len(rows) == 3
    assert _csv_rows(_export(plain_case, "csv", None, host="NOPE")) == []
    # An empty timeline is still a valid CSV: the header.
    assert _export(plain_case, "csv", None, host="NOPE").startswith(b'"message",')


def test_sorted_across_slices(plain_case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _jsonl_rows(_export(plain_case, "jsonl", None))
    monkeypatch.setattr(tl, "PARTITION_ROWS", 3)
    with open_case(plain_case) as reader:
        tl.prepare(reader, None)
        windows = tl._windows(reader, TimelineOptions())
        batches = list(tl.iter_batches(reader, TimelineOptions(batch_rows=2)))
    assert len(windows) >= 3  # really sliced
    assert max(b.num_rows for b in batches) <= 2  # really streamed in small batches
    sliced = _jsonl_rows(_export(plain_case, "jsonl", None))
    assert sliced == whole  # same rows, same order


def test_templates_compile_to_sql_with_fields() -> None:
    sql = compile_template("{user} ran {fields.TaskName} on {host_short}")
    assert "json_extract_string(e.fields, '$.\"TaskName\"')" in sql
    with pytest.raises(ValueError, match=r"unknown column in timeliner\.yaml: 'nope'"):
        compile_template("{nope}")
    with pytest.raises(ValueError, match="bad field name"):
        compile_template("{fields.a'b}")


def test_cli_writes_file_and_stdout(plain_case: Path, tmp_path: Path,
                                    capfdbinary: pytest.CaptureFixture[bytes],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    detections = build_detections(plain_case)
    monkeypatch.setattr("dwell.report.inputs.load_detections", lambda case: detections)
    out = tmp_path / "t.jsonl"
    assert main(["timeline", "-q", "--case", str(plain_case), "--format", "jsonl",
                 "--detections-only", "-o", str(out)]) == 0
    assert len(_jsonl_rows(out.read_bytes())) == 12
    assert not list(tmp_path.glob(".*.tmp"))
    capfdbinary.readouterr()
    assert main(["timeline", "-q", "--case", str(plain_case), "--host", "DC01"]) == 0
    rows = _csv_rows(capfdbinary.readouterr().out)
    assert len(rows) == 2 and rows[1]["rule"] == "NTDS Dump Via Ntdsutil"
    manifests = sorted((plain_case / "manifests").glob("timeline-*.json"))
    assert manifests and json.loads(manifests[-1].read_text())["rules_fired"]["detections"] == 12


def test_cli_bad_time_names_the_format(plain_case: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["timeline", "--case", str(plain_case), "--from", "last tuesday"]) == 2
    assert "bad --from time 'last tuesday'; use ISO 8601" in capsys.readouterr().err


def test_output_to_a_fifo_is_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    assert write_output(fifo, iter([b"a,b\n", b"1,2\n"])) == 8
    reader.join(10)
    assert got == [b"a,b\n1,2\n"]
    assert fifo.is_fifo()


def test_broken_pipe_exits_quietly(plain_case: Path) -> None:
    cmd = (f"{sys.executable} -m dwell timeline -q --case {plain_case} --format jsonl "
           "| head -n 1")
    done = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert len(done.stdout.splitlines()) == 1
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


def test_cli_format_choices_are_the_exporters() -> None:
    from dwell.cli.timeline_cmd import FORMAT_CHOICES
    from dwell.report.timeline import FORMATS

    assert FORMAT_CHOICES == FORMATS
