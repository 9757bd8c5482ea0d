"""SimilarityFewShot: demos chosen per input by nearest neighbours in an embedding space.

A fixed ``Candidate.demos`` cannot hold demos that change with the input, so the candidate
carries a ``Retrieval`` component instead: the demo pool (inline), ``k``, the embedder's name
and whether to balance labels. ``Task.render`` resolves it for each input (see
``promptlift.tasks.retrieval``), so the same candidate scores, exports and re-runs anywhere,
including ``promptlift evaluate``. The search is a small grid: ``k`` x label balancing x prompt
format, each point scored on the full validation split, in an order that tries every ``k``
before it repeats one, so a small budget still sees the range.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from typing import TYPE_CHECKING

from promptlift import calibration
from promptlift.checks import is_int
from promptlift.embeddings import EMBEDDERS
from promptlift.optimizers.base import Optimizer
from promptlift.optimizers.options import Calibrate, Formats, PromptOptions
from promptlift.run import Run
from promptlift.tasks import retrieval
from promptlift.types import Retrieval

if TYPE_CHECKING:
    from promptlift.backends.base import Backend
    from promptlift.budget import Budget
    from promptlift.optimizers.plan import Calls
    from promptlift.tasks.base import Task

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SimilarityFewShot(PromptOptions, Optimizer):
    """Nearest-neighbour demos per input (KNN few-shot), searched over k, balancing and format.

    ks: the numbers of demos to try. embedder: "minilm" (all-MiniLM-L6-v2, offline) or
    "hashing" (character trigrams). balanced: True/False, or None to try both (choice tasks).
    pool_size: how many training examples form the pool (None: all, else a seeded sample).
    formats, calibrate: the prompt options (see :mod:`promptlift.optimizers.options`); each
    format is a grid point, each point calibrated before scoring.
    """

    name = "similarity"
    ks: tuple[int, ...] = (1, 2, 4, 8)
    embedder: str = "minilm"
    balanced: bool | None = None
    pool_size: int | None = None
    formats: Formats = ()
    calibrate: Calibrate = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ks", (self.ks,) if isinstance(self.ks, int) else tuple(self.ks))
        super().__post_init__()

    def _check(self) -> None:
        self.require("ks", bool(self.ks) and all(is_int(k, 1) for k in self.ks),
                     "a non-empty list of ints >= 1")
        self.require("embedder", self.embedder in EMBEDDERS, f"one of {list(EMBEDDERS)}")
        self.require("balanced", self.balanced in (None, True, False), "True, False or None")
        self.require("pool_size", self.pool_size is None or is_int(self.pool_size, 1),
                     "None or an int >= 1")

    def _calls(self, task: Task, backend: Backend, budget: Budget) -> Calls:
        """The plan's call pattern (``Optimizer.plan``): :func:`promptlift.optimizers.patterns.similarity`."""
        from promptlift.optimizers import patterns

        return patterns.similarity(self, task, backend, budget)

    def _search(self, run: Run) -> None:
        task = run.task
        pool = task.train if self.pool_size is None else tuple(run.sample(task.train, self.pool_size))
        if not pool:
            log.warning("the task has no training examples to retrieve demos from")
            return
        retrieval.warm(task, Retrieval(pool=pool, embedder=self.embedder), task.val + task.test)
        for k, balanced, fmt in self.grid(run):
            run.require_validation()
            spec = Retrieval(pool=pool, k=k, embedder=self.embedder, balanced=balanced)
            candidate = task.seed.with_(retrieval=spec, **({"format": fmt} if fmt else {}))
            candidate = calibration.calibrate(run, candidate, self.calibration_method(run))
            run.validate(candidate, parents=(0,), info={"k": k, "balanced": balanced, "embedder": self.embedder})

    def grid(self, run: Run) -> list[tuple[int, bool, str | None]]:
        """The (k, balanced, format) points, every k first, then the other settings."""
        choices = bool(run.task.choices)
        balancing = [False, True] if self.balanced is None and choices else [bool(self.balanced) and choices]
        fmts: list[str | None] = [None]  # None: the seed's format
        if self.formats:
            fmts = list(self.search_formats(run))
        settings = list(itertools.product(balancing, fmts))
        return [(k, b, f) for b, f in settings for k in dict.fromkeys(self.ks)]
