"""Bad input never crashes the run and never loses the good records around it.

Every damaged file here is built by the test from a real sample (truncated, bytes flipped,
header destroyed) so the expected counts come from the `evtx` package itself.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import evtx
import orjson

from dwell.cli import main
from dwell.cli._console import Ui
from dwell.cli.ingest_cmd import case_info, ingest_paths

BIG = "Persistence/DACL_DCSync_Right_Powerview_ Add-DomainObjectAcl.evtx"  # 17 chunks
CHUNK = 65536
HEADER = 4096


def _count(data: bytes) -> int:
    n = 0
    records = evtx.PyEvtxParser(io.BytesIO(data)).records_json()
    while True:
        try:
            next(records)
        except StopIteration:
            return n
        except RuntimeError:
            continue
        n += 1


def _sample(shared: Path) -> bytes:
    return (shared / "evtx-attack-samples" / BIG).read_bytes()


def test_damaged_evtx_files(shared_data: Path, tmp_path: Path) -> None:
    data = _sample(shared_data)
    good = _count(data)
    logs = tmp_path / "logs"
    logs.mkdir()
    truncated = data[: HEADER + 2 * CHUNK + 30_000]
    (logs / "truncated.evtx").write_bytes(truncated)
    flipped = bytearray(data)
    for i in range(HEADER + CHUNK + 1000, HEADER + CHUNK + 3000):
        flipped[i] ^= 0xA5
    (logs / "flipped.evtx").write_bytes(bytes(flipped))
    bad_chunk = bytearray(data)
    bad_chunk[HEADER + CHUNK : HEADER + CHUNK + 8] = b"XXXXXXXX"
    (logs / "badchunk.evtx").write_bytes(bytes(bad_chunk))
    bad_header = b"\xff" * 128 + data[128:]
    (logs / "badheader.evtx").write_bytes(bad_header)
    (logs / "good.evtx").write_bytes(data)

    case = tmp_path / "case"
    report = ingest_paths([str(logs)], str(case), Ui(quiet=True))

    expected = {
        "truncated.evtx": _count(truncated),
        "flipped.evtx": _count(bytes(flipped)),
        "badchunk.evtx": _count(bytes(bad_chunk)),
        "good.evtx": good,
        "badheader.evtx": good,  # every chunk is intact: all records are recovered
    }
    assert 0 < expected["truncated.evtx"] < good
    assert 0 < expected["flipped.evtx"] < good
    assert report.records == sum(expected.values())
    info = case_info(str(case))
    assert info["events"] == sum(expected.values())
    reasons: dict[str, list[str]] = {}
    for w in info["warning_list"]:
        reasons.setdefault(Path(w["file"]).name, []).append(w["reason"])
    assert any("truncated" in r for r in reasons["truncated.evtx"])
    assert any("damaged chunk" in r for r in reasons["flipped.evtx"])
    assert any("damaged chunk" in r for r in reasons["badchunk.evtx"])
    assert reasons["badheader.evtx"] == [
        "damaged file header; records recovered from the chunks that follow"]
    assert "good.evtx" not in reasons
    # the truncation warning says where the cut is
    cut = [w for w in info["warning_list"] if Path(w["file"]).name == "truncated.evtx"]
    assert cut[0]["offset"] == HEADER + 2 * CHUNK


def test_bad_json_lines_and_odd_files(tmp_path: Path) -> None:
    good = {"Event": {"System": {"EventID": 4624, "Channel": "Security", "Computer": "WS1",
                                 "EventRecordID": 1, "TimeCreated": {"#attributes": {
                                     "SystemTime": "2022-05-04T21:15:00Z"}}},
                      "EventData": {"TargetUserName": "Administrator", "LogonType": 10}}}
    lines = [orjson.dumps(good), b"{not json", orjson.dumps({"hello": "world"}),
             b"x" * (17 * 1024 * 1024), b"", orjson.dumps(good)]
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "mixed.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (logs / "notes.txt").write_bytes(b"meeting notes, not a log\n")
    (logs / "empty.evtx").write_bytes(b"")
    os.symlink(tmp_path / "gone.evtx", logs / "dangling.evtx")
    explicit_empty = tmp_path / "explicit-empty.jsonl"
    explicit_empty.write_bytes(b"")
    case = tmp_path / "case"

    code = main(["ingest", str(logs), str(explicit_empty), str(tmp_path / "missing.evtx"),
                 "--case", str(case), "-q"])

    assert code == 3  # finished, something skipped
    info = case_info(str(case))
    assert info["events"] == 2
    by_reason = sorted((Path(w["file"]).name, w["line"], w["reason"].split(":")[0])
                       for w in info["warning_list"])
    assert ("mixed.jsonl", 2, "malformed JSON") in by_reason
    assert ("mixed.jsonl", 3, "not a Windows event (unknown JSON shape)") in by_reason
    assert any(f == "mixed.jsonl" and ln == 4 and r.startswith("line longer than")
               for f, ln, r in by_reason)
    assert ("explicit-empty.jsonl", None, "empty file") in by_reason
    assert ("missing.evtx", None, "no such file or directory") in by_reason
    assert any(f == "dangling.evtx" and r == "unreadable" for f, _, r in by_reason)
    # non-logs met while walking a folder are listed as skipped, not warned about
    assert info["skipped"] == 2
    assert not any(f in ("notes.txt", "empty.evtx") for f, _, _ in by_reason)


def test_bad_arguments_get_one_line_errors(tmp_path: Path, capsys: object) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    assert main(["ingest", str(tmp_path), "--case", str(not_a_dir)]) == 1
    assert main(["info", "--case", str(tmp_path / "nope")]) == 1
    assert main(["ingest", str(tmp_path), "--jobs", "0", "--case", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    lines = [line for line in err.splitlines() if line.startswith("dwell: error:")]
    assert len(lines) == 3
    assert "is a file, not a case directory" in lines[0]
    assert "dwell ingest PATH --case" in lines[1]
    assert "--jobs must be at least 1" in lines[2]
