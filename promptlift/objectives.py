"""Objectives beyond the metric: what a candidate costs per query, the prompt-token cap and the Pareto front.

Every trial records, per query (one input answered), the prompt tokens the backend reported
(a soft prompt's virtual tokens included; with ``votes`` every sampled request counts), the
completion tokens, the backend's seconds and the dollars (None where a price is unknown).
``Run`` checks a ``max_prompt_tokens`` cap *before* scoring: the candidate's prompts on the
validation split are rendered and counted by the backend's own tokenizer (``count_tokens``;
~4 characters per token where a backend has none, as for API models), so an over-cap
candidate costs no metric call in any optimizer. The front keeps the validation trials no
other trial beats on every objective (``score`` maximised, the costs minimised).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Iterable, Sequence

from promptlift.backends.base import Backend, token_counter
from promptlift.errors import ConfigError
from promptlift.types import Candidate, Example, Request, Usage

if TYPE_CHECKING:
    from promptlift.result import Trial
    from promptlift.tasks.base import Task

COSTS = ("prompt_tokens", "completion_tokens", "seconds", "dollars")
OBJECTIVES = ("score", *COSTS)  # score is maximised, every cost minimised


log = logging.getLogger(__name__)
CHARS_PER_TOKEN = 4  # the estimate where a backend has no tokenizer (API models)

def parse(objectives: str | Iterable[str]) -> tuple[str, ...]:
    """``"score,prompt_tokens"`` or a sequence of names, checked (one-line ConfigError otherwise)."""
    names = tuple(n.strip() for n in (objectives.split(",") if isinstance(objectives, str) else objectives))
    unknown = [n for n in names if n not in OBJECTIVES]
    if unknown or not names or len(set(names)) < len(names):
        raise ConfigError(f"objectives must be distinct names from {', '.join(OBJECTIVES)}; got {','.join(names)!r}")
    return names


def per_query(usage: Usage, queries: int) -> dict[str, float | None]:
    """``usage`` of ``queries`` answered inputs, per query (dollars None when unknown)."""
    n = max(1, queries)
    return {"prompt_tokens": usage.prompt_tokens / n, "completion_tokens": usage.completion_tokens / n,
            "seconds": usage.seconds / n, "dollars": None if usage.dollars is None else usage.dollars / n}


def prompt_tokens(task: Task, candidate: Candidate, backend: Backend, examples: Sequence[Example]) -> float:
    """Mean prompt tokens per query of ``candidate`` on ``examples`` as ``backend`` counts them, with no
    model call (``backend.count_tokens(requests)`` where it exists, else ~4 characters per token)."""
    counts, _ = count_tokens(backend, [task.render(candidate, e) for e in examples])
    return max(1, candidate.votes) * sum(counts) / max(1, len(counts))


def count_tokens(backend: Backend, requests: Sequence[Request]) -> tuple[list[int], str]:
    """Each request's prompt tokens as ``backend`` counts them (``backend.count_tokens``, never a model
    call), else ~``CHARS_PER_TOKEN`` characters per token; and how they were counted."""
    count = token_counter(backend)
    if count is not None:
        try:
            return list(count(requests)), "the model's tokenizer"
        except (ValueError, TypeError, RuntimeError) as exc:  # a request the tokenizer cannot render
            log.debug("counting tokens failed (%s); estimating", exc)
    return [_estimate(r) for r in requests], f"{CHARS_PER_TOKEN} characters per token (no tokenizer)"


def _estimate(request: Request) -> int:
    text = request.prompt if request.prompt is not None else " ".join(m.content for m in request.messages)
    return max(1, len(text) // CHARS_PER_TOKEN)


def value(trial: Trial, name: str) -> float:
    """The trial's value on objective ``name`` as a number to maximise (costs negated; unknown is worst)."""
    if name == "score":
        return trial.mean
    cost = trial.per_query.get(name)
    return -math.inf if cost is None else -cost


def front(trials: Iterable[Trial], objectives: Sequence[str]) -> list[Trial]:
    """The admissible validation trials no other one dominates on ``objectives`` (one trial per
    candidate, the earliest), by ascending prompt tokens then descending score."""
    pool: dict[str, Trial] = {}
    for trial in trials:
        if trial.role == "val" and trial.admissible and trial.scored:
            pool.setdefault(trial.candidate.key, trial)
    points = {t.number: tuple(value(t, name) for name in objectives) for t in pool.values()}

    def dominated(t: Trial) -> bool:
        mine = points[t.number]
        return any(all(a >= b for a, b in zip(p, mine)) and p != mine for p in points.values())

    kept = [t for t in pool.values() if not dominated(t)]
    unique = {points[t.number]: t for t in sorted(kept, key=lambda t: -t.number)}  # ties: the earliest
    return sorted(unique.values(), key=lambda t: (t.per_query.get("prompt_tokens") or 0.0, -t.mean, t.number))
