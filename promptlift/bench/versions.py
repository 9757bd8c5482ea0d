"""What a cell ran under: the host and the versions of the packages that decide its scores.

A sweep spread over machines can mix environments without anyone noticing (one worker on an
older Optuna samples differently: Optuna 5.0 turned TPE's multivariate and constant-liar
options on). Each cell's row records :func:`environment`; :func:`mixed_versions` finds the
packages whose version differs between a sweep's cells, and the report flags them.
"""

from __future__ import annotations

import platform
import socket
from functools import lru_cache
from importlib import metadata
from typing import Any, Iterable, Mapping

PACKAGES = ("promptlift", "optuna", "dspy", "gepa", "torch", "transformers", "llama-cpp-python")


@lru_cache(maxsize=1)
def versions() -> dict[str, str | None]:
    """python and each of :data:`PACKAGES` (None: not installed), read from package metadata, not imported."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def environment() -> dict[str, Any]:
    """The host name and :func:`versions` (what a cell's row and its Optuna trial record)."""
    return {"host": socket.gethostname(), "versions": versions()}


def mixed_versions(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Package -> {version: number of cells} for every package whose version differs between rows
    (rows without recorded versions, from before they were recorded, are left out)."""
    seen: dict[str, dict[str, int]] = {}
    for row in rows:
        for name, version in (row.get("versions") or {}).items():
            counts = seen.setdefault(name, {})
            counts[str(version)] = counts.get(str(version), 0) + 1
    return {name: counts for name, counts in seen.items() if len(counts) > 1}


def host_of(worker: str | None) -> str:
    """The host part of a worker id (``host:pid:tag``)."""
    return (worker or "-").split(":")[0]
