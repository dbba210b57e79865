"""Hunt a case: match rules while ingesting (cold) or over stored events (retro), store detections.

Cold hunt evaluates in the ingest worker processes through :class:`HuntSink`, which wraps the
store's part writer, so events are decoded once. Retro-hunt reads the ``fields`` JSON of the
stored Parquet parts (rows prefiltered by channel and event id in DuckDB), one part file per
worker process. Detections replace earlier detections of the same rules, in one transaction.
"""

from __future__ import annotations

import functools
import os
import pickle
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import orjson
import pyarrow as pa

from dwell.engine.correlation import correlate
from dwell.engine.evaluate import event_view
from dwell.engine.matcher import Matcher
from dwell.errors import StoreError
from dwell.schema import DETECTION_COLUMNS, DETECTION_SCHEMA
from dwell.store import CaseWriter, PartWriter, open_case
from dwell.store.layout import CATALOG, is_case

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from dwell.ingest.pipeline import GroupResult
    from dwell.ingest.reader import RawRecord
    from dwell.rules import CompiledRule, RuleSet

    Progress = Callable[[str, int, int], None]  # (phase, done, total)


_ROW_COLUMNS = ("timestamp", "host", "host_short", "user", "channel", "event_id", "record_id",
                "source_file", "source_sha256", "source_pos")
DETECTIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS detections (rule_id VARCHAR, title VARCHAR, level VARCHAR, "
    "status VARCHAR, tags VARCHAR[], rule_file VARCHAR, rule_sha256 VARCHAR, "
    "timestamp TIMESTAMPTZ, host VARCHAR, host_short VARCHAR, \"user\" VARCHAR, "
    "channel VARCHAR, event_id INTEGER, record_id BIGINT, source_file VARCHAR, "
    "source_sha256 VARCHAR, source_pos BIGINT, matched VARCHAR, correlation VARCHAR)",
    "CREATE TABLE IF NOT EXISTS hunt_rules (rule_id VARCHAR PRIMARY KEY, title VARCHAR, "
    "level VARCHAR, hits BIGINT, evaluations BIGINT, seconds DOUBLE, ruleset_sha256 VARCHAR)",
)


@dataclass(slots=True)
class RuleStat:
    rule_id: str
    title: str
    level: str
    hits: int = 0
    evaluations: int = 0
    seconds: float = 0.0


@dataclass(slots=True)
class HuntSummary:
    """What one hunt did."""

    events: int = 0
    detections: int = 0
    rules: int = 0
    cold_events: int = 0
    retro_events: int = 0
    seconds: float = 0.0
    stats: dict[str, RuleStat] = field(default_factory=dict)

    def slowest(self, n: int = 10) -> list[RuleStat]:
        return sorted(self.stats.values(), key=lambda s: -s.seconds)[:n]


# --- the per-process matcher, built from a pickled rule list ------------------------------

_MATCHERS: dict[str, tuple[Matcher, dict[str, tuple[str, ...]]]] = {}


def _matcher(rules_file: str, profile: bool) -> tuple[Matcher, dict[str, tuple[str, ...]]]:
    """The matcher of a pickled rule list, and the fields each rule's detections keep.

    The captured fields come from the whole list: correlation rules (which the matcher does
    not hold) add their group-by fields to the rules they reference.
    """
    key = f"{rules_file}:{profile}"
    found = _MATCHERS.get(key)
    if found is None:
        with open(rules_file, "rb") as fh:
            rules = pickle.load(fh)
        found = (Matcher(rules, profile=profile), _capture_fields(rules))
        _MATCHERS[key] = found
    return found


def _capture_fields(rules: Sequence[CompiledRule]) -> dict[str, tuple[str, ...]]:
    """Per rule id: the (lower-case) field names whose values a detection keeps."""
    extra: dict[str, set[str]] = {}
    for rule in rules:
        if rule.correlation is None:
            continue
        corr = rule.correlation
        names = {g.lower() for g in corr.group_by}
        if corr.field:
            names.add(corr.field.lower())
        for ref in corr.rules:
            extra.setdefault(ref, set()).update(names)
            for _, mapping in corr.aliases:
                extra[ref].update(f.lower() for r, f in mapping if r == ref)
    out: dict[str, tuple[str, ...]] = {}
    for rule in rules:
        if rule.correlation is None:
            fields = [*rule.fields, *sorted(extra.get(rule.id, ()))]
            out[rule.id] = tuple(dict.fromkeys(fields))
    return out


