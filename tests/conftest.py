"""Shared fixtures: paths to the shared corpora and small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared" / "data").resolve()
ATTACK_SAMPLES = SHARED / "evtx-attack-samples"
SIGMA = SHARED / "sigma"
REGRESSION = SIGMA / "regression_data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"shared data missing at {SHARED}: CI must provide ../shared/data")
        pytest.skip(f"shared data not present at {SHARED}")
    return SHARED
