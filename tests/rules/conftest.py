from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _rule_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DWELL_CACHE_DIR", str(tmp_path_factory.mktemp("rule-cache")))


def write_rule(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path
