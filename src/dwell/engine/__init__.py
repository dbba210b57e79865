"""Evaluate compiled Sigma rules over events: the fast matcher, hunting a case, detections."""

from __future__ import annotations

from dwell.engine.hunt import HuntSummary, RuleStat, hunt_case, read_detections
from dwell.engine.matcher import Matcher

__all__ = ["HuntSummary", "Matcher", "RuleStat", "hunt_case", "read_detections"]
