"""The HTML report: inert with hostile log text, self-contained, every link resolves."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from report_case import (
    EVICTED,
    EVIL_HOST,
    IMG,
    RLO,
    SCRIPT,
    build_campaign,
    build_detections,
)

from dwell.cli import main
from dwell.cli.report_cmd import write_html_report, write_report
from dwell.report import graph as graph_mod
from dwell.report.graph import build_graph, render_graph
from dwell.report.text import BIDI_CONTROLS, clean

ACTIVE = {"script", "img", "iframe", "object", "embed", "link", "base", "form", "audio",
          "video", "source", "foreignobject", "animate", "set", "image", "use"}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.ids: set[str] = set()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        self.tags.append((tag, attr))
        if attr.get("id"):
            self.ids.add(str(attr["id"]))
        if tag == "a" and attr.get("href"):
            self.hrefs.append(str(attr["href"]))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def hostile_report(hostile_case: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("html") / "report.html"
    write_report(str(hostile_case), out, evicted_at=EVICTED, campaign=build_campaign(True),
                 detections=build_detections(hostile_case))
    return out.read_text(encoding="utf-8")


def test_hostile_log_text_stays_inert(hostile_report: str) -> None:
    page = _parse(hostile_report)
    tags = {t for t, _ in page.tags}
    assert not tags & ACTIVE, tags & ACTIVE
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name, value)
            assert "javascript:" not in (value or "").lower()
    # The payloads are there, as text a reader can see, not as markup.
    text = "".join(page.text)
    assert SCRIPT in text and IMG in text and EVIL_HOST.upper() in text
    assert "<script" not in hostile_report.lower() and "<img" not in hostile_report.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile_report


def test_bidi_controls_are_neutralised(hostile_report: str) -> None:
    assert not set(hostile_report) & BIDI_CONTROLS
    assert "GOVAL\\Admin[U+202E]nimda" in hostile_report  # shown, not applied
    assert "svc_eapp[U+202E]" in hostile_report


def test_self_contained_and_small(hostile_report: str) -> None:
    assert len(hostile_report.encode()) < 5 * 1024 * 1024
    assert "Content-Security-Policy" in hostile_report and "default-src 'none'" in hostile_report
    urls = set(re.findall(r"(?:https?:)?//[^\s\"'<>)]+", hostile_report))
    allowed = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert urls <= allowed, urls - allowed
    assert "@import" not in hostile_report and "url(http" not in hostile_report


def test_every_claim_links_to_an_event_that_exists(hostile_report: str) -> None:
    page = _parse(hostile_report)
    anchors = [h[1:] for h in page.hrefs if h.startswith("#")]
    assert anchors and not [a for a in anchors if a not in page.ids]
    events = [a for a in anchors if a.startswith("ev-")]
    assert len(set(events)) >= 8
    assert "event not found in the case" not in hostile_report
    # The beachhead card cites the webshell's event, with its raw fields.
    assert re.search(r"2021-05-11T02:14:00Z <a href=\"#ev-\d+\">\[1\]</a>", hostile_report)
    assert "w3wp.exe" in hostile_report and "raw fields" in hostile_report


def test_headline_and_sections(hostile_report: str) -> None:
    for text in ("Campaign 1", "WEB01", "627.98 days", "STILL PRESENT", "2022-11-15T00:00:00Z",
                 "Exfiltration", "rar a -hpX reg.rar reg.csv", "Impact", "encryptor",
                 "the Security log on PRINT01 was cleared", "Lateral Movement",
                 'id="swimlane"', "declared eviction", "Run manifest",
                 "&#34;kind&#34;: &#34;report&#34;"):
        assert text in hostile_report, text
    assert "DC02" in hostile_report  # untouched host greyed in the graph, present in coverage


def test_graph_fallback_without_dot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_mod.shutil, "which", lambda name: None)
    camp = build_campaign(True)["campaigns"][0]
    graph = render_graph(build_graph(camp, ["WEB01", "FS01", "DC01", "DC02", "PRINT01"]))
    assert graph.engine == "fallback" and "not installed" in graph.notes[-1]
    page = _parse(graph.svg)
    assert not {t for t, _ in page.tags} & ACTIVE
    text = "".join(page.text)
    assert "BEACHHEAD" in text and "DC02" in text and clean(EVIL_HOST.upper(), 40) in text


def test_graph_roles() -> None:
    camp = build_campaign()["campaigns"][0]
    graph = build_graph(camp, ["WEB01", "FS01", "DC01", "DC02", "PRINT01", "KIOSK01"])
    roles = {n.host: n.role for n in graph.nodes}
    assert roles == {"WEB01": "beachhead", "FS01": "compromised", "DC01": "compromised",
                     "PRINT01": "compromised", "KIOSK01": "compromised", "DC02": "untouched",
                     "203.0.113.90": "external"}
    first = graph.edges[0]
    assert (first.src, first.dst, first.method) == ("WEB01", "FS01", "rdp")


def test_report_without_campaign_or_detections(plain_case: Path, tmp_path: Path) -> None:
    out = write_report(str(plain_case), tmp_path / "r.html", evicted_at=None,
                       campaign={"campaigns": []})
    html = out.read_text()
    assert "No campaign was reconstructed from this case." in html
    assert "This case has no detections: has it been hunted?" in html


def test_demo_entry_point_and_cli(plain_case: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = write_html_report(plain_case, tmp_path / "demo.html", campaigns=build_campaign())
    assert "STILL PRESENT" in out.read_text()  # evicted_at taken from the campaign dict
    assert main(["report", "--case", str(plain_case), "--evicted-at", "2022-11-15",
                 "-o", str(tmp_path / "cli.html")]) == 0
    assert (tmp_path / "cli.html").stat().st_size > 1000
    assert "wrote" in capsys.readouterr().err
    assert main(["report", "--case", str(plain_case), "--evicted-at", "soon"]) == 2
    assert "bad --evicted-at time 'soon'" in capsys.readouterr().err


def test_clean_text() -> None:
    assert clean(f"a{RLO}b\u2066c\x00d") == "a[U+202E]b[U+2066]c?d"
    assert clean("x" * 10, 5) == "xxxx…"
