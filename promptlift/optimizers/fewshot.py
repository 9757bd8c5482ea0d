"""FewShot: random search over demo sets drawn from the training split.

Each candidate keeps the seed instruction and format and takes ``k`` demos from train; for a
classification task the demos are balanced across labels (a small model copies the label
mix of its demos). Every candidate is scored on the full validation split.

Optionally each candidate also draws a prompt format (``formats``) and a verbalizer
(``verbalizers``), and is calibrated (``calibrate``: its label bias measured and stored in the
candidate, see :mod:`promptlift.calibration`) before it is scored.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Sequence

from promptlift import calibration, verbalizers
from promptlift.demos import draw_demos
from promptlift.optimizers.base import Optimizer
from promptlift.optimizers.options import Calibrate, Formats, PromptOptions, Verbalizers
from promptlift.optimizers.prompt_cap import fit_demos
from promptlift.run import Run
from promptlift.types import Candidate, Example

if TYPE_CHECKING:
    from promptlift.backends.base import Backend
    from promptlift.budget import Budget
    from promptlift.optimizers.plan import Calls
    from promptlift.tasks.base import Task


@dataclasses.dataclass(frozen=True, kw_only=True)
class FewShot(PromptOptions, Optimizer):
    """Labeled few-shot random search.

    k: demos per candidate. balanced: for choice tasks, spread demos evenly over labels.
    max_candidates: stop after this many candidates even if budget is left.
    formats, verbalizers, calibrate: the prompt options (see :mod:`promptlift.optimizers.options`);
    each candidate draws a format and label words from them and is calibrated before scoring.
    zero_shot: with formats or calibrate, first try the seed without demos in each format.
    """

    name = "fewshot"
    k: int = 4
    balanced: bool = True
    max_candidates: int = 1000
    formats: Formats = ()
    verbalizers: Verbalizers = ()
    calibrate: Calibrate = None
    zero_shot: bool = True

    def _check(self) -> None:
        self.require_int("k", 1)
        self.require_int("max_candidates", 1)

    def _calls(self, task: Task, backend: Backend, budget: Budget) -> Calls:
        """The plan's call pattern (``Optimizer.plan``): :func:`promptlift.optimizers.patterns.fewshot`."""
        from promptlift.optimizers import patterns

        return patterns.fewshot(self, task, backend, budget)

    def _search(self, run: Run) -> None:
        task = run.task
        fmts, words, method = self.search_formats(run), self.search_verbalizers(run), self.calibration_method(run)
        seen = set() if method else {task.seed}  # the seed trial itself is uncalibrated
        for candidate in self._zero_shot(task.seed, fmts, method):  # in the first label words (the task's own)
            self._try(run, self.dress(run, candidate, (), words[:1]), seen, method)
        for _ in range(self.max_candidates):
            demos = self.draw(run, task.train, task.choices)
            self._try(run, fit_demos(run, self.dress(run, task.seed.with_(demos=tuple(demos)), fmts, words)), seen, method)

    def _zero_shot(self, seed: Candidate, fmts: Sequence[str], method: str | None) -> list[Candidate]:
        """The seed without demos in each searched format (calibrated), tried before any demo set:
        on a small model demos can hurt, and then only these candidates show it. They keep the
        first label words (the task's own): a random draw tried "yes/no" for positive/negative
        (0.52-0.53 on sentiment val where the labels themselves score 0.75)."""
        if not self.zero_shot or not (fmts or method):
            return []
        return [seed.with_(format=f) for f in (fmts or (seed.format,))]

    def _try(self, run: Run, candidate: Candidate, seen: set[Candidate], method: str | None) -> None:
        """Calibrate (if asked) and validate ``candidate`` unless it was tried already."""
        if candidate in seen:
            return
        seen.add(candidate)
        if method:
            run.require_validation()  # no probe calls for a candidate the budget cannot score
        candidate = calibration.calibrate(run, candidate, method)
        info = {"k": len(candidate.demos), "format": candidate.format}
        run.validate(candidate, parents=(0,), info=info | ({"calibrate": method} if method else {}))

    def dress(self, run: Run, candidate: Candidate, fmts: Sequence[str], words: Sequence[tuple[str, ...]]) -> Candidate:
        """``candidate`` with a format and a verbalizer drawn from the options (if any)."""
        if fmts:
            candidate = candidate.with_(format=run.rng.choice(list(fmts)))
        if words:
            candidate = verbalizers.apply(run.task, candidate, run.rng.choice(list(words)))
        return candidate

    def draw(self, run: Run, pool: Sequence[Example], choices: Sequence[str]) -> list[Example]:
        """k demos from ``pool`` (label-balanced when asked: :func:`promptlift.demos.draw_demos`)."""
        return draw_demos(pool, self.k, run.rng, choices, balanced=self.balanced)
