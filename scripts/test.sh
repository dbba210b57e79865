#!/usr/bin/env bash
# Lint, type-check, check the layering, then run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
ruff check src tests bench
mypy
lint-imports
python -m pytest -q "$@"
