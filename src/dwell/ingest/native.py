"""The optional native fast path of ingest (``dwell.ingest._native``, C++ with RapidJSON).

One call turns an evtx-JSON record into its canonical row (see :func:`normalize.row_of`), or
answers None when the record is not the plain case, which then takes the Python path. Readers
convert whole runs of records into *blocks* (:class:`Blocks`): the rows column by column, as
the store's Arrow arrays want them, with no Python object per row. The matcher also builds its
per-event scan text with it. dwell works without it (no compiler at
install time, or ``DWELL_NATIVE=0``), only slower: the Python code is the reference, and the
tests compare the two.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from dwell.ingest.flatten import SYSTEM_ATTRS_PREFIXED
from dwell.schema import INT_TYPED, TYPED_FIELDS

#: The column kind of each position of a canonical row (fields JSON, the six system values,
#: the typed columns): "j" the fields JSON, "s" a text, "e" an int32, "i" an int64.
ROW_KINDS = "js" + "sss" + "ei" + "".join("i" if c in INT_TYPED else "s" for c in TYPED_FIELDS)

Convert = Callable[..., "tuple[Any, ...] | None"]
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
        #: ``run_arrow(matcher, offsets, data, validity, offset, length[, flat])``: ``run``
        #: over the buffers of an Arrow string array; with ``flat``, ((rows, rule indexes,
        #: matched offsets, matched data), other entries): the hits of the events it completed
        #: as buffers (int32s; the matched values as a string array's), ``run``'s entries for
        #: the others
        self.run_arrow: Callable[..., Any] = module.run_arrow


class Blocks:
    """Blocks of canonical rows (see ``Block`` in ``_native.cpp``): filled by the readers'
    conversions or from row tuples, taken as Arrow buffers by :func:`normalize.block_batch`."""

    def __init__(self, module: Any) -> None:
        #: ``new(kinds)`` -> an empty block (kinds: :data:`ROW_KINDS`)
        self.new: Callable[[str], Any] = module.block
        #: ``append(block, rows, positions)``: row tuples added
        self.append: Callable[[Any, list[Any], list[int]], None] = module.block_append
        #: ``extend(block, other)``: the other block's rows added
        self.extend: Callable[[Any, Any], None] = module.block_extend
        self.len: Callable[[Any], int] = module.block_len
        #: ``values(block, column)`` -> that column's values, as the rows held them
        self.values: Callable[[Any, int], list[Any]] = module.block_values
        self.positions: Callable[[Any], list[int]] = module.block_positions
        #: ``take(block)`` -> ([per column (null_count, validity, offsets, data, values)],
        #: positions as int64 bytes); the block is emptied
        self.take: Callable[[Any], tuple[list[Any], bytes]] = module.block_take
        #: ``convert_records(block, records, limit, ordinal)`` -> (count, declined, error,
        #: done): up to ``limit`` evtx records into the block, stopping at a declined one
        self.convert_records: Callable[[Any, Any, int, int], tuple[int, Any, Any, bool]] = \
            module.convert_records
        #: ``convert_lines(block, data, start, max_line, final, number, offset)`` -> (event,
        #: end, count): JSON Lines into the block, stopping after a line left to Python
        self.convert_lines: Callable[
            [Any, bytes, int, int, bool, int, int],
            tuple[tuple[int, int, int, int] | None, int, int]] = module.convert_lines_block


_DISABLED = os.environ.get("DWELL_NATIVE", "1") == "0"


def _load() -> tuple[Convert, ScanText, Automata, Matching, Blocks] | None:
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
    return (_native.convert, _native.scan_text, Automata(_native), Matching(_native),
            Blocks(_native))


_loaded = _load()
#: ``convert(text[, fallback_time])`` -> row tuple, or None to take the Python path for that
#: record; None itself when the module is absent.
convert: Convert | None = _loaded[0] if _loaded else None
#: blocks of canonical rows (None: rows are tuples, converted to Arrow in Python)
blocks: Blocks | None = _loaded[4] if _loaded else None
#: ``dwell.engine.matcher.scan_text`` natively (None for values it leaves to that function)
scan_text: ScanText | None = _loaded[1] if _loaded else None
#: the matcher's multi-pattern scanner (None: ahocorasick-rs / pyahocorasick then)
automata: Automata | None = _loaded[2] if _loaded else None
#: the matcher's buckets over stored event texts (None: the Python matcher alone)
matching: Matching | None = _loaded[3] if _loaded else None


def status() -> str:
    """For ``dwell --version``: which ingest path this installation uses."""
    if convert is not None:
        return "native (C++/RapidJSON)"
    if _DISABLED:
        return "pure Python (DWELL_NATIVE=0)"
    return "pure Python (the native module was not built: no C++ compiler at install time)"
