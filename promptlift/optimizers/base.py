"""The Optimizer base class: a frozen dataclass of hyperparameters and one template method.

``optimize`` builds the Run, validates the seed candidate (the baseline), calls the one
abstract hook ``_search(run)``, then scores the best and the baseline on the test split. A
budget limit ends the search cleanly; Ctrl-C or an error still writes the partial result to
the run directory before propagating.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Sequence

from promptlift import classification
from promptlift.budget import Budget
from promptlift.cache import ResponseCache
from promptlift.callbacks import Callback, notify
from promptlift.checks import is_int
from promptlift.errors import BudgetExhausted, param_error
from promptlift.result import Result, Trial
from promptlift.run import Run
from promptlift.tasks.base import Task

if TYPE_CHECKING:
    from promptlift.backends.base import Backend
    from promptlift.optimizers.plan import Calls, Plan

log = logging.getLogger(__name__)

DEFAULT_CACHE: Any = "default"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Optimizer(ABC):
    """Subclasses declare hyperparameters as fields, check them in ``_check``, search in ``_search``."""

    name: ClassVar[str] = "optimizer"

    def __post_init__(self) -> None:
        self._check()

    def _check(self) -> None:
        """Raise ``param_error`` for a bad hyperparameter (override; call ``require``)."""

    def require(self, name: str, ok: bool, requirement: str) -> None:
        if not ok:
            raise param_error(type(self).__name__, name, requirement, getattr(self, name))

    def require_int(self, name: str, low: int) -> None:
        """``require`` that field ``name`` is an int (not a bool) >= ``low``."""
        self.require(name, is_int(getattr(self, name), low), f"an int >= {low}")

    def config(self) -> dict[str, Any]:
        return {"optimizer": self.name, **dataclasses.asdict(self)}

    def save_plots(self, result: Result, directory: Path) -> None:
        """Write optimizer-specific plots into the run directory (override; the base has none)."""

    def optimize(
        self,
        task: Task,
        backend: Backend,
        *,
        budget: Budget | int,
        seed: int = 0,
        proposer: Backend | None = None,
        run_dir: str | Path | None = None,
        callbacks: Iterable[Callback] = (),
        cache: ResponseCache | None = DEFAULT_CACHE,
        evaluate_test: bool = True,
        objectives: str | Sequence[str] = ("score",),
        max_prompt_tokens: int | None = None,
    ) -> Result:
        """Search for the best candidate of ``task`` on ``backend`` within ``budget`` (metric calls if int);
        ``objectives`` (e.g. ``("score", "prompt_tokens")``) name the Pareto front kept in the Result, and a
        candidate over ``max_prompt_tokens`` prompt tokens per query is inadmissible (never the best)."""
        budget = Budget(metric_calls=budget) if isinstance(budget, int) else budget
        cache = ResponseCache.default() if cache is DEFAULT_CACHE else cache
        if log.isEnabledFor(logging.INFO):
            self._log_plan(task, backend, budget, proposer, cache)
        run = Run(
            task, backend, budget=budget, seed=seed, proposer=proposer, run_dir=run_dir,
            callbacks=callbacks, cache=cache, config=self._run_config(task, backend, proposer, budget, seed),
            objectives=objectives, max_prompt_tokens=max_prompt_tokens,
        )
        started = time.perf_counter()
        notify(run.callbacks, "on_start", run)
        stopped_by = None
        try:
            run.validate(task.seed, info={"stage": "seed"})
            self._search(run)
        except BudgetExhausted as exc:
            stopped_by = exc.limit
        except BaseException as exc:  # Ctrl-C or an error: keep what was done, then propagate
            _finish_partial(run, self, started, "interrupted" if isinstance(exc, KeyboardInterrupt) else f"error: {exc}")
            raise
        return finish(run, self, started, stopped_by, evaluate_test=evaluate_test)

    def plan(self, task: Task, backend: Backend, budget: Budget | int, *, proposer: Backend | None = None,
             cache: ResponseCache | None = DEFAULT_CACHE, cached: bool = True) -> Plan:
        """What ``optimize`` with these arguments is expected to spend, without calling a model:
        metric calls, LM calls and tokens of the task model and the proposer, dollars, seconds,
        and whether ``budget`` validates one new candidate after the seed (``plan.min_budget``
        is the smallest that does). ``cache``: the response cache the run would use (its stored
        timings give the seconds); ``cached=False`` for a run without one."""
        from promptlift.optimizers.plan import build

        budget = Budget(metric_calls=budget) if isinstance(budget, int) else budget
        cache = ResponseCache.default() if cache is DEFAULT_CACHE else cache
        return build(self, task, backend, budget, proposer=proposer, cache=cache, cached=cached and cache is not None)

    def _log_plan(self, task: Task, backend: Backend, budget: Budget, proposer: Backend | None,
                  cache: ResponseCache | None) -> None:
        """The plan as the run's first log line (a plan that cannot be made never stops a run)."""
        try:
            log.info("%s", self.plan(task, backend, budget, proposer=proposer, cache=cache).line())
        except Exception as exc:  # noqa: BLE001
            log.debug("no plan for %s: %s", self.name, exc)

    def _calls(self, task: Task, backend: Backend, budget: Budget) -> Calls:
        """This optimizer's call pattern for ``plan`` (override where it differs from the default:
        every candidate validated on the whole validation split, no proposer)."""
        from promptlift.optimizers.patterns import validations

        return validations(task, budget)

    def _run_config(self, task: Task, backend: Backend, proposer: Backend | None, budget: Budget,
                    seed: int) -> dict[str, Any]:
        return {
            "task": task.name,
            "model": backend.id,
            "proposer": proposer.id if proposer is not None else None,
            "budget": budget.to_dict(),
            "seed": seed,
            **self.config(),
        }

    @abstractmethod
    def _search(self, run: Run) -> None:
        """Propose candidates and score them with ``run.evaluate``/``run.validate`` until done."""


