"""Turn flattened records into canonical event rows (an Arrow record batch per batch)."""

from __future__ import annotations

from datetime import UTC, datetime
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


def to_batch(
    records: Sequence[RawRecord], source_file: str, source_sha256: str
) -> pa.RecordBatch:
    """Canonical rows for ``records`` read from ``source_file``."""
    n = len(records)
    times: list[Any] = []
    hosts: list[Any] = []
    channels: list[Any] = []
    providers: list[Any] = []
    event_ids: list[int | None] = []
    record_ids: list[int | None] = []
    positions: list[int] = []
    blobs: list[str] = []
    typed: dict[str, list[Any]] = {name: [] for name in TYPED_FIELDS}
    typed_items = tuple(TYPED_FIELDS.items())
    dumps = orjson.dumps
    for rec in records:
        f = rec.fields
        times.append(f.get("TimeCreated"))
        host = f.get("Computer")
        hosts.append(host if isinstance(host, str) else None)
        channel = f.get("Channel")
        channels.append(channel if isinstance(channel, str) else None)
        provider = f.get("Provider_Name")
        providers.append(provider if isinstance(provider, str) else None)
        event_ids.append(to_int(f.get("EventID")))
        record_ids.append(to_int(f.get("EventRecordID")))
        positions.append(rec.pos)
        for column, names in typed_items:
            found = None
            for name in names:
                value = f.get(name)
                if value is not None and value != "" and value != "-":
                    found = value
                    break
            typed[column].append(found)
        blobs.append(dumps(f, option=orjson.OPT_NON_STR_KEYS).decode())
    event_arr = [e if e is not None and -(2**31) <= e < 2**31 else None for e in event_ids]
    columns: dict[str, pa.Array] = {
        "timestamp": _timestamps(times),
        "host": pa.array(hosts, pa.string()),
        "host_short": pa.array([normalize_host(h) for h in hosts], pa.string()),
        "channel": pa.array(channels, pa.string()),
        "provider": pa.array(providers, pa.string()),
        "event_id": pa.array(event_arr, pa.int32()),
        "record_id": pa.array(record_ids, pa.int64()),
        "data_type": pa.array([DATA_TYPE_EVTX] * n, pa.string()),
        "source_file": pa.array([source_file] * n, pa.string()),
        "source_sha256": pa.array([source_sha256] * n, pa.string()),
        "source_pos": pa.array(positions, pa.int64()),
    }
    for column, values in typed.items():
        if column in INT_TYPED:
            columns[column] = pa.array([to_int(v) for v in values], pa.int64())
        else:
            columns[column] = pa.array([_text(v) for v in values], pa.string())
    columns["fields"] = pa.array(blobs, pa.string())
    return pa.RecordBatch.from_arrays([columns[name] for name in EVENT_SCHEMA.names],
                                      schema=EVENT_SCHEMA)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)
