"""Property tests of the graph and time-window logic."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from correlate_build import DAY, NS, attacked, ns
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dwell.correlate import reconstruct

CLEAN_SOURCES = ("HELP", "DC", "DC2")
ALL_HOSTS = ("WEB", "FS", "DC", "DC2", "WS", "HELP", "KIOSK")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _hosts(report: dict[str, Any]) -> set[str]:
    return {h["host"] for c in report["campaigns"] for h in c["hosts"]}


BASE = reconstruct(attacked(benign=False).inputs()).to_dict()

benign_logon = st.tuples(
    st.floats(min_value=0, max_value=60 * DAY, allow_nan=False),
    st.sampled_from(CLEAN_SOURCES),
    st.sampled_from(ALL_HOSTS),
    st.sampled_from(("helpdesk1", "backup", "svc_monitor", "scanner")),
    st.sampled_from((3, 10)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(benign_logon, max_size=40))
def test_benign_activity_from_clean_hosts_never_adds_hosts(logons: list[Any]) -> None:
    case = attacked(benign=False)
    for t, src, dst, user, ltype in logons:
        if src != dst:
            case.logon(t, dst, src, user, ltype=ltype)
    report = reconstruct(case.inputs()).to_dict()
    assert _hosts(report) <= _hosts(BASE)


def _shift(value: Any, seconds: int) -> Any:
    if isinstance(value, str):
        return ISO.sub(lambda m: (datetime.strptime(m.group(0), "%Y-%m-%dT%H:%M:%SZ")
                                  .replace(tzinfo=UTC) + timedelta(seconds=seconds))
                       .strftime("%Y-%m-%dT%H:%M:%SZ"), value)
    if isinstance(value, list):
        return [_shift(v, seconds) for v in value]
    if isinstance(value, dict):
        return {k: _shift(v, seconds) for k, v in value.items() if k != "stats"}
    return value


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=-3000 * DAY, max_value=3000 * DAY),
       st.sampled_from((None, 30 * DAY, 45 * DAY)))
def test_shifting_all_times_shifts_all_outputs(seconds: int, evicted: int | None) -> None:
    case = attacked()
    base = reconstruct(case.inputs(), ns(evicted) if evicted else None).to_dict()
    for row in case.events + case.dets:
        row["ts"] += seconds * NS
    moved = reconstruct(case.inputs(),
                        ns(evicted) + seconds * NS if evicted else None).to_dict()
    assert _shift(moved, 0) == _shift(base, seconds)
