"""Tests of the scripts in benchmarks/ (imported as ``benchmarks.<name>`` from the repository root)."""

import importlib
from types import ModuleType


def script(name: str) -> ModuleType:
    """A benchmark script as a module."""
    return importlib.import_module(f"benchmarks.{name}")
