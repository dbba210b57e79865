"""`dwell hunt` stores a run manifest that lets a report be reproduced and defended."""

from __future__ import annotations

import json
from pathlib import Path

from dwell.cli import main
from dwell.rules import load_rules

SAMPLE = "Lateral Movement/LM_wmiexec_impacket_sysmon_whoami.evtx"


def test_hunt_writes_manifest(shared_data: Path, tmp_path: Path) -> None:
    case = tmp_path / "case"
    evidence = shared_data / "evtx-attack-samples" / SAMPLE
    assert main(["hunt", str(evidence), "--case", str(case), "--jobs", "1", "-q"]) == 0
    manifests = sorted((case / "manifests").glob("hunt-*.json"))
    assert len(manifests) == 1
    manifest = json.loads(manifests[0].read_text())
    ruleset = load_rules([], include_pack=True)
    assert manifest["rules"]["sha256"] == ruleset.sha256
    assert manifest["rules"]["rules"] == len(ruleset.rules)
    assert manifest["args"]["case"] == str(case)
    assert manifest["hunt"]["events"] > 0
    assert any(Path(s["path"]).name == Path(SAMPLE).name for s in manifest["sources"])
