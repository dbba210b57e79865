"""``dwell report``: the self-contained HTML report of a case."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dwell.cli.ingest_cmd import add_case_arg
from dwell.errors import StoreError
from dwell.report.manifest import build_manifest, latest_manifest, write_manifest
from dwell.report.text import parse_utc
from dwell.store import open_case

if TYPE_CHECKING:
    import argparse

    import pyarrow as pa

    from dwell.cli._console import Ui


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "report", parents=[common], help="write the self-contained HTML report",
        description="One HTML file (no network, no scripts) with the campaign headline, spread "
        "graph, swimlane timeline, ATT&CK matrix, exfiltration and impact, caveats and the "
        "evidence behind every claim.")
    add_case_arg(parser)
    parser.add_argument("--evicted-at", metavar="T",
                        help="when the attacker was declared gone (ISO 8601, UTC)")
    parser.add_argument("-o", "--output", default="report.html", metavar="FILE",
                        help="default: report.html")
    parser.set_defaults(handler=run_report)


def write_report(case_dir: str, out: Path, *, evicted_at: datetime | None,
                 campaign: dict[str, Any] | None = None,
                 detections: pa.Table | None = None,
                 args: dict[str, Any] | None = None) -> Path:
    """Write the HTML report of ``case_dir`` to ``out`` (atomically); returns ``out``.

    Detections are the case's stored ones (``dwell hunt``) unless given; the campaign is
    reconstructed with ``dwell.correlate`` unless given. A run manifest is stored in the case
    (when it is writable) and embedded in the page.
    """
    from dwell.report.html import build_context, render_html
    from dwell.report.inputs import load_campaign, load_detections

    case_dir = str(case_dir)
    if detections is None:
        detections = load_detections(case_dir)
    notes: list[str] = []
    if campaign is None:
        campaign = load_campaign(case_dir, evicted_at, detections)
        if campaign is None:
            notes.append("Campaign reconstruction (dwell.correlate) was not available.")
    if detections is None or detections.num_rows == 0:
        notes.append("This case has no detections: has it been hunted? (run `dwell hunt`)")
    out = Path(out)
    run_args = dict(args or {"case": case_dir, "output": str(out),
                             "evicted_at": evicted_at})
    extra = {"output": str(out), "campaigns": len((campaign or {}).get("campaigns") or [])}
    try:
        write_manifest(case_dir, "report", run_args, extra, detections=detections)
        manifest = latest_manifest(case_dir, ("report",))
    except StoreError as exc:
        notes.append(f"The run manifest could not be stored: {exc}")
        manifest = build_manifest(case_dir, "report", run_args, extra, detections)
    hunt = latest_manifest(case_dir, ("hunt",))
    if manifest is not None and hunt is not None:
        manifest = {**manifest, "latest_hunt_manifest": hunt}
    with open_case(case_dir) as reader:
        context = build_context(reader, detections, campaign, evicted_at, manifest, notes)
    page = render_html(context)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def write_html_report(case: str | os.PathLike[str], out: Path, *,
                      campaigns: dict[str, Any] | None = None,
                      evicted_at: datetime | None = None) -> Path:
    """``write_report`` under the name ``dwell demo`` looks for; ``campaigns`` is the dict of
    ``dwell campaign --json`` (its ``evicted_at`` is used when none is given)."""
    if evicted_at is None and campaigns and isinstance(campaigns.get("evicted_at"), str):
        evicted_at = parse_utc(campaigns["evicted_at"], "evicted_at")
    return write_report(str(case), Path(out), evicted_at=evicted_at, campaign=campaigns)


def run_report(args: argparse.Namespace, ui: Ui) -> int:
    evicted_at = parse_utc(args.evicted_at, "--evicted-at time") if args.evicted_at else None
    out = Path(args.output)
    if out.exists() and not out.is_file():
        from dwell.errors import UsageError

        raise UsageError(f"{out} is not a regular file; pass -o FILE.html")
    path = write_report(args.case, out, evicted_at=evicted_at, args=vars(args))
    ui.info(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0
