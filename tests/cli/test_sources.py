"""Evidence found and hashed in a background thread (``dwell hunt`` starts it before loading
rules): the same units, hashes and warnings as found in place, and errors are not lost."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from dwell.cli import ingest_cmd
from dwell.cli.ingest_cmd import Sources, default_options
from dwell.ingest.pipeline import Unit


def test_sources_hash_every_file_in_order_and_keep_the_warnings(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    files = [tmp_path / "a.jsonl", tmp_path / "b" / "c.evtx", tmp_path / "b" / "empty"]
    for i, path in enumerate(files):
        path.write_bytes(b"x" * (1000 * i))
    sources = Sources([str(tmp_path), str(tmp_path / "missing")], default_options(2))
    units, sizes, warnings = sources.found()
    assert [u.path for u in units] == [str(f) for f in files]
    assert sizes == [0, 1000, 2000]
    assert [(w.file, w.reason) for w in warnings] == [
        (str(tmp_path / "missing"), "no such file or directory")]
    hashed = list(sources.hashed())
    assert [(unit.path, sha, size) for unit, (sha, size) in hashed] == [  # type: ignore[misc]
        (str(f), hashlib.sha256(f.read_bytes()).hexdigest(), f.stat().st_size) for f in files]
    assert all(isinstance(unit, Unit) for unit, _ in hashed)  # type: ignore[misc]


def test_an_error_while_finding_reaches_the_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(paths: object, *, expand: bool = True) -> object:
        raise PermissionError("walk failed")

    monkeypatch.setattr(ingest_cmd, "discover", broken)
    sources = Sources([str(tmp_path)], default_options(1))
    assert sources.found() == ([], [], [])  # (does not wait for ever)
    with pytest.raises(PermissionError, match="walk failed"):
        list(sources.hashed())


def test_closing_stops_hashing_after_the_current_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(5):
        (tmp_path / f"f{i}.jsonl").write_bytes(b"{}\n")
    started, release = threading.Event(), threading.Event()
    real = ingest_cmd.hash_file

    def slow(unit: Unit, options: object) -> object:
        started.set()
        release.wait(10)
        return real(unit, options)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest_cmd, "hash_file", slow)
    sources = Sources([str(tmp_path)], default_options(1))
    assert started.wait(10)
    sources.close()
    release.set()
    assert [unit.path for unit, _ in sources.hashed()] == [  # type: ignore[misc]
        str(tmp_path / "f0.jsonl")]
