"""Canonical rows from flattened records: typed columns, the fields blob, group planning."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dwell.ingest import native
from dwell.ingest.flatten import flatten_evtx_json
from dwell.ingest.normalize import (
    _SYSTEM,
    TYPED_COLUMNS,
    _native_arrays,
    _python_arrays,
    block_batch,
    row_of,
    to_batch,
)
from dwell.ingest.pipeline import Unit, iter_groups, plan_groups


def _rows(*fields: dict[str, object]) -> list[dict[str, object]]:
    rows = [row_of(dict(f)) for f in fields]
    batch = to_batch(rows, list(range(1, len(rows) + 1)), ["f"] * len(rows), ["s"] * len(rows))
    return batch.to_pylist()


def test_typed_columns_take_the_first_non_empty_candidate_as_text() -> None:
    rows = _rows(
        {"EventID": 1, "User": "-", "SubjectUserName": "alice", "Image": "", "NewProcessName": 7},
        {"EventID": 2, "Hashes": ["a", "b"], "ServiceName": True},
        {"EventID": 3},
    )
    assert rows[0]["user"] == "alice"
    assert rows[0]["image"] == "7"
    assert rows[1]["hashes"] == "a b"
    assert rows[1]["service_name"] == "True"
    assert rows[1]["user"] is None
    assert all(rows[2][c] is None for c in ("user", "image", "hashes", "logon_type"))


def test_int_columns_accept_numbers_and_numeric_text_only() -> None:
    rows = _rows(
        {"EventID": 1, "LogonType": "0x3", "SourcePort": " 445 ", "DestinationPort": True},
        {"EventID": 2**40, "LogonType": 10, "SourcePort": "n/a", "DestinationPort": "80"},
    )
    assert [r["logon_type"] for r in rows] == [3, 10]
    assert [r["src_port"] for r in rows] == [445, None]
    assert [r["dst_port"] for r in rows] == [None, 80]
    assert [r["event_id"] for r in rows] == [1, None]  # beyond int32


def test_fields_blob_keeps_every_value_even_with_non_string_keys() -> None:
    rows = _rows({"EventID": 4, "Data": [1, None]}, {"EventID": 5, 6: "six"})
    assert orjson.loads(str(rows[0]["fields"])) == {"EventID": 4, "Data": [1, None]}
    assert orjson.loads(str(rows[1]["fields"])) == {"EventID": 5, "6": "six"}


def test_system_attributes_flatten_under_prefixed_names() -> None:
    doc = {"Event": {"System": {
        "Provider": {"#attributes": {"Name": "P", "Guid": "G"}},
        "EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 7045},
        "TimeCreated": {"#attributes": {"SystemTime": "2020-01-01T00:00:00Z"}},
        "Correlation": {"#attributes": {"ActivityID": "A"}},
        "Security": None,
        "Execution": {"#attributes": {"ProcessID": 4, "ThreadID": 8}},
    }, "EventData": {"Image": "x.exe"}}}
    assert flatten_evtx_json(doc) == {
        "Provider_Name": "P", "Provider_Guid": "G", "Qualifiers": 16384, "EventID": 7045,
        "TimeCreated": "2020-01-01T00:00:00Z", "ActivityID": "A", "Security": None,
        "Execution_ProcessID": 4, "Execution_ThreadID": 8, "Image": "x.exe",
    }


def test_iter_groups_streams_the_same_groups_as_plan_groups() -> None:
    jobs = [(Unit(f"f{i}", f"f{i}"), f"{i:064x}", size) for i, size in enumerate([5, 5, 20, 1, 1])]
    pulled: list[int] = []

    def stream():  # type: ignore[no-untyped-def]
        for i, job in enumerate(jobs):
            pulled.append(i)
            yield job

    groups = iter_groups(stream(), target_bytes=10)
    first = next(groups)
    assert [u.path for u, _, _ in first] == ["f0", "f1"]
    assert pulled == [0, 1, 2]  # the first group left before the rest was read
    assert [first, *groups] == plan_groups(jobs, target_bytes=10)


# --- the native column builder gives the Python arrays ------------------------------------

_VALUES = st.one_of(
    st.none(), st.text(max_size=12), st.integers(min_value=-(2**65), max_value=2**65),
    st.booleans(), st.floats(allow_nan=False), st.lists(st.text(max_size=3), max_size=2),
    st.sampled_from(["2020-01-01T00:00:00.123456789Z", "2021-13-01", " 0x1F ", "-", "é\u0000x"]),
)
_ROW = st.lists(_VALUES, min_size=_SYSTEM + len(TYPED_COLUMNS),
                max_size=_SYSTEM + len(TYPED_COLUMNS)).map(
    lambda values: (repr(values[0]).encode(), *values[1:]))


@settings(max_examples=300, deadline=None)
@given(st.lists(_ROW, min_size=1, max_size=12))
def test_native_arrays_equal_the_python_arrays(rows: list[tuple[object, ...]]) -> None:
    native_arrays = _native_arrays(rows)
    assert native_arrays is not None  # the module is built in CI (see test_native)
    python = _python_arrays(rows)
    assert [a.type for a in native_arrays] == [a.type for a in python]
    for got, want in zip(native_arrays, python, strict=True):
        assert got.equals(want), (got, want)


def test_plain_rows_become_a_batch_through_a_block() -> None:
    row = row_of({"EventID": 4624, "TimeCreated": "2022-07-15T10:00:00Z", "Computer": "ws1.corp",
                  "Channel": "Security", "LogonType": 3, "TargetUserName": "bob"})
    batch = to_batch([row, row], [1, 2], ["a.evtx", "a.evtx"], ["s", "s"]).to_pylist()
    assert batch[1]["host_short"] == "WS1"
    assert batch[1]["logon_type"] == 3
    assert batch[1]["target_user"] == "bob"
    assert str(batch[1]["timestamp"]) == "2022-07-15 10:00:00+00:00"
    assert native.blocks is not None
    block = native.blocks.new(native.ROW_KINDS)
    native.blocks.append(block, [row, row], [3, 4])
    taken = block_batch(block, [("b.evtx", "s2", 1), ("c.evtx", "s3", 1)]).to_pylist()
    assert [(r["source_file"], r["source_sha256"], r["source_pos"]) for r in taken] == [
        ("b.evtx", "s2", 3), ("c.evtx", "s3", 4)]
    assert [{k: v for k, v in r.items() if not k.startswith("source")} for r in taken] == [
        {k: v for k, v in r.items() if not k.startswith("source")} for r in batch]
    native.blocks.append(block, [row], [5])
    with pytest.raises(ValueError, match="2 source rows for a block of 1"):
        block_batch(block, [("b.evtx", "s2", 2)])


def test_times_beyond_the_timestamp_range_are_null_not_a_crash() -> None:
    rows = _rows({"EventID": 1, "TimeCreated": 2**64 - 1},
                 {"EventID": 2, "TimeCreated": float("inf")},
                 {"EventID": 3, "TimeCreated": 1_600_000_000})
    assert [r["timestamp"] is None for r in rows] == [True, True, False]
