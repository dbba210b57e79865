"""Process-level set-up the command line does before any command."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

from dwell.cli import tune_allocator


def test_the_allocator_is_tuned_where_glibc_allows_it() -> None:
    assert tune_allocator() is (platform.libc_ver()[0] == "glibc")


def test_arrow_allocates_through_malloc_once_tuned() -> None:
    import pyarrow as pa

    if tune_allocator():
        assert pa.default_memory_pool().backend_name == "system"


def test_the_program_flushes_its_output_and_keeps_exit_codes(tmp_path: Path) -> None:
    """``python -m dwell`` ends with os._exit (no heap teardown): output is still complete
    and exit codes are kept."""
    def dwell(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "dwell", *args], capture_output=True,
                              text=True, timeout=120, check=False)

    done = dwell("--version")
    assert done.returncode == 0 and done.stdout.startswith("dwell ")
    done = dwell("nosuch")
    assert done.returncode == 2 and "invalid choice: 'nosuch'" in done.stderr
    done = dwell("info", "--case", str(tmp_path / "none"))
    assert done.returncode == 1 and "no case at" in done.stderr
    done = dwell("--help")
    assert done.returncode == 0 and "usage: dwell" in done.stdout
