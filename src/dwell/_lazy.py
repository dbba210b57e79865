"""Lazy package attributes (PEP 562): a package re-exports names without importing them all.

``dwell --help`` or ``dwell ingest`` then do not pay for pySigma, Jinja2 or the matcher.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, origins: dict[str, tuple[str, ...]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving ``{submodule: names}`` of ``package`` on first use."""
    where = {name: f"{package}.{module}" for module, names in origins.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__
