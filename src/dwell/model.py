"""Value types shared by the pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class Severity(IntEnum):
    """Sigma rule levels, ordered."""

    INFORMATIONAL = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(m.name.lower() for m in cls)
            raise ValueError(f"unknown level {text!r}; use one of: {names}") from None


@dataclass(frozen=True, slots=True)
class IngestWarning:
    """A problem met while reading: the run went on without this record or file."""

    file: str
    reason: str
    record: int | None = None
    line: int | None = None
    offset: int | None = None

    def __reduce__(self) -> tuple[type[IngestWarning], tuple[object, ...]]:
        # (pickled by the thousand between ingest workers: positional is several times faster)
        return IngestWarning, (self.file, self.reason, self.record, self.line, self.offset)

    def where(self) -> str:
        bits = [self.file]
        if self.record is not None:
            bits.append(f"record {self.record}")
        if self.line is not None:
            bits.append(f"line {self.line}")
        if self.offset is not None:
            bits.append(f"offset {self.offset}")
        return ", ".join(bits)


@dataclass(frozen=True, slots=True)
class SourceSummary:
    """What one ingested source contributed to the case."""

    path: str
    sha256: str
    size: int
    format: str
    records: int
    warnings: int
    first: int | None = None  # ns since epoch, UTC
    last: int | None = None
    skipped_reason: str | None = field(default=None, compare=False)

    def __reduce__(self) -> tuple[type[SourceSummary], tuple[object, ...]]:
        return SourceSummary, (self.path, self.sha256, self.size, self.format, self.records,
                               self.warnings, self.first, self.last, self.skipped_reason)
