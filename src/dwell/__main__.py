"""``python -m dwell``."""

from __future__ import annotations

from dwell.cli import run

run()
