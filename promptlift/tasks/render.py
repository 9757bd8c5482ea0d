"""Where a task decides how a candidate prompts: the one dispatch between the prompting modes.

A candidate with ``reasoning`` set generates a rationale before its answer
(``tasks.reasoning``); every other candidate answers directly (``tasks.direct``: choices
scored, or a short generation). ``mode`` makes that choice once, and both rendering a request
and resolving its completion ask it. Per-input demos (``retrieval``) are made fixed for the
example before either mode renders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from promptlift.tasks import direct, reasoning
from promptlift.types import Candidate, Completion, Example, Request

if TYPE_CHECKING:
    from promptlift.tasks.base import Task


class Mode(Protocol):
    """A prompting mode: how a candidate's request is rendered and its completion read back."""

    def render(self, task: Task, candidate: Candidate, example: Example) -> Request: ...

    def resolve(self, task: Task, candidate: Candidate, completion: Completion) -> Completion: ...


def mode(candidate: Candidate) -> Mode:
    """The prompting mode of ``candidate``: reasoning first, or the answer directly."""
    return reasoning if candidate.reasoning else direct


def render(task: Task, candidate: Candidate, example: Example) -> Request:
    """The Request that asks the model for ``example`` under ``candidate``."""
    if candidate.retrieval is not None:  # per-input demos: made fixed for this example first
        from promptlift.tasks.retrieval import resolve

        candidate = resolve(task, candidate, example)
    return mode(candidate).render(task, candidate, example)


def resolve(task: Task, candidate: Candidate, completion: Completion) -> Completion:
    """Map a completion back to the task's answer under ``candidate``'s mode."""
    return mode(candidate).resolve(task, candidate, completion)


def as_text(request: Request) -> str:
    """A request as readable text: the final prompt a user can copy elsewhere."""
    if request.prompt is not None:
        return request.prompt
    return "\n\n".join(f"[{m.role}]\n{m.content}" for m in request.messages)
