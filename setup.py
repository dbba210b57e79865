"""Build the optional native fast path of ingest (the package works without it).

Everything else is declared in pyproject.toml. ``optional=True``: without a C++ compiler the
install still succeeds and dwell uses its pure-Python path (``dwell info`` says which).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "dwell.ingest._native",
            sources=["src/dwell/ingest/_native.cpp"],
            include_dirs=["third_party/rapidjson"],
            language="c++",
            extra_compile_args=["-std=c++17", "-O2", "-fvisibility=hidden"],
            optional=True,
        )
    ]
)
