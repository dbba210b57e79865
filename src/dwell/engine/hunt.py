"""Hunt a case: match rules while ingesting (cold) or over stored events (retro), store detections.

Cold hunt evaluates in the ingest worker processes through :class:`HuntSink`, which wraps the
store's part writer, so events are decoded once. Retro-hunt reads the ``fields`` JSON of the
stored Parquet parts (rows prefiltered by channel and event id in DuckDB), one part file per
worker process. Detections replace earlier detections of the same rules, in one transaction.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import pickle
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dwell.engine.correlation import correlate
from dwell.engine.matcher import Matcher, Plan, load_plans, plans_key, save_plans
from dwell.errors import StoreError
from dwell.ingest.pipeline import no_cyclic_gc
from dwell.rules.load import cache_dir
from dwell.schema import DETECTION_SCHEMA
from dwell.store import CaseWriter, PartWriter
from dwell.store.layout import DETECTIONS_KEY, detections_dir, events_dir, is_case
from dwell.store.query import catalog_facts, list_parts, read_catalog

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from dwell.ingest.pipeline import GroupResult
    from dwell.rules import CompiledRule, RuleSet

    Progress = Callable[[str, int, int], None]  # (phase, done, total)


#: Rows decoded at once by a retro-hunt worker (their ``fields`` dicts are held together).
RETRO_BATCH = 8192
_ROW_COLUMNS = ("timestamp", "host", "host_short", "user", "channel", "event_id", "record_id",
                "source_file", "source_sha256", "source_pos")
#: The hunt's table in the catalog (detections are a Parquet file the catalog names: see
#: :class:`_DetectionStore`; cases written before that hold a ``detections`` table, read and
#: replaced).
DETECTIONS_DDL = (
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
    #: the detections stored (of this hunt's rules), unordered
    table: pa.Table | None = None
    #: detections of other rules the case holds (from earlier hunts)
    other_detections: int = 0
    #: the catalog's facts for a run manifest (``hunt_case(case_facts=True)``)
    case_facts: dict[str, Any] | None = None

    def slowest(self, n: int = 10) -> list[RuleStat]:
        return sorted(self.stats.values(), key=lambda s: -s.seconds)[:n]


# --- the per-process matcher, built from a pickled rule list ------------------------------

_TS = DETECTION_SCHEMA.get_field_index("timestamp")
#: Detection columns that are the rule's (DETECTION_SCHEMA order, rule_id first).
_RULE_COLUMNS = ("rule_id", "title", "level", "status", "tags", "rule_file", "rule_sha256")
#: The order :func:`read_detections` returns.
_ORDER = ("timestamp", "rule_id", "source_file", "record_id")


def _rule_columns(rules: list[CompiledRule]) -> pa.RecordBatch:
    """The rule columns of detections, one row per rule (by index)."""
    schema = DETECTION_SCHEMA
    values = [[r.id for r in rules], [r.title for r in rules], [r.level for r in rules],
              [r.status for r in rules], [list(r.tags) for r in rules],
              [r.path for r in rules], [r.sha256 for r in rules]]
    return pa.record_batch([pa.array(v, type=schema.field(name).type)
                            for v, name in zip(values, _RULE_COLUMNS, strict=True)],
                           names=list(_RULE_COLUMNS))

#: Event columns that repeat within a batch (dictionary-encoded in transit, as are the
#: matched values).
_REPEATED = frozenset({"host", "host_short", "user", "channel", "source_file", "source_sha256"})


def decoded(table: pa.Table, heads: pa.RecordBatch) -> pa.Table:
    """Detections of a :class:`_Detector` (rule indexes into ``heads``, the rule columns of
    its matcher's rules; dictionary-encoded texts) as DETECTION_SCHEMA."""
    rules = pa.Table.from_batches([heads]).take(table.column("rule"))
    rest = table.select([*_ROW_COLUMNS, "matched"]).cast(
        pa.schema([DETECTION_SCHEMA.field(name) for name in (*_ROW_COLUMNS, "matched")]))
    return pa.Table.from_arrays(
        [*rules.columns, *rest.columns, pa.nulls(table.num_rows, pa.string())],
        schema=DETECTION_SCHEMA)


_MATCHERS: dict[str, Matcher] = {}
#: Rule lists of the sessions of this process, by rules file: forked workers inherit them and
#: need not unpickle the file (which takes seconds for a few thousand rules).
_RULES: dict[str, list[CompiledRule]] = {}


def _matcher(rules_file: str, profile: bool, plans_file: str | None = None) -> Matcher:
    """The matcher of a pickled rule list (capturing the fields each rule's detections keep:
    see :func:`_capture_fields`; with the bucket plans saved in ``plans_file``, if any)."""
    key = f"{rules_file}:{profile}"
    found = _MATCHERS.get(key)
    if found is None:
        rules = _RULES.get(rules_file)
        if rules is None:
            with open(rules_file, "rb") as fh:
                rules = pickle.load(fh)
        matcher, capture = Matcher(rules, profile=profile), _capture_fields(rules)
        matcher.capture([capture.get(rule.id, ()) for rule in matcher.rules])
        if plans_file is not None:
            matcher.use_plans(load_plans(plans_file))
        found = _MATCHERS[key] = matcher
    return found


def _capture_fields(rules: Sequence[CompiledRule]) -> dict[str, tuple[str, ...]]:
    """Per rule id: the (lower-case) field names whose values a detection keeps. Correlation
    rules (which the matcher does not hold) add their group-by fields to the rules they read.
    """
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
    """Turns matcher hits on record batches into detection batches (DETECTION_SCHEMA)."""

    def __init__(self, rules_file: str, profile: bool, plans_file: str | None) -> None:
        self.matcher = _matcher(rules_file, profile, plans_file)
        self.batches: list[pa.RecordBatch] = []
        self.events = 0

    def batch(self, batch: pa.RecordBatch, fields: pa.Array) -> None:
        """Match the events of one batch (``fields``: its ``fields`` column)."""
        self.events += len(fields)
        rows, rules, matched = self.matcher.match_column_hits(fields)
        if not len(rows):
            return
        events = batch.select(list(_ROW_COLUMNS)).take(rows)
        # Rule and event texts repeat: detections cross from the worker processes as rule
        # indexes and dictionary-encoded texts, a third of the bytes (see :func:`decoded`).
        schema = DETECTION_SCHEMA
        columns = [column.cast(schema.field(name).type)
                   for name, column in zip(_ROW_COLUMNS, events.columns, strict=True)]
        columns = [pc.dictionary_encode(column) if name in _REPEATED else column
                   for name, column in zip(_ROW_COLUMNS, columns, strict=True)]
        self.batches.append(pa.RecordBatch.from_arrays(
            [rules, *columns, pc.dictionary_encode(matched)],
            names=["rule", *_ROW_COLUMNS, "matched"]))

    def table(self) -> pa.Table | None:
        """The detections found so far, in transit form (see :func:`decoded`); None: none."""
        return pa.Table.from_batches(self.batches) if self.batches else None

    def take_plans(self) -> dict[tuple[str | None, int], Plan]:
        """The bucket plans this process made since the last call (each handed out once)."""
        plans = dict(self.matcher.new_plans)
        self.matcher.new_plans.clear()
        return plans

    def stats(self) -> list[tuple[str, float, int]]:
        m = self.matcher
        return [(m.rules[i].id, m.seconds[i], m.evaluations[i]) for i in range(len(m.rules))
                if m.evaluations[i]]


class HuntSink:
    """A Sink that writes a source's rows through a PartWriter and matches every record."""

    def __init__(self, case: str, key: str, *, rules_file: str, profile: bool,
                 plans_file: str | None = None) -> None:
        self._writer = PartWriter(case, key)
        self._detector = _Detector(rules_file, profile, plans_file)
        self.extras: dict[str, object] = {}

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write(batch)
        self._detector.batch(batch, batch.column("fields"))

    def close(self) -> list[tuple[str, int]]:
        parts = self._writer.close()
        self.extras = {"detections": self._detector.table(), "events": self._detector.events,
                       "stats": self._detector.stats(), "plans": self._detector.take_plans()}
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
        _RULES[self.rules_file] = ruleset.rules
        if multiprocessing.get_start_method() != "fork":  # workers cannot inherit _RULES
            with open(self.rules_file, "wb") as fh:
                pickle.dump(ruleset.rules, fh, protocol=pickle.HIGHEST_PROTOCOL)
        self.tables: list[pa.Table] = []  # detections found so far (DETECTION_SCHEMA)
        self.hunted: set[str] = set()  # sources matched while ingesting
        self.hunted_parts: set[str] = set()  # their parts' keys (the ingest group keys)
        self.events = 0
        self.stats: dict[str, list[float]] = {}
        # native bucket plans kept between runs of the same rules (see Matcher.use_plans)
        self.plans_file = (str(cache_dir() / f"plans-{plans_key(ruleset.key)}.pickle")
                           if ruleset.key and not profile else None)
        self.new_plans: dict[tuple[str | None, int], Plan] = {}

    @functools.cached_property
    def heads(self) -> pa.RecordBatch:
        """The rule columns of detections, by the index of a rule in the matchers."""
        return _rule_columns(self.ruleset.detection_rules)

    @property
    def sink_factory(self) -> Callable[[str, str], HuntSink]:
        return functools.partial(HuntSink, rules_file=self.rules_file, profile=self.profile,
                                 plans_file=self.plans_file)

    def on_group(self, group: GroupResult) -> None:
        if not group.parts and not any(r.summary for r in group.sources):
            return
        found = group.extras.get("detections")
        if isinstance(found, pa.Table):  # (decoded now, while the workers go on)
            self.tables.append(decoded(found, self.heads))
        self.events += int(group.extras.get("events", 0))  # type: ignore[call-overload]
        self.add_stats(group.extras.get("stats", []))  # type: ignore[arg-type]
        self.new_plans.update(group.extras.get("plans", {}))  # type: ignore[call-overload]
        self.hunted.update(r.summary.sha256 for r in group.sources if r.summary is not None)
        if group.parts:  # every row of a group's parts went through its HuntSink
            self.hunted_parts.add(group.key)

    def add_stats(self, items: list[tuple[str, float, int]]) -> None:
        for rid, secs, evals in items:
            acc = self.stats.setdefault(rid, [0.0, 0])
            acc[0] += secs
            acc[1] += evals

    def save_plans(self) -> None:
        """Add the plans made in this session to those kept for its rules."""
        if self.new_plans and self.plans_file is not None:
            plans = load_plans(self.plans_file)
            plans.update(self.new_plans)
            save_plans(self.plans_file, plans)
            self.new_plans = {}

    def close(self) -> None:
        _RULES.pop(self.rules_file, None)
        _MATCHERS.pop(f"{self.rules_file}:{self.profile}", None)
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


def _chunks(parts: list[tuple[str, int]], n: int) -> list[list[str]]:
    """``n`` lists of part files of about equal rows (largest first, to the lightest list)."""
    loads = [0] * max(1, n)
    bins: list[list[str]] = [[] for _ in loads]
    for name, rows in sorted(parts, key=lambda p: -p[1]):
        lightest = loads.index(min(loads))
        bins[lightest].append(name)
        loads[lightest] += rows
    return [files for files in bins if files]


_DB: dict[int, duckdb.DuckDBPyConnection] = {}


def _worker_db() -> duckdb.DuckDBPyConnection:
    """This process's DuckDB connection (one thread: one worker process per core already),
    kept for the process's next chunks."""
    db = _DB.get(os.getpid())
    if db is None:
        _DB.clear()  # (a forked child does not use its parent's)
        db = _DB[os.getpid()] = duckdb.connect()
        db.execute("SET threads TO 1")
    return db


def _retro_part(
    parts: list[str], rules_file: str, profile: bool, plans_file: str | None, where: str,
    params: list[Any],
) -> tuple[pa.Table | None, int, list[tuple[str, float, int]],
           dict[tuple[str | None, int], Plan]]:
    """Match the prefiltered rows of some part files; only their ``fields`` are decoded."""
    detector = _Detector(rules_file, profile, plans_file)
    # Decoded events are acyclic: the cyclic collector would only walk the rule set (20% time).
    with no_cyclic_gc():
        cols = ", ".join(f'"{c}"' for c in _ROW_COLUMNS)
        query = f"SELECT {cols}, fields FROM read_parquet(?) WHERE ({where})"
        reader = _worker_db().sql(query, params=[parts, *params]).to_arrow_reader(RETRO_BATCH)
        for batch in reader:
            detector.batch(batch, batch.column(len(_ROW_COLUMNS)))
    return detector.table(), detector.events, detector.stats(), detector.take_plans()


# --- the hunt ---------------------------------------------------------------------------------

def hunt_case(
    case_dir: str | os.PathLike[str],
    ruleset: RuleSet,
    *,
    progress: Progress | None = None,
    jobs: int = 1,
    profile: bool = False,
    session: HuntSession | None = None,
    case_facts: bool = False,
) -> HuntSummary:
    """Hunt ``ruleset`` over the events of a case and store the detections.

    Sources a ``session`` already matched while ingesting are not read again. Detections of
    the ruleset's rules replace earlier ones. With ``case_facts``, the summary also carries
    the catalog's facts for a run manifest (read while the workers run).
    """
    with no_cyclic_gc():  # hundreds of thousands of acyclic detection rows
        return _hunt_case(case_dir, ruleset, progress=progress, jobs=jobs, profile=profile,
                          session=session, case_facts=case_facts)


def _hunt_case(
    case_dir: str | os.PathLike[str],
    ruleset: RuleSet,
    *,
    progress: Progress | None,
    jobs: int,
    profile: bool,
    session: HuntSession | None,
    case_facts: bool,
) -> HuntSummary:
    started = time.perf_counter()
    case = Path(case_dir)
    if not is_case(case):
        raise StoreError(f"no case at {case}; give evidence paths to `dwell hunt` or run "
                         f"`dwell ingest PATH --case {case}` first")
    own = session is None
    run = session if session is not None else HuntSession(ruleset, profile=profile)
    store: _DetectionStore | None = None
    try:
        summary = HuntSummary(rules=len(ruleset.rules), cold_events=run.events)
        folder = events_dir(case)  # parts of sources not hunted while ingesting
        parts = [(str(folder / f), n) for key, f, n in list_parts(case)
                 if key not in run.hunted_parts]
        where, params = prefilter_sql(ruleset.rules)
        workers = max(1, min(jobs, len(parts)))
        # Small chunks, largest first (up to one part each): the workers end together, whatever
        # each event costs; a chunk costs one query of a kept connection.
        chunks = _chunks(parts, workers * 32 if workers > 1 else 1) if where != "FALSE" else []
        call = functools.partial(_retro_part, rules_file=run.rules_file, profile=run.profile,
                                 plans_file=run.plans_file, where=where, params=params)
        results: Any
        pool: ProcessPoolExecutor | None = None
        if workers == 1 or len(chunks) <= 1:
            results = map(call, chunks)
        else:
            pool = ProcessPoolExecutor(max_workers=workers)
            results = pool.map(call, chunks)
        try:
            # while the workers match: the detections store opened, the catalog's facts read
            store = _DetectionStore(case, ruleset)
            if case_facts:
                summary.case_facts = store.facts()
            for done, (part_table, events, part_stats, plans) in enumerate(results, 1):
                run.new_plans.update(plans)
                if part_table is not None:  # (decoded now, while the workers go on)
                    run.tables.append(decoded(part_table, run.heads))
                summary.retro_events += events
                run.add_stats(part_stats)
                if progress is not None:
                    progress("hunt", done, len(chunks))
        finally:
            if pool is not None:
                pool.shutdown()
            own_db = _DB.pop(os.getpid(), None)  # (chunks matched in this process)
            if own_db is not None:
                own_db.close()
        stats = run.stats
        tables = list(run.tables)
        run.save_plans()
    except BaseException:
        if store is not None:
            store.close()
        raise
    finally:
        if own:
            run.close()
    assert store is not None
    try:
        _finish(store, ruleset, tables, stats, summary)
    finally:
        store.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _finish(store: _DetectionStore, ruleset: RuleSet, tables: list[pa.Table],
            stats: dict[str, list[float]], summary: HuntSummary) -> None:
    """The hunt's detections (correlations added, repeats dropped) counted and stored."""
    table = pa.concat_tables([DETECTION_SCHEMA.empty_table(), *tables])
    table = pa.concat_tables([table, _correlations(ruleset.rules, table)])
    quiet = sorted({r.id for r in ruleset.rules if not r.emit})  # only feed correlations
    if quiet:
        table = table.filter(pc.invert(pc.is_in(table.column("rule_id"),
                                                value_set=pa.array(quiet, type=pa.string()))))
    table = _dedupe(table)
    summary.events = summary.cold_events + summary.retro_events
    summary.detections = table.num_rows
    hits = {rid: n for rid, n in _count_by(table, "rule_id")}
    for rule in ruleset.rules:
        secs, evals = stats.get(rule.id, [0.0, 0])
        summary.stats[rule.id] = RuleStat(rule.id, rule.title, rule.level, hits.get(rule.id, 0),
                                          int(evals), float(secs))
    store.commit(table, summary)


def _count_by(table: pa.Table, key: str) -> list[tuple[Any, int]]:
    grouped = table.group_by(key).aggregate([(key, "count")])
    return list(zip(grouped.column(key).to_pylist(), grouped.column(f"{key}_count").to_pylist(),
                    strict=True))


def _correlations(rules: Sequence[CompiledRule], table: pa.Table) -> pa.Table:
    """Detections of the correlation rules, from the detections of the rules they read."""
    refs = sorted({ref for r in rules if r.correlation is not None for ref in r.correlation.rules})
    if not refs:
        return DETECTION_SCHEMA.empty_table()
    inputs = table.filter(pc.is_in(table.column("rule_id"), value_set=pa.array(refs)))
    # timestamps as epoch ns: a datetime cannot hold EVTX's 100 ns ticks (to_pylist raises)
    inputs = inputs.set_column(_TS, "timestamp", inputs.column(_TS).cast(pa.int64()))
    rows = list(zip(*[column.to_pylist() for column in inputs.columns], strict=True))
    return _rows_table(correlate(rules, rows) if rows else [])


def _rows_table(rows: list[tuple[Any, ...]]) -> pa.Table:
    """Detection rows (DETECTION_SCHEMA order, timestamps as epoch ns) as a table."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(DETECTION_SCHEMA)
    return pa.Table.from_arrays(
        [pa.array(values, type=f.type) for values, f in zip(columns, DETECTION_SCHEMA,
                                                             strict=True)],
        schema=DETECTION_SCHEMA)


#: odd multipliers of the row hash in :func:`_dedupe` (uint64 arithmetic wraps around)
_MIX = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
        0xFF51AFD7ED558CCD)
_MIX_BASE = 0x100000001B3


def _dedupe(table: pa.Table) -> pa.Table:
    """The detections without repeats of (rule, source event, correlation): first kept."""
    keys = ["rule_id", "source_sha256", "source_pos", "correlation", "record_id"]
    # grouped by ints: the string keys' dictionary indices
    columns = [pc.dictionary_encode(table.column(k)).combine_chunks().indices
               if pa.types.is_string(table.schema.field(k).type) else table.column(k)
               for k in keys]
    # Repeats are rare (each stored event is matched once per hunt): first one hash per row
    # of the keys (wrapping arithmetic; a null counts as 0); distinct hashes, distinct rows.
    mixed = pa.scalar(0, pa.uint64())
    for column, factor in zip(columns, _MIX, strict=True):
        ints = pc.fill_null(pc.cast(column, pa.int64()), 0).cast(pa.uint64(), safe=False)
        mixed = pc.add(pc.multiply(mixed, pa.scalar(_MIX_BASE, pa.uint64())),
                       pc.multiply(ints, pa.scalar(factor, pa.uint64())))
    if pc.count_distinct(mixed).as_py() == table.num_rows:
        return table
    numbered = pa.table([*columns, pa.array(range(table.num_rows), type=pa.int64())],
                        names=[*keys, "_n"])
    first = numbered.group_by(keys, use_threads=False).aggregate([("_n", "min")])
    if first.num_rows == table.num_rows:
        return table
    rows = first.column("_n_min")
    return table.take(rows.take(pc.sort_indices(rows)))


class _DetectionStore:
    """The case's detections of a rule set, being replaced.

    Opened (the catalog and its lock, the detections of other rules it holds) while the
    workers still match; :meth:`commit` then writes the detections as one Parquet file: the
    new file (this hunt's detections plus the others the case held) is written and synced
    first, then named by the catalog in the same transaction as the rule statistics; the old
    file goes after the commit. A run killed before the commit leaves the case as it was (the
    writer deletes the stray file).
    """

    def __init__(self, case: Path, ruleset: RuleSet) -> None:
        self.case = case
        self.ruleset = ruleset
        self.writer = CaseWriter(case)
        try:
            db = self.writer.db
            for ddl in DETECTIONS_DDL:
                db.execute(ddl)
            self.ids = pa.array(sorted({r.id for r in ruleset.rules}), type=pa.string())
            self.old_file, self.others = _stored(db, case, leave_out=self.ids)
            self.legacy = _has_legacy_table(db)
        except BaseException:
            self.writer.close()
            raise

    def facts(self) -> dict[str, Any]:
        """The catalog's :func:`~dwell.store.query.catalog_facts` (through the writer)."""
        return catalog_facts(self.writer.db, prefix="")

    def commit(self, table: pa.Table, summary: HuntSummary) -> None:
        """Replace the case's detections of the rule set by ``table``."""
        # microseconds, like every stored time (a datetime cannot hold EVTX's 100 ns ticks)
        table = table.set_column(_TS, "timestamp", pc.round_temporal(
            table.column(_TS), multiple=1, unit="microsecond"))
        summary.table = table
        stats = list(summary.stats.values())
        rule_table = pa.table({
            "rule_id": pa.array([s.rule_id for s in stats], type=pa.string()),
            "title": pa.array([s.title for s in stats], type=pa.string()),
            "level": pa.array([s.level for s in stats], type=pa.string()),
            "hits": pa.array([s.hits for s in stats], type=pa.int64()),
            "evaluations": pa.array([s.evaluations for s in stats], type=pa.int64()),
            "seconds": pa.array([s.seconds for s in stats], type=pa.float64()),
            "ruleset_sha256": pa.array([self.ruleset.sha256] * len(stats), type=pa.string()),
        })
        writer, db, others = self.writer, self.writer.db, self.others
        summary.other_detections = others.num_rows
        name = writer.write_detections(pa.concat_tables([others, table]) if others.num_rows
                                       else table)
        db.register("_rules", rule_table)
        db.execute("BEGIN TRANSACTION")
        try:
            if self.legacy:
                db.execute("DROP TABLE detections")
            # a view for whoever opens the catalog itself (by absolute path: a view's relative
            # path would be read from the reader's working directory; dwell reads the file)
            target = str((detections_dir(self.case) / name).resolve()).replace("'", "''")
            db.execute("CREATE OR REPLACE VIEW detections AS SELECT * FROM "
                       f"read_parquet('{target}')")
            db.execute("DELETE FROM hunt_rules WHERE rule_id IN (SELECT rule_id FROM _rules)")
            db.execute("INSERT INTO hunt_rules SELECT * FROM _rules")
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                           [[DETECTIONS_KEY, name], ["ruleset_sha256", self.ruleset.sha256]])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            writer.drop_detections(name)
            raise
        finally:
            db.unregister("_rules")
        if self.old_file is not None:
            writer.drop_detections(self.old_file)

    def close(self) -> None:
        self.writer.close()


def _stored(
    db: duckdb.DuckDBPyConnection, case: Path, leave_out: pa.Array | None = None
) -> tuple[str | None, pa.Table]:
    """The detections file a catalog names (None: none, or an older case's table) and the
    detections it holds, without those of the rule ids ``leave_out``."""
    found = db.execute("SELECT value FROM meta WHERE key = ?", [DETECTIONS_KEY]).fetchall()
    if found:
        name = str(found[0][0])
        stored = pq.ParquetFile(detections_dir(case) / name)
        if leave_out is None:
            return name, stored.read().cast(DETECTION_SCHEMA)
        # (re-running the same rules, the usual case, needs only the rule ids)
        keep = pc.invert(pc.is_in(stored.read(columns=["rule_id"]).column(0),
                                  value_set=leave_out))
        if not pc.any(keep).as_py():
            return name, DETECTION_SCHEMA.empty_table()
        return name, stored.read().cast(DETECTION_SCHEMA).filter(keep)
    table = DETECTION_SCHEMA.empty_table()
    if _has_legacy_table(db):
        table = db.sql("SELECT * FROM detections").to_arrow_table().cast(DETECTION_SCHEMA)
    if leave_out is not None:
        table = table.filter(pc.invert(pc.is_in(table.column("rule_id"), value_set=leave_out)))
    return None, table


def _has_legacy_table(db: duckdb.DuckDBPyConnection) -> bool:
    """Whether the catalog holds a ``detections`` table (cases of dwell before the file)."""
    found = db.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = "
                       "current_database() AND table_name = 'detections'").fetchall()
    return bool(found and found[0][0])


def read_detections(case_dir: str | os.PathLike[str]) -> pa.Table:
    """The detections stored in a case (empty if it was never hunted), in time order."""
    case = Path(case_dir)
    if not is_case(case):
        raise StoreError(f"no case at {case}; create one with `dwell hunt PATH --case {case}`")
    for _ in range(2):  # a hunt may replace the file between the catalog read and ours
        try:
            with read_catalog(case) as db:
                db.execute("USE cat")
                table = _stored(db, case)[1]
            return table.sort_by([(key, "ascending") for key in _ORDER])
        except FileNotFoundError:
            continue
        except (OSError, pa.ArrowException) as exc:
            raise StoreError(f"cannot read the detections of {case}: {exc}") from exc
    raise StoreError(f"the detections file that the catalog of {case} names is missing")