class _Detector:
    """Turns matcher hits on rows into detection tuples (DETECTION_COLUMNS order)."""

    def __init__(self, rules_file: str, profile: bool) -> None:
        self.matcher, self.capture = _matcher(rules_file, profile)
        self.rows: list[tuple[Any, ...]] = []
        self.events = 0

    def event(self, fields: dict[str, Any], meta: Sequence[Any]) -> None:
        self.events += 1
        hits = self.matcher.match_indices(fields)
        if not hits:
            return
        view = event_view(fields)
        for index in hits:
            rule = self.matcher.rules[index]
            matched = {f: view[f] for f in self.capture.get(rule.id, ()) if view.get(f) is not None}
            self.rows.append((
                rule.id, rule.title, rule.level, rule.status, list(rule.tags), rule.path,
                rule.sha256, *meta, orjson.dumps(matched, default=str).decode(), None,
            ))

    def stats(self) -> list[tuple[str, float, int]]:
        m = self.matcher
        return [(m.rules[i].id, m.seconds[i], m.evaluations[i]) for i in range(len(m.rules))
                if m.evaluations[i]]


class HuntSink:
    """A Sink that writes a source's rows through a PartWriter and matches every record."""

    def __init__(self, case: str, key: str, *, rules_file: str, profile: bool) -> None:
        self._writer = PartWriter(case, key)
        self._detector = _Detector(rules_file, profile)
        self.extras: dict[str, object] = {}

    def write(self, batch: pa.RecordBatch, records: Sequence[RawRecord]) -> None:
        self._writer.write(batch, records)
        columns = [batch.column(name).to_pylist() for name in _ROW_COLUMNS]
        for i, record in enumerate(records):
            self._detector.event(record.fields, [c[i] for c in columns])

    def close(self) -> list[tuple[str, int]]:
        parts = self._writer.close()
        self.extras = {"detections": self._detector.rows, "events": self._detector.events,
                       "stats": self._detector.stats()}
        return parts

    def abort(self) -> None:
        self._writer.abort()


class HuntSession:
    """One hunt: the rule set pickled for worker processes, plus what cold hunting found.

    Pass :attr:`sink_factory` and :meth:`on_group` to the ingest of new evidence, then
    :func:`hunt_case` with ``session=`` to retro-hunt the rest of the case and store.
    """

    def __init__(self, ruleset: RuleSet, *, profile: bool = False) -> None:
        self.ruleset = ruleset
        self.profile = profile
        self._tmp = tempfile.TemporaryDirectory(prefix="dwell-hunt-")
        self.rules_file = str(Path(self._tmp.name) / "rules.pickle")
        with open(self.rules_file, "wb") as fh:
            pickle.dump(ruleset.rules, fh, protocol=pickle.HIGHEST_PROTOCOL)
        self.rows: list[tuple[Any, ...]] = []
        self.hunted: set[str] = set()  # sources matched while ingesting
        self.events = 0
        self.stats: dict[str, list[float]] = {}

    @property
    def sink_factory(self) -> Callable[[str, str], HuntSink]:
        return functools.partial(HuntSink, rules_file=self.rules_file, profile=self.profile)

    def on_group(self, group: GroupResult) -> None:
        if not group.parts and not any(r.summary for r in group.sources):
            return
        self.rows.extend(group.extras.get("detections", []))  # type: ignore[arg-type]
        self.events += int(group.extras.get("events", 0))  # type: ignore[call-overload]
        self.add_stats(group.extras.get("stats", []))  # type: ignore[arg-type]
        self.hunted.update(r.summary.sha256 for r in group.sources if r.summary is not None)

    def add_stats(self, items: list[tuple[str, float, int]]) -> None:
        for rid, secs, evals in items:
            acc = self.stats.setdefault(rid, [0.0, 0])
            acc[0] += secs
            acc[1] += evals

    def close(self) -> None:
        self._tmp.cleanup()

    def __enter__(self) -> HuntSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- retro-hunt over stored parts -------------------------------------------------------------

