"""Rendering a candidate and an example into a Request, in the two prompt formats.

chat:  system = instruction; each demo a user turn (``Field: value`` lines) and an assistant
       turn (its output); then the example as the last user turn.
plain: one completion text, ``instruction``, then each demo as ``Field: value`` lines ending
       in ``Output: answer``, then the example ending in ``Output:``; choices are scored as
       the continuation with a leading space.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promptlift.types import Candidate, Example, Message, Request

if TYPE_CHECKING:
    from promptlift.tasks.base import Task


def label(name: str) -> str:
    """How a field name is shown: ``question_text`` -> ``Question text``."""
    return name.replace("_", " ").strip().capitalize()


def field_lines(task: Task, example: Example) -> str:
    return "\n".join(f"{label(name)}: {example.inputs.get(name, '')}" for name in task.input_fields)


def choice_words(task: Task, candidate: Candidate) -> tuple[str, ...]:
    """The words the choices are scored by: the candidate's verbalizer, else the task's choices."""
    if candidate.verbalizer and len(candidate.verbalizer) == len(task.choices):
        return candidate.verbalizer
    return task.choices


def output_word(task: Task, candidate: Candidate, output: str) -> str:
    """A demo's output as it appears in the prompt (verbalized for choice tasks)."""
    words = choice_words(task, candidate)
    if output in task.choices:
        return words[task.choices.index(output)]
    return output


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
    if candidate.retrieval is not None:  # per-input demos: made fixed for this example first
        from promptlift.tasks.retrieval import resolve

        candidate = resolve(task, candidate, example)
    if candidate.reasoning:  # generate a rationale, then the answer (parsed in Task.resolve)
        from promptlift.tasks import reasoning

        return reasoning.render(task, candidate, example)
    words = choice_words(task, candidate)
    common: dict[str, Any] = {"max_tokens": task.max_tokens, "soft_prompt": candidate.soft_prompt,
              "weights": candidate.weights}
    if candidate.format == "plain":
        choices = tuple(" " + w for w in words)
        return Request(prompt=plain_prompt(task, candidate, example), choices=choices, stop=("\n",), **common)
    return Request(messages=chat_messages(task, candidate, example), choices=words, **common)


def as_text(request: Request) -> str:
    """A request as readable text: the final prompt a user can copy elsewhere."""
    if request.prompt is not None:
        return request.prompt
    return "\n\n".join(f"[{m.role}]\n{m.content}" for m in request.messages)
