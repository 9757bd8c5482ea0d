"""Auto: the default optimizer. It chooses the search from the task, the backend and the budget.

The choice follows what the benchmarks measured on SmolLM2-135M (README, "Results so far"):

- **Classification, backend with choice scores**: ``FewShot`` searching the prompt format
  (chat and plain), the label words (``verbalizers="auto"``) and the demos jointly, every
  candidate calibrated (contextual, with the training split's class prior). On sentiment
  this took the seed from 0.43 to 0.77-0.80 on test, where random 4-demo sets alone added
  nothing (0.415 -> 0.415 at 400 metric calls); the label bias and the format were most of
  the error. Calibrated zero-shot candidates are tried first, in each format, so even a
  budget that buys only three candidates gets the strongest measured lever.
- **Classification, backend without choice scores** (an API that returns no
  log-probabilities): the same search without calibration, which needs choice scores.
- **Generation**: ``BootstrapFewShot`` (demos from the model's own accepted outputs) when the
  budget can bootstrap and still validate a few candidates; labeled ``FewShot`` otherwise.

``Auto().choose(task, backend, budget)`` returns the optimizer and a one-line reason;
``optimize`` logs the reason and runs the chosen optimizer, whose name and settings the
run directory then records.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from promptlift.backends.base import Backend
from promptlift.budget import Budget
from promptlift.optimizers.base import Optimizer
from promptlift.optimizers.options import Calibrate, Formats, PromptOptions, Verbalizers
from promptlift.result import Result
from promptlift.run import Run
from promptlift.tasks.base import Task

log = logging.getLogger(__name__)

BOOTSTRAP_SIZE = 50  # training examples the teacher answers (the bootstrap optimizer's default)
MIN_CANDIDATES = 3  # candidates the budget must buy beyond the seed for a search to be worth it


@dataclasses.dataclass(frozen=True)
class Choice:
    """What ``Auto`` chose, and why (one line, for the console and the log)."""

    optimizer: Optimizer
    reason: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class Auto(PromptOptions, Optimizer):
    """Choose the search from the task and the budget (see the module docstring).

    k: demos per candidate. formats, verbalizers, calibrate: as in FewShot, handed to the chosen
    optimizer ("auto" each: every format the backend scores, the known label words, contextual
    calibration, on a classification task; a generation task keeps the seed's format).
    """

    name = "auto"
    k: int = 4
    formats: Formats = "auto"
    verbalizers: Verbalizers = "auto"
    calibrate: Calibrate = "auto"

    def _check(self) -> None:
        self.require_int("k", 1)

    def choose(self, task: Task, backend: Backend, budget: Budget | int) -> Choice:
        """The optimizer for ``task`` on ``backend`` within ``budget``, and the reason in one line."""
        from promptlift.optimizers.bootstrap import BootstrapFewShot
        from promptlift.optimizers.fewshot import FewShot

        calls = budget if isinstance(budget, int) else budget.metric_calls
        if task.choices:
            scores = backend.capabilities.choice_scoring
            calibrate = self.calibrate if scores else None
            optimizer = FewShot(k=self.k, formats=self.formats, verbalizers=self.verbalizers, calibrate=calibrate)
            how = ("each candidate calibrated, the strongest lever measured on small models" if calibrate else
                   "uncalibrated: the backend returns no choice log-probabilities" if not scores else "uncalibrated")
            return Choice(optimizer, f"fewshot: a classification task, so format, label words and demos are "
                                     f"searched jointly, {how}")
        affordable = calls is None or calls >= BOOTSTRAP_SIZE + (MIN_CANDIDATES + 1) * len(task.val)
        if affordable and task.train:
            return Choice(BootstrapFewShot(k=self.k, bootstrap_size=BOOTSTRAP_SIZE, formats=self.formats),
                          "bootstrap: a generation task, so demos come from the model's own outputs that the "
                          "metric accepts")
        return Choice(FewShot(k=self.k, formats=self.formats),
                      f"fewshot: a generation task, but {calls} metric calls cannot bootstrap {BOOTSTRAP_SIZE} "
                      f"answers and still validate {MIN_CANDIDATES} candidates, so labeled demos are drawn")

    def optimize(self, task: Task, backend: Backend, *, budget: Budget | int, **kwargs: Any) -> Result:
        choice = self.choose(task, backend, budget)
        log.info("auto: %s", choice.reason)
        return choice.optimizer.optimize(task, backend, budget=budget, **kwargs)

    def plan(self, task: Task, backend: Backend, budget: Budget | int, **kwargs: Any) -> Any:
        """The chosen optimizer's plan (``Optimizer.plan``)."""
        return self.choose(task, backend, budget).optimizer.plan(task, backend, budget, **kwargs)

    def _search(self, run: Run) -> None:
        """Run the chosen optimizer's search on an existing Run (the Python API's other entry)."""
        choice = self.choose(run.task, run.backend, run.budget)
        log.info("auto: %s", choice.reason)
        choice.optimizer._search(run)
