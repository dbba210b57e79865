"""Evaluate compiled Sigma rules over events: the fast matcher, hunting a case, detections."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dwell._lazy import lazy_exports

if TYPE_CHECKING:
    from dwell.engine.hunt import HuntSummary, RuleStat, hunt_case, read_detections
    from dwell.engine.matcher import Matcher

__all__ = ["HuntSummary", "Matcher", "RuleStat", "hunt_case", "read_detections"]

__getattr__ = lazy_exports(__name__, {
    "hunt": ("HuntSummary", "RuleStat", "hunt_case", "read_detections"),
    "matcher": ("Matcher",),
})
