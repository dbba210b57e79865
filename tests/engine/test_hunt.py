"""Cold hunt (while ingesting) and retro-hunt agree; detections, CLI output, correlations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dwell.cli import main
from dwell.engine import hunt_case, read_detections
from dwell.engine.correlation import correlate
from dwell.rules import load_rules

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
SAMPLES = DATA / "evtx-attack-samples" / "Lateral Movement"
RULES = DATA / "sigma" / "rules" / "windows" / "builtin" / "security"

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared data not present")


def _key(table: object) -> list[tuple[object, ...]]:
    rows = table.to_pylist()  # type: ignore[attr-defined]
    return sorted((r["rule_id"], r["source_sha256"], r["record_id"]) for r in rows)


def test_cold_and_retro_hunt_agree(tmp_path: Path) -> None:
    case = tmp_path / "case"
    out = tmp_path / "d.jsonl"
    code = main(["hunt", str(SAMPLES), "--case", str(case), "--rules", str(RULES),
                 "--jsonl", str(out), "--jobs", "1", "-q"])
    assert code in (0, 3)
    cold = read_detections(case)
    assert cold.num_rows > 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == cold.num_rows
    first = lines[0]
    for key in ("rule_id", "title", "level", "timestamp", "host", "source_file", "record_id"):
        assert key in first
    assert first["timestamp"].endswith("Z")
    ruleset = load_rules([RULES])
    summary = hunt_case(case, ruleset, jobs=1)  # retro: no paths
    assert summary.cold_events == 0 and summary.retro_events > 0
    assert _key(read_detections(case)) == _key(cold)
    assert summary.detections == cold.num_rows


def test_hunt_without_case_names_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hunt", "--case", str(tmp_path / "none"), "--no-pack", "--rules",
                 str(RULES)]) == 1
    assert "dwell ingest PATH --case" in capsys.readouterr().err


def test_event_count_correlation(tmp_path: Path) -> None:
    (tmp_path / "base.yml").write_text(
        "title: logon fail\nid: 22222222-2222-2222-2222-222222222222\nname: fail\n"
        "status: test\nlevel: low\nlogsource: {product: windows, service: security}\n"
        "detection:\n  s: {EventID: 4625}\n  condition: s\n---\n"
        "title: brute force\nid: 33333333-3333-3333-3333-333333333333\nstatus: test\n"
        "level: high\ncorrelation:\n  type: event_count\n  rules: [fail]\n"
        "  group-by: [TargetUserName]\n  timespan: 10m\n  condition: {gte: 3}\n")
    ruleset = load_rules([tmp_path], include_pack=False)
    assert ruleset.errors == []
    assert [r.type for r in ruleset.rules] == [None, "event_count"]
    from datetime import UTC, datetime, timedelta

    base = datetime(2024, 1, 1, tzinfo=UTC)
    rows = []
    for i, user in enumerate(["bob", "bob", "amy", "bob", "bob"]):
        rows.append(("22222222-2222-2222-2222-222222222222", "", "low", "test", [], "", "",
                     base + timedelta(minutes=i), "h", "H", None, "Security", 4625, i, "f",
                     "s", i, json.dumps({"targetusername": user}), None))
    hits = correlate(ruleset.rules, rows)
    assert len(hits) == 1
    assert json.loads(hits[0][17])["group"] == {"TargetUserName": "bob"}
    assert hits[0][13] == 3  # fires at the third bob event


def test_hunt_keeps_sub_microsecond_event_times(tmp_path: Path) -> None:
    # EVTX SystemTime has 100 ns ticks; a detection on such an event must not crash the hunt
    (tmp_path / "r.yml").write_text(
        "title: marker\nid: 33333333-3333-3333-3333-333333333333\nstatus: test\nlevel: low\n"
        "logsource: {product: windows, service: security}\n"
        "detection:\n  s: {EventID: 4688, NewProcessName|endswith: '\\\\marker.exe'}\n"
        "  condition: s\n")
    event = {"Event": {"System": {
        "EventID": 4688, "Channel": "Security", "Computer": "H1", "EventRecordID": 1,
        "TimeCreated": {"#attributes": {"SystemTime": "2021-03-04T05:06:07.1234567Z"}}},
        "EventData": {"NewProcessName": "C:\\\\x\\\\marker.exe"}}}
    logs = tmp_path / "e.jsonl"
    logs.write_text(json.dumps(event) + "\n")
    case = tmp_path / "case"
    rules = ["--no-pack", "--rules", str(tmp_path / "r.yml"), "--jobs", "1", "-q"]
    assert main(["hunt", str(logs), "--case", str(case), *rules]) == 0
    assert main(["hunt", "--case", str(case), *rules]) == 0  # retro-hunt of the stored event
    stamps = read_detections(case).column("timestamp").to_pylist()
    assert [s.isoformat() for s in stamps] == ["2021-03-04T05:06:07.123457+00:00"]  # (µs, rounded)


def test_bucket_plans_are_kept_for_the_next_hunt_of_the_same_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DWELL_CACHE_DIR", str(tmp_path / "cache"))
    case = tmp_path / "case"
    args = ["--rules", str(RULES), "--jobs", "1", "-q"]
    assert main(["hunt", str(SAMPLES), "--case", str(case), *args]) in (0, 3)
    cold = read_detections(case)
    plans = list((tmp_path / "cache").glob("plans-*.pickle"))
    assert len(plans) == 1 and plans[0].stat().st_size > 0
    assert main(["hunt", "--case", str(case), *args]) == 0  # made from the plans
    assert _key(read_detections(case)) == _key(cold)
    other = ["--rules", str(RULES), "--min-level", "high", "--jobs", "1", "-q"]
    assert main(["hunt", "--case", str(case), *other]) == 0  # another selection: own plans
    assert len(list((tmp_path / "cache").glob("plans-*.pickle"))) == 2
