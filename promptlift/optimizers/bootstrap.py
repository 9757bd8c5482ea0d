"""BootstrapFewShot: demos the task model produced itself and the metric accepted.

Bootstrapping runs a teacher candidate (the seed, optionally reasoning before the answer) on
training examples, as ``role="train"`` trials, so every metric call is a trial and counts in
the budget. An output whose score reaches ``threshold`` becomes a demo: the model's own
output (and its rationale, with ``reasoning``) on that input. With ``rounds > 1`` each later
round's teacher is conditioned on demos accepted so far ("sample, keep what scores well,
condition on it"). Then a random search over demo sets drawn from the accepted pool (plus
``labeled`` plain training demos), each scored on the full validation split, as in DSPy's
BootstrapFewShotWithRandomSearch.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Sequence

from promptlift import calibration
from promptlift.checks import is_number
from promptlift.demos import draw_demos
from promptlift.optimizers.base import Optimizer
from promptlift.optimizers.options import Calibrate, Formats, PromptOptions
from promptlift.optimizers.prompt_cap import fit_demos
from promptlift.run import Evaluation, Run
from promptlift.types import Candidate, Example

if TYPE_CHECKING:
    from promptlift.backends.base import Backend
    from promptlift.budget import Budget
    from promptlift.optimizers.plan import Calls
    from promptlift.tasks.base import Task

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class BootstrapFewShot(PromptOptions, Optimizer):
    """Bootstrapped few-shot random search.

    k: bootstrapped demos per candidate. labeled: extra labeled demos per candidate.
    reasoning: bootstrap and score with a rationale before the answer (generation).
    rounds: bootstrapping rounds; round r > 1 is conditioned on k demos accepted so far.
    bootstrap_size: training examples the teacher answers per round (metric calls).
    threshold: the score a bootstrapped output needs to become a demo.
    balanced: spread demos over labels (choice tasks). max_candidates: candidates drawn at most.
    formats, calibrate: the prompt options (see :mod:`promptlift.optimizers.options`); each
    candidate draws a format and is calibrated before scoring (choice tasks, not with reasoning).
    """

    name = "bootstrap"
    k: int = 4
    labeled: int = 0
    reasoning: bool = False
    rounds: int = 1
    bootstrap_size: int = 50
    threshold: float = 1.0
    balanced: bool = True
    max_candidates: int = 1000
    formats: Formats = ()
    calibrate: Calibrate = None

    def _check(self) -> None:
        self.require_int("k", 1)
        self.require_int("labeled", 0)
        self.require_int("rounds", 1)
        self.require_int("bootstrap_size", 1)
        self.require("threshold", is_number(self.threshold) and 0 < self.threshold <= 1,
                     "a number in (0, 1]")
        self.require_int("max_candidates", 1)

    def _calls(self, task: Task, backend: Backend, budget: Budget) -> Calls:
        """The plan's call pattern (``Optimizer.plan``): :func:`promptlift.optimizers.patterns.bootstrap`."""
        from promptlift.optimizers import patterns

        return patterns.bootstrap(self, task, backend, budget)

    def _search(self, run: Run) -> None:
        task = run.task
        teacher = task.seed.with_(reasoning=self.reasoning or task.seed.reasoning)
        pool, parents = bootstrap_pool(run, teacher, k=self.k, rounds=self.rounds, size=self.bootstrap_size,
                                       threshold=self.threshold, balanced=self.balanced)
        if not pool:
            log.warning("bootstrapping accepted no output; drawing labeled demos instead")
        fmts = self.search_formats(run)
        used = {e.id for e in pool}
        plain = [e for e in task.train if e.id not in used]
        seen = {task.seed}
        for _ in range(self.max_candidates):
            demos = draw_demos(pool, self.k, run.rng, task.choices, balanced=self.balanced)
            demos += draw_demos(plain, self.labeled if pool else self.labeled or self.k, run.rng, task.choices,
                                balanced=self.balanced)
            candidate = fit_demos(run, dress(run, teacher.with_(demos=tuple(demos)), fmts))
            if candidate in seen:
                continue
            seen.add(candidate)
            run.require_validation()
            candidate = calibration.calibrate(run, candidate, self.calibration_method(run))
            info = {"bootstrapped": sum(d.id in used for d in demos), "labeled": sum(d.id not in used for d in demos)}
            run.validate(candidate, parents=parents, info=info)


def bootstrap_pool(run: Run, teacher: Candidate, *, k: int, rounds: int, size: int, threshold: float,
                   balanced: bool = True) -> tuple[list[Example], tuple[int, ...]]:
    """Accepted demos from ``rounds`` teacher passes over shuffled training examples, and their trials.

    Each round answers up to ``size`` unused examples, leaving enough budget to validate at
    least one candidate afterwards.
    """
    task = run.task
    order = run.sample(task.train, len(task.train))
    accepted: list[Example] = []
    trials: list[int] = []
    for round_ in range(rounds):
        left = run.remaining_metric_calls()
        room = size if left is None else min(size, left - len(task.val))
        batch, order = order[:room], order[room:]
        if not batch:
            break
        demos = draw_demos(accepted, k, run.rng, task.choices, balanced=balanced)
        evaluation = run.evaluate(teacher.with_(demos=tuple(teacher.demos) + tuple(demos)), batch, role="train",
                                  info={"stage": "bootstrap", "round": round_ + 1})
        accepted += traces(evaluation, threshold, choice_task=bool(task.choices))
        trials.append(evaluation.trial.number)
    log.info("bootstrapping kept %d of %d outputs", len(accepted), len(task.train) - len(order))
    return accepted, tuple(trials)


def traces(evaluation: Evaluation, threshold: float, *, choice_task: bool) -> list[Example]:
    """Demos from the outputs that scored >= ``threshold``: the model's output and rationale."""
    kept = []
    for example, completion, score in zip(evaluation.examples, evaluation.completions, evaluation.trial.scores):
        if score >= threshold:
            output = example.output if choice_task else completion.text.strip()
            kept.append(Example(example.inputs, output, id=example.id, reasoning=completion.reasoning))
    return kept


def dress(run: Run, candidate: Candidate, fmts: Sequence[str]) -> Candidate:
    """``candidate`` in a prompt format drawn from ``fmts`` (unchanged when empty)."""
    return candidate.with_(format=run.rng.choice(list(fmts))) if fmts else candidate

