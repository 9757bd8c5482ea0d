"""The plan of a run before it starts: calls, tokens, dollars and seconds, without a model call.

Each optimizer knows its own call pattern (``Optimizer._calls``, defaults in ``base.py``,
overrides in :mod:`promptlift.optimizers.patterns`): metric calls, task-model requests
(the seed's validation, minibatches, calibration probes), which of them repeat a request
the response cache already answered in the same run, proposer requests and the smallest
budget that validates one new candidate after the seed. :func:`build` turns that into a
:class:`Plan`:

- **Prompt tokens** are counted by rendering the seed and a typical searched candidate (the
  demos it usually has) on a few validation examples with the backend's own tokenizer where
  it has one offline (llama.cpp's ``tokens``, torch's ``encode``); otherwise 4 characters per
  token, and the plan says so. Completion tokens are upper bounds (``max_tokens`` per
  generated answer, one per choice-scored answer).
- **Dollars** come from the backend's prices (``backends/usage.py``); a model whose price is
  unknown keeps its dollars unknown (None), a local engine costs 0.
- **Seconds** come from the engine's measured throughput: the per-call seconds stored with
  the answers of this backend already in the response cache (the most recent ones), as
  seconds per choice-scored call and per generated token, divided by the backend's concurrency.
  With nothing stored the time is unknown; a real run plans again once its first calls are
  timed (the seed's validation; a proposer's first three answers), and the CLI's ``TimeEstimate``
  callback prints that time.

No request is ever sent by :func:`build`; test-split scoring (outside the budget) is planned
as its own part.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from promptlift import objectives
from promptlift.backends.base import concurrency, dollars
from promptlift.budget import Budget
from promptlift.cache import ResponseCache, unwrap
from promptlift.tasks.base import Task
from promptlift.types import Candidate, Message, Request

if TYPE_CHECKING:
    from promptlift.backends.base import Backend
    from promptlift.optimizers.base import Optimizer

log = logging.getLogger(__name__)

SAMPLE = 8  # examples rendered to count a candidate's prompt tokens
RATE_ROWS = 2000  # most recent cached answers a rate is measured from
MIN_GENERATED = 3  # generated answers a per-token rate needs (one short answer is mostly its prompt's processing)


@dataclass(frozen=True)
class Calls:
    """An optimizer's call pattern for one task and budget (what ``Optimizer._calls`` returns).

    metric_calls: examples scored in trials, the seed's validation included.
    task_requests: task-model requests of the search (trials, calibration probes, bootstrap
    teachers); ``repeats`` of them ask what an earlier request of the same run asked (answered
    by the response cache when there is one). ``seed_requests`` of them are at the seed's
    prompt length, the rest at ``typical``'s. proposer_requests: requests to the proposer,
    each ``proposer_prompt`` long and writing at most ``proposal_tokens``. candidates: new
    candidates validated; proposals: proposer prompts sent. min_budget: the smallest
    metric-call budget that validates one new candidate after the seed; first: what that
    first step is (for the error). samples: requests per scored example (votes).
    """

    metric_calls: int
    task_requests: int
    seed_requests: int
    min_budget: int
    first: str
    repeats: int = 0
    proposer_requests: int = 0
    candidates: int = 0
    proposals: int = 0
    typical: Candidate | None = None
    proposer_prompt: str = ""
    proposal_tokens: int = 0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Part:
    """One line of a plan: requests to one model for one phase, and what they cost."""

    name: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    dollars: float | None
    seconds: float | None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Plan:
    """What a run is expected to spend, before it starts (``Optimizer.plan``).

    ``parts``: the search's task-model and proposer requests, then test scoring (outside the
    budget). ``affordable``: whether the metric-call budget validates at least one new candidate
    after the seed; ``min_budget`` is the smallest one that does. Unknown values are None.
    """

    optimizer: str
    task: str
    model: str
    proposer: str | None
    budget: dict[str, Any]
    metric_calls: int
    candidates: int
    proposals: int
    parts: tuple[Part, ...]
    affordable: bool | None
    min_budget: int
    first: str
    tokens_counted_by: str
    seconds_from: str
    notes: tuple[str, ...] = ()

    @property
    def search(self) -> tuple[Part, ...]:
        return tuple(p for p in self.parts if not p.name.startswith("test"))

    @property
    def lm_calls(self) -> int:
        """Model requests of the search (task model and proposer; cache repeats left out)."""
        return sum(p.calls for p in self.search)

    @property
    def tokens(self) -> int:
        return sum(p.prompt_tokens + p.completion_tokens for p in self.search)

    @property
    def dollars(self) -> float | None:
        return _total([p.dollars for p in self.search])

    @property
    def seconds(self) -> float | None:
        return _total([p.seconds for p in self.search])

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["parts"] = [p.to_dict() for p in self.parts]
        data["notes"] = list(self.notes)
        return data | {"lm_calls": self.lm_calls, "tokens": self.tokens, "dollars": self.dollars,
                       "seconds": self.seconds}

    def line(self) -> str:
        """The plan in one line (the first line of a run)."""
        pays = ("pays for " + _plural(self.candidates, "candidate") + " after the seed" if self.affordable
                else f"cannot pay for {self.first} after the seed (needs {self.min_budget})" if self.affordable is False
                else "has no metric-call limit")
        return (f"plan: {self.optimizer}, {self.metric_calls} metric calls, ~{self.lm_calls:,} LM calls "
                f"(~{self.tokens:,} tokens, {_dollars(self.dollars)}, {_seconds(self.seconds)}) + "
                f"{self.test_calls:,} test calls; the budget {pays}")

    @property
    def test_calls(self) -> int:
        return sum(p.calls for p in self.parts if p.name.startswith("test"))

    def __str__(self) -> str:
        rows = [(p.name, f"{p.calls:,}", f"{p.prompt_tokens:,}", f"<={p.completion_tokens:,}", _dollars(p.dollars),
                 _seconds(p.seconds)) for p in self.parts]
        rows.append(("search total", f"{self.lm_calls:,}", "", "", _dollars(self.dollars), _seconds(self.seconds)))
        head = (f"plan: {self.optimizer} on {self.task} with {self.model}"
                + (f" (proposer {self.proposer})" if self.proposer else "") + "\n"
                f"budget {_budget(self.budget)}: {self.metric_calls} metric calls expected, "
                f"{_plural(self.candidates, 'candidate')} validated after the seed, "
                f"{_plural(self.proposals, 'proposal')}\n")
        verdict = (f"the budget pays for {self.first} after the seed (smallest budget that does: {self.min_budget})"
                   if self.affordable else
                   f"the budget cannot pay for {self.first} after the seed: use at least {self.min_budget} metric calls"
                   if self.affordable is False else f"smallest budget for {self.first}: {self.min_budget}")
        tail = [verdict, f"tokens counted by {self.tokens_counted_by}; seconds from {self.seconds_from}",
                *self.notes]
        return head + _table(rows, ("part", "LM calls", "prompt tokens", "completion tokens", "dollars", "seconds")) \
            + "\n" + "\n".join(tail)


def build(optimizer: Optimizer, task: Task, backend: Backend, budget: Budget, *, proposer: Backend | None = None,
          cache: ResponseCache | None = None, cached: bool = True) -> Plan:
    """The Plan of ``optimizer`` on ``task`` and ``backend`` within ``budget`` (no model call).

    ``cache``: the response cache the run will use (its stored timings give the rates, and
    requests it already holds are not planned as calls); ``cached``: whether the run has a cache
    at all (repeats inside the run are then free).
    """
    calls: Calls = optimizer._calls(task, backend, budget)
    model, asker = unwrap(backend), unwrap(proposer if proposer is not None else backend)
    seed = _Prompt(model, task, task.seed)
    typical = _Prompt(model, task, calls.typical) if calls.typical is not None else seed
    held = _held(cache, model, task, task.seed) if cache is not None and cached else (0, 0)
    repeats = calls.repeats if cached else 0
    fresh = calls.task_requests - repeats - held[0]
    at_seed = max(0, min(fresh, calls.seed_requests - repeats - held[0]))
    answer = 1 if task.choices else task.max_tokens
    task_rate, proposer_rate = Rate.of(cache, model), Rate.of(cache, asker)
    parts = [_part("search: task model", model, task_rate, fresh,
                   at_seed * seed.tokens + (fresh - at_seed) * typical.tokens, fresh * answer)]
    notes = list(calls.notes)
    if calls.proposer_requests:
        tokens = _count(asker, Request(messages=(Message("user", calls.proposer_prompt),)))[0]
        parts.append(_part("search: proposer", asker, proposer_rate, calls.proposer_requests,
                           calls.proposer_requests * tokens, calls.proposer_requests * calls.proposal_tokens))
    if task.test:
        parts.append(_test_part(model, task_rate, len(task.test) - held[1], len(task.test) if calls.candidates else 0,
                                (seed.tokens, typical.tokens), answer))
        if calls.candidates:
            notes.append(f"test scoring: {len(task.test):,} calls fewer if the seed stays the best")
    if held[0] or held[1]:
        notes.append(f"{held[0] + held[1]:,} of the seed's requests are in the response cache already (not planned)")
    limit = budget.metric_calls
    return Plan(
        optimizer=optimizer.name, task=task.name, model=model.id,
        proposer=asker.id if proposer is not None else None, budget=budget.to_dict(),
        metric_calls=calls.metric_calls, candidates=calls.candidates, proposals=calls.proposals, parts=tuple(parts),
        affordable=None if limit is None else limit >= calls.min_budget, min_budget=calls.min_budget, first=calls.first,
        tokens_counted_by=seed.counted_by, seconds_from=_rates_text(task_rate, proposer_rate, calls.proposer_requests),
        notes=tuple(notes),
    )


# --- prompt tokens --------------------------------------------------------------------------
class _Prompt:
    """A candidate's mean prompt tokens per request over a few validation examples."""

    def __init__(self, backend: Backend, task: Task, candidate: Candidate) -> None:
        counts, how = objectives.count_tokens(backend, [task.render(candidate, e) for e in task.val[:SAMPLE]])
        self.tokens = round(sum(counts) / len(counts)) if counts else 0
        self.counted_by = how if counts else "nothing"


