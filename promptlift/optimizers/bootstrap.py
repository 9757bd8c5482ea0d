"""BootstrapFewShot: demos the task model produced itself and the metric accepted.

Bootstrapping runs a teacher candidate (the seed, optionally reasoning before the answer) on
training examples, as ``split="train"`` trials, so every metric call is a trial and counts in
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
from collections import defaultdict
from typing import Any, Sequence

from promptlift import calibration, formats
from promptlift.optimizers.base import Optimizer
from promptlift.run import Evaluation, Run
from promptlift.types import Candidate, Example

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class BootstrapFewShot(Optimizer):
    """Bootstrapped few-shot random search.

    k: bootstrapped demos per candidate. labeled: extra labeled demos per candidate.
    reasoning: bootstrap and score with a rationale before the answer (generation).
    rounds: bootstrapping rounds; round r > 1 is conditioned on k demos accepted so far.
    bootstrap_size: training examples the teacher answers per round (metric calls).
    threshold: the score a bootstrapped output needs to become a demo.
    balanced: spread demos over labels (choice tasks). max_candidates: candidates drawn at most.
    formats: prompt formats to draw from (empty: the seed's; "auto": see JointSearch).
    calibrate: "contextual", "batch", "auto" (contextual for a choice task) or None, applied
    to each candidate before it is scored (choice tasks, not with reasoning).
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
    formats: tuple[str, ...] | str = ()
    calibrate: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "formats", formats.normalise_option(self.formats))
        super().__post_init__()

    def _check(self) -> None:
        check_common(self)
        self.require("k", isinstance(self.k, int) and self.k >= 1, "an int >= 1")
        self.require("labeled", isinstance(self.labeled, int) and self.labeled >= 0, "an int >= 0")
        self.require("rounds", isinstance(self.rounds, int) and self.rounds >= 1, "an int >= 1")
        self.require("bootstrap_size", isinstance(self.bootstrap_size, int) and self.bootstrap_size >= 1, "an int >= 1")
        self.require("threshold", isinstance(self.threshold, int | float) and 0 < self.threshold <= 1,
                     "a number in (0, 1]")
        self.require("max_candidates", isinstance(self.max_candidates, int) and self.max_candidates >= 1, "an int >= 1")

    def _calls(self, task: Any, backend: Any, budget: Any) -> Any:
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
        fmts = formats.resolve_option(run.backend, run.task, self.formats) if self.formats else ()
        used = {e.id for e in pool}
        plain = [e for e in task.train if e.id not in used]
        seen = {task.seed}
        for _ in range(self.max_candidates):
            demos = draw(run, pool, self.k, task.choices, self.balanced) if pool else []
            demos += draw(run, plain, self.labeled if pool else self.labeled or self.k, task.choices, self.balanced)
            candidate = dress(run, teacher.with_(demos=tuple(demos)), fmts)
            if candidate in seen:
                continue
            seen.add(candidate)
            run.require_validation()
            candidate = calibration.calibrate(run, candidate, self.calibrate)
            info = {"bootstrapped": sum(d.id in used for d in demos), "labeled": sum(d.id not in used for d in demos)}
            run.validate(candidate, parents=parents, info=info)


def check_common(optimizer: Optimizer) -> None:
    """Parameter checks shared by the few-shot family: formats and calibrate."""
    fmts, method = optimizer.formats, optimizer.calibrate  # type: ignore[attr-defined]
    optimizer.require("formats", fmts == formats.AUTO or all(f in formats.NEEDS for f in fmts),
                      f"'auto' or a list of {list(formats.NEEDS)}")
    optimizer.require("calibrate", method in (None, calibration.AUTO, *calibration.METHODS),
                      f"None, 'auto' or one of {list(calibration.METHODS)}")
    if method is not None and getattr(optimizer, "reasoning", False):
        optimizer.require("calibrate", False, "None when reasoning=True (reasoning generates; nothing to calibrate)")


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
        demos = draw(run, accepted, k, task.choices, balanced) if accepted else []
        evaluation = run.evaluate(teacher.with_(demos=tuple(teacher.demos) + tuple(demos)), batch, split="train",
                                  info={"role": "bootstrap", "round": round_ + 1})
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


def draw(run: Run, pool: Sequence[Example], k: int, choices: Sequence[str], balanced: bool = True) -> list[Example]:
    """``k`` demos from ``pool``, seeded by the run; for choice tasks (when ``balanced``) taken
    round-robin over the labels present, a label that runs out skipped (bootstrapped pools are
    often lopsided), then shuffled."""
    if k <= 0 or not pool:
        return []
    if not (balanced and choices):
        return run.sample(pool, k)
    by_label: dict[str, list[Example]] = defaultdict(list)
    for example in pool:
        by_label[example.output].append(example)
    labels = [c for c in choices if by_label[c]] + [o for o in by_label if o not in choices]
    queues = {label: run.sample(by_label[label], k) for label in labels}
    order = run.sample(labels, len(labels))
    demos: list[Example] = []
    while len(demos) < min(k, len(pool)):
        for label in order:
            if queues[label] and len(demos) < k:
                demos.append(queues[label].pop())
    run.rng.shuffle(demos)
    return demos


def dress(run: Run, candidate: Candidate, fmts: Sequence[str]) -> Candidate:
    """``candidate`` in a prompt format drawn from ``fmts`` (unchanged when empty)."""
    return candidate.with_(format=run.rng.choice(list(fmts))) if fmts else candidate

