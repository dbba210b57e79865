"""``dwell timeline``: a Timesketch-ready CSV or JSON Lines timeline, streamed."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from dwell.cli.ingest_cmd import add_case_arg
from dwell.errors import StoreError
from dwell.report.text import parse_utc
from dwell.store import open_case

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterable

    from dwell.cli._console import Ui


FORMAT_CHOICES = ("csv", "jsonl")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "timeline", parents=[common], help="export a Timesketch-ready timeline (CSV or JSONL)",
        description="One row per event (or per detection), sorted by time, with the columns "
        "Timesketch imports directly: message, datetime, timestamp_desc, plus host, user, rule, "
        "level, ATT&CK tactic and technique, source file and record id. Streams: any size.")
    add_case_arg(parser)
    # (dwell.report.timeline.FORMATS, spelt out so that the CLI starts without importing it)
    parser.add_argument("--format", choices=FORMAT_CHOICES, default="csv", help="default: csv")
    parser.add_argument("--detections-only", action="store_true",
                        help="one row per detection instead of one per event")
    parser.add_argument("--from", dest="start", metavar="T", help="first time (ISO 8601, UTC)")
    parser.add_argument("--to", dest="end", metavar="T", help="last time (ISO 8601, UTC)")
    parser.add_argument("--host", metavar="H", help="only this host (short name or FQDN)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    parser.set_defaults(handler=run_timeline)


def _write(chunks: Iterable[bytes], out: BinaryIO) -> int:
    written = 0
    for chunk in chunks:
        out.write(chunk)
        written += len(chunk)
    return written


def write_output(target: Path, chunks: Iterable[bytes]) -> int:
    """Write ``chunks`` to ``target``: atomically (temp file + rename) for a regular file, and
    straight through for anything else (``/dev/null``, a FIFO), which must never be replaced."""
    if target.exists() and not target.is_file():
        with open(target, "wb") as fh:
            return _write(chunks, fh)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        with open(tmp, "wb") as fh:
            size = _write(chunks, fh)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return size


def run_timeline(args: argparse.Namespace, ui: Ui) -> int:
    from dwell.report.inputs import load_detections
    from dwell.report.manifest import write_manifest
    from dwell.report.timeline import TimelineOptions, count_undated, export

    options = TimelineOptions(
        detections_only=args.detections_only,
        start=parse_utc(args.start, "--from time") if args.start else None,
        end=parse_utc(args.end, "--to time") if args.end else None,
        host=args.host,
    )
    detections = load_detections(args.case)
    if args.detections_only and (detections is None or detections.num_rows == 0):
        ui.info("no detections in this case yet; run `dwell hunt` first")
    with open_case(args.case) as reader:
        chunks = export(reader, detections, options, args.format)
        if args.output:
            size = write_output(Path(args.output), chunks)
            ui.info(f"wrote {args.output} ({size:,} bytes)")
        else:
            try:
                _write(chunks, sys.stdout.buffer)
                sys.stdout.buffer.flush()
            except BrokenPipeError:
                # The reader went away (`| head`): stop quietly, and keep Python's exit flush
                # from raising again on the closed pipe.
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                return 0
        undated = count_undated(reader, options)
    if undated:
        ui.info(f"{undated:,} rows without a timestamp were left out (Timesketch needs one)")
    try:
        write_manifest(args.case, "timeline", vars(args), {
            "format": args.format, "undated_rows_left_out": undated,
        }, detections=detections)
    except StoreError as exc:
        ui.info(f"warning: {exc}")
    return 0