def finish(run: Run, optimizer: Optimizer, started: float, stopped_by: str | None, *, evaluate_test: bool) -> Result:
    """Score best and baseline on test (outside the budget), write the run dir, notify."""
    searched = time.perf_counter()
    best, baseline = run.best(), run.val_trials()[0]
    tests: tuple[Trial, ...] = ()
    if evaluate_test and run.task.test:
        tests = _score_test(run, baseline, best)
    tested = time.perf_counter()
    scored = {"baseline": tests[0], "best": tests[-1]} if tests else {"baseline": baseline, "best": best}
    summary = classification.summarize(run.task, run.task.test if tests else run.task.val, scored,
                                       "test" if tests else "val")
    found = classification.warnings_for(run.task, summary) + run.cap_warnings()
    for warning in found:  # in the Result, the report and the CLI's summary; logged for the record
        log.info("%s", warning)
    result = dataclasses.replace(
        _result(run, optimizer, started, stopped_by, tests[-1].mean if tests else None, tests[0].mean if tests else None),
        test_trials=tests, classification=summary, warnings=tuple(found),
        search_seconds=searched - started, test_seconds=tested - searched,
    )
    if run.log:
        run.log.finish(result, run.task)
        try:
            optimizer.save_plots(result, run.log.dir)
        except Exception as exc:  # a plot is a convenience: never lose a run over it
            log.warning("could not draw the %s plots: %s", optimizer.name, exc)
        _write_report(result, run.task, run.log.dir)
    notify(run.callbacks, "on_end", run, result)
    return result


def _write_report(result: Result, task: Task, directory: Path) -> None:
    from promptlift.report_html import write_run_report

    try:
        write_run_report(result, task, directory)
    except Exception as exc:  # the report is a convenience: never lose a run over it
        log.warning("could not write report.html: %s", exc)


def _score_test(run: Run, baseline: Trial, best: Trial) -> tuple[Trial, ...]:
    """The seed's and the best candidate's test trials (one when the best is the seed), shown as a
    phase of its own to the callbacks (``on_phase``): on a slow model it takes minutes."""
    same = best.candidate == baseline.candidate
    notify(run.callbacks, "on_phase", run, "scoring test", len(run.task.test) * (1 if same else 2))
    tests = [run.score(baseline.candidate, run.task.test, number=baseline.number, progress=True)]
    if not same:
        tests.append(run.score(best.candidate, run.task.test, number=best.number, progress=True))
    return tuple(tests)


def _result(run: Run, optimizer: Optimizer, started: float, stopped_by: str | None, best_test, baseline_test) -> Result:
    return Result(
        task=run.task.name,
        backend=run.backend.id,
        optimizer=optimizer.name,
        config=run.config,
        seed=run.seed,
        best=run.best(),
        baseline=run.val_trials()[0],
        trials=tuple(run.trials),
        best_test=best_test,
        baseline_test=baseline_test,
        usage=run.usage,
        metric_calls=run.metric_calls,
        cache_hits=run.cache_hits,
        wall_seconds=time.perf_counter() - started,
        stopped_by=stopped_by,
        objectives=run.objectives,
        front=tuple(run.front()),
        max_prompt_tokens=run.max_prompt_tokens,
    )


def _finish_partial(run: Run, optimizer: Optimizer, started: float, reason: str) -> None:
    if run.log and run.val_trials():
        run.log.finish(_result(run, optimizer, started, reason, None, None), run.task, plot=reason != "interrupted")
    log.warning("run stopped (%s); %d trials kept", reason.splitlines()[0], len(run.trials))
