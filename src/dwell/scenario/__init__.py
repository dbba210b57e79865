"""Deterministic demo scenarios: synthetic Windows event logs of long-dwell intrusions.

``generate(out_dir, variant)`` writes evtx-JSON lines per host and channel plus the answer key.
"""

from __future__ import annotations

from dwell.scenario.answer import AnswerKey
from dwell.scenario.generate import VARIANTS, generate

__all__ = ["VARIANTS", "AnswerKey", "generate"]
