"""The direct prompting mode: the model answers at once (choices scored, or a short generation).

chat:  system = instruction; each demo a user turn (``Field: value`` lines) and an assistant
       turn (its output); then the example as the last user turn.
plain: one completion text, ``instruction``, then each demo as ``Field: value`` lines ending
       in ``Output: answer``, then the example ending in ``Output:``; choices are scored as
       the continuation with a leading space.

A choice completion resolves to the task's label with the candidate's calibration applied.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from promptlift.tasks.fields import choice_words, field_lines, label, output_word
from promptlift.types import Candidate, Completion, Example, Message, Request, choice_argmax

if TYPE_CHECKING:
    from promptlift.tasks.base import Task


def chat_messages(task: Task, candidate: Candidate, example: Example) -> tuple[Message, ...]:
    messages = [Message("system", candidate.instruction)] if candidate.instruction else []
    for demo in candidate.demos:
        messages.append(Message("user", field_lines(task, demo)))
        messages.append(Message("assistant", output_word(task, candidate, demo.output)))
    messages.append(Message("user", field_lines(task, example)))
    return tuple(messages)


def plain_prompt(task: Task, candidate: Candidate, example: Example) -> str:
    answer = label(task.output_field)
    blocks = [candidate.instruction.strip()] if candidate.instruction.strip() else []
    for demo in candidate.demos:
        blocks.append(f"{field_lines(task, demo)}\n{answer}: {output_word(task, candidate, demo.output)}")
    blocks.append(f"{field_lines(task, example)}\n{answer}:")
    return "\n\n".join(blocks)


def render(task: Task, candidate: Candidate, example: Example) -> Request:
    """The Request that asks for the answer directly (choices scored when the task has them)."""
    words = choice_words(task, candidate)
    common: dict[str, Any] = {"max_tokens": task.max_tokens, "soft_prompt": candidate.soft_prompt,
              "weights": candidate.weights}
    if candidate.format == "plain":
        choices = tuple(" " + w for w in words)
        return Request(prompt=plain_prompt(task, candidate, example), choices=choices, stop=("\n",), **common)
    return Request(messages=chat_messages(task, candidate, example), choices=words, **common)


def resolve(task: Task, candidate: Candidate, completion: Completion) -> Completion:
    """A choice completion with ``text`` the task's label (calibration applied); others unchanged."""
    if not task.choices or not completion.choice_logprobs:
        return completion
    best = choice_argmax(completion.choice_logprobs, candidate.calibration)
    return replace(completion, text=task.choices[best])
