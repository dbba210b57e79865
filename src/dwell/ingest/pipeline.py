"""Paths -> units (files and archive members) -> readers -> canonical batches -> a Sink.

The pipeline never touches the store: the caller hands it a picklable ``sink_factory`` (the
CLI passes the store's part writer), so sources can be read in worker processes.
"""

from __future__ import annotations

import contextlib
import gc
import gzip
import hashlib
import io
import os
import zipfile
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

import pyarrow as pa

from dwell.ingest import native
from dwell.ingest.normalize import block_batch, row_of, to_batch
from dwell.ingest.reader import Item, RawRecord, RowBatch, RowBlock, sniff
from dwell.ingest.readers.evtx import EvtxReader
from dwell.ingest.readers.json import JsonReader, looks_like_events
from dwell.model import IngestWarning, SourceSummary

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
_HASH_CHUNK = 4 * 1024 * 1024


class Sink(Protocol):
    """Where one source's canonical batches go."""

    def write(self, batch: pa.RecordBatch) -> None:
        """Take a batch of canonical rows."""
        ...

    def close(self) -> list[tuple[str, int]]:
        """Finish; return the part files written as ``[(name, rows)]``."""
        ...

    def abort(self) -> None: ...


@dataclass(frozen=True, slots=True)
class IngestOptions:
    """Bounds and tuning of one ingest run."""

    batch_rows: int = 5_000
    max_member_bytes: int = 512 * 1024 * 1024  # an EVTX inside an archive is read into memory
    max_stream_bytes: int = 64 * 1024 * 1024 * 1024  # decompressed bytes of one archive member
    max_warnings_per_source: int = 1000
    evtx_threads: int = 0


@dataclass(frozen=True, slots=True)
class Unit:
    """One thing to read: a file, a gzip file's content, or a zip archive member."""

    path: str  # as the user will see it: "dir/x.evtx", "a.zip!x.evtx"
    fs_path: str
    member: str | None = None
    compression: str | None = None
    explicit: bool = False

    def __reduce__(self) -> tuple[type[Unit], tuple[object, ...]]:
        # (results of thousands of small files go back from the workers: keep pickling cheap)
        return Unit, (self.path, self.fs_path, self.member, self.compression, self.explicit)


@dataclass(slots=True)
class SourceResult:
    """What reading one unit produced."""

    unit: Unit
    summary: SourceSummary | None = None
    warnings: list[IngestWarning] = field(default_factory=list)
    skipped: str | None = None  # reason the unit is not a log at all
    sha256: str | None = None

    def __reduce__(self) -> tuple[type[SourceResult], tuple[object, ...]]:
        return SourceResult, (self.unit, self.summary, self.warnings, self.skipped, self.sha256)


def discover(paths: Iterable[str], *, expand: bool = True) -> Iterator[Unit | IngestWarning]:
    """Expand files, directories (recursively, sorted) and archives into units.

    With ``expand=False`` files are not opened here: each is yielded as one plain unit, to be
    passed to :func:`hash_file` later (by the threads that hash them anyway).
    """
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for root, dirs, files in os.walk(path, onerror=None, followlinks=False):
                dirs.sort()  # roots come from the normalised `path`: join them as strings
                for name in sorted(files):
                    found = os.path.join(root, name)
                    if expand:
                        yield from _file_units(found, explicit=False)
                    else:
                        yield Unit(found, found)
        elif path.exists():
            if expand:
                yield from _file_units(given, explicit=True)
            else:
                yield Unit(given, given, explicit=True)
        else:
            yield IngestWarning(given, "no such file or directory")


def hash_file(
    file: Unit, options: IngestOptions
) -> list[tuple[Unit, tuple[str, int]] | IngestWarning]:
    """A file found by ``discover(expand=False)`` as its units with their SHA-256 and size.

    A plain file (the usual case) is opened and read once; archives are expanded first.
    """
    try:
        fh = open(file.fs_path, "rb")  # noqa: SIM115 - closed below, errors told apart
    except OSError as exc:
        return [IngestWarning(file.fs_path, f"unreadable: {exc.strerror or exc}")]
    try:
        with fh:
            chunk = fh.read(_HASH_CHUNK)
            if not chunk.startswith((ZIP_MAGIC, GZIP_MAGIC)):
                return [(Unit(file.fs_path, file.fs_path, explicit=file.explicit),
                         _digest(fh, chunk))]
    except OSError as exc:
        return [IngestWarning(file.fs_path, f"unreadable: {exc}")]
    out: list[tuple[Unit, tuple[str, int]] | IngestWarning] = []
    for unit in _file_units(file.fs_path, file.explicit):
        if isinstance(unit, IngestWarning):
            out.append(unit)
            continue
        try:
            out.append((unit, hash_unit(unit, options)))
        except OSError as exc:
            out.append(IngestWarning(unit.path, f"unreadable: {exc}"))
    return out


