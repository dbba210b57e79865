"""The terminal summary: 100 columns, no colour off a terminal, hostile text inert."""

from __future__ import annotations

import io
from pathlib import Path

from report_case import build_campaign, build_detections
from rich.console import Console

from dwell.report.terminal import render_summary


def _render(campaign: dict[str, object] | None, case: Path | None) -> str:
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=False, color_system=None)
    render_summary(console, campaign, build_detections(case) if case else None)  # type: ignore[arg-type]
    return out.getvalue()


def test_summary_fits_100_columns_without_colour(hostile_case: Path) -> None:
    text = _render(build_campaign(True), hostile_case)
    assert "\x1b[" not in text
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "12 detections: 2 critical, 5 high, 4 medium, 1 low" in text
    assert "beachhead WEB01 at 2021-05-11T02:14:00Z" in text
    assert "STILL PRESENT after the eviction of 2022-11-15T00:00:00Z: 1 activities" in text
    assert "2022-05-04 21:15" in text and "Lateral Movement" in text
    assert "\u202e" not in text and "[U+202E]" in text
    assert "<script>alert(1)</script>" in text  # printed literally, not as rich markup


def test_summary_without_campaign(plain_case: Path) -> None:
    assert "Campaign reconstruction not available." in _render(None, plain_case)
    assert "No campaign reconstructed." in _render({"campaigns": []}, None)
    assert "no detections" in _render({"campaigns": []}, None)


def test_clean_eviction_verdict(plain_case: Path) -> None:
    campaign = build_campaign()
    campaign["campaigns"][0]["still_present"] = {  # type: ignore[index]
        "evicted_at": "2023-06-01T00:00:00Z", "verdict": False, "after_eviction": []}
    assert "No attacker activity after the eviction of 2023-06-01T00:00:00Z" in _render(
        campaign, plain_case)
