"""Rule loading: every unusable rule is reported with path, line and reason; fetch verifies."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import threading
import zipfile
from pathlib import Path

import pytest

from dwell.cli import main
from dwell.errors import UsageError
from dwell.rules import load_rules
from dwell.rules.fetch import fetch_rules
from dwell.rules.load import rule_files

GOOD = """title: good
id: 44444444-4444-4444-4444-444444444444
status: stable
level: {level}
logsource: {{product: windows, category: process_creation}}
detection:
  s: {{Image|endswith: '\\\\x.exe'}}
  condition: s
"""


def test_bad_rules_are_reported(tmp_path: Path) -> None:
    (tmp_path / "good.yml").write_text(GOOD.format(level="high"))
    (tmp_path / "yaml.yml").write_text("title: x\n  bad: [\n")
    (tmp_path / "ls.yml").write_text(GOOD.format(level="low").replace("4444-4444", "5555-5555")
                                     .replace("process_creation", "antivirus"))
    (tmp_path / "cond.yml").write_text(GOOD.format(level="low").replace("4444-4444", "6666-6666")
                                       .replace("condition: s", "condition: s and nope"))
    ruleset = load_rules([tmp_path], include_pack=False)
    assert [r.title for r in ruleset.rules] == ["good"]
    reasons = {Path(e.path).name: e for e in ruleset.errors}
    assert set(reasons) == {"yaml.yml", "ls.yml", "cond.yml"}
    assert "invalid YAML" in reasons["yaml.yml"].reason and reasons["yaml.yml"].line == 2
    assert "category 'antivirus' has no Windows event log mapping" in reasons["ls.yml"].reason
    assert "nope" in reasons["cond.yml"].reason


def test_level_and_status_selection(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(GOOD.format(level="medium"))
    assert load_rules([tmp_path], include_pack=False, min_level="high").rules == []
    assert len(load_rules([tmp_path], include_pack=False, min_level="low").rules) == 1
    assert load_rules([tmp_path], include_pack=False, statuses=["test"]).rules == []
    with pytest.raises(UsageError, match="unknown level"):
        load_rules([tmp_path], min_level="severe")
    with pytest.raises(UsageError, match="no such rule file"):
        load_rules([tmp_path / "missing"])


def test_cache_gives_same_rules(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(GOOD.format(level="medium"))
    first = load_rules([tmp_path], include_pack=False)
    second = load_rules([tmp_path], include_pack=False)
    assert not first.cached and second.cached
    assert first.rules == second.rules and first.sha256 == second.sha256
    # rules pickle positionally: every field comes back (tags are left out of ==)
    for a, b in zip(first.rules, second.rules, strict=True):
        assert [getattr(a, f.name) for f in dataclasses.fields(a)] == \
            [getattr(b, f.name) for f in dataclasses.fields(b)]


def test_a_rule_file_given_twice_loads_once(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(GOOD.format(level="medium"))
    (tmp_path / "link.yml").symlink_to(tmp_path / "a.yml")
    ruleset = load_rules([tmp_path, tmp_path / "a.yml"], include_pack=False)
    assert ruleset.files == 1 and len(ruleset.rules) == 1


def test_rules_check_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.yml").write_text(GOOD.format(level="medium"))
    (tmp_path / "b.yml").write_text("- not a rule\n")
    assert main(["rules", "check", "--no-pack", str(tmp_path)]) == 3
    out = capsys.readouterr().out
    assert "b.yml" in out and "not a mapping" in out and "1 rules usable" in out


def _serve(payload: bytes) -> tuple[http.server.HTTPServer, str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/rules.zip"


def test_fetch_verifies_sha256(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("rules/windows/a.yml", GOOD.format(level="high"))
        archive.writestr("../evil.yml", "x")
        archive.writestr("README.md", "x")
    payload = buf.getvalue()
    server, url = _serve(payload)
    try:
        with pytest.raises(UsageError, match="SHA-256 mismatch"):
            fetch_rules(tmp_path / "bad", url=url, sha256="0" * 64)
        assert not (tmp_path / "bad").exists()
        folder, count = fetch_rules(tmp_path / "ok", url=url,
                                    sha256=hashlib.sha256(payload).hexdigest())
        assert count == 1
        assert len(load_rules([folder], include_pack=False).rules) == 1
    finally:
        server.shutdown()
        server.server_close()


def test_the_cache_keeps_the_latest_rule_sets_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from dwell.rules.load import CACHE_KEEP

    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("DWELL_CACHE_DIR", str(cache))
    old = []
    for i in range(CACHE_KEEP + 3):  # rule sets of earlier versions, oldest first
        path = cache / f"{i:064x}.pickle"
        path.write_bytes(b"old")
        os.utime(path, ns=(10**18 + i, 10**18 + i))
        old.append(path)
    others = [cache / "plans-1.pickle", cache / "notes.pickle"]
    for path in others:
        path.write_bytes(b"kept")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "a.yml").write_text(GOOD.format(level="medium"))
    load_rules([tmp_path / "rules"], include_pack=False)
    kept = sorted(p for p in cache.iterdir() if len(p.stem) == 64)
    assert len(kept) == CACHE_KEEP  # the new one and the newest of the old
    assert old[-1] in kept and old[0] not in kept
    assert all(p.exists() for p in others) and not list(cache.glob("*.tmp"))
    assert load_rules([tmp_path / "rules"], include_pack=False).cached


def test_rule_files_are_found_as_pathlib_finds_them(tmp_path: Path) -> None:
    """Hidden files and folders, links to files (not broken ones, not linked folders), upper
    case folders sorting first: the same files in the same order as ``Path.rglob``."""
    for name in ("a/x.yml", "a-b/y.yaml", ".hidden/z.yml", "A/q.yml", "r.yml", "s.yml.txt",
                 "a/.dot.yml", "a/b.YML", ".yml", "a/c/d.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / "link.yml").symlink_to(tmp_path / "r.yml")
    (tmp_path / "broken.yml").symlink_to(tmp_path / "nope.yml")
    (tmp_path / "folder-link").symlink_to(tmp_path / "a")
    (tmp_path / "dir.yml").mkdir()
    expected = sorted(p for p in tmp_path.rglob("*")
                      if p.suffix in (".yml", ".yaml") and p.is_file())
    assert rule_files([tmp_path]) == expected
    assert [p.relative_to(tmp_path).as_posix() for p in expected] == [
        ".hidden/z.yml", "A/q.yml", "a/.dot.yml", "a/c/d.yaml", "a/x.yml", "a-b/y.yaml",
        "link.yml", "r.yml"]


def test_rule_files_are_hashed_once_until_they_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rule set's cache key needs each file's SHA-256: files whose stat signature (inode,
    size, mtime and ctime) is unchanged are not read again; a file rewritten to the same size
    with its mtime put back still counts as changed (its ctime moved)."""
    import os

    from dwell.rules import load as load_module

    rule = tmp_path / "a.yml"
    rule.write_text(GOOD.format(level="medium"))
    assert load_rules([tmp_path], include_pack=False).rules[0].level == "medium"
    # (a file changed in the last seconds is hashed each time: let this one be older)
    monkeypatch.setattr(load_module.time, "time_ns", lambda: rule.stat().st_ctime_ns + 10**10)
    load_rules([tmp_path], include_pack=False)

    def no_reading(name: str) -> bytes:
        raise AssertionError(f"read {name} again")

    with monkeypatch.context() as patch:
        patch.setattr(load_module, "_read_file", no_reading)
        again = load_rules([tmp_path], include_pack=False)
    assert again.cached and again.rules[0].level == "medium"
    before = rule.stat()
    rule.write_text(GOOD.format(level="low   "))  # the same size
    os.utime(rule, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert rule.stat().st_size == before.st_size
    assert rule.stat().st_mtime_ns == before.st_mtime_ns
    changed = load_rules([tmp_path], include_pack=False)
    assert changed.rules[0].level == "low" and not changed.cached
