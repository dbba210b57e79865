"""The same events as evtx-JSON JSONL, flattened JSONL and ECS NDJSON give the same rows."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path
from typing import Any

import evtx
import orjson
import pytest

from dwell.cli._console import Ui
from dwell.cli.ingest_cmd import ingest_paths
from dwell.schema import TYPED_FIELDS
from dwell.store import open_case

SAMPLES = [
    "Lateral Movement/LM_typical_IIS_webshell_sysmon_1_10_traces.evtx",
    "Command and Control/DE_RDP_Tunneling_4624.evtx",
    "Lateral Movement/LM_Remote_Service02_7045.evtx",
    "Defense Evasion/DE_1102_security_log_cleared.evtx",
    "Command and Control/"
    "DE_RDP_Tunneling_TerminalServices-RemoteConnectionManagerOperational_1149.evtx",
]
COMPARED = ["timestamp", "host", "host_short", "channel", "provider", "event_id", "record_id",
            *TYPED_FIELDS]


def _evtx_docs(shared: Path) -> list[dict[str, Any]]:
    docs = []
    for name in SAMPLES:
        path = shared / "evtx-attack-samples" / name
        docs += [orjson.loads(r["data"]) for r in evtx.PyEvtxParser(str(path)).records_json()]
    return docs


def _to_flat(doc: dict[str, Any]) -> dict[str, Any]:
    """A Zircolite/Hayabusa-style flat export, written independently of dwell's flattener."""
    system = doc["Event"]["System"]
    event_id = system["EventID"]
    flat: dict[str, Any] = {
        "EventID": event_id["#text"] if isinstance(event_id, dict) else event_id,
        "Channel": system["Channel"],
        "Computer": system["Computer"],
        "Provider_Name": system["Provider"]["#attributes"]["Name"],
        "EventRecordID": system["EventRecordID"],
        "SystemTime": system["TimeCreated"]["#attributes"]["SystemTime"],
    }
    flat.update(doc["Event"].get("EventData") or {})
    return flat


def _to_ecs(doc: dict[str, Any]) -> dict[str, Any]:
    system = doc["Event"]["System"]
    event_id = system["EventID"]
    return {
        "@timestamp": system["TimeCreated"]["#attributes"]["SystemTime"],
        "event": {"code": str(event_id), "provider": system["Provider"]["#attributes"]["Name"]},
        "winlog": {
            "event_id": str(event_id["#text"] if isinstance(event_id, dict) else event_id),
            "channel": system["Channel"],
            "computer_name": system["Computer"],
            "provider_name": system["Provider"]["#attributes"]["Name"],
            "record_id": system["EventRecordID"],
            "event_data": doc["Event"].get("EventData") or {},
        },
    }


def _rows(case: Path) -> list[dict[str, Any]]:
    with open_case(case) as reader:
        table = reader.arrow(
            f"SELECT {', '.join(COMPARED)}, fields FROM events ORDER BY channel, record_id"
        )
    rows = table.to_pylist()
    for row in rows:
        row["fields"] = orjson.loads(row["fields"])
    return rows


