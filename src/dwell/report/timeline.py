"""Timelines Timesketch imports directly: one row per event or per detection, sorted by time.

The rows are computed, sorted and formatted by DuckDB over the case's Parquet parts and read
back in record batches, so an export of any size holds only one batch in Python at a time; the
sort itself spills to disk under a memory limit. Messages and timestamp descriptions come from
``data/timeliner.yaml``, keyed by data type, channel and event id (plaso style).

Columns (``COLUMNS``): ``message``, ``datetime`` (ISO 8601 UTC), ``timestamp_desc`` (the three
Timesketch requires), ``timestamp`` (microseconds since the epoch) and then host, user, rule,
level, ATT&CK tactic and technique, and where the event was read.
"""

from __future__ import annotations

import io
import itertools
import re
import string
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

import pyarrow as pa
import pyarrow.csv as pacsv

from dwell.errors import UsageError
from dwell.report._data import tactics, timeliner
from dwell.schema import DATA_TYPE_EVTX, DETECTION_SCHEMA, EVENT_COLUMNS, normalize_host

if TYPE_CHECKING:
    from collections.abc import Iterator

    import duckdb

    from dwell.store import CaseReader

Format = Literal["csv", "jsonl"]
FORMATS: Final = ("csv", "jsonl")

COLUMNS: Final = (
    "message", "datetime", "timestamp_desc", "timestamp", "host", "user", "rule", "rule_id",
    "level", "tactic", "technique", "channel", "event_id", "record_id", "data_type",
    "source_file", "source_sha256", "source_pos", "command_line", "src_ip",
)
#: Sort order: time first, then a stable tie-break so exports are reproducible.
_LEVEL_RANK = "CASE lower({0}) WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 " \
    "WHEN 'low' THEN 1 ELSE 0 END"
_FIELD_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
#: DuckDB's buffer limit for the sort (it spills beyond it); RSS is about this plus 200 MiB.
MEMORY_LIMIT: Final = "192MB"
#: Rows sorted at once; larger timelines are sorted in time slices of about this many rows.
PARTITION_ROWS: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class TimelineOptions:
    """What to export: per event (default) or per detection, a time window and one host."""

    detections_only: bool = False
    start: datetime | None = None
    end: datetime | None = None
    host: str | None = None
    batch_rows: int = 16384


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _value(name: str, alias: str) -> str:
    if name.startswith("fields."):
        field = name.removeprefix("fields.")
        if not _FIELD_NAME.match(field):
            raise ValueError(f"bad field name in timeliner.yaml: {name!r}")
        return f"json_extract_string({alias}.fields, {_literal('$.' + chr(34) + field + chr(34))})"
    if name not in EVENT_COLUMNS or name == "fields":
        raise ValueError(f"unknown column in timeliner.yaml: {name!r}")
    return f"{alias}.{name}"


def compile_template(template: str, alias: str = "e") -> str:
    """A SQL expression rendering ``template`` ({column} or {fields.Name}) for one event row."""
    parts: list[str] = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        if literal:
            parts.append(_literal(literal))
        if name:
            parts.append(f"coalesce(CAST({_value(name, alias)} AS VARCHAR), '-')")
    if not parts:
        return "''"
    return f"concat({', '.join(parts)})" if len(parts) > 1 else parts[0]


def _presentation(alias: str) -> tuple[str, str]:
    """SQL CASE expressions (message, timestamp_desc) from the timeliner YAML."""
    msg_cases: list[str] = []
    desc_cases: list[str] = []
    default_msg = "''"
    default_desc = "'Event Recorded'"
    for data_type, spec in timeliner().items():
        dt_cond = f"coalesce({alias}.data_type, {_literal(DATA_TYPE_EVTX)}) = {_literal(data_type)}"
        for entry in spec.get("events", []):
            cond = [dt_cond, f"{alias}.channel = {_literal(str(entry['channel']))}"]
            if entry.get("event_id") is not None:
                cond.append(f"{alias}.event_id = {int(entry['event_id'])}")
            when = " AND ".join(cond)
            msg_cases.append(f"WHEN {when} THEN {compile_template(entry['message'], alias)}")
            desc_cases.append(f"WHEN {when} THEN {_literal(str(entry['timestamp_desc']))}")
        default = spec.get("default")
        if default:
            msg_cases.append(f"WHEN {dt_cond} THEN {compile_template(default['message'], alias)}")
            desc_cases.append(f"WHEN {dt_cond} THEN {_literal(str(default['timestamp_desc']))}")
            if data_type == DATA_TYPE_EVTX:
                default_msg = compile_template(default["message"], alias)
                default_desc = _literal(str(default["timestamp_desc"]))
    message = f"CASE {' '.join(msg_cases)} ELSE {default_msg} END"
    desc = f"CASE {' '.join(desc_cases)} ELSE {default_desc} END"
    return message, desc


