"""``dwell hunt``: ingest evidence (if given) and run Sigma rules over a case."""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import TYPE_CHECKING, Any

from rich.table import Table

from dwell.cli.ingest_cmd import add_case_arg, ingest_paths
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
    from dwell.engine import hunt_case, read_detections
    from dwell.engine.hunt import HuntSession
    from dwell.report.manifest import write_manifest
    from dwell.rules import load_rules
    ruleset = load_rules(args.rules, min_level=args.min_level, statuses=args.status,
                         include_pack=not args.no_pack)
    ui.info(f"{len(ruleset.rules)} rules loaded from {ruleset.files} files"
            + (f"; {len(ruleset.errors)} unusable (`dwell rules check` lists them)"
               if ruleset.errors else ""))
    status = 0
    with HuntSession(ruleset, profile=args.profile) as session:
        if args.paths:
            report = ingest_paths(args.paths, args.case, ui, jobs=args.jobs,
                                  sink_factory=session.sink_factory, on_group=session.on_group)
            ui.info(report.line())
            for warning in report.warnings[:20]:
                ui.info(f"warning: {warning.where()}: {warning.reason}")
            status = 3 if report.warnings else 0
        summary = hunt_case(args.case, ruleset, jobs=args.jobs, profile=args.profile,
                            session=session)
    rate = summary.events / summary.seconds if summary.seconds else 0.0
    ui.print(f"hunted {summary.events:,} events with {summary.rules} rules in "
             f"{summary.seconds:.1f} s ({rate:,.0f} events/s): {summary.detections:,} "
             "detections", markup=False)
    table = read_detections(args.case)
    ids = {r.id for r in ruleset.rules}
    rows = [r for r in table.to_pylist() if r["rule_id"] in ids]
    _print_summary(ui, rows)
    if args.profile:
        slow = Table(title="slowest rules", box=None)
        for name in ("rule", "level", "evaluations", "hits", "seconds"):
            slow.add_column(name, justify="right" if name != "rule" else "left")
        for stat in summary.slowest(15):
            slow.add_row(stat.title, stat.level, f"{stat.evaluations:,}", f"{stat.hits:,}",
                         f"{stat.seconds:.3f}")
        ui.print(slow)
    if args.jsonl:
        _write_jsonl(args.jsonl, rows)
        ui.info(f"wrote {len(rows)} detections to {args.jsonl}")
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
                       detections=table)
    except OSError as exc:
        ui.info(f"warning: the run manifest could not be stored: {exc}")
    return status


def _print_summary(ui: Ui, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    by_level = Counter(r["level"] for r in rows)
    rules_by_level = Counter(lv for lv, _ in {(r["level"], r["rule_id"]) for r in rows})
    table = Table(box=None)
    table.add_column("level")
    table.add_column("rules", justify="right")
    table.add_column("detections", justify="right")
    for level in LEVELS:
        if by_level[level]:
            table.add_row(level, str(rules_by_level[level]), f"{by_level[level]:,}")
    ui.print(table)
    top = Table(title="top rules", box=None)
    top.add_column("rule")
    top.add_column("level")
    top.add_column("hits", justify="right")
    titles = {r["rule_id"]: (r["title"], r["level"]) for r in rows}
    for rid, count in Counter(r["rule_id"] for r in rows).most_common(10):
        top.add_row(titles[rid][0], titles[rid][1], f"{count:,}")
    ui.print(top)
    hosts = Table(title="hosts", box=None)
    hosts.add_column("host")
    hosts.add_column("detections", justify="right")
    for host, count in Counter(r["host_short"] or "?" for r in rows).most_common(10):
        hosts.add_row(host, f"{count:,}")
    ui.print(hosts)




def _write_jsonl(path: str, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            out = dict(row)
            out["timestamp"] = iso_utc(row["timestamp"])
            out["matched"] = json.loads(row["matched"]) if row["matched"] else None
            fh.write(json.dumps(out, ensure_ascii=False, default=str) + "\n")
