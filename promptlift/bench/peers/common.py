"""What every peer shares: the metering backend, its settings from a cell, the budget it sizes
its search by, and the runner's signature."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, TypeVar

from promptlift.cache import CachedBackend, ResponseCache
from promptlift.errors import ConfigError
from promptlift.types import Completion, Request, Usage

if TYPE_CHECKING:
    from promptlift.backends.base import Backend
    from promptlift.bench.config import Cell
    from promptlift.tasks.base import Task

Settings = TypeVar("Settings")


class Meter:
    """Counts what passes through a backend (peers' own code reports no tokens).

    ``inner`` is what the meter counts through (the cell's cached backend), ``base`` the
    model's backend under any cache (what PEFT trains a copy of).
    """

    def __init__(self, backend: Backend, cache: ResponseCache | None = None) -> None:
        self.base = backend
        self.inner: Backend = CachedBackend(backend, cache) if cache is not None else backend
        self.id = backend.id
        self.capabilities = backend.capabilities
        self.usage = Usage()

    def complete(self, requests: Sequence[Request]) -> list[Completion]:
        completions = self.inner.complete(requests)
        self.usage = sum((c.usage for c in completions), self.usage)
        return completions


PeerRunner = Callable[["Task", Meter, "Cell", Path], dict[str, Any]]


def check(kind: type, optimizer: str, params: Mapping[str, Any]) -> None:
    """ConfigError naming the parameters ``kind`` (a peer's settings) does not have; the budget is the cell's."""
    names = sorted(f.name for f in dataclasses.fields(kind) if f.name != "budget")
    unknown = set(params) - set(names)
    if unknown:
        raise ConfigError(f"{optimizer} has no parameter(s) {sorted(unknown)}. Parameters: {names}.")


def settings(kind: type[Settings], cell: Cell) -> Settings:
    """``kind`` with the cell's parameters over its defaults (and the cell's metric-call budget, where
    ``kind`` is sized by one)."""
    check(kind, cell.optimizer, cell.params)
    sized = any(f.name == "budget" for f in dataclasses.fields(kind))  # type: ignore[arg-type]
    return kind(**cell.params, **({"budget": metric_calls(cell)} if sized else {}))


def metric_calls(cell: Cell) -> int:
    budget = cell.budget.get("metric_calls")
    if budget is None:
        raise ConfigError(f"{cell.optimizer} needs a metric_calls budget (it sizes the peer's search from it)")
    return int(budget)
