"""FewShot: random search over demo sets drawn from the training split.

Each candidate keeps the seed instruction and format and takes ``k`` demos from train; for a
classification task the demos are balanced across labels (a small model copies the label
mix of its demos). Every candidate is scored on the full validation split.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Sequence

from promptlift.optimizers.base import Optimizer
from promptlift.run import Run
from promptlift.types import Example


@dataclasses.dataclass(frozen=True, kw_only=True)
class FewShot(Optimizer):
    """Labeled few-shot random search.

    k: demos per candidate. balanced: for choice tasks, spread demos evenly over labels.
    max_candidates: stop after this many candidates even if budget is left.
    """

    name = "fewshot"
    k: int = 4
    balanced: bool = True
    max_candidates: int = 1000

    def _check(self) -> None:
        self.require("k", isinstance(self.k, int) and self.k >= 1, "an int >= 1")
        self.require("max_candidates", isinstance(self.max_candidates, int) and self.max_candidates >= 1, "an int >= 1")

    def _search(self, run: Run) -> None:
        task = run.task
        seen = {task.seed}
        for _ in range(self.max_candidates):
            demos = self.draw(run, task.train, task.choices)
            candidate = task.seed.with_(demos=tuple(demos))
            if candidate in seen:
                continue
            seen.add(candidate)
            run.validate(candidate, parents=(0,), info={"k": len(demos)})

    def draw(self, run: Run, pool: Sequence[Example], choices: Sequence[str]) -> list[Example]:
        """k demos from ``pool``: balanced round-robin over labels when asked, then shuffled."""
        if not (self.balanced and choices):
            return run.sample(pool, self.k)
        by_label: dict[str, list[Example]] = defaultdict(list)
        for example in pool:
            by_label[example.output].append(example)
        labels = [c for c in choices if by_label[c]]
        queues = {c: run.sample(by_label[c], self.k) for c in labels}
        order = run.sample(labels, len(labels))
        demos = [queues[order[i % len(order)]].pop() for i in range(min(self.k, len(pool)))]
        run.rng.shuffle(demos)
        return demos
