"""The ``dwell`` command line: the only place that prints or exits.

Exit codes: 0 success; 1 fatal error; 2 bad usage; 3 finished, but some input was skipped
(see the warnings); 130 interrupted.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import functools
import logging
import os
import platform
import sys
import traceback
from typing import TYPE_CHECKING

from dwell import __version__
from dwell.cli import _commands
from dwell.cli._console import Ui
from dwell.errors import DwellError, UsageError
from dwell.ingest import native

if TYPE_CHECKING:
    from collections.abc import Sequence

EXIT_OK = 0
EXIT_FATAL = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"dwell: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = _Parser(
        prog="dwell",
        description="Answer the questions a long-dwell intrusion leaves behind, from Windows "
        "event logs: where they got in, where they spread, what they took and destroyed, and "
        "whether they are still inside. Start with `dwell demo`.",
        epilog="Exit codes: 0 success; 1 fatal error; 2 bad usage; 3 finished but some input "
        "was skipped (stored as warnings, see `dwell info`); 130 interrupted.",
    )
    parser.add_argument("--version", action="version",
                        version=f"dwell {__version__}; ingest path: {native.status()}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="only errors and the result")
    common.add_argument("-v", "--verbose", action="store_true",
                        help="more detail; show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in _commands.REGISTRY:
        register(sub, common)
    return parser


@functools.cache
def tune_allocator() -> bool:
    """Let glibc's malloc keep freed memory for reuse instead of handing it back at once, and
    let Arrow allocate through it.

    dwell allocates and frees many blocks of a few MiB (a batch's texts, Arrow buffers):
    by default glibc maps the large ones afresh and trims the heap's top at every free, and
    Arrow's own pool returns pages too, so the kernel zeroes the same pages again and again
    (15% of a hunt's CPU went to the kernel, half of it page faults). Peak memory is not
    higher (measured in bench/hunt.py). Worker processes inherit the settings (fork).
    Returns whether they applied.
    """
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    trim, top_pad, mmap_threshold = -1, -2, -3  # M_* of <malloc.h>
    tuned = all(mallopt(option, value) == 1 for option, value in (
        (mmap_threshold, 32 << 20), (trim, 512 << 20), (top_pad, 64 << 20)))
    if tuned:  # (a retro-hunt: 3.64 -> 3.54 s, peak RSS of its main process 416 -> 345 MB)
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())
    return tuned


def run() -> None:
    """The ``dwell`` program: :func:`main`, then exit without tearing the heap down.

    A hunt ends holding rules, buckets and detections: freeing them object by object took
    about a tenth of a second, for nothing. Output is flushed first; everything dwell writes
    is complete (and synced) before ``main`` returns.
    """
    try:
        code = main()
    except SystemExit as exc:  # (argparse's --help and errors)
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        if not isinstance(exc.code, int | None):
            print(exc.code, file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # (a closed pipe)
            pass
    logging.shutdown()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    tune_allocator()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    ui = Ui(quiet=args.quiet, verbose=args.verbose)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args, ui))
    except UsageError as exc:
        ui.error(str(exc))
        return EXIT_USAGE
    except DwellError as exc:
        if args.verbose:
            traceback.print_exc()
        ui.error(str(exc))
        return EXIT_FATAL
    except KeyboardInterrupt:
        ui.error("interrupted; committed sources are kept, re-run to complete")
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return EXIT_OK
