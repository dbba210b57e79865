"""`dwell campaign` over a real corpus: EVTX-ATTACK-SAMPLES ingested and hunted."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dwell.cli import main

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture(scope="module")
def hunted(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    case = tmp_path_factory.mktemp("samples") / "case"
    samples = shared_data / "evtx-attack-samples"
    assert main(["ingest", str(samples), "--case", str(case), "--jobs", "1", "-q"]) in (0, 3)
    rules = shared_data / "sigma" / "rules" / "windows"
    assert main(["hunt", "--case", str(case), "--rules", str(rules), "--jobs", "1", "-q"]) == 0
    return case


@pytest.mark.slow
def test_campaign_on_attack_samples(hunted: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "campaign.json"
    code = main(["campaign", "--case", str(hunted), "--json", str(out),
                 "--evicted-at", "2020-01-01"])
    assert code == 0
    printed = capsys.readouterr().out
    data = json.loads(out.read_text())
    campaigns = data["campaigns"]
    assert campaigns, "the samples hold several intrusions"
    assert "campaign(s), largest first" in printed
    sizes = [len(c["hosts"]) for c in campaigns]
    assert sizes == sorted(sizes, reverse=True)
    for camp in campaigns:
        hosts = [h["host"] for h in camp["hosts"]]
        assert camp["beachhead"]["host"] in hosts
        assert len(set(hosts)) == len(hosts)
        for h in camp["hosts"]:
            assert h["host"] == h["host"].upper() and "." not in h["host"]
            assert ISO.match(h["first_seen"]) and ISO.match(h["last_seen"])
            assert h["first_seen"] <= h["last_seen"]
        assert camp["first_seen"] <= camp["beachhead"]["time"] <= camp["last_seen"]
        still = camp["still_present"]
        assert still["evicted_at"] == "2020-01-01T00:00:00Z"
        assert still["verdict"] == bool(still["after_eviction"])
        assert all(a["time"] > "2020-01-01T00:00:00Z" for a in still["after_eviction"])
        for item in camp["impact"] + camp["exfiltration"]:
            assert item["host"] in hosts and ISO.match(item["time"])
        for edge in camp["edges"]:
            assert edge["dst"] in hosts or edge["method"] == "rdp-tunnel"
    # The lab hosts are separate machines: one generic account name must not merge them all.
    assert len(campaigns) >= 3


def test_campaign_without_case_names_the_fix(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["campaign", "--case", str(tmp_path / "nope")])
    assert code == 2
    assert "dwell ingest" in capsys.readouterr().err


def test_bad_eviction_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["campaign", "--case", str(tmp_path), "--evicted-at", "last tuesday"])
    assert code == 2
    assert "ISO 8601" in capsys.readouterr().err
