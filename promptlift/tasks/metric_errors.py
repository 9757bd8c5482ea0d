"""Metric failures during a run: an example whose metric raised or returned no usable score
(NaN, infinity, a value outside [0, 1]) scores 0 with the error as its feedback, and the run
stops once too many examples failed."""

from __future__ import annotations

import logging

from promptlift.errors import ConfigError, MetricError
from promptlift.tasks.base import Task
from promptlift.types import Completion, Example, Score

log = logging.getLogger(__name__)

MAX_METRIC_ERROR_RATE = 0.05  # the share of scored examples whose metric may fail before a run stops


class MetricErrors:
    """Examples whose metric failed (raised, or returned NaN, infinity or a value outside [0, 1]).

    Such an example scores 0 with the error as feedback, so one odd example need not end a long
    run; once more than ``rate`` of the examples scored so far failed, ``check`` raises the first
    error (the run stops; the trials so far are saved). ``rate=0`` stops at the first failure.
    """

    def __init__(self, rate: float) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ConfigError(f"metric_error_rate must be in [0, 1]. Got {rate!r}.")
        self.rate = rate
        self.scored = 0
        self.failed: list[MetricError] = []

    def score(self, task: Task, example: Example, completion: Completion) -> Score:
        self.scored += 1
        try:
            return task.score(example, completion)
        except MetricError as exc:
            if not self.failed:
                log.warning("%s (the example scores 0; the run stops past %.0f%% of examples)", exc, self.rate * 100)
            self.failed.append(exc)
            return Score(0.0, f"metric error: {exc}")

    def check(self) -> None:
        if self.failed and len(self.failed) > self.rate * self.scored:
            raise MetricError(f"the metric failed on {len(self.failed)} of {self.scored} examples, more than "
                              f"{self.rate:.0%}; the first: {self.failed[0]}")