def _tag_macros(db: duckdb.DuckDBPyConnection) -> None:
    whens = " ".join(f"WHEN {_literal(t.key)} THEN {_literal(t.name)}" for t in tactics().values())
    db.execute(f"CREATE OR REPLACE TEMP MACRO dwell_tactic_name(x) AS CASE x {whens} ELSE x END")
    db.execute(
        "CREATE OR REPLACE TEMP MACRO dwell_tactics(tags) AS nullif(array_to_string(list_sort("
        "list_distinct(list_transform(list_filter(tags, lambda x: regexp_matches(lower(x), "
        "'^attack\\.[a-z_\\-]+$')), lambda x: dwell_tactic_name(replace(substr(lower(x), 8), "
        "'-', '_'))))), ', '), '')"
    )
    db.execute(
        "CREATE OR REPLACE TEMP MACRO dwell_techniques(tags) AS nullif(array_to_string(list_sort("
        "list_distinct(list_transform(list_filter(tags, lambda x: regexp_matches(x, "
        "'^attack\\.t[0-9]{4}(\\.[0-9]{3})?$', 'i')), lambda x: upper(substr(x, 8))))), ', '), '')"
    )


def prepare(reader: CaseReader, detections: pa.Table | None, temp_dir: str | None = None) -> None:
    """Register ``detections`` (or an empty table) and bound DuckDB's memory on ``reader``."""
    table = detections if detections is not None else DETECTION_SCHEMA.empty_table()
    missing = [n for n in DETECTION_SCHEMA.names if n not in table.schema.names]
    if missing:
        raise UsageError(f"detections table lacks columns {missing}; expected DETECTION_SCHEMA")
    reader.db.register("detections", table)
    reader.db.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    reader.db.execute("SET temp_directory = ?", [temp_dir or tempfile.gettempdir()])
    reader.db.execute("SET preserve_insertion_order = true")
    reader.db.execute("SET threads = 1")  # as fast here as 2, and one sort buffer less
    _tag_macros(reader.db)


def _datetime(expr: str) -> str:
    return f"strftime(make_timestamp(epoch_ns({expr}) // 1000), '%Y-%m-%dT%H:%M:%S.%fZ')"


def _filters(options: TimelineOptions, alias: str) -> tuple[list[str], list[Any]]:
    where = [f"{alias}.timestamp IS NOT NULL"]
    params: list[Any] = []
    if options.start is not None:
        where.append(f"{alias}.timestamp >= ?")
        params.append(options.start)
    if options.end is not None:
        where.append(f"{alias}.timestamp <= ?")
        params.append(options.end)
    if options.host:
        where.append(f"(upper({alias}.host_short) = ? OR upper({alias}.host) = ?)")
        params.extend([(normalize_host(options.host) or options.host).upper(),
                       options.host.strip().upper()])
    return where, params


def _window(window: tuple[datetime | None, datetime | None], alias: str, where: list[str],
            params: list[Any]) -> None:
    lo, hi = window
    if lo is not None:
        where.append(f"{alias}.timestamp >= ?")
        params.append(lo)
    if hi is not None:
        where.append(f"{alias}.timestamp < ?")
        params.append(hi)