def _file_units(path: str, explicit: bool) -> Iterator[Unit | IngestWarning]:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        yield IngestWarning(path, f"unreadable: {exc.strerror or exc}")
        return
    if head.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as archive:
                for info in sorted(archive.infolist(), key=lambda i: i.filename):
                    if not info.is_dir():
                        yield Unit(f"{path}!{info.filename}", path, info.filename, "zip", explicit)
        except (zipfile.BadZipFile, OSError) as exc:
            yield IngestWarning(path, f"damaged zip archive skipped: {exc}")
    elif head.startswith(GZIP_MAGIC):
        yield Unit(path, path, None, "gzip", explicit)
    else:
        yield Unit(path, path, None, None, explicit)


class _Capped(io.RawIOBase):
    """A read-only view of a decompressing stream that refuses to inflate past ``cap`` bytes."""

    def __init__(self, inner: BinaryIO, cap: int, name: str) -> None:
        self._inner = inner
        self._cap = cap
        self._name = name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        if self._inner.tell() > self._cap:
            raise OSError(f"{self._name}: decompressed size exceeds the limit of {self._cap} bytes")
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._inner.seek(offset, whence)

    def tell(self) -> int:
        return self._inner.tell()

    def close(self) -> None:
        self._inner.close()
        super().close()


def open_unit(unit: Unit, options: IngestOptions) -> BinaryIO:
    """A seekable binary stream of the unit's (decompressed) content."""
    if unit.compression is None:
        return open(unit.fs_path, "rb")
    inner: BinaryIO
    if unit.compression == "gzip":
        inner = gzip.open(unit.fs_path, "rb")  # type: ignore[assignment]  # noqa: SIM115
    else:
        archive = zipfile.ZipFile(unit.fs_path)
        assert unit.member is not None
        inner = archive.open(unit.member)  # type: ignore[assignment]
    return io.BufferedReader(_Capped(inner, options.max_stream_bytes, unit.path), 1024 * 1024)


def hash_unit(unit: Unit, options: IngestOptions) -> tuple[str, int]:
    """SHA-256 and size of the unit's content."""
    with open_unit(unit, options) as fh:
        return _digest(fh, b"")


