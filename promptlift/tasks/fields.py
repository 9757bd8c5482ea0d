"""How a task's fields and labels appear in a prompt: the leaf helpers every prompting mode shares.

``label`` shows a field name (``question_text`` -> ``Question text``), ``field_lines`` an
example's inputs as ``Field: value`` lines, ``choice_words`` the words choices are scored by
(the candidate's verbalizer, else the task's choices), ``output_word`` a demo's output as shown.
Nothing here decides a prompting mode; ``tasks.render`` does, once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptlift.types import Candidate, Example

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