def timeline_query(options: TimelineOptions, as_json: bool = False,
                   window: tuple[datetime | None, datetime | None] = (None, None),
                   ) -> tuple[str, list[Any]]:
    """The SQL (and parameters) of the timeline: ``COLUMNS`` in order, sorted by time.

    With ``as_json`` the query returns one column, ``line``: each row as a JSON object.
    ``window`` restricts it to ``lo <= timestamp < hi`` (a slice of a partitioned export).
    """
    message, desc = _presentation("e")
    if options.detections_only:
        where, params = _filters(options, "d")
        exprs = {
            "message": f"concat('[', upper(coalesce(d.level, '?')), '] ', d.title, ' | ', "
                       f"CASE WHEN e.source_pos IS NULL THEN concat('on ', d.host_short) "
                       f"ELSE {message} END)",
            "datetime": _datetime("d.timestamp"),
            "timestamp_desc": f"CASE WHEN e.source_pos IS NULL THEN 'Detection' ELSE {desc} END",
            "timestamp": "epoch_ns(d.timestamp) // 1000",
            "host": "coalesce(d.host_short, e.host_short, d.host)",
            "user": "coalesce(d.user, e.user, e.target_user)",
            "rule": "d.title", "rule_id": "d.rule_id", "level": "d.level",
            "tactic": "dwell_tactics(d.tags)", "technique": "dwell_techniques(d.tags)",
            "channel": "coalesce(d.channel, e.channel)",
            "event_id": "coalesce(d.event_id, e.event_id)",
            "record_id": "coalesce(d.record_id, e.record_id)",
            "data_type": f"coalesce(e.data_type, {_literal(DATA_TYPE_EVTX)})",
            "source_file": "d.source_file", "source_sha256": "d.source_sha256",
            "source_pos": "d.source_pos",
            "command_line": "e.command_line", "src_ip": "e.src_ip",
        }
        source = ("detections d LEFT JOIN events e ON e.source_sha256 = d.source_sha256 "
                  "AND e.source_pos = d.source_pos")
        order = "d.timestamp, d.host_short, d.source_sha256, d.source_pos, d.rule_id, d.title"
        prefix = ""
        _window(window, "d", where, params)
    else:
        where, params = _filters(options, "e")
        exprs = {
            "message": f"CASE WHEN d.rule IS NULL THEN {message} ELSE concat('[', "
                       f"upper(coalesce(d.level, '?')), '] ', d.rule, ' | ', {message}) END",
            "datetime": _datetime("e.timestamp"),
            "timestamp_desc": desc,
            "timestamp": "epoch_ns(e.timestamp) // 1000",
            "host": "coalesce(e.host_short, e.host)",
            "user": "coalesce(e.user, e.target_user)",
            "rule": "d.rule", "rule_id": "d.rule_id", "level": "d.level",
            "tactic": "dwell_tactics(d.tags)", "technique": "dwell_techniques(d.tags)",
            "channel": "e.channel", "event_id": "e.event_id", "record_id": "e.record_id",
            "data_type": f"coalesce(e.data_type, {_literal(DATA_TYPE_EVTX)})",
            "source_file": "e.source_file", "source_sha256": "e.source_sha256",
            "source_pos": "e.source_pos",
            "command_line": "e.command_line", "src_ip": "e.src_ip",
        }
        prefix = (
            "WITH d AS (SELECT source_sha256, source_pos, "
            "string_agg(DISTINCT title, '; ' ORDER BY title) AS rule, "
            "string_agg(DISTINCT rule_id, '; ' ORDER BY rule_id) AS rule_id, "
            f"arg_max(level, {_LEVEL_RANK.format('level')}) AS level, "
            "flatten(list(coalesce(tags, []))) AS tags "
            "FROM detections GROUP BY source_sha256, source_pos) "
        )
        source = ("events e LEFT JOIN d ON d.source_sha256 = e.source_sha256 "
                  "AND d.source_pos = e.source_pos")
        order = "e.timestamp, e.host_short, e.source_sha256, e.source_pos"
        _window(window, "e", where, params)
    assert tuple(exprs) == COLUMNS
    # The rows are formatted *before* the sort, so the sort carries the formatted columns
    # (which spill to disk under the memory limit), not the wide ``fields`` JSON they come from.
    if as_json:
        inner = "to_json(struct_pack(" + ", ".join(
            f"\"{name}\" := {expr}" for name, expr in exprs.items()) + ")) AS line"
        outer = "line"
    else:
        inner = ", ".join(f"{expr} AS \"{name}\"" for name, expr in exprs.items())
        outer = ", ".join(f'"{name}"' for name in COLUMNS)
    keys = order.split(", ")
    inner += "".join(f", {key} AS _k{i}" for i, key in enumerate(keys))
    sort = ", ".join(f"_k{i}" for i in range(len(keys)))
    sql = (f"{prefix}SELECT {outer} FROM (SELECT {inner} FROM {source} "
           f"WHERE {' AND '.join(where)}) ORDER BY {sort}")
    return sql, params


