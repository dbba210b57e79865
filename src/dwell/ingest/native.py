"""The optional native fast path of ingest (``dwell.ingest._native``, C++ with RapidJSON).

One call turns an evtx-JSON record into its canonical row (see :func:`normalize.row_of`), or
answers None when the record is not the plain case, which then takes the Python path; the
matcher also builds its per-event scan text with it. dwell works without it (no compiler at
install time, or ``DWELL_NATIVE=0``), only slower: the Python code is the reference, and the
tests compare the two.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from dwell.ingest.flatten import SYSTEM_ATTRS_PREFIXED
from dwell.schema import TYPED_FIELDS

Convert = Callable[..., "tuple[Any, ...] | None"]
#: ``convert_many(records, limit)`` -> (rows, declined, error, done): see ``_native.cpp``
ConvertMany = Callable[[Any, int], "tuple[list[Any], list[tuple[int, Any]], Any, bool]"]
#: ``convert_list(texts)`` -> (rows of the converted, indexes of the declined)
ConvertList = Callable[[list[Any]], "tuple[list[Any], list[int]]"]
#: ``convert_lines(data, max_line, final, first_number, first_offset)`` -> (rows, numbers,
#: events, consumed, count): see ``_native.cpp``
ConvertLines = Callable[[bytes, int, bool, int, int],
                        "tuple[list[Any], list[int], list[tuple[int, int, int, int]], int, int]"]
#: ``columns(rows, kinds)`` -> per column (null_count, validity, offsets, data, odd), or None
Columns = Callable[[list[Any], str], "list[Any] | None"]
#: ``scan_text(view, names)`` -> the matcher's folded scan text, or None
ScanText = Callable[[Any, "tuple[str, ...] | None"], "str | None"]


class Automata:
    """Aho-Corasick over UTF-8 (the matcher's needles): each word found is reported once."""

    def __init__(self, module: Any) -> None:
        self.build: Callable[[list[str]], Any] = module.automaton
        #: ``find(automaton, text)`` -> indexes of the words in ``text``
        self.find: Callable[[Any, str], list[int]] = module.find
        #: ``scan_find(automaton, view, names)`` -> ``find`` in ``scan_text(view, names)``,
        #: or None when scan_text would be None
        self.scan_find: Callable[[Any, Any, Any], list[int] | None] = module.scan_find


class Matching:
    """The matcher's buckets natively: whole batches of stored ``fields`` texts matched with no
    Python object built for most events (see the section in ``_native.cpp``)."""

    def __init__(self, module: Any) -> None:
        #: ``matcher()`` -> an empty registry of buckets
        self.matcher: Callable[[], Any] = module.matcher
        #: ``bucket()`` -> an empty bucket (matches nothing until set)
        self.bucket: Callable[[], Any] = module.bucket
        #: ``set_bucket(bucket, scan, automaton, keywords, split, targets, always, rules,
        #: programs)``
        self.set_bucket: Callable[..., None] = module.set_bucket
        #: ``register(matcher, channel, event_id, bucket)``
        self.register: Callable[[Any, str | None, int, Any], None] = module.register
        #: ``capture(matcher, names)``: per rule index, the fields a hit keeps the values of
        self.capture: Callable[[Any, list[tuple[str, ...]]], None] = module.capture
        #: ``run(matcher, texts)`` -> [(index, rule indexes | None, unknown slots | None,
        #: matched values per hit as JSON texts | None)]
        self.run: Callable[[Any, list[Any]], list[tuple[int, Any, Any, Any]]] = module.run
        #: ``run_arrow(matcher, offsets, data, validity, offset, length)``: ``run`` over the
        #: buffers of an Arrow string array
        self.run_arrow: Callable[..., list[tuple[int, Any, Any, Any]]] = module.run_arrow


_DISABLED = os.environ.get("DWELL_NATIVE", "1") == "0"


def _load() -> tuple[Convert, ConvertMany, ScanText, Automata, Matching, ConvertList,
                     Columns, ConvertLines] | None:
    if _DISABLED:
        return None
    try:
        from dwell.ingest import _native  # type: ignore[attr-defined]
    except ImportError:
        return None
    typed = list(TYPED_FIELDS)
    candidates = {
        name: (typed.index(column), rank)
        for column, names in TYPED_FIELDS.items()
        for rank, name in enumerate(names)
    }
    _native.configure(candidates, len(typed), dict(SYSTEM_ATTRS_PREFIXED))
    return (_native.convert, _native.convert_many, _native.scan_text, Automata(_native),
            Matching(_native), _native.convert_list, _native.columns,
            _native.convert_lines)


_loaded = _load()
#: ``convert(text[, fallback_time])`` -> row tuple, or None to take the Python path for that
#: record; None itself when the module is absent.
convert: Convert | None = _loaded[0] if _loaded else None
#: ``convert`` of each of a list of texts: (rows of the converted, indexes of the declined)
convert_list: ConvertList | None = _loaded[5] if _loaded else None
#: ``convert`` of each line of a block of JSON Lines
convert_lines: ConvertLines | None = _loaded[7] if _loaded else None
#: canonical rows as Arrow buffers, column by column (see ``normalize.to_batch``)
columns: Columns | None = _loaded[6] if _loaded else None
#: the same over up to ``limit`` records of an ``evtx`` records_json() iterator
convert_many: ConvertMany | None = _loaded[1] if _loaded else None
#: ``dwell.engine.matcher.scan_text`` natively (None for values it leaves to that function)
scan_text: ScanText | None = _loaded[2] if _loaded else None
#: the matcher's multi-pattern scanner (None: ahocorasick-rs / pyahocorasick then)
automata: Automata | None = _loaded[3] if _loaded else None
#: the matcher's buckets over stored event texts (None: the Python matcher alone)
matching: Matching | None = _loaded[4] if _loaded else None


def status() -> str:
    """For ``dwell --version``: which ingest path this installation uses."""
    if convert is not None:
        return "native (C++/RapidJSON)"
    if _DISABLED:
        return "pure Python (DWELL_NATIVE=0)"
    return "pure Python (the native module was not built: no C++ compiler at install time)"
