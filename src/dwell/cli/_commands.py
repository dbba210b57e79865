"""The registry of subcommands: each ``*_cmd`` module adds its parsers and handlers."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    Register = Callable[[Any, argparse.ArgumentParser], None]

#: Command modules in help order; each has ``register(subparsers, common_parent_parser)``.
MODULES = (
    "ingest_cmd",
    "hunt_cmd",
    "rules_cmd",
    "campaign_cmd",
    "demo_cmd",
    "timeline_cmd",
    "report_cmd",
)


def _load() -> list[Register]:
    found: list[Register] = []
    for name in MODULES:
        try:
            module = importlib.import_module(f"dwell.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"dwell.cli.{name}":
                raise
            continue
        found.append(module.register)
    return found


REGISTRY: list[Register] = _load()
