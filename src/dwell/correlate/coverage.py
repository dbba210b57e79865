"""Coverage caveats: holes in the logs that could change a conclusion.

Log clears (Security 1102, System 104), gaps in ``EventRecordID``, channels whose first record
starts late, hosts without Sysmon, hosts whose logs stop early (wiped or switched off).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Final

from dwell.correlate.model import DAY, Caveat, iso

LATE_START: Final = DAY
SILENT_AFTER: Final = 3 * DAY
_SYSMON: Final = "microsoft-windows-sysmon/operational"


@dataclass(frozen=True, slots=True)
class HostCoverage:
    """What the logs of one host cover."""

    host: str
    first: int
    last: int
    channels: dict[str, tuple[int, int, int | None]]  # channel -> (first, last, first record)


def host_coverage(channel_rows: list[dict[str, Any]]) -> dict[str, HostCoverage]:
    per: dict[str, dict[str, tuple[int, int, int | None]]] = defaultdict(dict)
    for row in channel_rows:
        per[row["host"]][row["channel"]] = (row["first_ts"], row["last_ts"], row["first_record"])
    out = {}
    for host, chans in per.items():
        out[host] = HostCoverage(host, min(v[0] for v in chans.values()),
                                 max(v[1] for v in chans.values()), chans)
    return out


def caveats(channel_rows: list[dict[str, Any]], gap_rows: list[dict[str, Any]],
            clears: list[tuple[int, str, str]]) -> list[Caveat]:
    """Every coverage caveat of the case; ``clears`` are (time, host, channel) of 1102/104."""
    cov = host_coverage(channel_rows)
    if not cov:
        return []
    case_last = max(c.last for c in cov.values())
    out: list[Caveat] = []
    grouped: dict[tuple[str, str], list[int]] = defaultdict(list)
    for time, host, channel in clears:
        grouped[(host, channel)].append(time)
    for (host, channel), times in sorted(grouped.items(), key=lambda x: (min(x[1]), x[0])):
        times.sort()
        if len(times) <= 2:
            for time in times:
                out.append(Caveat("log-cleared", host, time,
                                  f"the {channel} log on {host} was cleared at {iso(time)}; "
                                  f"earlier {channel} events on {host} may be missing", channel))
        else:
            out.append(Caveat("log-cleared", host, times[-1],
                              f"the {channel} log on {host} was cleared {len(times)} times "
                              f"between {iso(times[0])} and {iso(times[-1])}; events before "
                              "each clear may be missing", channel))
    for host, c in sorted(cov.items()):
        for channel, (first, _last, first_record) in sorted(c.channels.items()):
            if first - c.first > LATE_START and (first_record or 0) > 1:
                out.append(Caveat(
                    "late-start", host, first,
                    f"the {channel} log on {host} starts at {iso(first)} (record {first_record})"
                    f" while other logs start at {iso(c.first)}; earlier {channel} events are "
                    "missing", channel))
        if not any(ch.lower() == _SYSMON for ch in c.channels):
            out.append(Caveat("no-sysmon", host, None,
                              f"no Sysmon log from {host}: process, network and file evidence "
                              "there rests on Windows auditing alone"))
        if case_last - c.last > SILENT_AFTER:
            out.append(Caveat("silent", host, c.last,
                              f"{host}'s logs stop at {iso(c.last)} (wiped, offline or not "
                              "collected); later activity there is unknown"))
    gaps: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in gap_rows:
        gaps[(row["host"], row["channel"])].append(row)
    for (host, channel), rows in sorted(gaps.items()):
        missing = sum(r["record_id"] - r["prev_record"] - 1 for r in rows)
        big = max(rows, key=lambda r: r["record_id"] - r["prev_record"])
        lo, hi = sorted((big["prev_ts"], big["ts"]))
        out.append(Caveat(
            "record-gap", host, lo,
            f"{missing} records missing from the {channel} log on {host} in {len(rows)} gaps; "
            f"the largest ({big['record_id'] - big['prev_record'] - 1} records) falls between "
            f"{iso(lo)} and {iso(hi)}", channel))
    return out


def holes_before(items: list[Caveat], host: str, time: int) -> list[str]:
    """Caveats that could hide activity on ``host`` before ``time`` (an earlier first touch)."""
    del time  # a hole at any time can hide an earlier touch: events before it are gone
    return [c.message for c in items
            if c.host == host and c.kind in ("log-cleared", "late-start", "record-gap")]


def holes_after(items: list[Caveat], host: str, time: int) -> list[str]:
    """Caveats that could hide later activity on ``host`` (a later last sighting)."""
    return [c.message for c in items
            if (c.host == host and c.kind in ("silent", "no-sysmon"))
            or (c.host == host and c.kind == "log-cleared" and c.time is not None
                and c.time >= time)]
