"""Where a hunt keeps its detections: one Parquet file the catalog names, replaced atomically."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from dwell.cli import main
from dwell.engine import read_detections
from dwell.engine.hunt import DETECTIONS_DDL
from dwell.errors import StoreError
from dwell.schema import DETECTION_SCHEMA
from dwell.store import CaseWriter
from dwell.store.layout import CATALOG, DETECTIONS_KEY, detections_dir


def _rule(folder: Path, name: str, uid: str, image: str) -> Path:
    path = folder / f"{name}.yml"
    path.write_text(
        f"title: {name}\nid: {uid}\nstatus: test\nlevel: high\n"
        "logsource: {product: windows, category: process_creation}\n"
        f"detection:\n  s: {{Image|endswith: '\\\\{image}'}}\n  condition: s\n")
    return path


@pytest.fixture
def case(tmp_path: Path) -> Path:
    events = []
    for i, image in enumerate(["a.exe", "b.exe", "a.exe"], 1):
        events.append({"Event": {"System": {
            "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": "H1", "EventRecordID": i,
            "TimeCreated": {"#attributes": {"SystemTime": f"2022-07-15T10:00:0{i}Z"}}},
            "EventData": {"Image": f"C:\\\\w\\\\{image}"}}})
    logs = tmp_path / "e.jsonl"
    logs.write_text("".join(json.dumps(e) + "\n" for e in events))
    case = tmp_path / "case"
    _rule(tmp_path, "ra", "11111111-1111-1111-1111-111111111111", "a.exe")
    _rule(tmp_path, "rb", "22222222-2222-2222-2222-222222222222", "b.exe")
    assert main(["hunt", str(logs), "--case", str(case), "--no-pack", "--rules",
                 str(tmp_path / "ra.yml"), "--jobs", "1", "-q"]) == 0
    return case


def _titles(case: Path) -> list[str]:
    return read_detections(case).column("title").to_pylist()


def _files(case: Path) -> list[str]:
    return sorted(p.name for p in detections_dir(case).iterdir())


def test_a_hunt_with_other_rules_keeps_the_earlier_detections(case: Path) -> None:
    assert _titles(case) == ["ra", "ra"]
    first = _files(case)
    assert len(first) == 1
    rb = str(case.parent / "rb.yml")
    assert main(["hunt", "--case", str(case), "--no-pack", "--rules", rb, "-q"]) == 0
    assert _titles(case) == ["ra", "rb", "ra"]  # in time order
    assert len(_files(case)) == 1 and _files(case) != first  # the old file is gone
    # whoever opens the catalog itself finds a `detections` view of the file, from anywhere
    db = duckdb.connect(str(case / CATALOG), read_only=True)
    try:
        assert db.execute("SELECT count(*) FROM detections").fetchall() == [(3,)]
        assert sorted(r[0] for r in db.execute("SELECT title FROM detections").fetchall()) == \
            ["ra", "ra", "rb"]
    finally:
        db.close()
    # the same rules again replace their own detections, not add to them
    assert main(["hunt", "--case", str(case), "--no-pack", "--rules", rb, "-q"]) == 0
    assert _titles(case) == ["ra", "rb", "ra"]


def test_a_case_with_a_detections_table_is_read_then_moved_to_a_file(case: Path) -> None:
    stored = read_detections(case)
    with CaseWriter(case) as writer:  # what dwell wrote before detections had their file
        db = writer.db
        db.register("_old", stored)
        db.execute("DROP VIEW detections")
        db.execute("CREATE TABLE detections AS SELECT * FROM _old")
        db.execute("DELETE FROM meta WHERE key = ?", [DETECTIONS_KEY])
    for path in detections_dir(case).iterdir():
        path.unlink()
    assert read_detections(case).equals(stored)
    rb = str(case.parent / "rb.yml")
    assert main(["hunt", "--case", str(case), "--no-pack", "--rules", rb, "-q"]) == 0
    assert _titles(case) == ["ra", "rb", "ra"]
    db = duckdb.connect(str(case / CATALOG), read_only=True)
    tables = {row[0] for row in db.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    db.close()
    assert "detections" not in tables and "hunt_rules" in tables
    db = duckdb.connect(str(case / CATALOG), read_only=True)
    views = {row[0] for row in db.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    db.close()
    assert "detections" in views  # (the table became a view of the file)


def test_a_failed_commit_leaves_the_detections_as_they_were(
    case: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = read_detections(case)
    files = _files(case)
    # the catalog refuses the transaction (here: a broken statistics table)
    with CaseWriter(case) as writer:
        writer.db.execute("DROP TABLE hunt_rules")
        writer.db.execute("CREATE TABLE hunt_rules (only_one_column VARCHAR)")
    monkeypatch.setattr("dwell.engine.hunt.DETECTIONS_DDL", ())
    rb = str(case.parent / "rb.yml")
    with pytest.raises(duckdb.Error):
        main(["hunt", "--case", str(case), "--no-pack", "--rules", rb, "-q"])
    assert read_detections(case).equals(before) and _files(case) == files
    assert DETECTIONS_DDL  # (the module's own value is untouched)


def test_stray_detection_files_are_removed_and_a_missing_one_is_named(case: Path) -> None:
    stray = detections_dir(case) / "detections-killed.parquet"
    stray.write_bytes(b"PAR1 half written")
    (detections_dir(case) / ".detections-x.parquet.tmp").write_bytes(b"")
    with CaseWriter(case):
        pass
    assert not stray.exists() and len(_files(case)) == 1
    (detections_dir(case) / _files(case)[0]).unlink()
    with pytest.raises(StoreError, match=r"detections file that the catalog of .* names is "
                       "missing"):
        read_detections(case)


def test_a_never_hunted_case_has_no_detections(tmp_path: Path) -> None:
    with CaseWriter(tmp_path / "c"):
        pass
    assert read_detections(tmp_path / "c").equals(DETECTION_SCHEMA.empty_table())


def test_repeated_hits_are_stored_once_first_kept(case: Path) -> None:
    import pyarrow as pa

    from dwell.engine.hunt import _dedupe

    table = read_detections(case)
    assert _dedupe(table) is table  # (no repeats: the table as it is)
    noted = table.set_column(table.schema.get_field_index("matched"), "matched",
                             pa.array(["second copy"] * table.num_rows))
    doubled = pa.concat_tables([table, noted, table.slice(0, 1)])
    once = _dedupe(doubled)
    assert once.equals(table)  # the first of each (rule, event, correlation), in order
    # a row differing in one key only is no repeat (correlation, record id, position)
    other = table.slice(0, 1)
    for name, value in (("correlation", pa.array(["c1"])), ("record_id", pa.array([99])),
                        ("source_pos", pa.array([99]))):
        index = other.schema.get_field_index(name)
        changed = other.set_column(index, name, value.cast(other.schema.field(name).type))
        assert _dedupe(pa.concat_tables([table, changed])).num_rows == table.num_rows + 1
