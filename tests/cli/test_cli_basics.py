"""Process-level set-up the command line does before any command."""

from __future__ import annotations

import platform

from dwell.cli import tune_allocator


def test_the_allocator_is_tuned_where_glibc_allows_it() -> None:
    assert tune_allocator() is (platform.libc_ver()[0] == "glibc")


def test_arrow_allocates_through_malloc_once_tuned() -> None:
    import pyarrow as pa

    if tune_allocator():
        assert pa.default_memory_pool().backend_name == "system"
