"""Run manifests: what a run was made from, written atomically, the latest one found."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from report_case import build_detections

from dwell.errors import StoreError
from dwell.report.manifest import latest_manifest, rules_fired, write_manifest
from dwell.store import open_case


def test_manifest_records_versions_args_rules_sources(plain_case: Path) -> None:
    detections = build_detections(plain_case)
    path = write_manifest(plain_case, "hunt", {"case": str(plain_case), "handler": print},
                          {"rules": {"sha256": "f" * 64, "count": 3000}}, detections=detections)
    assert path.parent == plain_case / "manifests" and path.name.startswith("hunt-")
    data = json.loads(path.read_text())
    assert data["kind"] == "hunt" and data["versions"]["dwell"]
    assert data["args"] == {"case": str(plain_case)}  # callables dropped
    assert data["rules"] == {"sha256": "f" * 64, "count": 3000}
    assert data["rules_fired"]["detections"] == 12 and data["rules_fired"]["rules"] == 4
    assert data["rules_fired"]["by_level"] == {"critical": 2, "high": 5, "low": 1, "medium": 4}
    assert data["events"] == 13 and len(data["sources"]) == 6
    assert all(len(s["sha256"]) == 64 and s["records"] for s in data["sources"])
    assert data["warnings"]["count"] == 0
    assert not list(path.parent.glob(".*.tmp"))


def test_latest_manifest_by_kind(plain_case: Path) -> None:
    first = write_manifest(plain_case, "report", {"n": 1})
    second = write_manifest(plain_case, "report", {"n": 2})
    assert first != second
    latest = latest_manifest(plain_case, ("report",))
    assert latest is not None and latest["args"] == {"n": 2}
    assert latest_manifest(plain_case, ("nothing",)) is None


def test_rule_hash_is_order_independent(plain_case: Path) -> None:
    detections = build_detections(plain_case)
    reversed_rows = detections.take(list(range(detections.num_rows - 1, -1, -1)))
    assert rules_fired(detections)["sha256"] == rules_fired(reversed_rows)["sha256"]
    assert rules_fired(None) == {"rules": 0, "detections": 0, "sha256": None, "by_level": {}}


def test_bad_kind_and_missing_case(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"bad manifest kind '\.\./x'"):
        write_manifest(tmp_path, "../x", {})
    with pytest.raises(StoreError, match="no case at"):
        write_manifest(tmp_path / "nope", "report", {})


def test_source_times_are_iso_utc_whatever_the_session_zone(plain_case: Path) -> None:
    from dwell.report.text import iso_utc
    from dwell.store.query import _ISO_SQL

    path = write_manifest(plain_case, "report", {})
    data = json.loads(path.read_text())
    with open_case(plain_case) as reader:
        expected = {sha: (iso_utc(first), iso_utc(last)) for sha, first, last in reader.sql(
            "SELECT sha256, first_ts, last_ts FROM sources").fetchall()}
    assert {s["sha256"]: (s["first"], s["last"]) for s in data["sources"]} == expected
    # whole seconds (isoformat leaves out the fraction), before 1970, no time, another zone
    times = [datetime(2022, 7, 15, 3, 4, 5, tzinfo=UTC), datetime(2022, 7, 15, 3, 4, 5, 120,
             tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
             datetime(1601, 1, 1, tzinfo=UTC), None]
    db = duckdb.connect()
    db.execute("SET TimeZone = 'Asia/Tokyo'")
    db.execute("CREATE TABLE t (i INTEGER, ts TIMESTAMPTZ)")
    db.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(times)))
    got = db.execute(f"SELECT {_ISO_SQL.format(c='ts')} FROM t ORDER BY i").fetchall()
    assert [row[0] for row in got] == [iso_utc(t) for t in times]


def test_facts_given_by_the_caller_are_the_catalogs(plain_case: Path) -> None:
    """A hunt reads the catalog's facts through its own writer while its workers run; the
    manifest built from them equals one that reads them itself."""
    from dwell.report.manifest import build_manifest
    from dwell.store import CaseWriter
    from dwell.store.query import catalog_facts

    with CaseWriter(plain_case) as writer:
        facts = catalog_facts(writer.db, prefix="")
    given = build_manifest(str(plain_case), "hunt", {}, facts=facts)
    read = build_manifest(str(plain_case), "hunt", {})
    for key in ("events", "sources", "warnings"):
        assert given[key] == read[key]
    assert given["sources"] and given["events"] > 0
