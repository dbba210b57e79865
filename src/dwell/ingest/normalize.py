"""Turn flattened records into canonical event rows (an Arrow record batch per batch)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from dwell.schema import (
    DATA_TYPE_EVTX,
    EVENT_SCHEMA,
    INT_TYPED,
    TYPED_FIELDS,
    normalize_host,
    to_int,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from dwell.ingest.reader import RawRecord

_TS_TYPE = pa.timestamp("ns", tz="UTC")


def parse_time(value: Any) -> int | None:
    """Epoch nanoseconds (UTC) from an ISO-8601 string or epoch number; None if unusable.

    Times without a zone are taken as UTC, which is what Windows ``SystemTime`` means.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        # Guess the unit from the magnitude: ns, us, ms or s since the epoch.
        number = abs(value)
        if number > 1e17:
            scale = 1
        elif number > 1e14:
            scale = 1_000
        elif number > 1e11:
            scale = 1_000_000
        else:
            scale = 1_000_000_000
        return int(value * scale)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    frac_ns = 0
    # datetime handles microseconds only: keep the nanosecond digits ourselves.
    head, dot, rest = text.partition(".")
    if dot:
        digits = ""
        for ch in rest:
            if not ch.isdigit():
                break
            digits += ch
        tail = rest[len(digits):]
        frac_ns = int((digits + "000000000")[:9]) if digits else 0
        text = head + tail
    try:
        stamp = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    seconds = int(stamp.timestamp())
    return seconds * 1_000_000_000 + frac_ns


def _timestamps(values: list[Any]) -> pa.Array:
    if all(isinstance(v, str) for v in values):
        try:
            return pc.cast(pa.array(values, pa.string()), _TS_TYPE)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    return pa.array([parse_time(v) for v in values], pa.int64()).cast(_TS_TYPE)


#: flat field name -> (typed column, priority): first candidate in TYPED_FIELDS wins.
_FIELD_COLUMN: dict[str, tuple[str, int]] = {
    name: (column, rank)
    for column, names in TYPED_FIELDS.items()
    for rank, name in enumerate(names)
}
_CANDIDATES: frozenset[str] = frozenset(_FIELD_COLUMN)
_EMPTY = ("", "-", None)


def to_batch(
    records: Sequence[RawRecord],
    source_files: Sequence[str],
    source_shas: Sequence[str],
) -> pa.RecordBatch:
    """Canonical rows for ``records`` (with the file and sha256 each was read from)."""
    count = len(records)
    times: list[Any] = []
    hosts: list[Any] = []
    channels: list[Any] = []
    providers: list[Any] = []
    event_ids: list[Any] = []
    record_ids: list[Any] = []
    positions: list[int] = []
    blobs: list[bytes] = []
    # Typed values are sparse: fill pre-sized columns only where a record has a candidate.
    typed: dict[str, list[Any]] = {name: [None] * count for name in TYPED_FIELDS}
    field_column = _FIELD_COLUMN
    candidates = _CANDIDATES
    dumps = orjson.dumps
    option = orjson.OPT_NON_STR_KEYS
    for index, rec in enumerate(records):
        f = rec.fields
        get = f.get
        times.append(get("TimeCreated"))
        hosts.append(get("Computer"))
        channels.append(get("Channel"))
        providers.append(get("Provider_Name"))
        event_ids.append(get("EventID"))
        record_ids.append(get("EventRecordID"))
        positions.append(rec.pos)
        names = f.keys() & candidates  # a C-level set intersection: few names survive
        if names:
            found: dict[str, tuple[int, Any]] = {}
            for key in names:
                value = f[key]
                if value not in _EMPTY:
                    column, rank = field_column[key]
                    old = found.get(column)
                    if old is None or rank < old[0]:
                        found[column] = (rank, value)
            for column, (_, value) in found.items():
                typed[column][index] = value
        try:
            blobs.append(dumps(f))
        except TypeError:  # a non-string key: rare, and slower to encode
            blobs.append(dumps(f, option=option))
    host_strings = _strings(hosts)
    columns: dict[str, pa.Array] = {
        "timestamp": _timestamps(times),
        "host": pa.array(host_strings, pa.string()),
        "host_short": pa.array([_short_host(h) for h in host_strings], pa.string()),
        "channel": pa.array(_strings(channels), pa.string()),
        "provider": pa.array(_strings(providers), pa.string()),
        "event_id": pa.array(_ints(event_ids, 2**31), pa.int32()),
        "record_id": pa.array(_ints(record_ids, 2**63), pa.int64()),
        "data_type": pa.array([DATA_TYPE_EVTX] * count, pa.string()),
        "source_file": pa.array(source_files, pa.string()),
        "source_sha256": pa.array(source_shas, pa.string()),
        "source_pos": pa.array(positions, pa.int64()),
    }
    for column, values in typed.items():
        if column in INT_TYPED:
            columns[column] = pa.array(_ints(values, 2**63), pa.int64())
        else:
            columns[column] = _text_array(values)
    columns["fields"] = pa.array(blobs, pa.binary()).cast(pa.string())
    return pa.RecordBatch.from_arrays([columns[name] for name in EVENT_SCHEMA.names],
                                      schema=EVENT_SCHEMA)


@lru_cache(maxsize=65_536)
def _short_host(name: str | None) -> str | None:
    return normalize_host(name)


def _strings(values: list[Any]) -> list[str | None]:
    return [v if isinstance(v, str) or v is None else str(v) for v in values]


def _ints(values: list[Any], bound: int) -> list[int | None]:
    out: list[int | None] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        if type(v) is not int:
            v = to_int(v)
        out.append(v if v is not None and -bound <= v < bound else None)
    return out


def _text_array(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values, pa.string())  # the usual case: str or None only
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([_text(v) for v in values], pa.string())


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)