def _count(backend: Backend, request: Request) -> tuple[int, str]:
    """Prompt tokens of ``request`` on ``backend`` and how they were counted (never a model call)."""
    counts, how = objectives.count_tokens(backend, [request])
    return counts[0], how


def _held(cache: ResponseCache, backend: Backend, task: Task, seed: Candidate) -> tuple[int, int]:
    """How many of the seed's validation and test requests the cache already answers."""
    found = []
    for split in (task.val, task.test):
        requests = [task.render(seed, e) for e in split]
        found.append(sum(a is not None for a in cache.get_many(backend.id, requests)) if requests else 0)
    return found[0], found[1]


# --- seconds and dollars --------------------------------------------------------------------
@dataclass(frozen=True)
class Rate:
    """Seconds per choice-scored call and per generated token, measured from stored answers.

    Scoring per call, not per prompt token: on a small model the fixed cost of a call dominates
    (torch, 1 thread, sentiment: 5 ms per prompt token at 50-token prompts, 0.7 ms at 230-token
    prompts, 0.15-0.3 s per call either way). Generation per completion token: a GEPA proposal
    (up to 120 tokens) took 3x as long as a genetic paraphrase (up to 64). The per-token rate
    waits for ``MIN_GENERATED`` answers: from GEPA's first proposal alone (17 tokens in 1.7 s,
    most of it the 252-token prompt) a run planned 177 s for a 103 s search; its first three
    answers give 0.031 s per token, ~105 s.
    """

    score: float | None
    generate: float | None
    rows: int
    parallel: int

    @classmethod
    def of(cls, cache: ResponseCache | None, backend: Backend) -> Rate:
        parallel = min(32, concurrency(backend))
        rows = cache.recent_usage(backend.id, RATE_ROWS) if cache is not None else []
        scored = [u.seconds for u in rows if u.completion_tokens <= 1]
        made = [u for u in rows if u.completion_tokens > 1]
        generate = (sum(u.seconds for u in made) / sum(u.completion_tokens for u in made)
                    if len(made) >= MIN_GENERATED else None)
        return cls(sum(scored) / len(scored) if scored else None, generate, len(rows), parallel)

    def seconds(self, calls: int, completion_tokens: int, generates: bool) -> float | None:
        """Scored calls at the per-call rate; generated answers at the per-token rate times the
        planned (upper-bound) completion tokens: proposals differ in length between optimizers."""
        rate, amount = (self.generate, completion_tokens) if generates else (self.score, calls)
        return None if rate is None else rate * amount / self.parallel


