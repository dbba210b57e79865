"""Run manifests: what a hunt/report/timeline run was made from, so it can be reproduced.

A manifest is one JSON file, ``<case>/manifests/<kind>-<UTC time>.json``, written atomically
(temporary file, fsync, rename). It records the dwell and library versions, the arguments,
the rule set (hash and counts, from ``extra["rules"]`` when the caller knows the whole set, and
the rules that fired from the detections), every source with its SHA-256, and the warnings.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import orjson

from dwell.errors import StoreError
from dwell.report.text import iso_utc
from dwell.store.query import catalog_facts, read_catalog

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pyarrow as pa

MANIFESTS: Final = "manifests"
MAX_WARNINGS: Final = 500
_KIND = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items() if not callable(v)}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def _versions() -> dict[str, str]:
    from importlib import metadata

    from dwell import __version__

    found = {"dwell": __version__, "python": sys.version.split()[0],
             "platform": platform.platform()}
    for dist in ("duckdb", "pyarrow", "pysigma", "Jinja2", "graphviz", "vl-convert-python"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return found


def rules_fired(detections: pa.Table | None) -> dict[str, Any]:
    """Hash and counts of the rules that produced ``detections``."""
    if detections is None or detections.num_rows == 0:
        return {"rules": 0, "detections": 0, "sha256": None, "by_level": {}}
    # distinct (file, hash) pairs and counts per level, grouped by Arrow (detections are many)
    distinct = detections.group_by(["rule_file", "rule_sha256"]).aggregate([])
    pairs = sorted({
        (str(f or ""), str(h or ""))
        for f, h in zip(distinct.column("rule_file").to_pylist(),
                        distinct.column("rule_sha256").to_pylist(), strict=True)
    })
    digest = hashlib.sha256("\n".join(f"{h}  {f}" for f, h in pairs).encode()).hexdigest()
    levels: dict[str, int] = {}
    counted = detections.group_by("level").aggregate([("level", "count")])
    for level, count in zip(counted.column("level").to_pylist(),
                            counted.column("level_count").to_pylist(), strict=True):
        levels[str(level)] = levels.get(str(level), 0) + int(count)
    return {"rules": len(pairs), "detections": detections.num_rows, "sha256": digest,
            "by_level": dict(sorted(levels.items()))}


def _case_facts(case_dir: str, facts: Mapping[str, Any] | None) -> dict[str, Any]:
    if facts is None:
        with read_catalog(case_dir) as db:
            facts = catalog_facts(db)
    warnings = list(facts["warnings"])
    return {
        "events": int(facts["events"]),
        "sources": list(facts["sources"]),
        "warnings": {
            "count": len(warnings),
            "list": [_json_safe(dict(zip(("file", "record", "line", "offset", "reason"), row,
                                         strict=True)))
                     for row in warnings[:MAX_WARNINGS]],
        },
    }


def build_manifest(case_dir: str, kind: str, args: Mapping[str, Any] | None,
                   extra: Mapping[str, Any] | None = None,
                   detections: pa.Table | None = None,
                   facts: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The manifest dict (see the module docstring); nothing is written. ``facts``: the
    case's :func:`~dwell.store.query.catalog_facts` when the caller has them (else read)."""
    now = datetime.now(UTC)
    manifest: dict[str, Any] = {
        "kind": kind,
        "created": now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "case": str(Path(case_dir).resolve()),
        "versions": _versions(),
        "argv": [str(a) for a in sys.argv],
        "args": _json_safe(dict(args or {})),
        "rules_fired": rules_fired(detections),
    }
    manifest.update(_case_facts(case_dir, facts))
    for key, value in (extra or {}).items():
        manifest[str(key)] = _json_safe(value)
    return manifest


def write_manifest(case_dir: str | os.PathLike[str], kind: str,
                   args: Mapping[str, Any] | None, extra: Mapping[str, Any] | None = None,
                   *, detections: pa.Table | None = None,
                   facts: Mapping[str, Any] | None = None) -> Path:
    """Write a manifest under ``case_dir/manifests/`` atomically; returns its path."""
    if not _KIND.match(kind):
        raise ValueError(f"bad manifest kind {kind!r}: lower-case letters, digits, - and _")
    manifest = build_manifest(str(case_dir), kind, args, extra, detections, facts)
    folder = Path(case_dir) / MANIFESTS
    stamp = manifest["created"].replace("-", "").replace(":", "")
    target = folder / f"{kind}-{stamp}.json"
    tmp = folder / f".{target.name}.tmp"
    try:
        folder.mkdir(exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(orjson.dumps(manifest, option=orjson.OPT_INDENT_2).decode())
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write the run manifest {target}: {exc}") from exc
    return target


def latest_manifest(case_dir: str | os.PathLike[str],
                    kinds: tuple[str, ...] | None = None) -> dict[str, Any] | None:
    """The most recent manifest (optionally of ``kinds``), or None."""
    folder = Path(case_dir) / MANIFESTS
    if not folder.is_dir():
        return None
    best: tuple[str, Path] | None = None
    for path in folder.glob("*.json"):
        kind, _, stamp = path.stem.rpartition("-")
        if kinds and kind not in kinds:
            continue
        if best is None or stamp > best[0]:
            best = (stamp, path)
    if best is None:
        return None
    try:
        data: dict[str, Any] = json.loads(best[1].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data
