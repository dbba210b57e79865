"""``dwell campaign``: reconstruct the intrusion campaigns of a case."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from dwell.cli.ingest_cmd import add_case_arg
from dwell.errors import UsageError

if TYPE_CHECKING:
    import argparse

    from dwell.cli._console import Ui

MAX_ROWS = 25


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    cmd = sub.add_parser(
        "campaign", parents=[common], help="reconstruct intrusion campaigns from a hunted case",
        description="Beachhead, spread path, accounts, exfiltration, impact, dwell time and "
        "whether the attacker is still present after --evicted-at. Run `dwell hunt` first so "
        "the case has detections.")
    add_case_arg(cmd)
    cmd.add_argument("--evicted-at", metavar="TIME",
                     help="when the attacker was declared gone (ISO 8601, UTC unless a zone "
                     "is given)")
    cmd.add_argument("--json", metavar="FILE", help="write the campaigns as JSON to FILE "
                     "('-' for stdout)")
    cmd.set_defaults(handler=run_campaign)


def run_campaign(args: argparse.Namespace, ui: Ui) -> int:
    from dwell.correlate import parse_when, reconstruct_case
    evicted = parse_when(args.evicted_at) if args.evicted_at else None
    if not Path(args.case).exists():
        raise UsageError(f"no case at {args.case}; create one with `dwell ingest PATH --case "
                         f"{args.case}` and hunt it with `dwell hunt --case {args.case}`")
    report = reconstruct_case(args.case, evicted)
    data = report.to_dict()
    if args.json == "-":
        print(json.dumps(data, indent=2))
        return 0
    if args.json:
        write_json(Path(args.json), data)
        ui.info(f"wrote {args.json}")
    render(data, ui)
    return 0


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def render(data: dict[str, Any], ui: Ui) -> None:
    """A readable summary of the ``CampaignReport.to_dict()`` object."""
    campaigns = data.get("campaigns") or []
    if not campaigns:
        ui.print("no campaign found: no burst of high-severity detections in this case "
                 "(did you run `dwell hunt`?)", markup=False)
        return
    ui.print(Text(f"{len(campaigns)} campaign(s), largest first", style="bold"))
    for n, camp in enumerate(campaigns, 1):
        _render_one(n, camp, ui)


def _render_one(n: int, camp: dict[str, Any], ui: Ui) -> None:
    beach = camp["beachhead"]
    ui.print()
    ui.print(Text(
        f"Campaign {n}: {len(camp['hosts'])} hosts, {len(camp['accounts'])} accounts, "
        f"{camp['first_seen']} .. {camp['last_seen']} ({camp['dwell_time_days']} days)",
        style="bold"))
    src = f" from {beach['reached_from']}" if beach.get("reached_from") else ""
    ui.print(f"beachhead: {beach['host']} at {beach['time']}{src}", markup=False)
    for ev in beach["evidence"][:3]:
        ui.print(f"  {ev['time']} {ev['evidence']}", markup=False)
    hosts = Table(title="spread", box=None, pad_edge=False, title_justify="left")
    for col in ("host", "first seen", "last seen", "reached from", "via", "account"):
        hosts.add_column(col)
    for h in camp["hosts"][:MAX_ROWS]:
        hosts.add_row(h["host"], h["first_seen"], h["last_seen"], h["reached_from"] or "-",
                      h["via"] or "-", h.get("account") or "-")
    ui.print(hosts)
    if len(camp["hosts"]) > MAX_ROWS:
        ui.print(f"... and {len(camp['hosts']) - MAX_ROWS} more hosts", markup=False)
    if camp.get("external_sources"):
        ui.print("attacker addresses and clients: " + ", ".join(camp["external_sources"]),
                 markup=False)
    if camp["accounts"]:
        ui.print("accounts: " + ", ".join(
            f"{a['account']} ({a['first_seen'][:10]}..{a['last_seen'][:10]})"
            for a in camp["accounts"]), markup=False)
    for title, key, field in (("impact", "impact", "kind"),
                              ("exfiltration", "exfiltration", "evidence")):
        items = camp[key]
        if items:
            ui.print(f"{title}:", markup=False)
            for item in items[:MAX_ROWS]:
                ui.print(f"  {item['time']} {item['host']}: {item[field]}", markup=False)
            if len(items) > MAX_ROWS:
                ui.print(f"  ... and {len(items) - MAX_ROWS} more", markup=False)
    still = camp["still_present"]
    if still["evicted_at"]:
        after = still["after_eviction"]
        verdict = "YES: attacker activity after the eviction" if still["verdict"] else \
            "no attacker activity after the eviction"
        ui.print(Text(f"still present after {still['evicted_at']}? {verdict}",
                      style="bold red" if still["verdict"] else "bold green"))
        for item in after[:10]:
            ui.print(f"  {item['time']} {item['host']}: {item['evidence']}", markup=False)
        if len(after) > 10:
            ui.print(f"  ... and {len(after) - 10} more", markup=False)
    if camp["caveats"]:
        ui.print(f"caveats ({len(camp['caveats'])}):", markup=False)
        for cav in camp["caveats"][:8]:
            ui.print(f"  {cav['message']}", markup=False)
        if len(camp["caveats"]) > 8:
            ui.print(f"  ... and {len(camp['caveats']) - 8} more (see --json)", markup=False)
