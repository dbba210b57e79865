"""Fixtures of the report tests: the synthetic cases of ``report_case``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from report_case import build_case

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="session")
def plain_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_case(tmp_path_factory.mktemp("plain"))


@pytest.fixture(scope="session")
def hostile_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_case(tmp_path_factory.mktemp("hostile"), hostile=True)
