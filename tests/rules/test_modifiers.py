"""Every Sigma modifier, with inline rules, on both evaluators."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from dwell.engine import Matcher
from dwell.engine.evaluate import reference_match
from dwell.rules import load_rules

HEAD = """title: t
id: 11111111-1111-1111-1111-111111111111
status: test
level: high
logsource: {product: windows, category: process_creation}
detection:
"""
SYSMON = {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1}


def _rules(tmp_path: Path, detection: str, **kw: Any) -> Any:
    (tmp_path / "r.yml").write_text(HEAD + detection)
    return load_rules([tmp_path], include_pack=False, **kw)


CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("  s: {Image: 'C:\\\\x.exe'}\n  condition: s", {"Image": "c:\\X.EXE"}, True),
    ("  s: {Image|cased: 'C:\\\\x.exe'}\n  condition: s", {"Image": "c:\\X.EXE"}, False),
    ("  s: {Image|cased: 'C:\\\\x.exe'}\n  condition: s", {"Image": "C:\\x.exe"}, True),
    ("  s: {CommandLine|contains: ' -enc '}\n  condition: s", {"CommandLine": "p -ENC x"}, True),
    ("  s: {CommandLine|startswith: 'cmd'}\n  condition: s", {"CommandLine": "CMD /c"}, True),
    ("  s: {CommandLine|endswith: '.ps1'}\n  condition: s", {"CommandLine": "a.PS1 "}, False),
    ("  s: {CommandLine: 'a?c*z'}\n  condition: s", {"CommandLine": "ABCxxz"}, True),
    ("  s: {CommandLine: 'a?c*z'}\n  condition: s", {"CommandLine": "ACxxz"}, False),
    ("  s: {CommandLine: 'a\\*b'}\n  condition: s", {"CommandLine": "a*b"}, True),
    ("  s: {CommandLine: 'a\\*b'}\n  condition: s", {"CommandLine": "axb"}, False),
    ("  s: {CommandLine: '100%_x'}\n  condition: s", {"CommandLine": "100%_x"}, True),
    ("  s: {CommandLine: '100%_x'}\n  condition: s", {"CommandLine": "100a_x"}, False),
    ("  s: {CommandLine|contains|all: [a1, b2]}\n  condition: s", {"CommandLine": "b2 a1"}, True),
    ("  s: {CommandLine|contains|all: [a1, b2]}\n  condition: s", {"CommandLine": "b2"}, False),
    ("  s: {CommandLine|re: '^a.c$'}\n  condition: s", {"CommandLine": "aXc"}, True),
    ("  s: {CommandLine|re: '^a.c$'}\n  condition: s", {"CommandLine": "AXC"}, False),
    ("  s: {CommandLine|re|i: '^a.c$'}\n  condition: s", {"CommandLine": "AXC"}, True),
    ("  s: {CommandLine|re|m: '^b$'}\n  condition: s", {"CommandLine": "a\nb"}, True),
    ("  s: {CommandLine|re|s: 'a.b'}\n  condition: s", {"CommandLine": "a\nb"}, True),
    ("  s: {CommandLine|re: 'a.b'}\n  condition: s", {"CommandLine": "a\nb"}, False),
    ("  s: {CommandLine|base64: 'abc'}\n  condition: s",
     {"CommandLine": base64.b64encode(b"abc").decode()}, True),
    ("  s: {CommandLine|base64offset|contains: 'http://'}\n  condition: s",
     {"CommandLine": "x " + base64.b64encode(b"xxhttp://y").decode()}, True),
    ("  s: {CommandLine|wide|base64offset|contains: 'ping'}\n  condition: s",
     {"CommandLine": base64.b64encode("a ping".encode("utf-16le")).decode()}, True),
    ("  s: {CommandLine|utf16be|base64|contains: 'ab'}\n  condition: s",
     {"CommandLine": base64.b64encode("ab".encode("utf-16be")).decode()}, True),
    ("  s: {CommandLine|utf16|base64|contains: 'ab'}\n  condition: s",
     {"CommandLine": base64.b64encode("ab".encode("utf-16")).decode()}, True),
    ("  s: {CommandLine|windash|contains: ' -f '}\n  condition: s", {"CommandLine": "x /f y"},
     True),
    ("  s: {CommandLine|windash|contains: ' -f '}\n  condition: s",
     {"CommandLine": "x \u2013f y"}, True),
    ("  s: {SourceIp|cidr: 10.0.0.0/8}\n  condition: s", {"SourceIp": "10.2.3.4"}, True),
    ("  s: {SourceIp|cidr: 10.0.0.0/8}\n  condition: s", {"SourceIp": "11.2.3.4"}, False),
    ("  s: {SourceIp|cidr: 'fe80::/10'}\n  condition: s", {"SourceIp": "fe80::1"}, True),
    ("  s: {Foo|exists: true}\n  condition: s", {"Foo": "x"}, True),
    ("  s: {Foo|exists: true}\n  condition: s", {}, False),
    ("  s: {Foo|exists: false}\n  condition: s", {}, True),
    ("  s: {Image|fieldref: ParentImage}\n  condition: s", {"Image": "A", "ParentImage": "a"},
     True),
    ("  s: {Image|fieldref: ParentImage}\n  condition: s", {"Image": "A", "ParentImage": "b"},
     False),
    ("  s: {Image|fieldref|startswith: ParentImage}\n  condition: s",
     {"Image": "abc", "ParentImage": "ab"}, True),
    ("  s: {Image|fieldref|endswith: ParentImage}\n  condition: s",
     {"Image": "abc", "ParentImage": "bc"}, True),
    ("  s: {Level|gt: 3}\n  condition: s", {"Level": 4}, True),
    ("  s: {Level|gte: 4}\n  condition: s", {"Level": "4"}, True),
    ("  s: {Level|lt: 4}\n  condition: s", {"Level": 4}, False),
    ("  s: {Level|lte: 4}\n  condition: s", {"Level": 4}, True),
    ("  s: {Level|neq: 4}\n  condition: s", {"Level": 5}, True),
    ("  s: {Level|neq: 4}\n  condition: s", {"Level": 4}, False),
    ("  s: {Level: 4}\n  condition: s", {"Level": "4"}, True),
    ("  s: {Foo: null}\n  condition: s", {}, True),
    ("  s: {Foo: null}\n  condition: s", {"Foo": "x"}, False),
    ("  s: {Flag: true}\n  condition: s", {"Flag": True}, True),
    ("  s: {Flag: true}\n  condition: s", {"Flag": False}, False),
    ("  k: [mimikatz]\n  condition: k", {"CommandLine": "run MIMIKATZ.exe"}, True),
    ("  k: ['*mimi?atz*']\n  condition: k", {"Other": "xx mimiKatz"}, True),
    ("  k: [mimikatz]\n  condition: k", {"CommandLine": "nothing"}, False),
    ("  a1: {CommandLine: x}\n  a2: {CommandLine: y}\n  condition: 1 of a*",
     {"CommandLine": "y"}, True),
    ("  a1: {CommandLine: x}\n  a2: {CommandLine: y}\n  condition: all of a*",
     {"CommandLine": "y"}, False),
    ("  a1: {CommandLine|contains: x}\n  a2: {CommandLine|contains: y}\n  condition: all of them",
     {"CommandLine": "yx"}, True),
    ("  s: {Image|endswith: a.exe}\n  f: {User: admin}\n  condition: s and not f",
     {"Image": "c:\\a.exe"}, True),  # a not-filter on an absent field does not block the rule
    ("  s: {Image|endswith: a.exe}\n  f: {User: admin}\n  condition: s and not f",
     {"Image": "c:\\a.exe", "User": "ADMIN"}, False),
    ("  s: {Image|endswith: a.exe}\n  f: {User: admin}\n  condition: (s or f) and not (s and f)",
     {"User": "admin"}, True),
    ("  s: {LogonId: '0x3e7'}\n  condition: s", {"LogonID": "0x3E7"}, True),
    ("  s: {SourceName: 'Real-Time Protection'}\n  condition: s",
     {"Source Name": "Real-Time Protection"}, True),
    ("  s: {Data|contains: evil}\n  condition: s", {"Data": ["a", "EVIL b"]}, True),
]


@pytest.mark.parametrize(("detection", "fields", "expected"), CASES)
def test_modifier(tmp_path: Path, detection: str, fields: dict[str, Any], expected: bool) -> None:
    ruleset = _rules(tmp_path, detection)
    assert ruleset.errors == []
    event = {**SYSMON, **fields}
    assert bool(Matcher(ruleset).match(event)) is expected
    assert bool(reference_match(ruleset.rules, event)) is expected


def test_process_creation_matches_security_4688(tmp_path: Path) -> None:
    ruleset = _rules(tmp_path, "  s: {Image|endswith: '\\\\evil.exe', ParentImage|endswith: "
                     "'\\\\cmd.exe'}\n  condition: s")
    event = {"Channel": "Security", "EventID": 4688, "NewProcessName": "C:\\evil.exe",
             "ParentProcessName": "C:\\Windows\\cmd.exe"}
    assert Matcher(ruleset).match(event) == ruleset.rules
    assert Matcher(ruleset).match({**event, "EventID": 4689}) == []
    assert Matcher(ruleset).match({**event, "Channel": "System"}) == []


def test_expand_needs_placeholder_config(tmp_path: Path) -> None:
    detection = "  s: {User|expand: '%admins%'}\n  condition: s"
    ruleset = _rules(tmp_path, detection)
    assert ruleset.rules == []
    assert "placeholder %admins% has no value" in ruleset.errors[0].reason
    ruleset = _rules(tmp_path, detection, placeholders={"admins": ["root", "adm*"]})
    assert Matcher(ruleset).match({**SYSMON, "User": "ADMIN1"}) == ruleset.rules
    assert Matcher(ruleset).match({**SYSMON, "User": "bob"}) == []
