"""The Task: examples in three splits, a metric, a seed candidate, and how to render them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from promptlift.errors import ConfigError, MetricError
from promptlift.tasks import render as rendering
from promptlift.tasks.metric_names import get_metric
from promptlift.tasks.metrics import Metric, accuracy, exact_match, to_score
from promptlift.types import Candidate, Completion, Example, Request, Score

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Task:
    """A prompt-optimisation problem.

    ``choices`` makes it a classification task: the backend ranks the choices by
    log-likelihood instead of generating. ``metric`` is a name from ``METRICS`` or any callable
    ``(example, prediction) -> Score | float | bool``. Frozen: optimizers cannot mutate it.
    """

    name: str
    input_fields: tuple[str, ...]
    train: tuple[Example, ...]
    val: tuple[Example, ...]
    test: tuple[Example, ...] = ()
    output_field: str = "answer"
    metric: Metric | str = "exact_match"
    seed: Candidate = field(default_factory=Candidate)
    choices: tuple[str, ...] = ()
    description: str = ""
    max_tokens: int = 32

    def __post_init__(self) -> None:
        for name in ("input_fields", "train", "val", "test", "choices"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if isinstance(self.metric, str):
            object.__setattr__(self, "metric", get_metric(self.metric))
        if not self.input_fields:
            raise ConfigError(f"Task {self.name!r} needs at least one input field.")
        if not self.val:
            raise ConfigError(f"Task {self.name!r} has no validation examples.")

    @property
    def metric_name(self) -> str:
        return getattr(self.metric, "__name__", type(self.metric).__name__)

    def render(self, candidate: Candidate, example: Example) -> Request:
        """The Request that asks the model for ``example`` under ``candidate``."""
        return rendering.render(self, candidate, example)

    def resolve(self, candidate: Candidate, completion: Completion) -> Completion:
        """Map a completion back to the task's answer: a choice to its label (calibration and
        verbalizer applied), a reasoning output to its answer line."""
        return rendering.resolve(self, candidate, completion)

    def score(self, example: Example, completion: Completion) -> Score:
        """Score one completion. Bad model output scores 0 with feedback; a raising metric (or one
        returning NaN, infinity or a value outside [0, 1]) is a MetricError."""
        try:
            value = self.metric(example, completion.text)  # type: ignore[operator]
        except Exception as exc:  # a user metric's bug: stop with a clear message
            raise MetricError(
                f"metric {self.metric_name!r} of task {self.name!r} raised "
                f"{type(exc).__name__} on example {example.id}: {exc}"
            ) from exc
        return to_score(value, metric=self.metric_name, example=str(example.id))

    def aggregate(self, examples: Sequence[Example], predictions: Sequence[str]) -> float | None:
        """A corpus-level metric's value over a split (``macro_f1``...); None for a per-example
        metric, whose value is the mean of the scores."""
        corpus = getattr(self.metric, "corpus", None)
        if corpus is None:
            return None
        return float(corpus([e.output for e in examples], list(predictions), self.choices))

    def splits(self) -> dict[str, tuple[Example, ...]]:
        return {"train": self.train, "val": self.val, "test": self.test}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "inputs": list(self.input_fields),
            "output": self.output_field,
            "metric": self.metric_name,
            "choices": list(self.choices),
            "sizes": {k: len(v) for k, v in self.splits().items()},
        }


def split_examples(
    examples: Sequence[Example], sizes: Sequence[int], seed: int = 0
) -> list[tuple[Example, ...]]:
    """Seeded, disjoint splits of the given sizes (a size larger than what is left is cut)."""
    import random

    pool = list(examples)
    random.Random(seed).shuffle(pool)
    parts, start = [], 0
    for size in sizes:
        parts.append(tuple(pool[start : start + size]))
        start += size
    return parts


def default_metric(choices: Sequence[str]) -> Callable[[Example, str], Score]:
    return accuracy if choices else exact_match
