"""BestOfN: self-consistency as a rung (generation tasks): N sampled answers, the majority wins.

No weights are trained and no prompt is searched: the hard candidate (the task's seed, or
``initial``, e.g. another optimizer's best) is validated with ``votes`` = each N of ``n``
in turn (:mod:`promptlift.voting`), and the best on validation is the result. A trial of N
votes costs N LM calls per example (the budget's ``lm_calls`` and tokens count them), and
its prompt is the same as the seed's: the cost is paid at every query, not once.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from promptlift.checks import is_int
from promptlift.errors import ConfigError
from promptlift.optimizers.base import Optimizer
from promptlift.optimizers.training import candidate_from
from promptlift.run import Run
from promptlift.types import Candidate

if TYPE_CHECKING:
    from promptlift.backends.base import Backend
    from promptlift.budget import Budget
    from promptlift.optimizers.plan import Calls
    from promptlift.tasks.base import Task


@dataclasses.dataclass(frozen=True, kw_only=True)
class BestOfN(Optimizer):
    """n: the sample counts to try (each >= 2), in order. initial: the hard candidate (None: the seed);
    a Candidate, its JSON dict, or a JSON file holding one."""

    name: ClassVar[str] = "best_of_n"
    n: tuple[int, ...] = (5,)
    initial: Candidate | None = None

    def __post_init__(self) -> None:
        if isinstance(self.n, list) or is_int(self.n):
            object.__setattr__(self, "n", tuple(self.n) if isinstance(self.n, list) else (self.n,))
        if isinstance(self.initial, (dict, str, Path)):
            object.__setattr__(self, "initial", candidate_from(self.initial))
        super().__post_init__()

    def _check(self) -> None:
        ok = isinstance(self.n, tuple) and bool(self.n) and all(is_int(v, 2) for v in self.n)
        self.require("n", ok, "an int >= 2 or a non-empty list of them")
        self.require("initial", self.initial is None or isinstance(self.initial, Candidate),
                     "None, a Candidate, its JSON dict or a JSON file with one")

    def config(self) -> dict[str, Any]:
        return {"optimizer": self.name, "n": list(self.n),
                "initial": self.initial.to_dict() if self.initial is not None else None}

    def _calls(self, task: Task, backend: Backend, budget: Budget) -> Calls:
        """The plan's call pattern (``Optimizer.plan``): :func:`promptlift.optimizers.patterns.best_of_n`."""
        from promptlift.optimizers import patterns

        return patterns.best_of_n(self, task, backend, budget)

    def _search(self, run: Run) -> None:
        if run.task.choices:
            raise ConfigError(f"BestOfN samples generated answers; {run.task.name!r} is a classification task")
        hard = self.initial or run.task.seed
        parents: tuple[int, ...] = (0,)
        if hard != run.task.seed:
            parents = (run.validate(hard, info={"stage": "initial"}).trial.number,)
        for votes in self.n:
            run.require_validation()
            run.validate(hard.with_(votes=votes), parents=parents, info={"stage": self.name, "votes": votes})
