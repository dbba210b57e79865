"""Exception tree of dwell.

Every error carries a ``source`` (a file plus record or offset, or a rule path and line) that
``__str__`` renders, so a message always says where the problem is::

    DwellError                  root; never raised directly
    ├── UsageError              a bad argument or option; the message names the fix
    ├── InputError              a file or record that cannot be read (becomes a stored warning)
    │   └── UnsupportedFormat   content is not a log format dwell reads
    ├── StoreError              the case store is missing, locked or inconsistent
    └── RuleError               a Sigma rule that cannot be loaded or compiled
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where something came from: a file plus a record id, line or byte offset, or a rule line."""

    path: str
    record: int | None = None
    line: int | None = None
    offset: int | None = None

    def __str__(self) -> str:
        parts = [self.path]
        if self.record is not None:
            parts.append(f"record {self.record}")
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.offset is not None:
            parts.append(f"offset {self.offset}")
        return ", ".join(parts)


class DwellError(Exception):
    """Root of all dwell errors."""

    def __init__(self, message: str, source: SourceRef | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.source = source

    def __str__(self) -> str:
        if self.source is None:
            return self.message
        return f"{self.source}: {self.message}"


class UsageError(DwellError):
    """A bad argument or option; the message says how to fix it."""


class InputError(DwellError):
    """A file or record that cannot be read."""


class UnsupportedFormat(InputError):
    """The content is not a log format dwell reads."""


class StoreError(DwellError):
    """The case store is missing, locked or inconsistent."""


class RuleError(DwellError):
    """A Sigma rule that cannot be loaded or compiled."""
