"""Sigma rules: loading, Windows log-source mapping, compilation to an evaluable IR."""

from __future__ import annotations

from dwell.rules.load import (
    CompiledRule,
    Correlation,
    LogSource,
    RuleIssue,
    RuleSet,
    load_rules,
)
from dwell.rules.logsource import Target

__all__ = [
    "CompiledRule",
    "Correlation",
    "LogSource",
    "RuleIssue",
    "RuleSet",
    "Target",
    "load_rules",
]