def prefilter_sql(rules: Sequence[CompiledRule]) -> tuple[str, list[Any]]:
    """A WHERE clause (and params) keeping only rows some rule's targets cover."""
    any_channel = False
    by_channel: dict[str, set[int] | None] = {}
    for rule in rules:
        if rule.correlation is not None:
            continue
        for target, _ in rule.targets:
            if target.channel is None:
                any_channel = True
                continue
            have = by_channel.get(target.channel, set())
            if target.event_ids is None or have is None:
                by_channel[target.channel] = None
            else:
                by_channel[target.channel] = have | set(target.event_ids)
    if any_channel:
        return "TRUE", []
    if not by_channel:
        return "FALSE", []
    terms: list[str] = []
    params: list[Any] = []
    for channel, ids in sorted(by_channel.items()):
        if ids is None:
            terms.append("lower(channel) = ?")
            params.append(channel)
        else:
            terms.append(f"(lower(channel) = ? AND event_id IN ({', '.join('?' * len(ids))}))")
            params.extend([channel, *sorted(ids)])
    return " OR ".join(terms), params


def _retro_part(part: str, rules_file: str, profile: bool, where: str, params: list[Any],
                skip: list[str]) -> tuple[list[tuple[Any, ...]], int, list[tuple[str, float, int]]]:
    detector = _Detector(rules_file, profile)
    db = duckdb.connect()
    try:
        cols = ", ".join(f'"{c}"' for c in _ROW_COLUMNS)
        query = f"SELECT {cols}, fields FROM read_parquet(?) WHERE ({where})"
        args: list[Any] = [part, *params]
        if skip:
            query += f" AND source_sha256 NOT IN ({', '.join('?' * len(skip))})"
            args.extend(skip)
        reader = db.sql(query, params=args).to_arrow_reader(65536)
        for batch in reader:
            columns = [batch.column(i).to_pylist() for i in range(len(_ROW_COLUMNS))]
            texts = batch.column(len(_ROW_COLUMNS)).to_pylist()
            for i, text in enumerate(texts):
                fields = orjson.loads(text) if text else {}
                detector.event(fields, [c[i] for c in columns])
    finally:
        db.close()
    return detector.rows, detector.events, detector.stats()


# --- the hunt ---------------------------------------------------------------------------------

def hunt_case(
    case_dir: str | os.PathLike[str],
    ruleset: RuleSet,
    *,
    progress: Progress | None = None,
    jobs: int = 1,
    profile: bool = False,
    session: HuntSession | None = None,
) -> HuntSummary:
    """Hunt ``ruleset`` over the events of a case and store the detections.

    Sources a ``session`` already matched while ingesting are not read again. Detections of
    the ruleset's rules replace earlier ones.
    """
    started = time.perf_counter()
    case = Path(case_dir)
    if not is_case(case):
        raise StoreError(f"no case at {case}; give evidence paths to `dwell hunt` or run "
                         f"`dwell ingest PATH --case {case}` first")
    own = session is None
    run = session if session is not None else HuntSession(ruleset, profile=profile)
    try:
        summary = HuntSummary(rules=len(ruleset.rules), cold_events=run.events)
        rows = list(run.rows)
        with open_case(case) as reader:
            parts = list(reader.part_files)
        where, params = prefilter_sql(ruleset.rules)
        workers = max(1, min(jobs, len(parts)))
        call = functools.partial(_retro_part, rules_file=run.rules_file, profile=run.profile,
                                 where=where, params=params, skip=sorted(run.hunted))
        results: Any
        pool: ProcessPoolExecutor | None = None
        if workers == 1:
            results = map(call, parts)
        else:
            pool = ProcessPoolExecutor(max_workers=workers)
            results = pool.map(call, parts)
        try:
            for done, (part_rows, events, part_stats) in enumerate(results, 1):
                rows.extend(part_rows)
                summary.retro_events += events
                run.add_stats(part_stats)
                if progress is not None:
                    progress("hunt", done, len(parts))
        finally:
            if pool is not None:
                pool.shutdown()
        stats = run.stats
    finally:
        if own:
            run.close()
    rows.extend(correlate(ruleset.rules, rows))
    emit = {r.id for r in ruleset.rules if r.emit}
    rows = _dedupe([r for r in rows if r[0] in emit])
    summary.events = summary.cold_events + summary.retro_events
    summary.detections = len(rows)
    hits: dict[str, int] = {}
    for row in rows:
        hits[row[0]] = hits.get(row[0], 0) + 1
    for rule in ruleset.rules:
        secs, evals = stats.get(rule.id, [0.0, 0])
        summary.stats[rule.id] = RuleStat(rule.id, rule.title, rule.level, hits.get(rule.id, 0),
                                          int(evals), float(secs))
    _store(case, ruleset, rows, summary)
    summary.seconds = time.perf_counter() - started
    return summary


