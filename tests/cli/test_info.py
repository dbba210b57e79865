"""`dwell info --json` keeps its contract whatever the machine's time zone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import orjson


def test_info_json_times_are_utc_under_any_local_zone(tmp_path: Path) -> None:
    event = {"Event": {"System": {"EventID": 4624, "Channel": "Security", "Computer": "ws1.corp",
                                  "EventRecordID": 7, "TimeCreated": {"#attributes": {
                                      "SystemTime": "2022-05-04T21:15:00.25Z"}}},
                       "EventData": {"TargetUserName": "Administrator", "LogonType": 10}}}
    (tmp_path / "log.jsonl").write_bytes(orjson.dumps(event) + b"\n")
    case = tmp_path / "case"
    env = {**os.environ, "TZ": "Europe/Tirane"}  # UTC+2 in May
    run = [sys.executable, "-m", "dwell"]
    subprocess.run([*run, "ingest", str(tmp_path / "log.jsonl"), "--case", str(case), "-q"],
                   check=True, env=env, capture_output=True)
    out = subprocess.run([*run, "info", "--case", str(case), "--json"], check=True, env=env,
                         capture_output=True, text=True).stdout
    info = json.loads(out)
    assert {k: info[k] for k in ("events", "sources", "warnings", "hosts")} == {
        "events": 1, "sources": 1, "warnings": 0, "hosts": {"WS1": 1}}
    assert info["first"] == info["last"] == "2022-05-04T21:15:00.250000Z"
