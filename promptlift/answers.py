"""A candidate's resolved answers to examples from one batch call: the chosen label, the parsed
answer, or with ``votes`` the majority of sampled answers. ``Run`` scores through these; so does
``score_outside``, the one way to score a candidate outside a search (test-split reporting)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

from promptlift.backends.base import Backend
from promptlift.types import Candidate, Completion, Example, Request

if TYPE_CHECKING:
    from promptlift.tasks.base import Task


def answer(task: Task, candidate: Candidate, examples: Sequence[Example],
           complete: Callable[[list[Request]], list[Completion]]) -> list[Completion]:
    """The resolved answers that ``complete`` (one batch call) gives to ``examples`` under ``candidate``:
    the chosen label, the parsed answer, or with ``votes`` the majority of sampled answers."""
    return answer_many(task, [(candidate, examples)], complete)[0]


def answer_many(task: Task, jobs: Sequence[tuple[Candidate, Sequence[Example]]],
                complete: Callable[[list[Request]], list[Completion]]) -> list[list[Completion]]:
    """``answer`` for several (candidate, examples) pairs with one ``complete`` call for them all."""
    from promptlift import voting

    batches = []
    for candidate, examples in jobs:
        requests = [task.render(candidate, e) for e in examples]
        batches.append(requests if candidate.votes <= 1 else voting.expand(task, candidate, requests))
    draws = complete([r for batch in batches for r in batch])
    out, start = [], 0
    for (candidate, examples), batch in zip(jobs, batches):
        mine, start = draws[start : start + len(batch)], start + len(batch)
        n = candidate.votes
        out.append([task.resolve(candidate, c) for c in mine] if n <= 1 else
                   [voting.majority(task, candidate, mine[i * n : (i + 1) * n]) for i in range(len(examples))])
    return out


def score_outside(task: Task, candidate: Candidate, backend: Backend,
                  examples: Sequence[Example]) -> tuple[list[float], list[Completion]]:
    """Per-example scores and answers of ``candidate`` on ``examples``, outside any run and budget
    (test-split reporting: the search never sees these)."""
    examples = list(examples)
    completions = answer(task, candidate, examples, backend.complete)
    return [task.score(e, c).value for e, c in zip(examples, completions, strict=True)], completions
