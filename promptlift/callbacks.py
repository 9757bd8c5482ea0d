"""Callbacks: hooks into a run. Progress bars are a callback, never built into optimizers.

A callback subclasses :class:`Callback` and overrides some of its hooks (the others do nothing)::

    on_start(run)                 the run begins (after config.json is written)
    on_examples(run, n)           n more examples were scored (for smooth progress)
    on_trial(run, trial)          a Trial was recorded
    on_phase(run, name, total)    a phase after the search began ("scoring test"), total examples
    on_end(run, result)           the Result is final
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Iterable

from promptlift.errors import ConfigError

if TYPE_CHECKING:
    from promptlift.result import Result, Trial
    from promptlift.run import Run

log = logging.getLogger(__name__)


HOOKS = ("on_start", "on_examples", "on_trial", "on_phase", "on_end")


class Callback:
    """Base class of every callback: the hooks are no-ops, so a subclass overrides only what it needs.

    A subclass that defines an ``on_*`` method which is not a hook fails when the class is made
    (a misspelt ``on_trail`` would otherwise never be called), and ``Optimizer.optimize`` refuses
    a callback that is not a ``Callback``, as optuna refuses what is not a callable."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        unknown = sorted(name for name in vars(cls) if name.startswith("on_") and name not in HOOKS)
        if unknown:
            raise TypeError(f"{cls.__name__} defines {', '.join(unknown)}, which is no callback hook "
                            f"(the hooks: {', '.join(HOOKS)})")

    def on_start(self, run: Run) -> None:
        """The run begins (after config.json is written)."""

    def on_examples(self, run: Run, n: int) -> None:
        """``n`` more examples were scored."""

    def on_trial(self, run: Run, trial: Trial) -> None:
        """A Trial was recorded."""

    def on_phase(self, run: Run, name: str, total: int) -> None:
        """A phase after the search began (``"scoring test"``) over ``total`` examples."""

    def on_end(self, run: Run, result: Result) -> None:
        """The Result is final."""


def check(callbacks: Iterable[Any]) -> tuple[Callback, ...]:
    """The callbacks as a tuple; a ConfigError names any that is not a :class:`Callback`."""
    callbacks = tuple(callbacks)
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise ConfigError(f"callback {callback!r} is not a promptlift.Callback: subclass promptlift.Callback "
                             f"and override the hooks you need ({', '.join(HOOKS)})")
    return callbacks


def notify(callbacks: Iterable[Callback], event: str, *args: Any) -> None:
    for callback in callbacks:
        getattr(callback, event)(*args)


class ProgressBar(Callback):
    """A tqdm bar over metric calls (or examples scored, when the budget has no call limit)."""

    def __init__(self, **tqdm_kwargs: Any) -> None:
        self._kwargs = tqdm_kwargs
        self._bar = None

    def on_start(self, run: Run) -> None:
        from tqdm.auto import tqdm

        total = run.budget.metric_calls
        self._bar = tqdm(total=total, unit="ex", desc="optimizing", dynamic_ncols=True, **self._kwargs)

    def on_examples(self, run: Any, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def on_trial(self, run: Any, trial: Any) -> None:
        if self._bar is not None and trial.role == "val":
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
