"""Canonical rows from flattened records: typed columns, the fields blob, group planning."""

from __future__ import annotations

import orjson

from dwell.ingest.flatten import flatten_evtx_json
from dwell.ingest.normalize import row_of, to_batch
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
