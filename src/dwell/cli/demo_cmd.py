"""``dwell demo``: generate a synthetic intrusion, ingest, hunt and reconstruct it.

The main job on a fresh machine: nothing outside the package is needed. The result is compared
with the scenario's answer key so the reader sees how close the reconstruction came.
"""

from __future__ import annotations

import importlib
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dwell.cli.campaign_cmd import render, write_json
from dwell.cli.ingest_cmd import ingest_paths
from dwell.errors import DwellError, UsageError
from dwell.store.layout import is_case

if TYPE_CHECKING:
    import argparse

    from dwell.cli._console import Ui

VARIANTS = ("albania", "harbor")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    cmd = sub.add_parser(
        "demo", parents=[common], help="replay a synthetic long-dwell intrusion end to end",
        description="Generate a deterministic multi-month intrusion (evtx-JSON logs plus an "
        "answer key), ingest it, hunt it with Sigma rules and reconstruct the campaign.")
    cmd.add_argument("--out", default="dwell-demo", metavar="DIR",
                     help="output directory (default: ./dwell-demo)")
    cmd.add_argument("--variant", choices=VARIANTS, default="albania",
                     help="scenario: albania (government network, re-entry after eviction) "
                     "or harbor (port operator, PsExec/WinRM, clean eviction)")
    cmd.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")
    cmd.add_argument("--scale", type=float, default=1.0,
                     help="background volume factor (default: 1.0)")
    cmd.add_argument("--rules", action="append", default=[], metavar="PATH",
                     help="extra Sigma rules (e.g. a SigmaHQ checkout); dwell's pack is "
                     "always used")
    cmd.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                     help="worker processes (default: number of CPUs)")
    cmd.set_defaults(handler=run_demo)


def _generator() -> Any:
    try:
        return importlib.import_module("dwell.scenario")
    except ImportError as exc:  # pragma: no cover - the package always ships it
        raise DwellError(f"the scenario generator is not available: {exc}") from exc


def run_demo(args: argparse.Namespace, ui: Ui) -> int:
    from dwell.correlate import parse_when, reconstruct_case
    from dwell.engine import hunt_case
    from dwell.rules import load_rules

    if args.scale <= 0:
        raise UsageError("--scale must be positive, e.g. --scale 0.5")
    scenario = _generator()
    if not hasattr(scenario, "generate"):
        raise DwellError("the scenario generator is not available in this build")
    out = Path(args.out)
    case = out / "case"
    if case.exists():
        if not is_case(case):
            raise UsageError(f"{case} exists and is not a dwell case; choose another --out")
        shutil.rmtree(case)
    started = time.perf_counter()
    ui.info(f"generating the {args.variant} scenario in {out} ...")
    key = scenario.generate(out, args.variant, seed=args.seed, scale=args.scale)
    ui.info("ingesting ...")
    ingest = ingest_paths([str(out / "logs")], str(case), ui, jobs=args.jobs)
    ui.info(ingest.line())
    ruleset = load_rules(args.rules, include_pack=True)
    ui.info(f"hunting with {len(ruleset.rules)} rules ...")
    summary = hunt_case(case, ruleset, jobs=args.jobs)
    ui.info(f"{summary.detections:,} detections")
    evicted_text = _get(key, "evicted_at")
    evicted = parse_when(evicted_text) if isinstance(evicted_text, str) and evicted_text \
        else None
    report = reconstruct_case(case, evicted)
    data = report.to_dict()
    write_json(out / "campaign.json", data)
    render(data, ui)
    if not data["campaigns"] and not args.rules:
        ui.info("hint: dwell's own rule pack found too little here; add generic Sigma rules, "
                "e.g. `dwell demo --rules PATH/TO/sigma/rules/windows`")
    html = _html_report(case, out, data)
    ui.print()
    for line in compare(key, data):
        ui.print(line, markup=False)
    ui.print(f"logs: {out / 'logs'}  case: {case}  campaign: {out / 'campaign.json'}"
             + (f"  report: {html}" if html else "")
             + f"  ({time.perf_counter() - started:.1f} s)", markup=False)
    return 0


def _html_report(case: Path, out: Path, data: dict[str, Any]) -> Path | None:
    """Render the HTML report when the report stage is installed."""
    try:
        module = importlib.import_module("dwell.cli.report_cmd")
    except ModuleNotFoundError:
        return None
    writer = getattr(module, "write_html_report", None)
    if writer is None:
        return None
    path = out / "report.html"
    writer(case, path, campaigns=data)
    return path


def _get(key: Any, name: str) -> Any:
    if isinstance(key, dict):
        return key.get(name)
    return getattr(key, name, None)


def compare(key: Any, data: dict[str, Any]) -> list[str]:
    """Plain lines comparing the reconstruction with the scenario's answer key."""
    campaigns = data.get("campaigns") or []
    if not campaigns:
        return ["answer key: no campaign reconstructed"]
    camp = campaigns[0]
    truth = {h.upper() for h in _get(key, "compromised_hosts") or []}
    found = {h["host"] for h in camp["hosts"]}
    hit = len(truth & found)
    precision = hit / len(found) if found else 0.0
    recall = hit / len(truth) if truth else 0.0
    beach = _get(key, "beachhead") or {}
    lines = [
        f"answer key: beachhead {_get(beach, 'host')} at {_get(beach, 'time')}; "
        f"found {camp['beachhead']['host']} at {camp['beachhead']['time']}",
        f"answer key: {len(truth)} compromised hosts; found {len(found)} "
        f"(precision {precision:.2f}, recall {recall:.2f})",
    ]
    missed = sorted(truth - found)
    extra = sorted(found - truth)
    if missed or extra:
        lines.append(f"  missed: {', '.join(missed) or '-'}; not in key: {', '.join(extra) or '-'}")
    still = _get(key, "still_present")
    if still is not None:
        lines.append(f"answer key: still present {still}; found "
                     f"{camp['still_present']['verdict']}")
    return lines
