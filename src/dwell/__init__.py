"""dwell: answer the questions a long-dwell intrusion leaves behind, from Windows event logs."""

from __future__ import annotations

from dwell.errors import DwellError, InputError, RuleError, SourceRef, StoreError, UsageError
from dwell.model import IngestWarning, Severity, SourceSummary

__version__ = "0.1.0"

__all__ = [
    "DwellError",
    "IngestWarning",
    "InputError",
    "RuleError",
    "Severity",
    "SourceRef",
    "SourceSummary",
    "StoreError",
    "UsageError",
    "__version__",
]
