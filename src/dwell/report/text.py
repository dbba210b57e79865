"""Text helpers for presentation: UTC times in and out, and display-safe attacker text."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

from dwell.errors import UsageError

#: Unicode bidi embedding/override/isolate controls (U+202A-U+202E, U+2066-U+2069) and marks
#: (U+200E/U+200F, U+061C): they can make displayed text read differently from what it is.
BIDI_CONTROLS = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)] + [chr(c) for c in range(0x2066, 0x206A)]
    + ["\u200e", "\u200f", "\u061c"]
)
_BIDI_RE = re.compile("[" + "".join(sorted(BIDI_CONTROLS)) + "]")


def parse_utc(text: str, what: str = "time") -> datetime:
    """An aware UTC datetime from ISO 8601 (``2023-01-20``, ``2023-01-20T10:00Z``, offsets)."""
    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"bad {what} {text!r}; use ISO 8601 such as 2023-01-20 or 2023-01-20T10:00:00Z"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_datetime(value: Any) -> datetime | None:
    """A UTC datetime from an ISO string, datetime or epoch-ns int; None when not a time."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1e9, UTC)
    if isinstance(value, str):
        try:
            return parse_utc(value)
        except UsageError:
            return None
    return None


def iso_utc(value: datetime | None) -> str | None:
    """Full-precision ISO 8601 in UTC with ``Z`` (``2022-05-04T21:15:00.123456Z``).

    Naive datetimes are taken as UTC; aware ones (e.g. DuckDB ``TIMESTAMPTZ`` results, which
    come back in the session's local zone) are converted, so the output never depends on TZ.
    """
    when = to_datetime(value)
    return None if when is None else when.isoformat().replace("+00:00", "Z")


def iso(value: Any, seconds: bool = True) -> str:
    """``2022-05-04T21:15:00Z`` (or minutes only); '' for no time; other text as is."""
    when = to_datetime(value)
    if when is None:
        return "" if value is None else str(value)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ" if seconds else "%Y-%m-%d %H:%M")


def clean(value: Any, limit: int | None = None) -> str:
    """Text safe to *display*: bidi controls shown as ``[U+202E]``, other controls as ``?``.

    HTML escaping is the template engine's job (autoescape); this removes what escaping cannot:
    characters that reorder or hide the text a reader sees.
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = _BIDI_RE.sub(lambda m: f"[U+{ord(m.group(0)):04X}]", text)
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text):
        text = "".join(
            ch if ch in "\t\n" or unicodedata.category(ch) not in ("Cc", "Cf") else "?"
            for ch in text
        )
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text
