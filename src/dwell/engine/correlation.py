"""Sigma correlation rules over detection rows: event_count, value_count, temporal(_ordered).

Events of the referenced rules are grouped by the ``group-by`` fields (their values were kept in
each detection's ``matched``), ordered by time, and a window of ``timespan`` slides over each
group; when the condition holds the correlation fires once, at the window's last event, and the
window starts afresh after it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from dwell.engine.evaluate import compare

if TYPE_CHECKING:
    from collections.abc import Sequence

    from dwell.rules import CompiledRule, Correlation

_TS, _MATCHED = 7, 17


def _group_key(corr: Correlation, rule_id: str, matched: dict[str, Any]) -> tuple[Any, ...]:
    names = []
    for name in corr.group_by:
        actual = name
        for alias, mapping in corr.aliases:
            if alias == name:
                actual = dict(mapping).get(rule_id, name)
        names.append(actual.lower())
    return tuple(str(matched.get(n)) for n in names)


def _holds(corr: Correlation, window: list[tuple[int, str, dict[str, Any]]]) -> bool:
    if corr.type == "event_count":
        return compare(corr.op, len(window), corr.count) if corr.op != "eq" \
            else len(window) == corr.count
    if corr.type == "value_count":
        name = (corr.field or "").lower()
        distinct = {str(m.get(name)) for _, _, m in window if m.get(name) is not None}
        return compare(corr.op, len(distinct), corr.count) if corr.op != "eq" \
            else len(distinct) == corr.count
    wanted = list(corr.rules)
    if corr.type == "temporal":
        return set(wanted) <= {rid for _, rid, _ in window}
    position = 0  # temporal_ordered: the rules' first hits appear in the listed order
    for _, rid, _ in window:
        if position < len(wanted) and rid == wanted[position]:
            position += 1
    return position == len(wanted)


def correlate(
    rules: Sequence[CompiledRule], rows: Sequence[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """Detection rows of the correlation rules, from the detection rows of their inputs."""
    out: list[tuple[Any, ...]] = []
    for rule in rules:
        corr = rule.correlation
        if corr is None:
            continue
        refs = set(corr.rules)
        groups: dict[tuple[Any, ...], list[tuple[int, str, dict[str, Any], tuple[Any, ...]]]] = {}
        for row in rows:
            if row[0] not in refs or row[_TS] is None:
                continue
            matched = orjson.loads(row[_MATCHED]) if row[_MATCHED] else {}
            stamp = int(row[_TS].timestamp() * 1e9) if hasattr(row[_TS], "timestamp") \
                else int(row[_TS])
            key = _group_key(corr, row[0], matched)
            groups.setdefault(key, []).append((stamp, row[0], matched, row))
        span = corr.timespan * 1_000_000_000
        for key, items in sorted(groups.items(), key=lambda kv: str(kv[0])):
            items.sort(key=lambda item: (item[0], item[1]))
            start = 0
            for end in range(len(items)):
                while items[end][0] - items[start][0] > span:
                    start += 1
                window = [(t, rid, m) for t, rid, m, _ in items[start:end + 1]]
                if _holds(corr, window):
                    last = items[end][3]
                    info = {"group": dict(zip(corr.group_by, key, strict=True)),
                            "events": len(window), "rules": sorted({w[1] for w in window})}
                    out.append((rule.id, rule.title, rule.level, rule.status, list(rule.tags),
                                rule.path, rule.sha256, *last[7:17],
                                orjson.dumps(info).decode(), corr.type))
                    start = end + 1
    return out
