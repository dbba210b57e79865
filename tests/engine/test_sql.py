"""The SQL backend: DuckDB results equal the reference evaluator; Spark SQL transpiles."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import orjson
import pytest
import sqlglot

from dwell.engine.evaluate import reference_match
from dwell.engine.sql import field_catalog, hunt_sql, rules_sql, to_sqlglot
from dwell.rules import ir, load_rules

if TYPE_CHECKING:
    from dwell.rules import CompiledRule

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
SYSMON = "Microsoft-Windows-Sysmon/Operational"


def _rules(tmp_path: Path, *docs: str,
           placeholders: dict[str, list[str]] | None = None) -> list[CompiledRule]:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    for i, doc in enumerate(docs):
        (folder / f"r{i}.yml").write_text(doc)
    ruleset = load_rules([folder], include_pack=False, use_cache=False,
                         placeholders=placeholders)
    assert not ruleset.errors, [str(e) for e in ruleset.errors]
    return ruleset.rules


def _rule(i: int, detection: str, logsource: str = "category: process_creation") -> str:
    return (f"title: rule {i}\nid: 00000000-0000-0000-0000-{i:012d}\nstatus: test\n"
            f"logsource:\n  product: windows\n  {logsource}\ndetection:\n{detection}")


def _event(**fields: Any) -> dict[str, Any]:
    return {"Channel": SYSMON, "EventID": 1, **fields}


def _table(events: list[dict[str, Any]]) -> duckdb.DuckDBPyConnection:
    db = duckdb.connect()
    db.execute("CREATE TABLE events (channel VARCHAR, event_id INTEGER, "
               "source_sha256 VARCHAR, source_pos BIGINT, fields VARCHAR)")
    db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", [
        [e.get("Channel"), e.get("EventID"), "sha", pos, orjson.dumps(e).decode()]
        for pos, e in enumerate(events)])
    return db


def _compare(rules: list[CompiledRule], events: list[dict[str, Any]]) -> set[tuple[str, int]]:
    """Run the rules as SQL and in Python; assert equal hits and return them."""
    db = _table(events)
    query = rules_sql(rules, "duckdb", "events", field_catalog(db))
    assert not query.unsupported, query.unsupported
    got = {(rid, pos) for rid, _, pos in db.execute(query.sql).fetchall()}
    want = {(r.id, pos) for pos, e in enumerate(events) for r in reference_match(rules, e)}
    assert got == want, f"sql only: {sorted(got - want)}; python only: {sorted(want - got)}"
    spark = rules_sql(rules, "spark", "events", field_catalog(db)).sql
    assert sqlglot.parse_one(spark, read="spark") is not None
    return got


def _hits(got: set[tuple[str, int]]) -> list[int]:
    return sorted(pos for _, pos in got)


def test_wildcard_characters_of_like_are_escaped(tmp_path: Path) -> None:
    rules = _rules(tmp_path, _rule(1, "  sel:\n    Image|endswith: '\\a_b.exe'\n"
                                      "    CommandLine|contains: '50%'\n  condition: sel\n"))
    events = [_event(Image="C:\\a_b.exe", CommandLine="x 50% y"),
              _event(Image="C:\\aXb.exe", CommandLine="x 50% y"),
              _event(Image="C:\\a_b.exe", CommandLine="x 50 y"),
              _event(Image="C:\\A_B.EXE", CommandLine="50%")]
    assert _hits(_compare(rules, events)) == [0, 3]


def test_glob_uses_like_with_escape(tmp_path: Path) -> None:
    rules = _rules(tmp_path, _rule(1, "  sel:\n    Image: 'C:\\Win*\\a_?.exe'\n"
                                      "  condition: sel\n"))
    events = [_event(Image="c:\\windows\\a_1.exe"), _event(Image="C:\\Win\\aX1.exe"),
              _event(Image="C:\\Win\\a_12.exe"), _event(Image="C:\\Windows\\A_%.EXE")]
    assert _hits(_compare(rules, events)) == [0, 3]
    assert "ESCAPE" in rules_sql(rules, "spark").sql


def test_equality_is_case_insensitive_and_cased_is_not(tmp_path: Path) -> None:
    rules = _rules(tmp_path,
                   _rule(1, "  sel:\n    User: 'NT AUTHORITY\\SYSTEM'\n  condition: sel\n"),
                   _rule(2, "  sel:\n    User|cased: 'Admin'\n  condition: sel\n"))
    events = [_event(User="nt authority\\system"), _event(User="Admin"), _event(User="admin")]
    got = _compare(rules, events)
    assert sorted(got) == [(rules[0].id, 0), (rules[1].id, 1)]


def test_not_filter_on_an_absent_field_does_not_block(tmp_path: Path) -> None:
    rules = _rules(tmp_path, _rule(1, "  sel:\n    Image|endswith: '.exe'\n"
                                      "  flt:\n    ParentImage|startswith: 'C:\\Good'\n"
                                      "  condition: sel and not flt\n"))
    events = [_event(Image="a.exe"), _event(Image="a.exe", ParentImage="C:\\good\\p.exe"),
              _event(Image="a.exe", ParentImage=None), _event(Image="a.exe", ParentImage="x")]
    assert _hits(_compare(rules, events)) == [0, 2, 3]


def test_field_names_differing_in_case_resolve_to_one_field(tmp_path: Path) -> None:
    rules = _rules(tmp_path, _rule(1, "  sel:\n    LogonId: '0x3e7'\n  condition: sel\n"))
    events = [_event(LogonId="0x3E7"), _event(LogonID="0x3e7"), _event(logonid="0x3e8")]
    assert _hits(_compare(rules, events)) == [0, 1]


def test_lists_match_when_an_element_matches(tmp_path: Path) -> None:
    rules = _rules(tmp_path,
                   _rule(1, "  sel:\n    Data|contains: 'evil'\n  condition: sel\n"),
                   _rule(2, "  sel:\n    Data: 'x'\n  condition: not sel\n"))
    events = [_event(Data=["a", "EVIL b"]), _event(Data="evil"), _event(Data=["a", 5]),
              _event(Data=["x"]), _event(Data="[\"x\"]"), _event()]
    _compare(rules, events)


def test_starts_ends_contains_all_and_or_lists(tmp_path: Path) -> None:
    rules = _rules(tmp_path, _rule(1, "  sel:\n    Image|startswith: ['C:\\a', 'C:\\b', 'D:\\c']\n"
                                      "    CommandLine|contains|all: ['-x', '/y']\n"
                                      "    ParentImage|endswith: ['\\p.exe', '\\q.exe', "
                                      "'\\r(.exe', '\\s$.exe']\n"
                                      "    OriginalFileName: ['A.EXE', 'B.exe', 'c.exe']\n"
                                      "  condition: sel\n"))
    base = {"Image": "C:\\A\\1", "CommandLine": "-X /Y", "ParentImage": "z\\R(.EXE",
            "OriginalFileName": "b.EXE"}
    events = [_event(**base), _event(**{**base, "Image": "E:\\c"}),
              _event(**{**base, "CommandLine": "-x"}), _event(**{**base, "ParentImage": "p.exe"}),
              _event(**{**base, "ParentImage": "x\\s$.exe\n"}),
              _event(**{**base, "OriginalFileName": "d.exe"})]
    assert _hits(_compare(rules, events)) == [0]


def test_regex_flags(tmp_path: Path) -> None:
    rules = _rules(tmp_path,
                   _rule(1, "  sel:\n    CommandLine|re: 'ab+c'\n  condition: sel\n"),
                   _rule(2, "  sel:\n    CommandLine|re|i: '^ABC'\n  condition: sel\n"),
                   _rule(3, "  sel:\n    CommandLine|re|m: '^x$'\n  condition: sel\n"),
                   _rule(4, "  sel:\n    CommandLine|re|s: 'a.z'\n  condition: sel\n"))
    events = [_event(CommandLine="xxabbc"), _event(CommandLine="abcd"),
              _event(CommandLine="q\nx\nr"), _event(CommandLine="a\nz"), _event(CommandLine="ABC")]
    got = _compare(rules, events)
    assert len(got) == 6


def test_regex_python_only_syntax_is_reported(tmp_path: Path) -> None:
    # pySigma rejects most such patterns already; the IR can still hold them.
    loaded = _rules(tmp_path, _rule(1, "  sel:\n    CommandLine|re: 'ab'\n  condition: sel\n"))
    rules = [replace(loaded[0], targets=tuple(
        (target, ir.Test("commandline", "re", "a(?!b)")) for target, _ in loaded[0].targets))]
    query = rules_sql(rules)
    assert query.rule_ids == ()
    assert len(query.unsupported) == 1
    assert "Python-only syntax" in query.unsupported[0].reason


def test_cidr_ipv4_and_ipv6(tmp_path: Path) -> None:
    rules = _rules(tmp_path, _rule(1, "  sel:\n    DestinationIp|cidr: ['10.0.0.0/8', "
                                      "'192.168.1.0/24', 'fe80::/10', '::1/128']\n"
                                      "  condition: not sel\n",
                                   "category: network_connection"))
    ips = ["10.1.2.3", "11.0.0.1", "192.168.1.255", "192.168.2.1", "fe80::1%12", "FE80::abcd",
           "fec0::1", "::1", "0:0:0:0:0:0:0:1", "::ffff:10.0.0.1", "010.1.1.1", "x", 5]
    events = [{"Channel": SYSMON, "EventID": 3, "DestinationIp": ip} for ip in ips]
    events.append({"Channel": SYSMON, "EventID": 3})
    got = _compare(rules, events)
    assert _hits(got) == [1, 3, 6, 9, 10, 11, 12, 13]


def test_numbers_comparisons_exists_null_bool_fieldref(tmp_path: Path) -> None:
    rules = _rules(
        tmp_path,
        _rule(1, "  sel:\n    LogonType: 3\n  condition: sel\n"),
        _rule(2, "  sel:\n    Size|gte: 100\n  condition: sel\n"),
        _rule(3, "  sel:\n    Size|lt: 100\n  condition: sel\n"),
        _rule(4, "  sel:\n    Size|neq: 5\n  condition: sel\n"),
        _rule(5, "  sel:\n    Hashes|exists: true\n  condition: sel\n"),
        _rule(6, "  sel:\n    Hashes|exists: false\n  condition: sel\n"),
        _rule(7, "  sel:\n    Hashes: null\n  condition: sel\n"),
        _rule(8, "  sel:\n    Enabled: true\n  condition: sel\n"),
        _rule(9, "  sel:\n    TargetUser|fieldref: SubjectUser\n  condition: sel\n"),
        _rule(10, "  sel:\n    Image|fieldref|endswith: Name\n  condition: sel\n"),
    )
    events = [_event(LogonType=3, Size="150", Hashes="x", Enabled=True, TargetUser="Bob",
                     SubjectUser="bob", Image="C:\\A.exe", Name="a.EXE"),
              _event(LogonType="3", Size=5, Hashes=None, Enabled="True", TargetUser="x"),
              _event(LogonType="03", Size=" 99.5 ", Enabled="false", SubjectUser="x",
                     Image="a", Name="b"),
              _event(LogonType=3.0, Size="abc", Enabled=1)]
    _compare(rules, events)


def test_keywords_and_encoding_modifiers(tmp_path: Path) -> None:
    rules = _rules(
        tmp_path,
        _rule(1, "  keywords:\n    - 'mimikatz'\n    - 'sekurlsa'\n  condition: keywords\n"),
        _rule(2, "  sel:\n    CommandLine|base64offset|contains: 'IEX'\n  condition: sel\n"),
        _rule(3, "  sel:\n    CommandLine|windash|contains: ' -enc '\n  condition: sel\n"),
        _rule(4, "  sel:\n    CommandLine|wide|base64|contains: 'ab'\n  condition: sel\n"),
        _rule(5, "  sel:\n    CommandLine|contains|expand: '%dirs%'\n  condition: sel\n"),
        placeholders={"dirs": ["\\temp\\"]},
    )
    events = [_event(Data=["x", "Invoke-Mimikatz"]), _event(Other="SEKURLSA::x"),
              _event(CommandLine="SUVY"), _event(CommandLine="a /enc b"),
              _event(CommandLine="YQBiAA=="), _event(CommandLine="c:\\temp\\x"), _event()]
    got = _compare(rules, events)
    assert {rid[-1] for rid, _ in got} == {"1", "2", "3", "4", "5"}


def test_to_sqlglot_includes_the_logsource(tmp_path: Path) -> None:
    rules = _rules(tmp_path, _rule(1, "  sel:\n    Image|endswith: '.exe'\n  condition: sel\n"))
    text = to_sqlglot(rules[0]).sql("duckdb")
    assert "_channel = 'microsoft-windows-sysmon/operational'" in text
    assert "_channel = 'security'" in text and "_eid IN (4688)" in text


def test_spark_transpile_keeps_explicit_escape(tmp_path: Path) -> None:
    rules = _rules(tmp_path, _rule(1, "  sel:\n    Image: 'C:\\Win*\\x_?.exe'\n  condition: sel\n"))
    spark = rules_sql(rules, "spark").sql
    # Spark string literals escape the backslash: this is LIKE 'c:\win%\x\__.exe' ESCAPE '\'.
    assert r"LIKE 'c:\\\\win%\\\\x\\__.exe' ESCAPE '\\'" in spark, spark
    assert "GET_JSON_OBJECT" in spark and "suffix" not in spark.lower()


# --- a real case ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sample_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    samples = DATA / "evtx-attack-samples"
    if not samples.is_dir():
        pytest.skip("../shared/data/evtx-attack-samples is not available")
    from dwell.cli._console import Ui
    from dwell.cli.ingest_cmd import ingest_paths

    case = tmp_path_factory.mktemp("sql-case") / "case"
    ingest_paths([str(samples)], str(case), Ui(quiet=True), jobs=1)
    return case


def test_sql_hunt_equals_python_hunt_on_sigmahq_rules(sample_case: Path) -> None:
    rules_dir = DATA / "sigma" / "rules" / "windows"
    if not rules_dir.is_dir():
        pytest.skip("../shared/data/sigma is not available")
    from dwell.engine import Matcher
    from dwell.store import open_case

    ruleset = load_rules([rules_dir], include_pack=False)
    detection = [r for r in ruleset.rules if r.correlation is None]
    matcher = Matcher(detection)
    python: dict[str, int] = {}
    with open_case(sample_case) as reader:
        channels = {c for (c,) in reader.sql(
            "SELECT DISTINCT lower(channel) FROM events").fetchall()}
        for (text,) in reader.sql("SELECT fields FROM events").fetchall():
            for index in matcher.match_indices(orjson.loads(text)):
                rid = matcher.rules[index].id
                python[rid] = python.get(rid, 0) + 1
    # Every rule that fires, plus every other rule whose log source is in the sample.
    sample = [r for r in detection if r.id in python or any(
        t.channel is None or t.channel in channels for t, _ in r.targets)]
    assert len(sample) >= 200
    started = time.perf_counter()
    result = hunt_sql(sample_case, sample)
    seconds = time.perf_counter() - started
    left_out = {u.rule_id for u in result.unsupported}
    mismatches = [
        f"{r.id} {r.title}: sql {result.counts.get(r.id)} python {python.get(r.id, 0)}"
        for r in sample
        if r.id not in left_out and result.counts.get(r.id) != python.get(r.id, 0)
    ]
    assert not mismatches, "\n".join(mismatches)
    assert len(result.counts) >= 200
    assert sum(1 for n in result.counts.values() if n) >= 100
    assert len(left_out) <= len(sample) // 50, [str(u) for u in result.unsupported]
    assert seconds < 120