def _digest(fh: BinaryIO, head: bytes) -> tuple[str, int]:
    """SHA-256 and size of ``head`` (already read from ``fh``) and the rest of ``fh``."""
    digest = hashlib.sha256(head)
    size = len(head)
    while chunk := fh.read(_HASH_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def read_source(
    unit: Unit, sha256: str, size: int, builder: _Builder, options: IngestOptions
) -> SourceResult:
    """Read one unit into ``sink``; every problem becomes a warning, nothing is raised."""
    result = SourceResult(unit, sha256=sha256)
    try:
        fh = open_unit(unit, options)
    except OSError as exc:
        result.warnings.append(IngestWarning(unit.path, f"unreadable: {exc}"))
        return result
    with fh:
        try:
            head = fh.read(8192)  # EVTX chunk signature sits at 4096
            fh.seek(0)
        except OSError as exc:
            result.warnings.append(IngestWarning(unit.path, f"unreadable: {exc}"))
            return result
        if not head:
            result.skipped = "empty file"
            return result
        reader = sniff(head)
        if isinstance(reader, JsonReader) and not looks_like_events(fh, reader):
            reader = None
        if reader is None:
            result.skipped = "not a log format dwell reads (EVTX, evtx-JSON, flat JSON, ECS)"
            return result
        if isinstance(reader, EvtxReader):
            reader = EvtxReader(options.evtx_threads,
                                disk_path=unit.fs_path if unit.compression is None else None)
            if unit.compression is not None:
                data = fh.read(options.max_member_bytes + 1)
                if len(data) > options.max_member_bytes:
                    result.warnings.append(IngestWarning(
                        unit.path,
                        f"EVTX inside an archive is larger than {options.max_member_bytes} "
                        "bytes; extract it and ingest the file",
                    ))
                    return result
                fh = io.BytesIO(data)
        records, nwarn = _pump(
            reader.read(fh, unit.path), unit, sha256, builder, options, result.warnings
        )
    result.summary = SourceSummary(
        path=unit.path, sha256=sha256, size=size, format=reader.name, records=records,
        warnings=nwarn,
    )
    return result


@dataclass(slots=True)
class GroupResult:
    """Several sources read into one sink: committed together, atomically."""

    key: str
    sources: list[SourceResult]
    parts: list[tuple[str, int]] = field(default_factory=list)
    extras: dict[str, object] = field(default_factory=dict)  # what the sink adds


def read_group(
    jobs: Sequence[tuple[Unit, str, int]],
    sink_factory: Callable[[str], Sink],
    options: IngestOptions,
) -> GroupResult:
    """Read several units into one sink (so small files share Parquet parts)."""
    key = hashlib.sha256("".join(sha for _, sha, _ in jobs).encode()).hexdigest()
    # Records are acyclic dicts: the cyclic collector only costs time here (about a third).
    with no_cyclic_gc():
        return _read_group(key, jobs, sink_factory, options)


@contextlib.contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector (for loops that make many acyclic objects)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _read_group(
    key: str,
    jobs: Sequence[tuple[Unit, str, int]],
    sink_factory: Callable[[str], Sink],
    options: IngestOptions,
) -> GroupResult:
    sink = sink_factory(key)
    builder = _Builder(sink, options.batch_rows)
    results: list[SourceResult] = []
    try:
        for unit, sha, size in jobs:
            try:
                results.append(read_source(unit, sha, size, builder, options))
            except Exception as exc:  # a reader bug must not end the run: report, go on
                results.append(SourceResult(unit, sha256=sha, warnings=[
                    IngestWarning(unit.path, f"internal error, file skipped: {exc!r}")]))
        builder.flush()
        parts = sink.close()
    except BaseException:
        sink.abort()
        raise
    for result in results:
        if result.summary is not None and result.summary.sha256 in builder.span:
            first, last = builder.span[result.summary.sha256]
            result.summary = replace(result.summary, first=first, last=last)
    return GroupResult(key, results, parts, dict(getattr(sink, "extras", {})))


class _Builder:
    """Collects rows of several sources into batches of ``batch_rows`` for one sink: in a
    native block when the module is there (no Python object per row), else as row tuples."""

    def __init__(self, sink: Sink, batch_rows: int) -> None:
        self.sink = sink
        self.batch_rows = batch_rows
        self.block = native.blocks.new(native.ROW_KINDS) if native.blocks is not None else None
        self.count = 0  # rows held
        self.sources: list[tuple[str, str, int]] = []  # (file, sha, rows), in order
        self.rows: list[tuple[Any, ...]] = []
        self.positions: list[int] = []
        self.span: dict[str, tuple[int, int]] = {}

    def _took(self, file: str, sha: str, count: int) -> None:
        if self.sources and self.sources[-1][:2] == (file, sha):
            self.sources[-1] = (file, sha, self.sources[-1][2] + count)
        else:
            self.sources.append((file, sha, count))
        self.count += count
        if self.count >= self.batch_rows:
            self.flush()

    def add(self, record: RawRecord, file: str, sha: str) -> None:
        self.add_rows(RowBatch([row_of(record.event())], [record.pos]), file, sha)

    def add_rows(self, batch: RowBatch, file: str, sha: str) -> None:
        if self.block is not None:
            assert native.blocks is not None
            native.blocks.append(self.block, batch.rows, batch.positions)
        else:
            self.rows.extend(batch.rows)
            self.positions.extend(batch.positions)
        self._took(file, sha, len(batch.rows))

    def add_block(self, item: RowBlock, file: str, sha: str) -> None:
        if self.block is None:  # (blocks come from the native module: it is there)
            self.add_rows(RowBatch(item.rows(), item.positions()), file, sha)
            return
        assert native.blocks is not None
        native.blocks.extend(self.block, item.block)
        self._took(file, sha, len(item))

    def flush(self) -> None:
        if not self.count:
            return
        if self.block is not None:
            table = block_batch(self.block, self.sources)
        else:
            files = [file for file, _, n in self.sources for _ in range(n)]
            shas = [sha for _, sha, n in self.sources for _ in range(n)]
            table = to_batch(self.rows, self.positions, files, shas)
        spans = pa.Table.from_batches([table]).group_by("source_sha256").aggregate(
            [("timestamp", "min"), ("timestamp", "max")]
        )
        for sha, lo, hi in zip(
            spans.column("source_sha256").to_pylist(),
            spans.column("timestamp_min").cast(pa.int64()).to_pylist(),
            spans.column("timestamp_max").cast(pa.int64()).to_pylist(),
            strict=True,
        ):
            if lo is None:
                continue
            old = self.span.get(sha)
            self.span[sha] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))
        self.sink.write(table)
        self.count = 0
        self.sources = []
        self.rows = []
        self.positions = []


