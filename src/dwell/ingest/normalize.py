"""Turn flattened records into canonical event rows (an Arrow record batch per batch)."""

from __future__ import annotations

import itertools
from array import array
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from dwell.ingest import native
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
        try:
            nanos = int(value * scale)
        except (OverflowError, ValueError):  # inf, nan
            return None
        return nanos if -(2**63) <= nanos < 2**63 else None
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


#: the typed columns, in schema order (the tail of a canonical row)
TYPED_COLUMNS: tuple[str, ...] = tuple(TYPED_FIELDS)
#: flat field name -> (index into TYPED_COLUMNS, priority): first candidate in TYPED_FIELDS wins.
_FIELD_COLUMN: dict[str, tuple[int, int]] = {
    name: (TYPED_COLUMNS.index(column), rank)
    for column, names in TYPED_FIELDS.items()
    for rank, name in enumerate(names)
}
_CANDIDATES: frozenset[str] = frozenset(_FIELD_COLUMN)
_EMPTY = ("", "-", None)
_SYSTEM = 7  # fields JSON + the six system values come before the typed ones


def row_of(fields: dict[str, Any]) -> tuple[Any, ...]:
    """The canonical row of one flattened event.

    ``(fields JSON, TimeCreated, Computer, Channel, Provider_Name, EventID, EventRecordID,
    *typed)``: one value per :data:`TYPED_COLUMNS`, the first candidate name of that column
    (in ``TYPED_FIELDS`` order) with a value other than empty or ``-``. The native fast path
    (:mod:`dwell.ingest.native`) builds the same tuple from the record's JSON text.
    """
    get = fields.get
    typed: list[Any] = [None] * len(TYPED_COLUMNS)
    names = fields.keys() & _CANDIDATES  # a C-level set intersection: few names survive
    if names:
        found: dict[int, tuple[int, Any]] = {}
        field_column = _FIELD_COLUMN
        for key in names:
            value = fields[key]
            if value not in _EMPTY:
                column, rank = field_column[key]
                old = found.get(column)
                if old is None or rank < old[0]:
                    found[column] = (rank, value)
        for column, (_, value) in found.items():
            typed[column] = value
    try:
        blob = orjson.dumps(fields)
    except TypeError:  # a non-string key: rare, and slower to encode
        blob = orjson.dumps(fields, option=orjson.OPT_NON_STR_KEYS)
    return (blob, get("TimeCreated"), get("Computer"), get("Channel"), get("Provider_Name"),
            get("EventID"), get("EventRecordID"), *typed)


def to_batch(
    rows: Sequence[tuple[Any, ...]],
    positions: Sequence[int],
    source_files: Sequence[str],
    source_shas: Sequence[str],
) -> pa.RecordBatch:
    """Canonical rows (:func:`row_of` tuples) as a batch, with each one's position in its file
    and the file and sha256 it was read from."""
    built = _native_arrays(rows)
    if built is None:
        built = _python_arrays(rows)
    return _batch(built, pa.array(positions, pa.int64()), pa.array(source_files, pa.string()),
                  pa.array(source_shas, pa.string()))


def block_batch(block: Any, sources: Sequence[tuple[str, str, int]]) -> pa.RecordBatch:
    """The rows of a native block (see :class:`native.Blocks`) as a batch, emptying it;
    ``sources``: (file, sha256, rows) of its rows, in order."""
    assert native.blocks is not None
    taken, positions = native.blocks.take(block)
    count = len(positions) // 8
    files = pa.array(list(itertools.chain.from_iterable(
        itertools.repeat(file, n) for file, _, n in sources)), pa.string())
    shas = pa.array(list(itertools.chain.from_iterable(
        itertools.repeat(sha, n) for _, sha, n in sources)), pa.string())
    if len(files) != count:
        raise ValueError(f"block_batch: {len(files)} source rows for a block of {count}")
    return _batch(_block_arrays(taken, count),
                  pa.Array.from_buffers(pa.int64(), count, [None, pa.py_buffer(positions)]),
                  files, shas)


def _batch(arrays: list[pa.Array], positions: pa.Array, files: pa.Array, shas: pa.Array
           ) -> pa.RecordBatch:
    fields, times, hosts, channels, providers, event_ids, record_ids, *typed = arrays
    columns: dict[str, pa.Array] = {
        "timestamp": times,
        "host": hosts,
        "host_short": _short_hosts(hosts),
        "channel": channels,
        "provider": providers,
        "event_id": event_ids,
        "record_id": record_ids,
        "data_type": pa.array([DATA_TYPE_EVTX] * len(positions), pa.string()),
        "source_file": files,
        "source_sha256": shas,
        "source_pos": positions,
        **dict(zip(TYPED_COLUMNS, typed, strict=True)),
        "fields": fields,
    }
    return pa.RecordBatch.from_arrays([columns[name] for name in EVENT_SCHEMA.names],
                                      schema=EVENT_SCHEMA)


def _python_arrays(rows: Sequence[tuple[Any, ...]]) -> list[pa.Array]:
    """The arrays of the rows' positions, in row order (fields JSON first): the reference."""
    values: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else \
        [()] * (_SYSTEM + len(TYPED_COLUMNS))
    return [_column(position, list(column)) for position, column in enumerate(values)]


