"""Sigma rules: loading, Windows log-source mapping, compilation to an evaluable IR."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dwell._lazy import lazy_exports

if TYPE_CHECKING:
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

__getattr__ = lazy_exports(__name__, {
    "load": ("CompiledRule", "Correlation", "LogSource", "RuleIssue", "RuleSet", "load_rules"),
    "logsource": ("Target",),
})