def _part(name: str, backend: Backend, rate: Rate, calls: int, prompt_tokens: int, completion_tokens: int) -> Part:
    calls = max(0, calls)
    generates = calls > 0 and completion_tokens > calls
    return Part(name, calls, max(0, prompt_tokens), max(0, completion_tokens), _price(backend, prompt_tokens,
                completion_tokens), rate.seconds(calls, completion_tokens, generates) if calls else 0.0)


def _test_part(backend: Backend, rate: Rate, seed: int, best: int, tokens: tuple[int, int], answer: int) -> Part:
    """Test scoring: the seed's requests not yet cached, and the best candidate's (if not the seed)."""
    return _part("test: seed and best", backend, rate, seed + best, seed * tokens[0] + best * tokens[1],
                 (seed + best) * answer)


def _price(backend: Backend, prompt_tokens: int, completion_tokens: int) -> float | None:
    return dollars(backend, max(0, prompt_tokens), max(0, completion_tokens))


def _rates_text(task: Rate, proposer: Rate, proposer_calls: int) -> str:
    if task.score is None and task.generate is None or (proposer_calls and proposer.generate is None):
        return "nothing stored for this model yet (unknown; a real run times its first calls)"
    return f"the engine's measured throughput ({task.rows:,} stored answers" + (
        f", {task.parallel} requests at once)" if task.parallel > 1 else ")")


def _total(values: Sequence[float | None]) -> float | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _dollars(value: float | None) -> str:
    return "$ unknown" if value is None else f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "time unknown"
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    cells = [list(header)] + [list(r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def _budget(budget: dict[str, Any]) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in budget.items() if v is not None)
