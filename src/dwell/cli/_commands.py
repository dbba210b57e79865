"""The registry of subcommands: each module adds its parser and handler."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dwell.cli import ingest_cmd

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    Register = Callable[[argparse._SubParsersAction[argparse.ArgumentParser],
                         argparse.ArgumentParser], None]

REGISTRY: list[Register] = [ingest_cmd.register]
