"""Tests of the demo-scenario generator: determinism, evtx shape, answer key, holes, silence."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dwell.scenario import VARIANTS, AnswerKey, generate
from dwell.scenario._writer import channel_file, first_record_id
from dwell.scenario.answer import derive
from dwell.scenario.generate import scenario, silences

SEED = 7
SMALL = 0.15  # background scale used by most tests (keeps the suite fast)


def _records(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def _eid(record: dict[str, Any]) -> int:
    value = record["Event"]["System"]["EventID"]
    return int(value["#text"]) if isinstance(value, dict) else int(value)


def _time(record: dict[str, Any]) -> str:
    return str(record["Event"]["System"]["TimeCreated"]["#attributes"]["SystemTime"])


def _stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def albania(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AnswerKey]:
    out = tmp_path_factory.mktemp("albania")
    return out, generate(out, "albania", seed=SEED, scale=SMALL)


@pytest.fixture(scope="module")
def harbor(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AnswerKey]:
    out = tmp_path_factory.mktemp("harbor")
    return out, generate(out, "harbor", seed=SEED, scale=SMALL)


@pytest.fixture(params=["albania", "harbor"])
def generated(request: pytest.FixtureRequest) -> tuple[Path, AnswerKey]:
    result: tuple[Path, AnswerKey] = request.getfixturevalue(request.param)
    return result


def test_variants_and_unknown_variant(tmp_path: Path) -> None:
    assert VARIANTS == ("albania", "harbor")
    with pytest.raises(ValueError, match="unknown variant"):
        generate(tmp_path, "atlantis")
    assert not (tmp_path / "logs").exists()


def test_same_seed_is_byte_identical(tmp_path: Path, albania: tuple[Path, AnswerKey]) -> None:
    generate(tmp_path, "albania", seed=SEED, scale=SMALL)
    first, second = _tree(albania[0]), _tree(tmp_path)
    assert first.keys() == second.keys()
    assert first == second


def test_different_seed_differs(tmp_path: Path, albania: tuple[Path, AnswerKey]) -> None:
    key = generate(tmp_path, "albania", seed=SEED + 1, scale=SMALL)
    assert key == albania[1]  # the story is the same...
    sysmon = "logs/COLLAB-WEB2/" + channel_file("Microsoft-Windows-Sysmon/Operational")
    assert _tree(tmp_path)[sysmon] != _tree(albania[0])[sysmon]  # ...the logs are not


def test_answer_key_file_round_trips(generated: tuple[Path, AnswerKey]) -> None:
    out, key = generated
    on_disk = json.loads((out / "answer_key.json").read_text(encoding="utf-8"))
    assert on_disk == key.to_dict()
    assert AnswerKey.from_dict(on_disk) == key
    assert derive(scenario(key.variant)) == key  # derived from the step table


def test_every_line_has_the_evtx_shape(generated: tuple[Path, AnswerKey]) -> None:
    out, _ = generated
    files = sorted((out / "logs").rglob("*.jsonl"))
    assert len(files) > 40
    for path in files:
        for record in _records(path):
            event = record["Event"]
            system = event["System"]
            assert event["#attributes"]["xmlns"].endswith("/events/event")
            assert isinstance(_eid(record), int)
            assert system["Provider"]["#attributes"]["Name"]
            assert channel_file(system["Channel"]) == path.name
            assert system["Computer"]
            assert isinstance(system["EventRecordID"], int)
            assert _time(record).endswith("Z")
            _stamp(_time(record))
            assert ("EventData" in event) != ("UserData" in event)


def test_record_ids_increase_and_time_is_ordered(generated: tuple[Path, AnswerKey]) -> None:
    out, _ = generated
    for path in (out / "logs").rglob("*.jsonl"):
        ids = [(r["Event"]["System"]["EventRecordID"], _time(r)) for r in _records(path)]
        assert all(a[0] < b[0] for a, b in itertools.pairwise(ids)), path
        assert all(a[1] <= b[1] for a, b in itertools.pairwise(ids)), path


def test_answer_key_consistency(generated: tuple[Path, AnswerKey]) -> None:
    out, key = generated
    assert key.spread_order[0] == key.beachhead.host
    assert key.first_seen <= key.beachhead.time <= key.last_seen
    assert set(key.spread_order) == set(key.compromised_hosts)
    assert not set(key.control_hosts) & {s.host for s in key.steps}
    assert {h.name for h in key.hosts} == {p.name for p in (out / "logs").iterdir()}
    assert set(key.impact_hosts) <= set(key.compromised_hosts)
    assert set(key.exfiltration_hosts) <= set(key.compromised_hosts)
    assert key.accounts and all(a == a.lower() and "\\" not in a for a in key.accounts)
    assert key.attacker_ips
    assert min(s.time for s in key.steps) == key.first_seen


def test_harbor_eviction_is_clean(harbor: tuple[Path, AnswerKey]) -> None:
    _, key = harbor
    assert key.still_present is False
    assert key.first_after_eviction is None
    assert all(s.time < key.evicted_at for s in key.steps)
    assert key.last_seen < key.evicted_at


def test_albania_attacker_returns_after_eviction(albania: tuple[Path, AnswerKey]) -> None:
    _, key = albania
    after = sorted(s.time for s in key.steps if s.time > key.evicted_at)
    assert key.still_present is True
    assert after and key.first_after_eviction == after[0]
    assert "DC02" in key.control_hosts and len(key.control_hosts) >= 2


def test_control_hosts_carry_no_attacker_evidence(generated: tuple[Path, AnswerKey]) -> None:
    out, key = generated
    markers = [*key.attacker_ips, "m64.exe", "GoXml", "Mellona", "exsync01", "plink",
               "revsocks", "msupd.dll", "PsExec64.exe \\\\", "svchelper", "rclone.exe copy"]
    for host in key.control_hosts:
        text = "".join(p.read_text(encoding="utf-8") for p in (out / "logs" / host).iterdir())
        assert text, host
        for marker in markers:
            assert marker not in text, (host, marker)


def test_attacker_events_exist_where_the_key_says(albania: tuple[Path, AnswerKey]) -> None:
    out, key = albania
    sysmon = out / "logs" / key.beachhead.host / channel_file(
        "Microsoft-Windows-Sysmon/Operational")
    spawned = [
        r["Event"]["EventData"] for r in _records(sysmon)
        if _eid(r) == 1 and r["Event"]["EventData"]["ParentImage"].endswith("\\w3wp.exe")
        and r["Event"]["EventData"]["Image"].lower().endswith("\\cmd.exe")
        and "whoami" in r["Event"]["EventData"]["CommandLine"]
    ]
    assert spawned
    first = spawned[0]
    assert first["User"] == "GOVAL\\svc_spfarm"
    for field in ("OriginalFileName", "Hashes", "IntegrityLevel", "LogonId", "ParentCommandLine",
                  "ProcessGuid", "CurrentDirectory"):
        assert first[field], field
    rcm = out / "logs" / "EAPP01" / channel_file(
        "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational")
    sources = {r["Event"]["UserData"]["EventXML"]["Param3"] for r in _records(rcm)
               if _eid(r) == 1149}
    assert "203.0.113.90" in sources and "127.0.0.1" in sources


@pytest.mark.parametrize("host", ["FS01", "SQL01", "BKP01", "PRINT01", "EAPP01"])
def test_cleared_security_log_has_a_hole(albania: tuple[Path, AnswerKey], host: str) -> None:
    out, _ = albania
    security = list(_records(out / "logs" / host / "Security.jsonl"))
    first = security[0]
    assert _eid(first) == 1102  # nothing survives from before the clear
    start = first_record_id("albania", SEED, host, "Security")
    assert first["Event"]["System"]["EventRecordID"] > start  # ids were used by lost records
    assert "UserData" in first["Event"]
    sysmon = out / "logs" / host / channel_file("Microsoft-Windows-Sysmon/Operational")
    assert any(_time(r) < _time(first) for r in _records(sysmon))  # the host was busy before


def test_cleared_system_log_starts_with_104(albania: tuple[Path, AnswerKey]) -> None:
    out, _ = albania
    system = list(_records(out / "logs" / "FS01" / "System.jsonl"))
    assert _eid(system[0]) == 104
    cleared = [r["Event"]["UserData"]["LogFileCleared"]["Channel"] for r in system
               if _eid(r) == 104]
    assert cleared == ["System", "Application"]


def test_wiped_hosts_go_silent(generated: tuple[Path, AnswerKey]) -> None:
    out, key = generated
    windows = silences(scenario(key.variant))
    if key.variant == "harbor":
        assert not windows
    for host, spans in windows.items():
        assert host in key.impact_hosts
        seen = [(_time(r), r) for p in (out / "logs" / host).iterdir() for r in _records(p)]
        for start, end in spans:
            lo = datetime.fromtimestamp(start / 1e6, tz=UTC)
            hi = datetime.fromtimestamp(end / 1e6, tz=UTC)
            inside = [t for t, _ in seen if lo <= _stamp(t) < hi]
            assert not inside, (host, inside[:3])
            before = [r for t, r in seen if _stamp(t) < lo]
            assert any(_eid(r) == 7045 and r["Event"]["EventData"]["ServiceName"] == "RawDisk3"
                       for r in before), host


def test_scale_changes_volume(tmp_path: Path, albania: tuple[Path, AnswerKey]) -> None:
    generate(tmp_path, "albania", seed=SEED, scale=SMALL * 4)

    def count(root: Path) -> int:
        return sum(p.read_bytes().count(b"\n") for p in (root / "logs").rglob("*.jsonl"))

    small, large = count(albania[0]), count(tmp_path)
    assert large > small * 1.5  # background x4; attacker steps and bait stay fixed


def test_post_eviction_document_ties_to_the_rdp_session(albania: tuple[Path, AnswerKey]) -> None:
    out, key = albania
    logs = out / "logs" / "EAPP01"
    docs = [r["Event"]["EventData"]["Data"]["#text"][0]
            for r in _records(logs / "Application.jsonl") if "ID-230129-0042" in json.dumps(r)]
    assert len(docs) == 1
    logon_id = docs[0].split("logon_id=")[1].split()[0]
    sysmon = logs / channel_file("Microsoft-Windows-Sysmon/Operational")
    procs = [r["Event"]["EventData"] for r in _records(sysmon)
             if _eid(r) == 1 and r["Event"]["EventData"]["LogonId"] == logon_id]
    assert any(p["Image"].endswith("EAppDocGen.exe") for p in procs)
    assert key.first_after_eviction is not None
    assert all(_time(r) > key.evicted_at for r in _records(logs / "Security.jsonl"))
