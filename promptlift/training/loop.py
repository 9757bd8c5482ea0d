"""The training loop every gradient rung shares: steps, budget, validation, early stopping.

Each step's examples are charged to the run as LM calls with their prompt tokens and seconds
(``Run.require`` before, ``Run.charge`` after), so ``lm_calls``, ``tokens`` and ``seconds``
limits bound training as they bound prompting. Every ``eval_every`` steps the current
parameters are saved (``checkpoint``: a candidate referring to them by path) and validated
through ``Run.validate``: the same cache, budget and trial log as every other optimizer, so
``Run.best`` keeps the best checkpoint. Each validated trial records what training cost so
far: ``train_seconds``, ``train_tokens``, ``trainable_parameters``.
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from promptlift.run import Run
from promptlift.types import Candidate, Usage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Schedule:
    """How long to train and how often to validate. ``patience``: validations without
    improvement before stopping (None: never stop early)."""

    steps: int
    batch_size: int
    eval_every: int
    patience: int | None


class Loop:
    """Train ``trainer`` on ``data`` under ``schedule``, validating ``checkpoint()`` as it goes."""

    def __init__(self, run: Run, trainer: Any, data: Sequence[Any], schedule: Schedule, *,
                 checkpoint: Callable[[], Candidate], info: Callable[[], dict[str, Any]] = dict,
                 parent: int | None = None, stage: str = "trained") -> None:
        self.run, self.trainer, self.data, self.schedule = run, trainer, data, schedule
        self.checkpoint, self.info, self.parent, self.stage = checkpoint, info, parent, stage
        self.best = max((t.mean for t in run.val_trials()), default=0.0)
        self.stale = 0
        self.seconds = 0.0
        self.tokens = 0
        self.step_seconds: list[float] = []

    def train(self) -> None:
        """Run the schedule; returns early when patience runs out or the budget cannot validate."""
        from promptlift.training.packed import batches

        total = self.schedule.steps
        stream = batches(self.data, self.schedule.batch_size, self.run.rng)
        for step in range(1, total + 1):
            batch = next(stream)
            self.run.require(lm_calls=len(batch))
            started = time.perf_counter()
            loss = self.trainer.step(batch)
            seconds = time.perf_counter() - started
            tokens = sum(e.tokens for e in batch)
            self.seconds, self.tokens = self.seconds + seconds, self.tokens + tokens
            self.step_seconds.append(seconds)
            self.run.charge(Usage(calls=len(batch), prompt_tokens=tokens, seconds=seconds))
            if step % self.schedule.eval_every and step != total:
                continue
            if not self.validate(step, loss, final=step == total) or not self.run.affords_validation():
                return

    def validate(self, step: int, loss: float, *, final: bool) -> bool:
        """Save and validate the current parameters; False to stop (patience run out)."""
        candidate = self.checkpoint()
        info: dict[str, Any] = {
            "stage": self.stage, "step": step, "train_loss": round(loss, 6),
            "trainable_parameters": sum(p.numel() for p in self.trainer.trainable),
            "train_seconds": round(self.seconds, 3), "train_tokens": self.tokens,
            "seconds_per_step": round(statistics.median(self.step_seconds or [0.0]), 6),  # the first step warms up
            **self.info(),
        }
        self.step_seconds = []
        parents = () if self.parent is None else (self.parent,)
        mean = self.run.validate(candidate, parents=parents, info=info).mean
        if mean > self.best:
            self.best, self.stale = mean, 0
            return True
        self.stale += 1
        if self.schedule.patience is not None and self.stale >= self.schedule.patience and not final:
            log.info("early stop at step %d: %d validations without improvement", step, self.stale)
            return False
        return True


def total_steps(steps: int, epochs: float | None, n_train: int, batch_size: int) -> int:
    """``steps``, or ``epochs`` passes over ``n_train`` examples when set."""
    import math

    return max(1, math.ceil(epochs * n_train / batch_size)) if epochs is not None else steps
