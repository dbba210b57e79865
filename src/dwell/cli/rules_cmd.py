"""``dwell rules check`` and ``dwell rules fetch``."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from dwell.rules.fetch import SIGMA_SHA256, SIGMA_URL, fetch_rules

if TYPE_CHECKING:
    import argparse

    from dwell.cli._console import Ui


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    rules = sub.add_parser("rules", parents=[common], help="check or fetch Sigma rules")
    inner = rules.add_subparsers(dest="rules_command", metavar="ACTION")
    check = inner.add_parser("check", parents=[common],
                             help="load and compile rules; list every unusable one")
    check.add_argument("paths", nargs="*", metavar="PATH")
    check.add_argument("--no-pack", action="store_true", help="leave out dwell's own rule pack")
    check.set_defaults(handler=run_check)
    fetch = inner.add_parser("fetch", parents=[common],
                             help="download a pinned SigmaHQ release and verify its SHA-256")
    fetch.add_argument("--dest", default="sigma-rules", metavar="DIR")
    fetch.add_argument("--url", default=SIGMA_URL)
    fetch.add_argument("--sha256", default=SIGMA_SHA256, metavar="HEX")
    fetch.set_defaults(handler=run_fetch)
    rules.set_defaults(handler=lambda args, ui: (rules.print_help(), 2)[1])


def run_check(args: argparse.Namespace, ui: Ui) -> int:
    from dwell.rules import load_rules
    ruleset = load_rules(args.paths, include_pack=not args.no_pack, use_cache=False)
    for issue in ruleset.errors:
        ui.print(str(issue), markup=False)
    kinds = Counter(r.type or "detection" for r in ruleset.rules)
    ui.print(f"{ruleset.files} files: {len(ruleset.rules)} rules usable ("
             + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
             + f"), {len(ruleset.errors)} unusable", markup=False)
    return 3 if ruleset.errors else 0


def run_fetch(args: argparse.Namespace, ui: Ui) -> int:
    folder, count = fetch_rules(args.dest, url=args.url, sha256=args.sha256)
    ui.print(f"{count} rule files verified and unpacked into {folder}; use "
             f"`dwell hunt --rules {folder}`", markup=False)
    return 0
