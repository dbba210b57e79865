"""Terminal output: rich when on a terminal, plain text otherwise."""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console


class Ui:
    """Where the CLI writes: results to stdout, messages and progress to stderr."""

    def __init__(self, quiet: bool = False, verbose: bool = False) -> None:
        self.quiet = quiet
        self.verbose = verbose
        # Off a terminal rich would assume 80 columns: use $COLUMNS, else 100, so tables of
        # times and host names are not cut when output goes to a file or a pipe.
        width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS") or 100)
        self.out = Console(file=sys.stdout, highlight=False, soft_wrap=True, width=width)
        self.err = Console(file=sys.stderr, highlight=False, stderr=True, soft_wrap=True)

    @property
    def interactive(self) -> bool:
        return self.err.is_terminal and not self.quiet

    def info(self, message: str) -> None:
        if not self.quiet:
            self.err.print(message, markup=False)

    def detail(self, message: str) -> None:
        if self.verbose:
            self.err.print(message, markup=False)

    def error(self, message: str) -> None:
        self.err.print(f"dwell: error: {message}", markup=False)

    def print(self, *objects: Any, **kwargs: Any) -> None:
        self.out.print(*objects, **kwargs)
