"""dwell's own rule pack: valid Sigma, test events for every rule, and each rule fires on exactly
its positive events through the engine's public API (correlations: through ``dwell hunt``)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from sigma.collection import SigmaCollection
from sigma.validation import SigmaValidator
from sigma.validators.core import validators

import dwell.rules
from dwell.cli import main
from dwell.engine import Matcher
from dwell.rules import RuleSet, load_rules

PACK = Path(dwell.rules.__file__).resolve().parent / "pack"
DATA = Path(__file__).resolve().parents[1] / "_data" / "rules" / "pack"
SIGMAHQ = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sigma"
RULE_FILES = sorted(PACK.rglob("*.yml"))
IDS = [str(p.relative_to(PACK)) for p in RULE_FILES]


def _doc(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


DETECTIONS = [p for p in RULE_FILES if "correlation" not in _doc(p)]
CORRELATIONS = [p for p in RULE_FILES if "correlation" in _doc(p)]
BY_ID = {str(_doc(p)["id"]): p for p in RULE_FILES}

#: Validators that download ATT&CK / D3FEND data at run time; tests never touch the network.
ONLINE_VALIDATORS = frozenset({"attacktag", "d3_fendtag"})

SYSMON = "Microsoft-Windows-Sysmon/Operational"
#: (Channel, EventID) an event of each logsource has; service rules check the channel only.
CATEGORY_EVENTS: dict[str, set[tuple[str, int]]] = {
    "process_creation": {(SYSMON, 1), ("Security", 4688)},
    "network_connection": {(SYSMON, 3)},
    "driver_load": {(SYSMON, 6)},
    "image_load": {(SYSMON, 7)},
    "file_event": {(SYSMON, 11)},
    "registry_set": {(SYSMON, 13)},
    "pipe_created": {(SYSMON, 17), (SYSMON, 18)},
    "webserver": {("Microsoft-IIS-Logging/Logs", 6200)},
}
SERVICE_CHANNELS = {
    "system": "System",
    "security": "Security",
    "msexchange-management": "MSExchange Management",
}
#: SigmaHQ file-name prefixes per logsource.
PREFIXES = {
    "process_creation": "proc_creation_win_",
    "network_connection": "net_connection_win_",
    "driver_load": "driver_load_win_",
    "image_load": "image_load_win_",
    "file_event": "file_event_win_",
    "registry_set": "registry_set_win_",
    "pipe_created": "pipe_created_",
    "system": "win_system_",
    "security": "win_security_",
    "msexchange-management": "win_exchange_",
    "webserver": "web_",
}


def _events(path: Path) -> dict[str, list[Any]]:
    data = json.loads((DATA / f"{path.stem}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    # use_cache=False: a module fixture is set up before the per-test cache-dir fixture.
    return load_rules([], include_pack=True, use_cache=False)


@pytest.fixture(scope="module")
def matcher(ruleset: RuleSet) -> Matcher:
    return Matcher(ruleset)


def _fired(matcher: Matcher, event: dict[str, Any]) -> set[str]:
    return {str(rule.id) for rule in matcher.match(event)}


def _logsource(path: Path) -> dict[str, str]:
    """The rule's logsource; a correlation's is that of the (first) rule it counts."""
    doc = _doc(path)
    if "correlation" in doc:
        return _logsource(BY_ID[str(doc["correlation"]["rules"][0])])
    logsource = doc["logsource"]
    assert isinstance(logsource, dict)
    return logsource


def test_pack_holds_the_campaign_rules() -> None:
    assert len(DETECTIONS) >= 20
    assert CORRELATIONS
    assert not sorted(PACK.rglob("*.yaml")), "use the .yml extension, as SigmaHQ does"


@pytest.mark.parametrize("path", RULE_FILES, ids=IDS)
def test_rule_is_valid_sigma(path: Path) -> None:
    # A correlation is loaded after the rules it references, which pySigma resolves.
    refs = [BY_ID[str(r)] for r in _doc(path).get("correlation", {}).get("rules", [])]
    text = "\n---\n".join(p.read_text(encoding="utf-8") for p in [*refs, path])
    collection = SigmaCollection.from_yaml(text, collect_errors=True)
    assert collection.errors == []
    assert len(collection.rules) == len(refs) + 1
    rule = collection.rules[-1]
    assert rule.errors == []
    checks = [cls for name, cls in validators.items() if name not in ONLINE_VALIDATORS]
    assert [str(issue) for issue in SigmaValidator(checks).validate_rule(rule)] == []


@pytest.mark.parametrize("path", RULE_FILES, ids=IDS)
def test_rule_follows_sigmahq_conventions(path: Path) -> None:
    doc = _doc(path)
    assert uuid.UUID(str(doc["id"])).version == 4
    assert doc["author"] == "dwell"
    assert doc["status"] in {"experimental", "test"}
    assert doc["level"] in {"informational", "low", "medium", "high", "critical"}
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(doc["date"]))
    for key in ("title", "description", "references", "falsepositives", "tags"):
        assert doc.get(key), f"{path.name}: missing {key}"
    assert any(re.fullmatch(r"attack\.t\d{4}(\.\d{3})?", t) for t in doc["tags"])
    assert any(re.fullmatch(r"attack\.[a-z]+(-[a-z]+)*", t) for t in doc["tags"])
    logsource = _logsource(path)
    # web server rules are product-less in SigmaHQ (category webserver); the rest are Windows
    assert logsource.get("product") == ("windows" if logsource.get("category") != "webserver"
                                        else None)
    kind = logsource.get("category") or logsource.get("service")
    assert path.name.startswith(PREFIXES[kind]), f"{path.name}: SigmaHQ prefix {PREFIXES[kind]}"


def test_rule_ids_are_unique_and_not_sigmahq_ids() -> None:
    ids = [str(_doc(p)["id"]) for p in RULE_FILES]
    assert len(set(ids)) == len(ids)
    if not SIGMAHQ.is_dir():
        pytest.skip("no SigmaHQ checkout next to the repository")
    upstream: set[str] = set()
    pattern = re.compile(r"^id:\s*(\S+)", re.MULTILINE)
    for path in SIGMAHQ.rglob("*.yml"):
        upstream.update(pattern.findall(path.read_text(encoding="utf-8", errors="replace")))
    assert len(upstream) > 1000
    assert set(ids).isdisjoint(upstream)


def test_every_test_data_file_belongs_to_a_rule() -> None:
    stems = {p.stem for p in RULE_FILES}
    assert len(stems) == len(RULE_FILES), "rule file names must be unique across folders"
    assert sorted(p.stem for p in DATA.glob("*.json")) == sorted(stems)


def test_correlations_reference_pack_rules() -> None:
    collection = SigmaCollection.load_ruleset([PACK], collect_errors=True)
    collection.resolve_rule_references()
    assert collection.errors == []
    for path in CORRELATIONS:
        assert {str(ref) for ref in _doc(path)["correlation"]["rules"]} <= set(BY_ID)


@pytest.mark.parametrize("path", RULE_FILES, ids=IDS)
def test_rule_has_realistic_test_events(path: Path) -> None:
    data = _events(path)
    assert set(data) == {"positive", "negative"}
    assert data["positive"] and data["negative"]
    logsource = _logsource(path)
    events = data["positive"] + data["negative"]
    if path in CORRELATIONS:  # each item is a sequence of events fed to one hunt
        assert all(isinstance(seq, list) and len(seq) > 1 for seq in events)
        events = [event for seq in events for event in seq]
    for event in events:
        for key in ("EventID", "Channel", "Provider_Name", "Computer", "TimeCreated"):
            assert key in event, f"{path.stem}: event without {key}"
        assert isinstance(event["EventID"], int)
        if "category" in logsource:
            assert (event["Channel"], event["EventID"]) in CATEGORY_EVENTS[logsource["category"]]
        else:
            assert event["Channel"] == SERVICE_CHANNELS[logsource["service"]]


@pytest.mark.parametrize("path", DETECTIONS, ids=[str(p.relative_to(PACK)) for p in DETECTIONS])
def test_positive_events_fire_the_rule(path: Path, matcher: Matcher) -> None:
    rule_id = str(_doc(path)["id"])
    for number, event in enumerate(_events(path)["positive"]):
        assert rule_id in _fired(matcher, event), f"{path.stem}: positive #{number} did not fire"


@pytest.mark.parametrize("path", DETECTIONS, ids=[str(p.relative_to(PACK)) for p in DETECTIONS])
def test_negative_events_do_not_fire_the_rule(path: Path, matcher: Matcher) -> None:
    rule_id = str(_doc(path)["id"])
    for number, event in enumerate(_events(path)["negative"]):
        assert rule_id not in _fired(matcher, event), f"{path.stem}: negative #{number} fired"


def test_pack_loads_by_default_without_issues(ruleset: RuleSet) -> None:
    assert [str(issue) for issue in ruleset.errors] == []
    assert sorted(str(rule.id) for rule in ruleset.rules) == sorted(
        str(_doc(p)["id"]) for p in RULE_FILES
    )


def _hunt(tmp_path: Path, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``dwell hunt`` with the default rule set (the pack) over events given as JSON Lines."""
    tmp_path.mkdir()
    evidence = tmp_path / "events.jsonl"
    evidence.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    out = tmp_path / "detections.jsonl"
    code = main(["hunt", str(evidence), "--case", str(tmp_path / "case"), "--jsonl", str(out),
                 "--jobs", "1", "-q"])
    assert code == 0
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("path", CORRELATIONS, ids=[str(p.relative_to(PACK)) for p in CORRELATIONS])
def test_correlation_fires_on_positive_sequences_only(path: Path, tmp_path: Path) -> None:
    doc = _doc(path)
    rule_id, inputs = str(doc["id"]), {str(r) for r in doc["correlation"]["rules"]}
    data = _events(path)
    for kind in ("positive", "negative"):
        for number, sequence in enumerate(data[kind]):
            hits = _hunt(tmp_path / f"{kind}{number}", sequence)
            fired = [h for h in hits if h["rule_id"] == rule_id]
            assert (len(fired) == 1) == (kind == "positive"), f"{kind} #{number}: {len(fired)}"
            if doc["correlation"].get("generate"):  # the counted rules still report each event
                assert sum(h["rule_id"] in inputs for h in hits) == len(sequence)
