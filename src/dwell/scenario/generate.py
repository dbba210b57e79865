"""Generate a scenario's event logs and answer key, deterministically from a seed.

Attacker steps are expanded once (they are few); the benign background is generated one UTC
day at a time for every host and merged with them, so memory stays flat whatever the scale.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import TYPE_CHECKING

from dwell.scenario import background
from dwell.scenario._clock import DAY, HOUR, MINUTE, day_start, to_dt, weekday
from dwell.scenario._context import Ctx, Ev, ProcInfo
from dwell.scenario._writer import LogWriter, write_json_atomic
from dwell.scenario.actions import Wipe
from dwell.scenario.answer import AnswerKey, derive

if TYPE_CHECKING:
    from dwell.scenario.model import Cadence, Scenario

VARIANTS = ("albania", "harbor")


def scenario(variant: str) -> Scenario:
    """The scenario definition of ``variant``."""
    if variant == "albania":
        from dwell.scenario.albania import build
    elif variant == "harbor":
        from dwell.scenario.harbor import build
    else:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    return build()


def silences(scen: Scenario) -> dict[str, list[tuple[int, int]]]:
    """Per host, the intervals during which it logs nothing (wiped until rebuilt)."""
    rebuilt: dict[str, list[int]] = {}
    for milestone in scen.milestones:
        if milestone.kind == "rebuild":
            rebuilt.setdefault(milestone.host, []).append(milestone.time)
    out: dict[str, list[tuple[int, int]]] = {}
    for step in scen.steps:
        for action in step.actions:
            if isinstance(action, Wipe):
                start = step.time + int(action.at * 1_000_000)
                ends = sorted(t for t in rebuilt.get(action.host, []) if t > start)
                out.setdefault(action.host, []).append((start, ends[0] if ends else scen.end))
    return out


def _silent(windows: list[tuple[int, int]] | None, t: int) -> bool:
    return windows is not None and any(a <= t < b for a, b in windows)


def _write(writer: LogWriter, scen: Scenario, silent: dict[str, list[tuple[int, int]]],
           events: list[Ev]) -> None:
    for t, _, host, channel, record in events:
        if scen.start <= t < scen.end and not _silent(silent.get(host), t):
            writer.put(host, channel, record)


def cadence_times(cad: Cadence, day: int, tz_hours: int, rng: random.Random) -> list[int]:
    """Times on ``day`` (UTC midnight) when a bait with this cadence runs."""
    if (cad.start and day + DAY <= cad.start) or (cad.end and day >= cad.end):
        return []
    moment = to_dt(day)
    wd = weekday(day)
    every = cad.every
    due = (
        every == "daily"
        or (every == "weekdays" and wd < 5)
        or (every == "weekly" and wd == cad.weekday)
        or (every == "monthly" and moment.day == cad.day)
        or (every == "quarterly" and moment.day == cad.day and moment.month in (1, 4, 7, 10))
    )
    if not due or rng.random() >= cad.probability:
        return []
    jitter = rng.randint(-cad.jitter_minutes, cad.jitter_minutes) * MINUTE
    when = day + int(((cad.hour - tz_hours) % 24) * HOUR) + jitter + rng.randrange(0, 59_000_000)
    if (cad.start and when < cad.start) or (cad.end and when >= cad.end):
        return []
    return [when]


def _patch_day(day: int) -> bool:
    moment = to_dt(day)
    return weekday(day) == 2 and 9 <= moment.day <= 15


def generate(out_dir: Path, variant: str = "albania", *, seed: int = 7,
             scale: float = 1.0) -> AnswerKey:
    """Write ``out_dir/logs/<HOST>/<channel>.jsonl`` and ``answer_key.json``; return the key.

    ``scale`` multiplies the benign background volume (1.0 gives tens of thousands of events).
    """
    if scale < 0:
        raise ValueError(f"scale must be >= 0, got {scale}")
    scen = scenario(variant)
    out = Path(out_dir)
    seq = itertools.count()
    silent = silences(scen)
    cache: dict[tuple[str, str, int], ProcInfo] = {}

    attack: list[Ev] = []
    actx = Ctx(scen, random.Random(f"{seed}|{variant}|attack"), seed, attack, seq, cache)
    for step in sorted(scen.steps, key=lambda s: (s.time, s.id)):
        for action in step.actions:
            action.emit(actx, step.time)
    for milestone in scen.milestones:
        for action in milestone.actions:
            action.emit(actx, milestone.time)
    attack.sort(key=lambda ev: (ev[0], ev[1]))

    writer = LogWriter(out, variant, seed)
    try:
        carry: list[Ev] = []
        cursor = 0
        for day in range(day_start(scen.start), scen.end, DAY):
            nxt = day + DAY
            events = carry
            rng = random.Random(f"{seed}|{variant}|day|{day}")
            ctx = Ctx(scen, rng, seed, events, seq, cache)
            ctx.silent = silent
            ctx.scale = scale
            for host in scen.hosts:
                background.host_day(ctx, host, day, scale, scen.density, scen.tz_hours)
                if _patch_day(day):
                    local = rng.uniform(1.0, 4.5) - scen.tz_hours
                    background.patch_night(ctx, host, day + int(local * HOUR))
            for bait in scen.baits:
                for when in cadence_times(bait.cadence, day, scen.tz_hours, rng):
                    bait.run(ctx, when)
            while cursor < len(attack) and attack[cursor][0] < nxt:
                events.append(attack[cursor])
                cursor += 1
            # Generators may reach slightly back in time (an RDP 1149 precedes its logon),
            # so a day is written only once the next one has been generated.
            events.sort(key=lambda ev: (ev[0], ev[1]))
            split = next((i for i, ev in enumerate(events) if ev[0] >= day), len(events))
            carry = events[split:]
            _write(writer, scen, silent, events[:split])
        carry.sort(key=lambda ev: (ev[0], ev[1]))
        _write(writer, scen, silent, carry)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    key = derive(scen)
    write_json_atomic(out / "answer_key.json", key.to_dict())
    return key