def count_undated(reader: CaseReader, options: TimelineOptions) -> int:
    """Rows left out of the timeline because they have no timestamp."""
    table = "detections" if options.detections_only else "events"
    row = reader.sql(f"SELECT count(*) FROM {table} WHERE timestamp IS NULL").fetchone()
    return int(row[0]) if row else 0


def _windows(reader: CaseReader, options: TimelineOptions,
             ) -> list[tuple[datetime | None, datetime | None]]:
    """Time slices of about ``PARTITION_ROWS`` rows each, in order.

    DuckDB's sort spills, but its merge still needs memory that grows with the row count; so
    a large timeline is sorted slice by slice (bounds from approximate quantiles of the time;
    equal timestamps always fall in the same slice), which keeps memory flat at any size.
    """
    table, alias = ("detections", "d") if options.detections_only else ("events", "e")
    where, params = _filters(options, alias)
    row = reader.sql(f"SELECT count(*) FROM {table} {alias} WHERE {' AND '.join(where)}",
                     params).fetchall()
    total = int(row[0][0]) if row else 0
    slices = -(-total // PARTITION_ROWS)
    if slices <= 1:
        return [(None, None)]
    points = ", ".join(str(i / slices) for i in range(1, slices))
    found = reader.sql(
        f"SELECT approx_quantile(epoch_ns({alias}.timestamp), [{points}]::FLOAT[]) "
        f"FROM {table} {alias} WHERE {' AND '.join(where)}", params).fetchall()
    bounds = sorted({datetime.fromtimestamp(int(ns) // 1000 / 1e6, UTC)
                     for ns in (found[0][0] if found else []) if ns is not None})
    edges: list[datetime | None] = [None, *bounds, None]
    return list(itertools.pairwise(edges))


def iter_batches(reader: CaseReader, options: TimelineOptions,
                 as_json: bool = False) -> Iterator[pa.RecordBatch]:
    """The timeline as record batches of ``COLUMNS`` (or of JSON ``line``s), in time order."""
    for window in _windows(reader, options):
        sql, params = timeline_query(options, as_json, window)
        # A relation streams its result; a DB-API cursor (``execute``) would materialise it.
        relation = reader.db.sql(sql, params=params)
        # DuckDB >= 2 names it ``to_arrow_reader``; 1.x ``fetch_arrow_reader``.
        fetch = getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader
        batches = fetch(options.batch_rows)
        while True:
            try:
                batch = batches.read_next_batch()
            except StopIteration:
                break
            if batch.num_rows:
                yield batch


def encode(batches: Iterator[pa.RecordBatch], fmt: Format) -> Iterator[bytes]:
    """CSV (header first) from ``COLUMNS`` batches, or JSON Lines from ``line`` batches."""
    first = True
    for batch in batches:
        if fmt == "csv":
            buffer = io.BytesIO()
            pacsv.write_csv(batch, buffer, pacsv.WriteOptions(include_header=first))
            first = False
            yield buffer.getvalue()
        else:
            lines = batch.column(0).to_pylist()
            yield ("\n".join(lines) + "\n").encode("utf-8")
    if first and fmt == "csv":
        yield (",".join(f'"{c}"' for c in COLUMNS) + "\n").encode()


def export(reader: CaseReader, detections: pa.Table | None, options: TimelineOptions,
           fmt: Format, temp_dir: str | None = None) -> Iterator[bytes]:
    """Encoded timeline chunks for ``reader``'s case, sorted by time, one chunk per batch."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown timeline format {fmt!r}; use one of: {', '.join(FORMATS)}")
    prepare(reader, detections, temp_dir)
    return encode(iter_batches(reader, options, as_json=fmt == "jsonl"), fmt)
