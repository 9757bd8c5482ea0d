"""Callbacks: hooks into a run. Progress bars are a callback, never built into optimizers.

A callback is any object with some of these methods (all optional)::

    on_start(run)                 the run begins (after config.json is written)
    on_examples(run, n)           n more examples were scored (for smooth progress)
    on_trial(run, trial)          a Trial was recorded
    on_phase(run, name, total)    a phase after the search began ("scoring test"), total examples
    on_end(run, result)           the Result is final
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Protocol

log = logging.getLogger(__name__)


class Callback(Protocol):
    """Marker protocol: implement any subset of on_start/on_examples/on_trial/on_end."""


def notify(callbacks: Iterable[Any], event: str, *args: Any) -> None:
    for callback in callbacks:
        method = getattr(callback, event, None)
        if method is not None:
            method(*args)


class ProgressBar:
    """A tqdm bar over metric calls (or examples scored, when the budget has no call limit)."""

    def __init__(self, **tqdm_kwargs: Any) -> None:
        self._kwargs = tqdm_kwargs
        self._bar = None

    def on_start(self, run: Any) -> None:
        from tqdm.auto import tqdm

        total = run.budget.metric_calls
        self._bar = tqdm(total=total, unit="ex", desc="optimizing", dynamic_ncols=True, **self._kwargs)

    def on_examples(self, run: Any, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def on_trial(self, run: Any, trial: Any) -> None:
        if self._bar is not None and trial.split == "val":
            self._bar.set_postfix(best=f"{run.best().mean:.3f}", last=f"{trial.mean:.3f}")

    def on_phase(self, run: Any, name: str, total: int) -> None:
        """Close the search bar and open one for ``name`` (its examples count toward no budget)."""
        from tqdm.auto import tqdm

        if self._bar is not None:
            self._bar.close()
        self._bar = tqdm(total=total, unit="ex", desc=name, dynamic_ncols=True, **self._kwargs)

    def on_end(self, run: Any, result: Any) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
