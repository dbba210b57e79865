"""Every record the `evtx` package can parse from the shared corpora is stored, none lost."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import evtx
import orjson

from dwell.cli import main
from dwell.store import open_case


def _independent_counts(roots: list[Path]) -> tuple[int, int]:
    """(EVTX records, JSON events) of unique-content files, counted without dwell."""
    seen: set[str] = set()
    evtx_records = 0
    json_events = 0
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen:
                continue
            if data.startswith(b"ElfFile\x00"):
                seen.add(digest)
                evtx_records += sum(1 for _ in evtx.PyEvtxParser(str(path)).records_json())
            elif path.suffix == ".json":
                try:
                    doc = json.loads(data)
                except ValueError:
                    continue
                if isinstance(doc, dict) and "Event" in doc:
                    seen.add(digest)
                    json_events += 1
    return evtx_records, json_events


def test_shared_corpora_loaded_completely(shared_data: Path, tmp_path: Path) -> None:
    roots = [shared_data / "evtx-attack-samples", shared_data / "sigma" / "regression_data"]
    case = tmp_path / "case"
    code = main(["ingest", *map(str, roots), "--case", str(case), "-q"])
    assert code == 0
    expected_evtx, expected_json = _independent_counts(roots)
    assert expected_evtx > 8000
    with open_case(case) as reader:
        by_format = dict(reader.sql(
            "SELECT s.format, count(*) FROM events e JOIN sources s ON e.source_sha256 = s.sha256 "
            "GROUP BY 1").fetchall())
        warnings = reader.sql("SELECT count(*) FROM warnings").fetchone()
        no_time = reader.sql("SELECT count(*) FROM events WHERE timestamp IS NULL").fetchone()
        sample = reader.sql("SELECT fields FROM events WHERE event_id = 4624 LIMIT 1").fetchone()
    assert by_format["evtx"] == expected_evtx
    assert by_format["json"] == expected_json
    assert warnings == (0,)
    assert no_time == (0,)
    assert sample is not None and "TargetUserName" in orjson.loads(sample[0])