def _ingest(tmp: Path, name: str, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    src = tmp / name
    src.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    case = tmp / f"case-{name}"
    report = ingest_paths([str(src)], str(case), Ui(quiet=True))
    assert report.warnings == []
    assert report.records == len(lines)
    return _rows(case)


def test_three_json_shapes_give_same_rows(shared_data: Path, tmp_path: Path) -> None:
    docs = [d for d in _evtx_docs(shared_data) if isinstance(d["Event"].get("EventData"), dict)]
    assert len(docs) >= 10
    native = _ingest(tmp_path, "native.jsonl", docs)
    flat = _ingest(tmp_path, "flat.jsonl", [_to_flat(d) for d in docs])
    ecs = _ingest(tmp_path, "ecs.ndjson", [_to_ecs(d) for d in docs])
    for a, b, c in zip(native, flat, ecs, strict=True):
        assert {k: a[k] for k in COMPARED} == {k: b[k] for k in COMPARED} == \
            {k: c[k] for k in COMPARED}
        data_keys = set(b["fields"]) - {"SystemTime", "EventRecordID"}
        for key in data_keys - {"EventID"}:
            assert a["fields"].get(key) == b["fields"].get(key) == c["fields"].get(key), key


def test_evtx_and_its_json_export_agree(shared_data: Path, tmp_path: Path) -> None:
    docs = _evtx_docs(shared_data)
    native = _ingest(tmp_path, "all.jsonl", docs)
    case = tmp_path / "case-evtx"
    report = ingest_paths([str(shared_data / "evtx-attack-samples" / n) for n in SAMPLES],
                          str(case), Ui(quiet=True))
    assert report.records == len(docs)
    from_evtx = _rows(case)
    assert [{k: r[k] for k in COMPARED} for r in from_evtx] == \
        [{k: r[k] for k in COMPARED} for r in native]
    assert [r["fields"] for r in from_evtx] == [r["fields"] for r in native]


def test_userdata_unnamed_data_and_qualifiers_kept(shared_data: Path, tmp_path: Path) -> None:
    rows = _ingest(tmp_path, "all.jsonl", _evtx_docs(shared_data))
    cleared = [r for r in rows if r["event_id"] == 1102]
    assert cleared, "1102 sample must be present"
    # UserData/LogFileCleared/SubjectUserName survives as a field
    assert any(r["fields"].get("SubjectUserName") for r in cleared)
    rdp = [r for r in rows if r["event_id"] == 1149]
    assert rdp and all("Param1" in r["fields"] and "Param3" in r["fields"] for r in rdp)
    services = [r for r in rows if r["event_id"] == 7045]
    assert services and all(r["fields"].get("Qualifiers") == 16384 for r in services)
    assert all(r["service_name"] for r in services)
    # unnamed Data items: a classic-provider event keeps them all, in order
    unnamed = {"Event": {"System": {"EventID": 10, "Channel": "Application",
                                    "Computer": "h1", "EventRecordID": 5,
                                    "TimeCreated": {"#attributes": {
                                        "SystemTime": "2022-01-01T00:00:00Z"}}},
                         "EventData": {"Data": {"#text": ["a", "b", "c"]}, "Binary": "00AA"}}}
    row = _ingest(tmp_path, "unnamed.jsonl", [unnamed])[0]
    assert row["fields"]["Data"] == ["a", "b", "c"]
    assert row["fields"]["Binary"] == "00AA"


@pytest.mark.parametrize("container", ["gzip", "zip"])
def test_containers_read_in_place(shared_data: Path, tmp_path: Path, container: str) -> None:
    sample = shared_data / "evtx-attack-samples" / SAMPLES[1]
    lines = b"".join(orjson.dumps(d) + b"\n" for d in _evtx_docs(shared_data)[:5])
    if container == "gzip":
        path = tmp_path / "logs.bin"  # no telling extension: sniffed by content
        path.write_bytes(gzip.compress(sample.read_bytes()))
        expected = sum(1 for _ in evtx.PyEvtxParser(str(sample)).records_json())
    else:
        path = tmp_path / "collection.zip"
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("host1/Security.evtx", sample.read_bytes())
            archive.writestr("host1/export.jsonl", lines)
            archive.writestr("README.txt", b"collected by the IR team")
        path.write_bytes(buf.getvalue())
        expected = sum(1 for _ in evtx.PyEvtxParser(str(sample)).records_json()) + 5
    case = tmp_path / "case"
    report = ingest_paths([str(path)], str(case), Ui(quiet=True))
    assert report.records == expected
    extracted = [p for p in tmp_path.rglob("*") if p.suffix in (".evtx", ".jsonl")]
    assert extracted == []  # nothing was unpacked to disk
    with open_case(case) as reader:
        files = {r[0] for r in reader.sql("SELECT DISTINCT source_file FROM events").fetchall()}
    if container == "zip":
        assert files == {f"{path}!host1/Security.evtx", f"{path}!host1/export.jsonl"}
    else:
        assert files == {str(path)}
