

def test_the_allocator_is_tuned_where_glibc_allows_it() -> None:
    import platform

    from dwell.cli import tune_allocator

    assert tune_allocator() is (platform.libc_ver()[0] == "glibc")
