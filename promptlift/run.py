"""Run: the single evaluation surface every optimizer scores candidates through.

A Run owns the budget ledger, the response cache, the trial log and the callbacks, so these
behave the same for every optimizer. ``evaluate`` renders, calls the (cached) task backend in
chunks, resolves choices, scores, and records a Trial; ``generate`` calls the proposer model.
Under ``max_prompt_tokens`` a candidate whose prompts are longer is recorded as inadmissible
before any model call (``promptlift.admission``), the same for every optimizer.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

from promptlift import objectives as costs
from promptlift.admission import PromptCap
from promptlift.answers import answer_many
from promptlift.backends.base import Backend, prices_known
from promptlift.budget import Budget, Ledger
from promptlift.cache import CachedBackend, ResponseCache, unwrap
from promptlift.callbacks import Callback, notify
from promptlift.callbacks import check as check_callbacks
from promptlift.errors import BudgetExhausted, ConfigError
from promptlift.formats import require_raw_prompt
from promptlift.result import Trial
from promptlift.runlog import RunLog
from promptlift.tasks.base import Task
from promptlift.tasks.metric_errors import MAX_METRIC_ERROR_RATE, MetricErrors
from promptlift.types import Candidate, Completion, Example, Request, Usage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    """The detailed outcome of ``Run.evaluate``: the Trial plus the examples and completions."""

    trial: Trial
    examples: tuple[Example, ...]
    completions: tuple[Completion, ...]

    @property
    def mean(self) -> float:
        return self.trial.mean


@dataclass(frozen=True)
class Job:
    """One candidate to score on some examples, with what its Trial records (``Run.evaluate_many``)."""

    candidate: Candidate
    examples: tuple[Example, ...]
    role: str = "train"  # Trial.role
    parents: tuple[int, ...] = ()
    info: dict[str, Any] | None = None


class Run:
    """One optimisation run of one optimizer on one task and backend."""

    def __init__(
        self,
        task: Task,
        backend: Backend,
        *,
        budget: Budget,
        seed: int = 0,
        proposer: Backend | None = None,
        run_dir: str | Path | None = None,
        callbacks: Iterable[Callback] = (),
        cache: ResponseCache | None = None,
        config: dict[str, Any] | None = None,
        chunk: int = 32,
        metric_error_rate: float = MAX_METRIC_ERROR_RATE,
        objectives: str | Sequence[str] = ("score",),
        max_prompt_tokens: int | None = None,
    ) -> None:
        if budget.dollars is not None:
            _require_prices(backend, proposer)
        self.task = task
        self.backend: Backend = CachedBackend(backend, cache) if cache is not None else backend
        proposer = proposer if proposer is not None else backend
        self.proposer: Backend = CachedBackend(proposer, cache) if cache is not None else proposer
        self._ledger = Ledger(budget)
        self.seed = seed
        self.rng = random.Random(seed)
        self.callbacks = check_callbacks(callbacks)
        self.chunk = chunk
        self.trials: list[Trial] = []
        self.cache_hits = 0
        self._samples = 0
        self.metric_errors = MetricErrors(metric_error_rate)
        self._proposals: dict[str, Usage] = {}  # instruction -> what the proposer calls that wrote it cost
        self.log = RunLog(run_dir) if run_dir is not None else None
        self.objectives = costs.parse(objectives)
        self._cap = PromptCap(task, backend, max_prompt_tokens)
        self.config = (config or {}) | ({"objectives": list(self.objectives)} if len(self.objectives) > 1 else {}) | (
            {"max_prompt_tokens": max_prompt_tokens} if max_prompt_tokens is not None else {})
        if self.log:
            self.log.start(self.config)

    # --- scoring -------------------------------------------------------------------------
    def evaluate(
        self,
        candidate: Candidate,
        examples: Sequence[Example],
        *,
        role: str = "train",
        parents: Sequence[int] = (),
        info: dict[str, Any] | None = None,
        split: str | None = None,
    ) -> Evaluation:
        """Score ``candidate`` on ``examples`` and record the Trial (raises BudgetExhausted first);
        ``role`` is the Trial's (``split``: its old name, still accepted)."""
        return self.evaluate_many([Job(candidate, tuple(examples), split or role, tuple(parents), info)])[0]

    def evaluate_many(self, jobs: Sequence[Job]) -> list[Evaluation]:
        """Score several candidates with one batched backend call; one Trial each, in order.

        A candidate over ``max_prompt_tokens`` is turned away (a trial of zeros, no model call).
        The metric and LM calls of every job are reserved together first (all or nothing), so
        a batch never exceeds those limits; the requests then go to the backend in chunks of
        ``chunk``, like one evaluation's. Each trial's ``seconds`` is its share of the batch's
        model time (by requests) plus its own scoring.
        """
        if any(not job.examples for job in jobs):
            raise ConfigError("Run.evaluate needs at least one example.")
        fits = [self.admissible(j.candidate) for j in jobs]
        scored = [j for j, ok in zip(jobs, fits) if ok]
        if scored:
            self._ledger.reserve(metric_calls=sum(len(j.examples) for j in scored),
                                 lm_calls=sum(len(j.examples) * max(1, j.candidate.votes) for j in scored))
        started = time.perf_counter()
        answers = iter(self._answers_many(scored, charge=True) if scored else [])
        share = (time.perf_counter() - started) / max(1, sum(len(j.examples) for j in scored))
        return [self._trial(job, next(answers), share * len(job.examples)) if ok else
                self._turned_away(job)
                for job, ok in zip(jobs, fits)]

    def _trial(self, job: Job, completions: Sequence[Completion], model_seconds: float) -> Evaluation:
        """Score one job's answers and record its Trial."""
        self._ledger.spend(Usage(), metric_calls=len(job.examples))
        trial = self._scored(len(self.trials), job, completions, model_seconds, metric_calls=self._ledger.metric_calls,
                             proposal=self._proposals.get(job.candidate.instruction))
        if job.role == "val" and not self._cap.fits(trial.per_query["prompt_tokens"]):  # estimated within, reported over
            trial = replace(trial, admissible=False)
        self._record(trial)
        self.metric_errors.check()  # past the threshold: stop, with this trial saved
        return Evaluation(trial, job.examples, tuple(completions))

    def _scored(self, number: int, job: Job, completions: Sequence[Completion], model_seconds: float,
                **extra: Any) -> Trial:
        """``job``'s Trial from its answers (a failing metric scores 0, logged); ``seconds`` adds the scoring."""
        started = time.perf_counter()
        examples, texts = job.examples, [c.text for c in completions]
        usage = sum((c.usage for c in completions), Usage())
        scores = [self.metric_errors.score(self.task, e, c) for e, c in zip(examples, completions, strict=True)]
        return Trial(number=number, candidate=job.candidate, role=job.role, example_ids=tuple(e.id for e in examples),
                     scores=tuple(s.value for s in scores), predictions=tuple(texts),
                     feedback=tuple(s.feedback for s in scores), parents=job.parents, info=job.info or {},
                     usage=usage, seconds=model_seconds + time.perf_counter() - started,
                     value=self.task.aggregate(examples, texts), per_query=costs.per_query(usage, len(examples)),
                     **extra)

    def validate(self, candidate: Candidate, **kwargs: Any) -> Evaluation:
        """``evaluate`` on the task's full validation split (the trials ``best`` chooses from)."""
        return self.evaluate(candidate, self.task.val, role="val", **kwargs)

    def complete(self, requests: Sequence[Request], *, proposer: bool = False) -> list[Completion]:
        """Call the task model (or the proposer) outside any trial, counted in the budget.

        Used for calibration probes, bootstrapping and proposals. Requests with
        ``temperature > 0`` get distinct sample numbers, so repeated draws are not one cache hit.
        """
        stamped = []
        for request in requests:
            if request.temperature > 0:
                self._samples += 1
                request = replace(request, sample=self._samples)
            stamped.append(request)
        self._ledger.reserve(metric_calls=0, lm_calls=len(stamped))
        completions, _ = self._complete(self.proposer if proposer else self.backend, stamped, progress=False)
        return completions

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        """Call the proposer model (the model that writes new instructions)."""
        return self.complete(requests, proposer=True)

    def record_proposal(self, instruction: str, usage: Usage) -> None:
        """Note what the proposer calls that wrote ``instruction`` cost (tokens, dollars, seconds):
        every trial of a candidate with that instruction carries it as ``Trial.proposal``. The
        first record of an instruction stands (a rewrite of a known instruction is not new)."""
        self._proposals.setdefault(instruction, usage)

    def measure(self, candidate: Candidate, examples: Sequence[Example]) -> float:
        """The score outside the budget and the trial log (for final test-split reporting)."""
        return self.score(candidate, examples).mean

    def score(self, candidate: Candidate, examples: Sequence[Example], *, role: str = "test",
              number: int = -1, progress: bool = False) -> Trial:
        """A Trial with every example's prediction, outside the budget and the trial log (the
        test split after the search); ``progress`` reports the examples to the callbacks."""
        started, job = time.perf_counter(), Job(candidate, tuple(examples), role)
        (completions,) = self._answers_many([job], charge=False, progress=progress)
        return self._scored(number, job, completions, time.perf_counter() - started)

    def _answers_many(self, jobs: Sequence[Job], *, charge: bool,
                      progress: bool | None = None) -> list[list[Completion]]:
        """Every job's resolved answers from one batched call of the task model."""
        show = charge if progress is None else progress
        voting = any(j.candidate.votes > 1 for j in jobs)

        def complete(requests: list[Request]) -> list[Completion]:
            return self._complete(self.backend, requests, progress=show and not voting, charge=charge)[0]

        answers = answer_many(self.task, [(j.candidate, j.examples) for j in jobs], complete)
        if show and voting:
            notify(self.callbacks, "on_examples", self, sum(len(j.examples) for j in jobs))
        return answers

    def _complete(
        self, backend: Backend, requests: list[Request], *, progress: bool, charge: bool = True
    ) -> tuple[list[Completion], Usage]:
        require_raw_prompt(backend, requests)
        completions: list[Completion] = []
        usage = Usage()
        for start in range(0, len(requests), self.chunk):
            if charge:
                self._ledger.check()
            part = backend.complete(requests[start : start + self.chunk])
            spent = sum((c.usage for c in part), Usage())
            if charge:
                self._ledger.spend(spent)
                self.cache_hits += sum(c.cached for c in part)
            usage = usage + spent
            completions.extend(part)
            if progress:
                notify(self.callbacks, "on_examples", self, len(part))
        return completions, usage

    # --- objectives and the prompt-token cap (promptlift.admission) ------------------------
    def prompt_tokens(self, candidate: Candidate) -> float:
        """``candidate``'s prompt tokens per query on the validation split, counted without a model call
        (rendered, then the backend's tokenizer; a soft prompt's virtual tokens included)."""
        return self._cap.tokens(candidate)

    def admissible(self, candidate: Candidate) -> bool:
        """Whether ``candidate`` fits ``max_prompt_tokens`` (always, without a cap). The seed must fit:
        it is the baseline every candidate is compared with."""
        return self._cap.admits(candidate)

    def cap_warnings(self) -> list[str]:
        """What the result must say about ``max_prompt_tokens``: nothing scored fitted it."""
        return self._cap.warnings(self.val_trials())

    def _turned_away(self, job: Job) -> Evaluation:
        """Record an over-cap candidate's trial of zeros (no model call, no metric call spent)."""
        trial = self._cap.refusal(len(self.trials), job.candidate, job.examples, job.role, job.parents, job.info,
                                 self._ledger.metric_calls)
        self._record(trial)
        return Evaluation(trial, job.examples, tuple(Completion(text="") for _ in job.examples))

    def front(self) -> list[Trial]:
        """The validation trials on the Pareto front of the run's objectives (admissible ones only)."""
        return costs.front(self.trials, self.objectives)

    # --- state ---------------------------------------------------------------------------
    def _record(self, trial: Trial) -> None:
        self.trials.append(trial)
        if self.log:
            self.log.append(trial)
        log.info("trial %d (%s, n=%d): %.4f", trial.number, trial.role, len(trial.scores), trial.mean)
        notify(self.callbacks, "on_trial", self, trial)

    def val_trials(self) -> list[Trial]:
        return [t for t in self.trials if t.role == "val"]

    def best(self) -> Trial:
        """The admissible validation trial with the highest mean; the earliest wins ties (the seed's
        trial when nothing was admissible: ``Result.warnings`` then says so)."""
        trials = self.val_trials()
        trials = [t for t in trials if t.admissible] or trials[:1]
        if not trials:
            limit = self._ledger.budget.metric_calls
            allows = f", the budget allows {limit} metric calls" if limit is not None else ""
            raise BudgetExhausted(f"not even the seed candidate could be validated (val has {len(self.task.val)} "
                                  f"examples{allows})")
        return max(trials, key=lambda t: (t.mean, -t.number))

    @property
    def max_prompt_tokens(self) -> int | None:
        """The prompt-token cap per query (None: no cap)."""
        return self._cap.limit

    @property
    def model(self) -> Backend:
        """The task backend itself, without the response cache (what trainers read weights from)."""
        return unwrap(self.backend)

    # --- budget questions (nothing outside this module touches the ledger) ------------------
    @property
    def budget(self) -> Budget:
        return self._ledger.budget

    @property
    def metric_calls(self) -> int:
        """Metric calls spent so far (examples scored in trials)."""
        return self._ledger.metric_calls

    @property
    def usage(self) -> Usage:
        """What the task and proposer models have cost so far (training steps included)."""
        return self._ledger.usage

    def remaining_metric_calls(self) -> int | None:
        """Metric calls the budget has left (None: no metric-call limit)."""
        return self._ledger.remaining_metric_calls()

    def affords(self, metric_calls: int) -> bool:
        """Whether the metric-call budget left pays for an evaluation of ``metric_calls`` examples."""
        left = self._ledger.remaining_metric_calls()
        return left is None or left >= metric_calls

    def affords_validation(self, extra: int = 0) -> bool:
        """Whether the budget pays for ``extra`` metric calls and then a full validation."""
        return self.affords(extra + len(self.task.val))

    def require_validation(self) -> None:
        """Raise BudgetExhausted("metric_calls") unless a full validation is still affordable
        (asked before spending calls, e.g. calibration probes, on a candidate the budget cannot score)."""
        if not self.affords_validation():
            raise BudgetExhausted("metric_calls")

    def require(self, *, metric_calls: int = 0, lm_calls: int = 0) -> None:
        """Raise BudgetExhausted unless the budget pays for this many metric and LM calls now."""
        self._ledger.reserve(metric_calls=metric_calls, lm_calls=lm_calls)

    def charge(self, usage: Usage) -> None:
        """Count model work done outside ``evaluate``/``complete`` (a training step) against the budget."""
        self._ledger.spend(usage)

    def sample(self, population: Sequence[Any], k: int) -> list[Any]:
        """A seeded random sample (the run's only source of randomness for optimizers)."""
        return self.rng.sample(list(population), min(k, len(population)))


def _require_prices(*backends: Backend | None) -> None:
    for backend in backends:
        if backend is not None and not prices_known(backend):
            raise ConfigError(
                f"A dollar budget needs known prices, but the price of {backend.id} is unknown; "
                "set a token budget instead."
            )
