"""``dwell hunt``: ingest evidence (if given) and run Sigma rules over a case."""

from __future__ import annotations

import gc
import json
import os
from collections import Counter
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from rich.table import Table

from dwell.cli.ingest_cmd import Sources, add_case_arg, default_options, ingest_paths
from dwell.report.text import iso_utc

if TYPE_CHECKING:
    import argparse

    from dwell.cli._console import Ui

LEVELS = ("critical", "high", "medium", "low", "informational")


def add_rule_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rules", action="append", default=[], metavar="PATH",
                        help="Sigma rule file or directory (repeatable; e.g. a SigmaHQ checkout)")
    parser.add_argument("--min-level", choices=LEVELS, help="only rules of this level or higher")
    parser.add_argument("--status", action="append", metavar="S",
                        help="only rules with this status (repeatable: stable, test, ...)")
    parser.add_argument("--no-pack", action="store_true", help="leave out dwell's own rule pack")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    hunt = sub.add_parser("hunt", parents=[common], help="run Sigma rules over a case",
                          description="Ingest the given evidence (if any), then run Sigma rules "
                          "over every event of the case; without PATH, re-hunt the stored case.")
    hunt.add_argument("paths", nargs="*", metavar="PATH")
    add_case_arg(hunt)
    add_rule_args(hunt)
    hunt.add_argument("--jsonl", metavar="FILE", help="write one detection per line")
    hunt.add_argument("--profile", action="store_true", help="time rules; show the slowest")
    hunt.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                      help="worker processes (default: number of CPUs)")
    hunt.set_defaults(handler=run_hunt)


def run_hunt(args: argparse.Namespace, ui: Ui) -> int:
    options = default_options(args.jobs)  # (checks --jobs first)
    # the evidence is found and hashed while the rules load
    sources = Sources(args.paths, options) if args.paths else None
    try:
        return _hunt(args, ui, sources)
    finally:
        if sources is not None:
            sources.close()


def _hunt(args: argparse.Namespace, ui: Ui, sources: Sources | None) -> int:
    from dwell.engine import hunt_case, read_detections
    from dwell.engine.hunt import HuntSession
    from dwell.report.manifest import write_manifest
    from dwell.rules import load_rules
    ruleset = load_rules(args.rules, min_level=args.min_level, statuses=args.status,
                         include_pack=not args.no_pack)
    ui.info(f"{len(ruleset.rules)} rules loaded from {ruleset.files} files"
            + (f"; {len(ruleset.errors)} unusable (`dwell rules check` lists them)"
               if ruleset.errors else ""))
    # The rule set is hundreds of thousands of long-lived objects: the cyclic collector would
    # walk them again and again, and (in forked workers) touch their pages.
    gc.freeze()
    status = 0
    with HuntSession(ruleset, profile=args.profile) as session:
        if args.paths:
            report = ingest_paths(args.paths, args.case, ui, jobs=args.jobs,
                                  sink_factory=session.sink_factory, on_group=session.on_group,
                                  sources=sources)
            ui.info(report.line())
            for warning in report.warnings[:20]:
                ui.info(f"warning: {warning.where()}: {warning.reason}")
            status = 3 if report.warnings else 0
        summary = hunt_case(args.case, ruleset, jobs=args.jobs, profile=args.profile,
                            session=session, case_facts=True)
    rate = summary.events / summary.seconds if summary.seconds else 0.0
    ui.print(f"hunted {summary.events:,} events with {summary.rules} rules in "
             f"{summary.seconds:.1f} s ({rate:,.0f} events/s): {summary.detections:,} "
             "detections", markup=False)
    # this hunt's detections are in memory; the case's others (earlier hunts) on disk
    mine = summary.table
    table = mine if mine is not None and not summary.other_detections else None
    if mine is None or table is None:
        table = read_detections(args.case)
        ids = pa.array(sorted({r.id for r in ruleset.rules}), pa.string())
        mine = table.filter(pc.is_in(table.column("rule_id"), value_set=ids))
    _print_summary(ui, mine)
    if args.profile:
        slow = Table(title="slowest rules", box=None)
        for name in ("rule", "level", "evaluations", "hits", "seconds"):
            slow.add_column(name, justify="right" if name != "rule" else "left")
        for stat in summary.slowest(15):
            slow.add_row(stat.title, stat.level, f"{stat.evaluations:,}", f"{stat.hits:,}",
                         f"{stat.seconds:.3f}")
        ui.print(slow)
    if args.jsonl:
        _write_jsonl(args.jsonl, mine.sort_by([(k, "ascending") for k in
                                               ("timestamp", "rule_id", "source_file",
                                                "record_id")]).to_pylist())
        ui.info(f"wrote {mine.num_rows} detections to {args.jsonl}")
    run_args = {k: v for k, v in vars(args).items() if k != "handler"}
    rules_info = {
        "sha256": ruleset.sha256, "rules": len(ruleset.rules), "files": ruleset.files,
        "unusable": len(ruleset.errors),
        "by_level": dict(Counter(r.level for r in ruleset.rules)),
        "unusable_list": [{"path": str(e.path), "line": e.line, "reason": e.reason}
                          for e in ruleset.errors[:2000]],
    }
    try:
        write_manifest(args.case, "hunt", run_args,
                       {"rules": rules_info, "hunt": {"events": summary.events,
                                                      "detections": summary.detections,
                                                      "seconds": round(summary.seconds, 3)}},
                       detections=table, facts=summary.case_facts)
    except OSError as exc:
        ui.info(f"warning: the run manifest could not be stored: {exc}")
    return status


def _counts(table: pa.Table, keys: list[str]) -> list[tuple[Any, ...]]:
    """``(*keys, count)`` per distinct value of ``keys``, most frequent first."""
    grouped = table.group_by(keys).aggregate([(keys[0], "count")])
    rows = zip(*(grouped.column(k).to_pylist() for k in [*keys, f"{keys[0]}_count"]),
               strict=True)
    return sorted(rows, key=lambda row: (-row[-1], [str(v) for v in row[:-1]]))


def _print_summary(ui: Ui, detections: pa.Table) -> None:
    if detections.num_rows == 0:
        return
    by_level = {level: count for level, count in _counts(detections, ["level"])}
    rules_by_level = Counter(level for _, level, _ in _counts(detections, ["rule_id", "level"]))
    table = Table(box=None)
    table.add_column("level")
    table.add_column("rules", justify="right")
    table.add_column("detections", justify="right")
    for level in LEVELS:
        if by_level.get(level):
            table.add_row(level, str(rules_by_level[level]), f"{by_level[level]:,}")
    ui.print(table)
    top = Table(title="top rules", box=None)
    top.add_column("rule")
    top.add_column("level")
    top.add_column("hits", justify="right")
    for _, title, level, count in _counts(detections, ["rule_id", "title", "level"])[:10]:
        top.add_row(title, level, f"{count:,}")
    ui.print(top)
    hosts = Table(title="hosts", box=None)
    hosts.add_column("host")
    hosts.add_column("detections", justify="right")
    short = detections.set_column(
        detections.schema.get_field_index("host_short"), "host_short",
        pc.fill_null(detections.column("host_short"), "?"))
    for host, count in _counts(short, ["host_short"])[:10]:
        hosts.add_row(host, f"{count:,}")
    ui.print(hosts)


def _write_jsonl(path: str, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            out = dict(row)
            out["timestamp"] = iso_utc(row["timestamp"])
            out["matched"] = json.loads(row["matched"]) if row["matched"] else None
            fh.write(json.dumps(out, ensure_ascii=False, default=str) + "\n")