def _dedupe(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    seen: set[tuple[Any, ...]] = set()
    out: list[tuple[Any, ...]] = []
    for row in rows:
        key = (row[0], row[15], row[16], row[18], row[13])
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def _store(case: Path, ruleset: RuleSet, rows: list[tuple[Any, ...]],
           summary: HuntSummary) -> None:
    table = pa.Table.from_pylist([dict(zip(DETECTION_COLUMNS, r, strict=True)) for r in rows],
                                 schema=DETECTION_SCHEMA)
    ids = [r.id for r in ruleset.rules]
    with CaseWriter(case) as writer:
        db = writer.db
        for ddl in DETECTIONS_DDL:
            db.execute(ddl)
        db.execute("BEGIN TRANSACTION")
        try:
            db.execute("CREATE TEMP TABLE IF NOT EXISTS _ids (id VARCHAR)")
            db.execute("DELETE FROM _ids")
            db.executemany("INSERT INTO _ids VALUES (?)", [[i] for i in ids])
            db.execute("DELETE FROM detections WHERE rule_id IN (SELECT id FROM _ids)")
            db.execute("DELETE FROM hunt_rules WHERE rule_id IN (SELECT id FROM _ids)")
            db.register("_new", table)
            db.execute("INSERT INTO detections SELECT * FROM _new")
            db.unregister("_new")
            db.executemany(
                "INSERT INTO hunt_rules VALUES (?, ?, ?, ?, ?, ?, ?)",
                [[s.rule_id, s.title, s.level, s.hits, s.evaluations, s.seconds, ruleset.sha256]
                 for s in summary.stats.values()],
            )
            db.execute("INSERT OR REPLACE INTO meta VALUES ('ruleset_sha256', ?)",
                       [ruleset.sha256])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def read_detections(case_dir: str | os.PathLike[str]) -> pa.Table:
    """The detections stored in a case (empty if it was never hunted)."""
    case = Path(case_dir)
    if not is_case(case):
        raise StoreError(f"no case at {case}; create one with `dwell hunt PATH --case {case}`")
    db = duckdb.connect()
    try:
        db.execute("ATTACH ? AS cat (READ_ONLY)", [str(case / CATALOG)])
        found = db.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'cat' "
                           "AND table_name = 'detections'").fetchall()
        if not found or not found[0][0]:
            return DETECTION_SCHEMA.empty_table()
        table = db.sql("SELECT * FROM cat.detections ORDER BY timestamp, rule_id, "
                           "source_file, record_id").to_arrow_table()
    except duckdb.Error as exc:
        raise StoreError(f"cannot read the detections of {case}: {exc}") from exc
    finally:
        db.close()
    if isinstance(table, pa.RecordBatchReader):
        table = table.read_all()
    return table.cast(DETECTION_SCHEMA)
