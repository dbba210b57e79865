"""``dwell ingest`` and ``dwell info``."""

from __future__ import annotations

import functools
import json
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dwell.errors import UsageError
from dwell.ingest.pipeline import (
    GroupResult,
    IngestOptions,
    Sink,
    Unit,
    discover,
    hash_file,
    iter_groups,
    no_cyclic_gc,
    run_groups,
)
from dwell.model import IngestWarning
from dwell.report.text import iso_utc
from dwell.store import CaseWriter, PartWriter, open_case

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator

    from dwell.cli._console import Ui

DEFAULT_CASE = "dwell-case"


def add_case_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--case", default=DEFAULT_CASE, metavar="DIR",
                        help=f"case directory (default: ./{DEFAULT_CASE})")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    ingest = sub.add_parser("ingest", parents=[common], help="read event logs into a case",
                            description="Read EVTX, evtx-JSON, flat JSON and ECS logs (files, "
                            "directories, .gz and .zip) into a case store.")
    ingest.add_argument("paths", nargs="+", metavar="PATH")
    add_case_arg(ingest)
    ingest.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: number of CPUs)")
    ingest.set_defaults(handler=run_ingest)

    info = sub.add_parser("info", parents=[common], help="what a case holds")
    add_case_arg(info)
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(handler=run_info)


@dataclass(slots=True)
class IngestReport:
    """What one ingest run did."""

    files: int = 0
    records: int = 0
    bytes: int = 0
    duplicates: int = 0
    skipped: int = 0
    warnings: list[IngestWarning] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        rate = self.records / self.seconds if self.seconds else 0.0
        return (
            f"ingested {self.files} files, {self.records} events "
            f"({self.bytes / 1e6:.1f} MB) in {self.seconds:.1f} s ({rate:,.0f} events/s); "
            f"{self.duplicates} already in the case, {self.skipped} not logs, "
            f"{len(self.warnings)} warnings"
        )


class Sources:
    """The evidence under ``paths``, found and hashed in a background thread as soon as this
    is made: a caller with other work first (loading rules) lets hashing start meanwhile.

    hashlib and file reads release the GIL, so the hashing runs alongside Python work.
    """

    def __init__(self, paths: list[str], options: IngestOptions) -> None:
        self.units: list[Unit] = []
        self.sizes: list[int] = []
        self.warnings: list[IngestWarning] = []
        self._options = options
        self._found = threading.Event()
        self._stop = threading.Event()
        self._hashed: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, args=(list(paths),),
                                        name="dwell-hash", daemon=True)
        self._thread.start()

    def _run(self, paths: list[str]) -> None:
        try:
            for item in discover(paths, expand=False):  # files are opened when hashed
                if isinstance(item, IngestWarning):
                    self.warnings.append(item)
                else:
                    self.units.append(item)
            self.sizes = [_size(unit) for unit in self.units]
            self._found.set()
            for unit in self.units:
                if self._stop.is_set():
                    break
                for hashed in hash_file(unit, self._options):
                    self._hashed.put(hashed)
        except BaseException as exc:  # (handed to the reader of the results)
            self._hashed.put(_Failed(exc))
        finally:
            self._found.set()
            self._hashed.put(_DONE)

    def found(self) -> tuple[list[Unit], list[int], list[IngestWarning]]:
        """The units found (and their sizes on disk) and the paths' warnings."""
        self._found.wait()
        return self.units, self.sizes, self.warnings

    def close(self) -> None:
        """Stop hashing after the current file (the results are no longer wanted)."""
        self._stop.set()

    def hashed(self) -> Iterator[tuple[Unit, tuple[str, int]] | IngestWarning]:
        """Each unit with its (SHA-256, size), or a warning, in the order found."""
        while True:
            item = self._hashed.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class _Failed:
    error: BaseException


_DONE = object()


def default_options(jobs: int) -> IngestOptions:
    """Ingest options for ``jobs`` worker processes (at least one: else a usage error)."""
    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    return IngestOptions(evtx_threads=0 if jobs == 1 else 1)


