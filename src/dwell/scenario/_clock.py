"""Time helpers: UTC instants as integer microseconds since the Unix epoch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

US = 1_000_000
MINUTE = 60 * US
HOUR = 60 * MINUTE
DAY = 24 * HOUR

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ts(text: str) -> int:
    """Parse ``YYYY-MM-DD[ HH:MM[:SS]]`` (UTC, optional trailing ``Z``) to microseconds."""
    clean = text.strip().rstrip("Z").replace("T", " ")
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            moment = datetime.strptime(clean, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        return (moment - _EPOCH) // timedelta(microseconds=1)
    raise ValueError(f"not a UTC time: {text!r}")


def to_dt(us: int) -> datetime:
    """Microseconds to an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=us)


def iso(us: int) -> str:
    """ISO 8601 UTC with a ``Z`` suffix, to the second (answer-key form)."""
    return to_dt(us).strftime("%Y-%m-%dT%H:%M:%SZ")


_DATES: dict[int, str] = {}


def _parts(us: int) -> tuple[str, int, int, int, int]:
    sec, frac = divmod(us, US)
    day, rem = divmod(sec, 86_400)
    date = _DATES.get(day)
    if date is None:
        date = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")
        _DATES[day] = date
    hour, rem = divmod(rem, 3600)
    minute, second = divmod(rem, 60)
    return date, hour, minute, second, frac


def system_time(us: int) -> str:
    """``TimeCreated/@SystemTime`` form: microseconds and ``Z``."""
    date, h, m, s, frac = _parts(us)
    return f"{date}T{h:02d}:{m:02d}:{s:02d}.{frac:06d}Z"


def sysmon_time(us: int) -> str:
    """Sysmon ``UtcTime`` form: ``YYYY-MM-DD HH:MM:SS.mmm``."""
    date, h, m, s, frac = _parts(us)
    return f"{date} {h:02d}:{m:02d}:{s:02d}.{frac // 1000:03d}"


def day_start(us: int) -> int:
    """Midnight UTC of the day holding ``us``."""
    return us - us % DAY


def weekday(us: int) -> int:
    """Monday is 0."""
    return to_dt(us).weekday()
