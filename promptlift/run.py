"""Run: the single evaluation surface every optimizer scores candidates through.

A Run owns the budget ledger, the response cache, the trial log and the callbacks, so these
behave the same for every optimizer. ``evaluate`` renders, calls the (cached) task backend in
chunks, resolves choices, scores, and records a Trial; ``generate`` calls the proposer model.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

from promptlift.budget import Budget, Ledger
from promptlift.cache import CachedBackend, ResponseCache
from promptlift.callbacks import Callback, notify
from promptlift.errors import BudgetExhausted, CapabilityError, ConfigError, MetricError
from promptlift.result import Trial
from promptlift.runlog import RunLog
from promptlift.tasks.base import Task
from promptlift.types import Candidate, Completion, Example, Request, Score, Usage

log = logging.getLogger(__name__)
MAX_METRIC_ERROR_RATE = 0.05  # the share of scored examples whose metric may fail before a run stops


@dataclass(frozen=True)
class Evaluation:
    """The detailed outcome of ``Run.evaluate``: the Trial plus the examples and completions."""

    trial: Trial
    examples: tuple[Example, ...]
    completions: tuple[Completion, ...]

    @property
    def mean(self) -> float:
        return self.trial.mean


class Run:
    """One optimisation run of one optimizer on one task and backend."""

    def __init__(
        self,
        task: Task,
        backend: Any,
        *,
        budget: Budget,
        seed: int = 0,
        proposer: Any = None,
        run_dir: str | Path | None = None,
        callbacks: Iterable[Callback] = (),
        cache: ResponseCache | None = None,
        config: dict[str, Any] | None = None,
        chunk: int = 32,
        metric_error_rate: float = MAX_METRIC_ERROR_RATE,
    ) -> None:
        if budget.dollars is not None:
            _require_prices(backend, proposer)
        self.task = task
        self.backend = CachedBackend(backend, cache) if cache is not None else backend
        proposer = proposer if proposer is not None else backend
        self.proposer = CachedBackend(proposer, cache) if cache is not None else proposer
        self.ledger = Ledger(budget)
        self.seed = seed
        self.rng = random.Random(seed)
        self.callbacks = tuple(callbacks)
        self.chunk = chunk
        self.trials: list[Trial] = []
        self.cache_hits = 0
        self._samples = 0
        self.metric_errors = MetricErrors(metric_error_rate)
        self.log = RunLog(run_dir) if run_dir is not None else None
        self.config = config or {}
        if self.log:
            self.log.start(self.config)

    # --- scoring -------------------------------------------------------------------------
    def evaluate(
        self,
        candidate: Candidate,
        examples: Sequence[Example],
        *,
        split: str = "train",
        parents: Sequence[int] = (),
        info: dict[str, Any] | None = None,
    ) -> Evaluation:
        """Score ``candidate`` on ``examples`` and record the Trial (raises BudgetExhausted first)."""
        examples = tuple(examples)
        if not examples:
            raise ConfigError("Run.evaluate needs at least one example.")
        self.ledger.reserve(metric_calls=len(examples), lm_calls=len(examples))
        started = time.perf_counter()
        requests = [self.task.render(candidate, e) for e in examples]
        completions, usage = self._complete(self.backend, requests, progress=True)
        completions = [self.task.resolve(candidate, c) for c in completions]
        scores = [self.metric_errors.score(self.task, e, c) for e, c in zip(examples, completions, strict=True)]
        self.ledger.spend(Usage(), metric_calls=len(examples))
        trial = Trial(
            number=len(self.trials),
            candidate=candidate,
            split=split,
            example_ids=tuple(e.id for e in examples),
            scores=tuple(s.value for s in scores),
            predictions=tuple(c.text for c in completions),
            feedback=tuple(s.feedback for s in scores),
            parents=tuple(parents),
            info=info or {},
            metric_calls=self.ledger.metric_calls,
            usage=usage,
            seconds=time.perf_counter() - started,
        )
        self._record(trial)
        self.metric_errors.check()  # past the threshold: stop, with this trial saved
        return Evaluation(trial, examples, tuple(completions))

    def validate(self, candidate: Candidate, **kwargs: Any) -> Evaluation:
        """``evaluate`` on the task's full validation split (the trials ``best`` chooses from)."""
        return self.evaluate(candidate, self.task.val, split="val", **kwargs)

    def complete(self, requests: Sequence[Request], *, proposer: bool = False) -> list[Completion]:
        """Call the task model (or the proposer) outside any trial, counted in the budget.

        Used for calibration probes, bootstrapping and proposals. Requests with
        ``temperature > 0`` get distinct sample numbers, so repeated draws are not one cache hit.
        """
        stamped = []
        for request in requests:
            if request.temperature > 0:
                self._samples += 1
                request = _with_sample(request, self._samples)
            stamped.append(request)
        self.ledger.reserve(metric_calls=0, lm_calls=len(stamped))
        completions, _ = self._complete(self.proposer if proposer else self.backend, stamped, progress=False)
        return completions

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        """Call the proposer model (the model that writes new instructions)."""
        return self.complete(requests, proposer=True)

    def measure(self, candidate: Candidate, examples: Sequence[Example]) -> float:
        """Mean score outside the budget and the trial log (for final test-split reporting)."""
        requests = [self.task.render(candidate, e) for e in examples]
        completions, _ = self._complete(self.backend, requests, progress=False, charge=False)
        scores = [self.metric_errors.score(self.task, e, self.task.resolve(candidate, c))  # failures score 0, logged
                  for e, c in zip(examples, completions)]
        return sum(s.value for s in scores) / len(scores)

    def _complete(
        self, backend: Any, requests: list[Request], *, progress: bool, charge: bool = True
    ) -> tuple[list[Completion], Usage]:
        _require_raw_prompt(backend, requests)
        completions: list[Completion] = []
        usage = Usage()
        for start in range(0, len(requests), self.chunk):
            if charge:
                self.ledger.check()
            part = backend.complete(requests[start : start + self.chunk])
            spent = sum((c.usage for c in part), Usage())
            if charge:
                self.ledger.spend(spent)
                self.cache_hits += sum(c.cached for c in part)
            usage = usage + spent
            completions.extend(part)
            if progress:
                notify(self.callbacks, "on_examples", self, len(part))
        return completions, usage

    # --- state ---------------------------------------------------------------------------
    def _record(self, trial: Trial) -> None:
        self.trials.append(trial)
        if self.log:
            self.log.append(trial)
        log.info("trial %d (%s, n=%d): %.4f", trial.number, trial.split, len(trial.scores), trial.mean)
        notify(self.callbacks, "on_trial", self, trial)

    def val_trials(self) -> list[Trial]:
        return [t for t in self.trials if t.split == "val"]

    def best(self) -> Trial:
        """The validation trial with the highest mean; the earliest wins ties."""
        trials = self.val_trials()
        if not trials:
            limit = self.ledger.budget.metric_calls
            allows = f", the budget allows {limit} metric calls" if limit is not None else ""
            raise BudgetExhausted(f"not even the seed candidate could be validated (val has {len(self.task.val)} "
                                  f"examples{allows})")
        return max(trials, key=lambda t: (t.mean, -t.number))

    def remaining_metric_calls(self) -> int | None:
        return self.ledger.remaining_metric_calls()

    def sample(self, population: Sequence[Any], k: int) -> list[Any]:
        """A seeded random sample (the run's only source of randomness for optimizers)."""
        return self.rng.sample(list(population), min(k, len(population)))


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


def _require_raw_prompt(backend: Any, requests: Sequence[Request]) -> None:
    """A plain-format (raw prompt) request needs a backend with ``capabilities.raw_prompt``."""
    capabilities = getattr(backend, "capabilities", None)
    if capabilities is None or getattr(capabilities, "raw_prompt", True):
        return
    if any(r.prompt is not None for r in requests):
        raise CapabilityError(
            f"the plain prompt format (a raw completion prompt) needs a backend with 'raw_prompt'; "
            f"{backend.id} has only chat: use format='chat'",
            backend=backend.id,
        )


def _with_sample(request: Request, sample: int) -> Request:
    return replace(request, sample=sample)


def _require_prices(*backends: Any) -> None:
    for backend in backends:
        if backend is not None and not getattr(backend, "prices_known", True):
            raise ConfigError(
                f"A dollar budget needs known prices, but the price of {backend.id} is unknown; "
                "set a token budget instead."
            )