def ingest_paths(
    paths: list[str],
    case: str,
    ui: Ui,
    jobs: int = 1,
    options: IngestOptions | None = None,
    sink_factory: Callable[[str, str], Sink] | None = None,
    on_group: Callable[[GroupResult], None] | None = None,
    sources: Sources | None = None,
) -> IngestReport:
    """Ingest ``paths`` into ``case``; every problem is stored as a warning.

    ``sink_factory(case, key)`` replaces the store's part writer (e.g. to hunt while reading);
    ``on_group`` sees every committed group (with the sink's ``extras``); ``sources``: the
    paths' :class:`Sources`, made (and hashing) earlier.
    """
    defaults = default_options(jobs)  # (checks jobs)
    options = options or defaults
    report = IngestReport()
    started = time.perf_counter()
    sources = sources or Sources(paths, options)
    try:
        return _ingest(sources, case, ui, jobs, options, sink_factory, on_group, report, started)
    finally:
        sources.close()  # (a failed ingest leaves no thread hashing on)


def _ingest(
    sources: Sources, case: str, ui: Ui, jobs: int, options: IngestOptions,
    sink_factory: Callable[[str, str], Sink] | None,
    on_group: Callable[[GroupResult], None] | None, report: IngestReport, started: float,
) -> IngestReport:
    with CaseWriter(case) as writer, no_cyclic_gc():  # thousands of acyclic results
        units, sizes, warnings = sources.found()
        report.warnings.extend(warnings)
        if report.warnings:
            writer.add_warnings(report.warnings)
        seen = writer.known_hashes()
        estimate = sum(sizes)
        target = max(4 << 20, min(64 << 20, estimate // (4 * jobs) + 1))
        factory = functools.partial(sink_factory or PartWriter, str(writer.case))
        progress = _progress(ui)
        task = progress.add_task("ingest", total=estimate or 1, files=0, records=0, rate="")
        # Groups are read while later files are still being hashed.
        groups = iter_groups(_new_jobs(sources, writer, seen, report), target,
                             first_bytes=4 << 20, total_bytes=estimate, workers=jobs)
        with progress:
            for group in run_groups(groups, factory, options, workers=min(jobs, len(units))):
                _commit_group(writer, group, report, ui)
                if on_group is not None:
                    on_group(group)
                elapsed = max(time.perf_counter() - started, 1e-9)
                progress.update(task, completed=report.bytes, files=report.files,
                                records=report.records,
                                rate=f"{report.records / elapsed:,.0f} rec/s "
                                     f"{report.bytes / elapsed / 1e6:,.1f} MB/s")
    report.seconds = time.perf_counter() - started
    return report


def _new_jobs(
    sources: Sources, writer: CaseWriter, seen: set[str], report: IngestReport,
) -> Iterator[tuple[Unit, str, int]]:
    """The hashed units not already in the case, in order."""
    for item in sources.hashed():
        if isinstance(item, IngestWarning):
            report.warnings.append(item)
            writer.add_warnings([item])
            continue
        found, (sha, size) = item
        if size and sha in seen:  # empty files are never sources: report each
            report.duplicates += 1
            continue
        seen.add(sha)
        yield found, sha, size


def _size(unit: Unit) -> int:
    """The unit's size on disk (a progress estimate: archives are counted once per member)."""
    try:
        return os.stat(unit.fs_path).st_size if unit.compression is None else 0
    except OSError:
        return 0


def _commit_group(writer: CaseWriter, group: GroupResult, report: IngestReport, ui: Ui) -> None:
    committed = []
    for result in group.sources:
        unit = result.unit
        warnings = list(result.warnings)
        if result.summary is not None:
            committed.append((result.summary, warnings))
            report.files += 1
            report.records += result.summary.records
            report.bytes += result.summary.size
            ui.detail(f"{unit.path}: {result.summary.records} events")
        elif result.skipped is not None and not unit.explicit:
            report.skipped += 1
            writer.add_skipped(unit.path, result.skipped)
            ui.detail(f"{unit.path}: skipped, {result.skipped}")
        else:
            if result.skipped is not None:
                warnings.append(IngestWarning(unit.path, result.skipped))
            writer.add_warnings(warnings)
        report.warnings.extend(warnings)
    writer.commit_sources(group.key, committed, group.parts)


def _progress(ui: Ui) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(),
        TextColumn("{task.fields[files]} files {task.fields[records]:,} records"),
        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
        console=ui.err, disable=not ui.interactive, transient=True,
    )


def run_ingest(args: argparse.Namespace, ui: Ui) -> int:
    report = ingest_paths(args.paths, args.case, ui, jobs=args.jobs)
    for warning in report.warnings[:20]:
        ui.info(f"warning: {warning.where()}: {warning.reason}")
    if len(report.warnings) > 20:
        ui.info(f"... and {len(report.warnings) - 20} more (`dwell info --case {args.case}`)")
    ui.print(report.line(), markup=False)
    return 3 if report.warnings else 0


def case_info(case: str) -> dict[str, Any]:
    """The ``dwell info --json`` object."""
    with open_case(case) as reader:
        events = reader.sql("SELECT count(*) FROM events").fetchone()
        span = reader.sql(
            "SELECT min(timestamp), max(timestamp) FROM events WHERE timestamp IS NOT NULL"
        ).fetchone()
        hosts = reader.sql(
            "SELECT coalesce(host_short, '?'), count(*) FROM events GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
        channels = reader.sql(
            "SELECT coalesce(channel, '?'), count(*) FROM events GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
        sources = reader.sql("SELECT count(*), coalesce(sum(size), 0) FROM sources").fetchone()
        formats = reader.sql(
            "SELECT format, count(*) FROM sources GROUP BY 1 ORDER BY 1"
        ).fetchall()
        warnings = reader.sql(
            'SELECT file, record, line, "offset", reason FROM warnings ORDER BY file, record, line'
        ).fetchall()
        skipped = reader.sql("SELECT count(*) FROM skipped").fetchone()
    assert events and span and sources and skipped
    return {
        "case": str(case),
        "events": int(events[0]),
        "sources": int(sources[0]),
        "bytes": int(sources[1]),
        "formats": {str(f): int(n) for f, n in formats},
        "warnings": len(warnings),
        "skipped": int(skipped[0]),
        "hosts": {str(h): int(n) for h, n in hosts},
        "channels": {str(c): int(n) for c, n in channels},
        "first": iso_utc(span[0]),
        "last": iso_utc(span[1]),
        "warning_list": [
            {"file": f, "record": r, "line": ln, "offset": o, "reason": reason}
            for f, r, ln, o, reason in warnings[:1000]
        ],
    }




def run_info(args: argparse.Namespace, ui: Ui) -> int:
    info = case_info(args.case)
    if args.json:
        ui.out.print_json(json.dumps(info)) if ui.out.is_terminal else print(json.dumps(info))
        return 0
    ui.print(f"case {info['case']}: {info['events']:,} events from {info['sources']} sources "
             f"({info['bytes'] / 1e6:.1f} MB); {info['first'] or '-'} .. {info['last'] or '-'}; "
             f"{info['warnings']} warnings, {info['skipped']} non-log files skipped", markup=False)
    for title, key in (("host", "hosts"), ("channel", "channels")):
        table = Table(title=None, box=None, pad_edge=False)
        table.add_column(title)
        table.add_column("events", justify="right")
        for name, count in list(info[key].items())[:30]:
            table.add_row(name, f"{count:,}")
        ui.print(table)
    for w in info["warning_list"][:50]:
        where = ", ".join(f"{k} {w[k]}" for k in ("record", "line", "offset") if w[k] is not None)
        ui.print(f"warning: {w['file']}{': ' + where if where else ''}: {w['reason']}",
                 markup=False)
    return 0
