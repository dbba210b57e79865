"""Swimlane data: kill-chain phases in order, detections counted per host and day."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

from report_case import EVICTED, build_detections

from dwell.report.swimlane import lane_points, phase_bands, render_swimlane, swimlane_spec


def test_phase_bands_follow_the_kill_chain(plain_case: Path) -> None:
    detections = build_detections(plain_case)
    end = datetime(2023, 1, 29, tzinfo=UTC)
    bands = phase_bands(detections, {"WEB01", "FS01", "DC01", "PRINT01", "KIOSK01"}, end,
                        first=datetime(2021, 5, 11, 2, 14, tzinfo=UTC))
    names = [b.name for b in bands]
    assert names == ["Foothold", "Credential access", "Lateral movement",
                     "Collection and exfiltration", "Impact"]
    assert all(a.end == b.start for a, b in itertools.pairwise(bands))
    assert bands[-1].end == end and bands[-1].start == datetime(2022, 7, 15, 6, 2, tzinfo=UTC)
    # Only the campaign's hosts count: without them, no phase at all.
    assert phase_bands(detections, {"DC02"}, end) == []


def test_lane_points_count_per_host_day_level(plain_case: Path) -> None:
    points = lane_points(build_detections(plain_case), ["FS01", "DC01"])
    assert points == [
        {"host": "DC01", "day": "2022-05-09", "level": "high", "count": 1, "bucket_days": 1},
        {"host": "DC01", "day": "2022-05-09", "level": "medium", "count": 1, "bucket_days": 1},
        {"host": "FS01", "day": "2022-05-04", "level": "low", "count": 1, "bucket_days": 1},
        {"host": "FS01", "day": "2022-05-04", "level": "medium", "count": 1, "bucket_days": 1},
        {"host": "FS01", "day": "2022-05-12", "level": "high", "count": 1, "bucket_days": 1},
    ]


def test_swimlane_renders_offline(plain_case: Path) -> None:
    detections = build_detections(plain_case)
    lanes = ["WEB01", "FS01", "DC01"]
    svg = render_swimlane(swimlane_spec(lane_points(detections, lanes), lanes, [], EVICTED))
    assert svg.startswith("<svg") and "declared eviction" in svg
    assert all(f">{lane}</text>" in svg for lane in lanes)
    assert "<script" not in svg and "href=" not in svg.replace("xmlns:xlink=", "")