def _pump(
    items: Iterator[Item | IngestWarning],
    unit: Unit,
    sha256: str,
    builder: _Builder,
    options: IngestOptions,
    warnings: list[IngestWarning],
) -> tuple[int, int]:
    records = 0
    nwarn = 0
    add = builder.add
    path = unit.path
    try:
        for item in items:
            if isinstance(item, RowBlock):
                builder.add_block(item, path, sha256)
                records += len(item)
            elif isinstance(item, RowBatch):
                builder.add_rows(item, path, sha256)
                records += len(item.rows)
            elif isinstance(item, RawRecord):
                add(item, path, sha256)
                records += 1
            else:
                nwarn += 1
                if nwarn <= options.max_warnings_per_source:
                    warnings.append(item)
                elif nwarn == options.max_warnings_per_source + 1:
                    warnings.append(IngestWarning(
                        unit.path, f"more than {options.max_warnings_per_source} warnings; "
                        "further ones are counted but not stored"))
    except OSError as exc:
        nwarn += 1
        warnings.append(IngestWarning(unit.path, f"read stopped early: {exc}"))
    return records, nwarn


def plan_groups(
    jobs: Sequence[tuple[Unit, str, int]], target_bytes: int = 64 * 1024 * 1024,
    max_files: int = 2000,
) -> list[list[tuple[Unit, str, int]]]:
    """Bundle jobs into groups of about ``target_bytes`` (a big file is a group of its own)."""
    return list(iter_groups(jobs, target_bytes, max_files))


def iter_groups(
    jobs: Iterable[tuple[Unit, str, int]], target_bytes: int = 64 * 1024 * 1024,
    max_files: int = 2000, *, first_bytes: int | None = None, total_bytes: int | None = None,
    workers: int = 1,
) -> Iterator[list[tuple[Unit, str, int]]]:
    """:func:`plan_groups` as a stream: each group is yielded as soon as it is complete.

    ``first_bytes``: the first groups grow from that size up to ``target_bytes`` (doubling), so
    that every worker starts early; ``total_bytes`` (with ``workers``): the last groups shrink
    towards ``first_bytes`` as the input runs out, so that the workers finish together.
    """
    current: list[tuple[Unit, str, int]] = []
    size = 0
    grouped = 0
    count = 0

    def limit() -> int:
        bound = target_bytes
        if first_bytes is not None:
            bound = min(bound, first_bytes << min(count, 32))
            if total_bytes is not None:
                left = (total_bytes - grouped) // (2 * max(1, workers))
                bound = min(bound, max(first_bytes, left))
        return bound

    for job in jobs:
        if current and (size + job[2] > limit() or len(current) >= max_files):
            yield current
            grouped += size
            count += 1
            current, size = [], 0
        current.append(job)
        size += job[2]
    if current:
        yield current


def run_groups(
    groups: Iterable[Sequence[tuple[Unit, str, int]]],
    sink_factory: Callable[[str], Sink],
    options: IngestOptions,
    workers: int = 1,
) -> Iterator[GroupResult]:
    """Read groups of units, in ``workers`` processes; yield each group's result when done.

    ``groups`` may be a lazy stream (e.g. hashed while earlier groups are read): a group is
    handed to a worker as soon as it arrives, with at most two per worker waiting.
    """
    if workers <= 1:
        for group in groups:
            yield read_group(group, sink_factory, options)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        # Start every worker now, before the caller's stream starts threads of its own.
        for warm in [pool.submit(int) for _ in range(workers)]:
            warm.result()
        pending: dict[Future[GroupResult], Sequence[tuple[Unit, str, int]]] = {}
        stream = iter(groups)
        more = True
        while True:
            while more and len(pending) < 2 * workers:
                try:
                    group = next(stream)
                except StopIteration:
                    more = False
                else:
                    pending[pool.submit(read_group, group, sink_factory, options)] = group
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                group = pending.pop(future)
                try:
                    yield future.result()
                except Exception as exc:  # a crashed worker loses only its group, reported
                    yield GroupResult("", [SourceResult(unit, sha256=sha, warnings=[
                        IngestWarning(unit.path, f"internal error, file skipped: {exc!r}")])
                        for unit, sha, _ in group])
