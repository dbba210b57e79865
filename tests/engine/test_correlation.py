"""Every Sigma correlation type, with inline YAML rules: value_count, temporal, temporal_ordered.

(event_count is covered in test_hunt.py.) Detection rows are built by hand in the order of
dwell.schema.DETECTION_COLUMNS; ``matched`` holds the group-by/field values, lower-cased keys.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dwell.engine.correlation import correlate
from dwell.rules import load_rules
from dwell.schema import DETECTION_COLUMNS

A = "aaaaaaaa-0000-4000-8000-000000000001"
B = "bbbbbbbb-0000-4000-8000-000000000002"
BASE = datetime(2024, 3, 5, 10, 0, tzinfo=UTC)


def _base_rules(tmp: Path, correlation: str) -> list[Any]:
    text = (
        f"title: logon failure\nid: {A}\nname: fail\nstatus: test\nlevel: low\n"
        "logsource: {product: windows, service: security}\n"
        "detection:\n  s: {EventID: 4625}\n  condition: s\n---\n"
        f"title: logon success\nid: {B}\nname: success\nstatus: test\nlevel: low\n"
        "logsource: {product: windows, service: security}\n"
        "detection:\n  s: {EventID: 4624}\n  condition: s\n---\n"
        "title: correlation\nid: cccccccc-0000-4000-8000-000000000003\nstatus: test\n"
        f"level: high\ncorrelation:\n{correlation}"
    )
    (tmp / "rules.yml").write_text(text)
    ruleset = load_rules([tmp], include_pack=False)
    assert ruleset.errors == []
    return list(ruleset.rules)


def _row(rule_id: str, minute: float, **matched: str) -> tuple[Any, ...]:
    values: dict[str, Any] = {name: None for name in DETECTION_COLUMNS}
    values.update(rule_id=rule_id, title="", level="low", status="test", tags=[],
                  rule_file="", rule_sha256="", timestamp=BASE + timedelta(minutes=minute),
                  host="ws1", host_short="WS1", channel="Security", event_id=4625,
                  record_id=int(minute * 60), source_file="f", source_sha256="s",
                  source_pos=int(minute * 60), matched=json.dumps(matched))
    return tuple(values[name] for name in DETECTION_COLUMNS)


def _fired(rules: list[Any], rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    hits = correlate(rules, rows)
    index = DETECTION_COLUMNS.index("matched")
    return [json.loads(h[index]) for h in hits]


def test_value_count_password_spray(tmp_path: Path) -> None:
    rules = _base_rules(tmp_path, "  type: value_count\n  rules: [fail]\n"
                        "  group-by: [IpAddress]\n  timespan: 10m\n"
                        "  condition: {field: TargetUserName, gte: 3}\n")
    spray = [_row(A, i, ipaddress="10.0.0.9", targetusername=u)
             for i, u in enumerate(["amy", "bob", "amy", "cat"])]
    typo = [_row(A, 30 + i, ipaddress="10.0.0.7", targetusername="dan") for i in range(6)]
    slow = [_row(A, 60 + 20 * i, ipaddress="10.0.0.5", targetusername=u)
            for i, u in enumerate(["eve", "fay", "gus"])]  # 3 users but over 40 minutes
    fired = _fired(rules, spray + typo + slow)
    assert [f["group"] for f in fired] == [{"IpAddress": "10.0.0.9"}]
    assert fired[0]["events"] == 4  # fires at the fourth event: third distinct user


def test_temporal_needs_all_rules_in_window(tmp_path: Path) -> None:
    rules = _base_rules(tmp_path, "  type: temporal\n  rules: [fail, success]\n"
                        "  group-by: [TargetUserName]\n  timespan: 5m\n")
    rows = [
        _row(A, 0, targetusername="amy"), _row(B, 2, targetusername="amy"),  # both: fires
        _row(B, 10, targetusername="bob"), _row(A, 12, targetusername="bob"),  # any order
        _row(A, 20, targetusername="cat"), _row(B, 40, targetusername="cat"),  # too far apart
        _row(A, 50, targetusername="dan"), _row(A, 51, targetusername="dan"),  # one rule only
    ]
    fired = _fired(rules, rows)
    assert sorted(f["group"]["TargetUserName"] for f in fired) == ["amy", "bob"]
    assert all(f["rules"] == [A, B] for f in fired)


def test_temporal_ordered_needs_listed_order(tmp_path: Path) -> None:
    rules = _base_rules(tmp_path, "  type: temporal_ordered\n  rules: [fail, success]\n"
                        "  group-by: [TargetUserName]\n  timespan: 5m\n")
    rows = [
        _row(A, 0, targetusername="amy"), _row(B, 2, targetusername="amy"),  # fail → success
        _row(B, 10, targetusername="bob"), _row(A, 12, targetusername="bob"),  # wrong order
        _row(A, 20, targetusername="cat"), _row(B, 40, targetusername="cat"),  # too far apart
    ]
    fired = _fired(rules, rows)
    assert [f["group"]["TargetUserName"] for f in fired] == ["amy"]
