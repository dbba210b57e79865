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


@pytest.fixture(autouse=True)
def _rule_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compiled rule sets are cached per test run, never in the user's ~/.cache."""
    monkeypatch.setenv("DWELL_CACHE_DIR", str(tmp_path_factory.mktemp("rule-cache")))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"shared data missing at {SHARED}: CI must provide ../shared/data")
        pytest.skip(f"shared data not present at {SHARED}")
    return SHARED


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """In CI (``CI`` set) a skipped test is a failed test: nothing may skip silently there."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run every test: {report.longrepr}"
