"""Packaged presentation data: timeliner messages and ATT&CK tactics (``report/data/*.yaml``)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

_TACTIC_TAG = re.compile(r"^attack\.([a-z_\-]+)$")
_TECHNIQUE_TAG = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$", re.IGNORECASE)


def _load(name: str) -> Any:
    text = resources.files("dwell.report").joinpath("data", name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


@dataclass(frozen=True, slots=True)
class Tactic:
    """One ATT&CK tactic: Sigma tag key, id, display name, campaign phase, kill-chain rank."""

    key: str
    id: str
    name: str
    phase: str
    rank: int


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    color: str


@functools.cache
def tactics() -> dict[str, Tactic]:
    """Tactics by Sigma tag key (``lateral_movement``), in kill-chain order."""
    data = _load("attack.yaml")["tactics"]
    return {
        key: Tactic(key, str(v["id"]), str(v["name"]), str(v["phase"]), rank)
        for rank, (key, v) in enumerate(data.items())
    }


@functools.cache
def phases() -> tuple[Phase, ...]:
    return tuple(Phase(str(p["name"]), str(p["color"])) for p in _load("attack.yaml")["phases"])


@functools.cache
def timeliner() -> dict[str, Any]:
    data: dict[str, Any] = _load("timeliner.yaml")["data_types"]
    return data


def tactic_of(tag: str) -> Tactic | None:
    """The tactic a Sigma tag names (``attack.lateral_movement`` or ``attack.lateral-movement``)."""
    match = _TACTIC_TAG.match(tag.strip().lower())
    if not match:
        return None
    return tactics().get(match.group(1).replace("-", "_"))


def technique_of(tag: str) -> str | None:
    """``T1021.001`` from ``attack.t1021.001``."""
    match = _TECHNIQUE_TAG.match(tag.strip())
    return match.group(1).upper() if match else None
