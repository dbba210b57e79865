"""The report in real headless Chromium: no console errors, no network, graph and timeline drawn.

Uses the demo scenario when ``dwell.scenario.generate`` exists (generate, ingest, hunt,
reconstruct, report), else the synthetic case of ``conftest``. Without Chromium the test is
skipped locally and FAILS under CI (``CI=true``).
"""

from __future__ import annotations

import base64
import importlib
import os
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from report_case import EVICTED, build_campaign, build_case, build_detections
from report_cdp import CHROMIUM, FLAGS, Browser

from dwell.cli.report_cmd import write_report
from dwell.report.text import clean

MAX_REPORT_BYTES = 5 * 1024 * 1024


def _need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} is missing; CI must install Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed")


def _generator() -> Any:
    """``dwell.scenario.generate`` (the function) if the scenario package provides it."""
    try:
        found: Any = importlib.import_module("dwell.scenario")
        found = getattr(found, "generate", None) or importlib.import_module(
            "dwell.scenario.generate")
    except ModuleNotFoundError:
        return None
    if isinstance(found, ModuleType):  # the submodule, not the function
        found = getattr(found, "generate", None)
    return found if callable(found) else None


def _demo_report(root: Path) -> tuple[Path, dict[str, Any]]:
    """The report of the demo scenario if the generator exists, else of the synthetic case."""
    generate = _generator()
    if generate is not None:
        from dwell.cli._console import Ui
        from dwell.cli.ingest_cmd import ingest_paths
        from dwell.correlate import reconstruct_case
        from dwell.engine import hunt_case, read_detections
        from dwell.report.text import parse_utc
        from dwell.rules import load_rules

        key = generate(root, seed=7, scale=0.2)
        case = root / "case"
        ingest_paths([str(root / "logs")], str(case), Ui(quiet=True), jobs=2)
        hunt_case(case, load_rules([], include_pack=True), jobs=2)
        evicted_text = getattr(key, "evicted_at", None)
        evicted = parse_utc(evicted_text) if evicted_text else None
        evicted_ns = int(evicted.timestamp()) * 10**9 if evicted else None
        detections = read_detections(case)
        campaign = reconstruct_case(case, evicted_ns, detections=detections).to_dict()
        out = write_report(str(case), root / "report.html", evicted_at=evicted,
                           campaign=campaign, detections=detections)
        return out, campaign
    case = build_case(root)
    campaign = build_campaign()
    out = write_report(str(case), root / "report.html", evicted_at=EVICTED, campaign=campaign,
                       detections=build_detections(case))
    return out, campaign


@pytest.mark.slow
def test_report_in_headless_chromium(tmp_path: Path) -> None:
    _need_chromium()
    report, campaign = _demo_report(tmp_path / "demo")
    assert report.stat().st_size < MAX_REPORT_BYTES
    camp = campaign["campaigns"][0]
    beachhead = clean(camp["beachhead"]["host"])
    compromised = {clean(h["host"]) for h in camp["hosts"]} | {beachhead}
    url = report.resolve().as_uri()

    # 1. The command-line way: --dump-dom and --screenshot.
    profile = tmp_path / "profile-cli"
    shot = tmp_path / "report.png"
    dom = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True, text=True, timeout=120, check=True).stdout
    assert 'id="spread-1"' in dom and 'id="swimlane"' in dom
    subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}",
         "--window-size=1400,2000", url],
        capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # 2. DevTools: console errors, exceptions, network requests, what is drawn.
    browser = Browser(tmp_path / "profile-cdp")
    try:
        for domain in ("Runtime", "Log", "Network", "Page"):
            browser.call(f"{domain}.enable")
        browser.call("Page.navigate", url=url)
        browser.wait_for("Page.loadEventFired")
        browser.drain(1.0)
        errors = [e for e in browser.events if
                  (e["method"] == "Runtime.consoleAPICalled"
                   and e["params"]["type"] in ("error", "assert"))
                  or e["method"] == "Runtime.exceptionThrown"
                  or (e["method"] == "Log.entryAdded"
                      and e["params"]["entry"]["level"] == "error")]
        assert errors == []
        requests = [e["params"]["request"]["url"] for e in browser.events
                    if e["method"] == "Network.requestWillBeSent"]
        assert [u for u in requests if u != url] == [], "the report fetched something"
        texts = browser.evaluate(
            "Array.from(document.querySelectorAll('#spread-1 svg text'))"
            ".map(t => t.textContent)")
        drawn = " ".join(texts)
        assert beachhead in texts and "BEACHHEAD" in texts
        missing = [h for h in compromised if h not in drawn]
        assert missing == []
        lane = browser.evaluate(
            "(() => { const s = document.querySelector('#swimlane svg');"
            " const r = s.getBoundingClientRect();"
            " return {w: r.width, h: r.height,"
            " marks: s.querySelectorAll('.mark-symbol path, .mark-symbol circle').length,"
            " text: Array.from(s.querySelectorAll('text')).map(t => t.textContent)}; })()")
        assert lane["w"] > 500 and lane["h"] > 50 and lane["marks"] > 0
        assert beachhead in lane["text"]
        scripts = browser.evaluate("document.scripts.length")
        assert scripts == 0
        browser.call("Emulation.setDeviceMetricsOverride", width=1400, height=2000,
                     deviceScaleFactor=1, mobile=False)
        png = browser.call("Page.captureScreenshot", format="png")["data"]
        (tmp_path / "report-cdp.png").write_bytes(base64.b64decode(png))
    finally:
        browser.close()
