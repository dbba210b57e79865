"""`dwell demo`: the README's main job, end to end on a fresh directory."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dwell.cli import main

pytest.importorskip("dwell.scenario")

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.mark.slow
def test_demo_writes_logs_case_and_campaign(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--scale", "0.3", "--jobs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "beachhead:" in printed and "answer key:" in printed
    assert (out / "answer_key.json").is_file()
    assert any((out / "logs").rglob("*.jsonl"))
    data = json.loads((out / "campaign.json").read_text())
    camp = data["campaigns"][0]
    # The shape the issue fixes (more keys are allowed).
    assert {"first_seen", "last_seen", "beachhead", "hosts", "accounts", "impact",
            "exfiltration", "still_present", "caveats"} <= set(camp)
    assert {"host", "time", "evidence"} <= set(camp["beachhead"])
    for host in camp["hosts"]:
        assert {"host", "first_seen", "last_seen", "reached_from", "via"} <= set(host)
        assert host["host"] == host["host"].upper()
    for acct in camp["accounts"]:
        assert {"account", "first_seen", "last_seen"} <= set(acct)
    for item in camp["impact"]:
        assert {"host", "time", "kind"} <= set(item) and ISO.match(item["time"])
    for item in camp["exfiltration"]:
        assert {"host", "time", "evidence"} <= set(item) and isinstance(item["evidence"], str)
    still = camp["still_present"]
    assert {"evicted_at", "verdict", "after_eviction"} <= set(still)
    assert ISO.match(still["evicted_at"])
    for item in still["after_eviction"]:
        assert {"host", "time", "evidence"} <= set(item)
    # Re-running replaces the case instead of adding to it.
    assert main(["demo", "--out", str(out), "--scale", "0.3", "--jobs", "1", "-q"]) == 0
    again = json.loads((out / "campaign.json").read_text())
    assert [h["host"] for h in again["campaigns"][0]["hosts"]] == \
        [h["host"] for h in camp["hosts"]]


def test_demo_refuses_to_delete_a_foreign_directory(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "case").mkdir()
    (tmp_path / "case" / "notes.txt").write_text("mine")
    assert main(["demo", "--out", str(tmp_path)]) == 2
    assert "not a dwell case" in capsys.readouterr().err
    assert (tmp_path / "case" / "notes.txt").is_file()


def test_demo_rejects_bad_scale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path), "--scale", "0"]) == 2
    assert "--scale" in capsys.readouterr().err