def _column(position: int, values: list[Any]) -> pa.Array:
    """The array of one row position's values, the Python way."""
    if position == 0:
        return _json_column(values)
    if position == 1:
        return _timestamps(values)
    if position < 5:
        return pa.array(_strings(values), pa.string())
    if position == 5:
        return _ints(values, 2**31, pa.int32())
    if position == 6:
        return _ints(values, 2**63, pa.int64())
    if TYPED_COLUMNS[position - _SYSTEM] in INT_TYPED:
        return _ints(values, 2**63, pa.int64())
    return _text_array(values)


def _native_arrays(rows: Sequence[tuple[Any, ...]]) -> list[pa.Array] | None:
    """:func:`_python_arrays` through a native block (no per-column lists of Python values);
    None without the native module."""
    if native.blocks is None or not rows:
        return None
    block = native.blocks.new(native.ROW_KINDS)
    native.blocks.append(block, list(rows), list(range(len(rows))))
    taken, _ = native.blocks.take(block)
    return _block_arrays(taken, len(rows))


def _block_arrays(taken: list[Any], count: int) -> list[pa.Array]:
    """The arrays of a taken block: from its buffers, or (a column holding values of another
    type than its own) from its values the Python way."""
    arrays: list[pa.Array] = []
    for position, (nulls, validity, offsets, data, values) in enumerate(taken):
        if values is not None:
            arrays.append(_column(position, values))
            continue
        kind = native.ROW_KINDS[position]
        bitmap = None if validity is None else pa.py_buffer(validity)
        if kind in "sj":
            array = pa.Array.from_buffers(pa.string(), count, [
                bitmap, pa.py_buffer(offsets), pa.py_buffer(data)], null_count=nulls)
        else:
            array = pa.Array.from_buffers(pa.int64(), count, [bitmap, pa.py_buffer(data)],
                                          null_count=nulls)
            if kind == "e":
                array = array.cast(pa.int32())
        if position == 1:
            array = _timestamps(array.to_pylist()) if nulls else _cast_times(array)
        arrays.append(array)
    return arrays


def _cast_times(texts: pa.Array) -> pa.Array:
    """A time column of texts (no nulls) the way :func:`_timestamps` converts its list."""
    try:
        return pc.cast(texts, _TS_TYPE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _timestamps(texts.to_pylist())


def _short_hosts(hosts: pa.Array) -> pa.Array:
    """``host_short`` of a host column: each distinct name shortened once."""
    if hosts.null_count == len(hosts):
        return pa.nulls(len(hosts), pa.string())
    encoded = hosts.dictionary_encode()
    names = encoded.dictionary.to_pylist()
    short = pa.array([_short_host(name) for name in names], pa.string())
    return short.take(encoded.indices)


def _json_column(blobs: Sequence[bytes]) -> pa.Array:
    """The ``fields`` column from the rows' JSON: one join and one offsets array.

    (``pa.array`` over the bytes objects grows its buffer step by step; with Arrow's allocator
    that touched fresh memory, zeroed by the kernel, about a tenth of ingest time.) The JSON
    is valid UTF-8: orjson writes it, or the native path from validated text.
    """
    data = b"".join(blobs)
    if len(data) >= 2**31:  # beyond 32-bit offsets: let Arrow split it
        return pa.array(blobs, pa.binary()).cast(pa.string())
    offsets = array("i", itertools.accumulate(map(len, blobs), initial=0))
    return pa.Array.from_buffers(pa.string(), len(blobs),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(data)])


@lru_cache(maxsize=65_536)
def _short_host(name: str | None) -> str | None:
    return normalize_host(name)


_STR_OR_NONE = frozenset({str, type(None)})


def _strings(values: Sequence[Any]) -> Sequence[str | None]:
    if _STR_OR_NONE.issuperset(map(type, values)):  # the usual case: checked in one pass
        return values
    return [v if isinstance(v, str) or v is None else str(v) for v in values]


_INT_OR_NONE = frozenset({int, type(None)})


def _ints(values: Sequence[Any], bound: int, type_: pa.DataType) -> pa.Array:
    """An integer column: ints in ``[-bound, bound)`` kept, anything else converted or null."""
    if values.count(None) == len(values):
        return pa.nulls(len(values), type_)
    if _INT_OR_NONE.issuperset(map(type, values)):  # the usual case: checked in bulk
        try:
            array = pa.array(values, pa.int64())
        except (OverflowError, pa.ArrowInvalid):
            pass  # beyond int64: the loop below nulls it
        else:
            if bound < 2**63 and array.null_count < len(array):
                outside = pc.or_(pc.less(array, -bound), pc.greater_equal(array, bound))
                array = pc.if_else(outside, pa.scalar(None, pa.int64()), array)
            return array.cast(type_)
    out: list[int | None] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        if type(v) is not int:
            v = to_int(v)
        out.append(v if v is not None and -bound <= v < bound else None)
    return pa.array(out, type_)


def _text_array(values: Sequence[Any]) -> pa.Array:
    if values.count(None) == len(values):  # most typed columns of most batches
        return pa.nulls(len(values), pa.string())
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
