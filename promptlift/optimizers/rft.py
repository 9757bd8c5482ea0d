"""RejectionSamplingFineTuning ("poor man's RL"): sample, keep what the metric accepts, train on it.

Each round asks the current model ``samples`` times per training input at ``temperature``
(through ``Run.complete``: counted and cached), keeps the answers the task's metric scores
1.0, and trains a fresh LoRA adapter from the base model on every answer kept so far (STaR's
restart-from-base recipe, Zelikman et al. 2022). The next round samples from that adapter.
A classification task has nothing to generate: its samples are drawn from the softmax of the
choice log-probabilities at ``temperature``, so only inputs the model already gets right
with some probability are kept.

Its prompting twin is ``bootstrap`` (the same accepted samples used as demos instead of
training data, "very poor man's RL"); the ladder runs both side by side.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar, Sequence

from promptlift.checks import is_number
from promptlift.optimizers.finetune import LoRA
from promptlift.run import Run
from promptlift.types import Candidate, Completion, Example

if TYPE_CHECKING:
    from promptlift.backends.base import Backend
    from promptlift.budget import Budget
    from promptlift.optimizers.plan import Calls
    from promptlift.tasks.base import Task

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RejectionSamplingFineTuning(LoRA):
    """rounds: sample-then-train rounds. samples: draws per training input and round.
    temperature: sampling temperature (> 0). The LoRA and training settings are :class:`LoRA`'s
    (``steps``/``epochs`` apply to each round's training)."""

    name: ClassVar[str] = "rft"
    rounds: int = 2
    samples: int = 4
    temperature: float = 0.7

    def _check(self) -> None:
        super()._check()
        for name in ("rounds", "samples"):
            self.require_int(name, 1)
        self.require("temperature", is_number(self.temperature) and self.temperature > 0, "a float > 0")

    def _calls(self, task: Task, backend: Backend, budget: Budget) -> Calls:
        """The plan's call pattern (``Optimizer.plan``): :func:`promptlift.optimizers.patterns.rft`."""
        from promptlift.optimizers import patterns

        return patterns.rft(self, task, backend, budget)

    def _search(self, run: Run) -> None:
        ready = self.ready(run)
        if ready is None:
            return
        backend, hard = ready
        kept: dict[tuple[str, str], Example] = {}
        current = hard
        for round_ in range(1, self.rounds + 1):
            for example in self.accepted(run, current, run.task.train):
                kept.setdefault((example.id, example.output), example)
            log.info("rft round %d: %d accepted answers", round_, len(kept))
            if not kept:
                log.warning("rft: no sampled answer was accepted; nothing to train on")
                return
            run.require_validation()
            self.train(run, backend, hard, list(kept.values()), stage=f"{self.name} round {round_}")
            current = run.best().candidate

    def accepted(self, run: Run, candidate: Candidate, examples: Sequence[Example]) -> list[Example]:
        """Training examples whose sampled answer the metric accepts (the answer as the new target)."""
        requests = [run.task.render(candidate, e) for e in examples]
        if run.task.choices:
            completions = run.complete(requests)
            return [e for e, c in zip(examples, completions) for _ in range(self.samples)
                    if self._draw_choice(run, candidate, c) == e.output]
        draws = run.complete([replace(r, temperature=self.temperature) for r in requests for _ in range(self.samples)])
        out = []
        for i, example in enumerate(examples):
            for draw in draws[i * self.samples : (i + 1) * self.samples]:
                if run.task.score(example, run.task.resolve(candidate, draw)).value >= 1.0 and draw.text.strip():
                    out.append(replace(example, output=draw.text.strip()))
        return out

    def _draw_choice(self, run: Run, candidate: Candidate, completion: Completion) -> str:
        """One label drawn from softmax((log-prob - bias) / temperature) with the run's seeded rng."""
        bias = candidate.calibration or (0.0,) * len(completion.choice_logprobs)
        logits = [(lp - b) / self.temperature for lp, b in zip(completion.choice_logprobs, bias)]
        top = max(logits)
        weights = [math.exp(v - top) for v in logits]
        return run.task.choices[run.rng.choices(range(len(weights)), weights=weights)[0]]
