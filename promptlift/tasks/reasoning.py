"""Reasoning before the answer: how a ``Candidate(reasoning=True)`` is rendered and parsed.

The model generates (no choice scoring) a rationale, then the answer on a line of its own,
``<Output label>: <answer>``. Demos show their rationale (``Example.reasoning``, set on demos
bootstrapped with reasoning) the same way; demos without one show the answer line alone.

chat:  the instruction plus a format note is the system turn; each demo's assistant turn is
       ``Reasoning: ...`` then ``Sentiment: positive``.
plain: each demo block is ``Field: value`` lines, ``Reasoning: ...``, ``Sentiment: positive``;
       the prompt ends with ``Reasoning:`` and generation stops at a blank line.

``parse`` splits an output into rationale and answer (the last ``Label:`` or ``Answer:``
line; without one, the last non-empty line), and for choice tasks maps the answer back to a
label (the choice or its verbalizer word, else the only one mentioned).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from promptlift.tasks import direct
from promptlift.tasks.fields import choice_words, field_lines, label, output_word
from promptlift.types import Candidate, Completion, Example, Message, Request

if TYPE_CHECKING:
    from promptlift.tasks.base import Task

EXTRA_TOKENS = 128  # generation room for the rationale, on top of the task's max_tokens
_PUNCT = re.compile(r"[^\w\s-]")


def note(task: Task, candidate: Candidate) -> str:
    """The format note appended to the instruction."""
    answer = label(task.output_field)
    options = f" (one of: {', '.join(choice_words(task, candidate))})" if task.choices else ""
    return (f"Think step by step first, then give the final answer on its own last line as "
            f"'{answer}: <answer>'{options}.")


def demo_answer(task: Task, candidate: Candidate, demo: Example) -> str:
    """A demo's output in reasoning form: its rationale (if any), then the answer line."""
    answer = f"{label(task.output_field)}: {output_word(task, candidate, demo.output)}"
    return f"Reasoning: {demo.reasoning.strip()}\n{answer}" if demo.reasoning.strip() else answer


def render(task: Task, candidate: Candidate, example: Example) -> Request:
    """The generation Request for a reasoning candidate."""
    common: dict[str, Any] = {"max_tokens": task.max_tokens + EXTRA_TOKENS, "soft_prompt": candidate.soft_prompt,
              "weights": candidate.weights}
    system = "\n\n".join(p for p in (candidate.instruction.strip(), note(task, candidate)) if p)
    if candidate.format == "plain":
        blocks = [system]
        blocks += [f"{field_lines(task, d)}\n{demo_answer(task, candidate, d)}" for d in candidate.demos]
        blocks.append(f"{field_lines(task, example)}\nReasoning:")
        return Request(prompt="\n\n".join(blocks), stop=("\n\n",), **common)
    messages = [Message("system", system)]
    for demo in candidate.demos:
        messages += [Message("user", field_lines(task, demo)), Message("assistant", demo_answer(task, candidate, demo))]
    messages.append(Message("user", field_lines(task, example)))
    return Request(messages=tuple(messages), **common)


def parse(task: Task, text: str) -> tuple[str, str]:
    """(rationale, answer) of a reasoning output."""
    marker = re.compile(rf"^[ \t*#]*(?:{re.escape(label(task.output_field))}|answer)[ \t*]*:(.*)$", re.I | re.M)
    found = list(marker.finditer(text))
    if found:
        last = found[-1]
        rationale, answer = text[: last.start()], last.group(1)
    else:
        lines = [line for line in text.strip().splitlines() if line.strip()]
        rationale, answer = "\n".join(lines[:-1]), lines[-1] if lines else ""
    rationale = re.sub(r"^\s*reasoning\s*:\s*", "", rationale.strip(), flags=re.I)
    return rationale.strip(), answer.strip().strip("*").strip()


def to_choice(task: Task, candidate: Candidate, answer: str) -> str:
    """Map a parsed answer to a task label; unchanged when it names none (or several)."""
    words = choice_words(task, candidate)
    flat = _PUNCT.sub("", answer.lower()).strip()
    for choice, word in zip(task.choices, words):
        if flat in (choice.lower(), word.lower()):
            return choice
    mentioned = {c for c, w in zip(task.choices, words)
                 if re.search(rf"\b({re.escape(c.lower())}|{re.escape(w.lower())})\b", flat)}
    return mentioned.pop() if len(mentioned) == 1 else answer


def resolve(task: Task, candidate: Candidate, completion: Completion) -> Completion:
    """The completion with ``text`` the answer alone and ``reasoning`` the rationale (a choice-scored
    completion, which carries no rationale, resolves as a direct one)."""
    if completion.choice_logprobs:
        return direct.resolve(task, candidate, completion)
    rationale, answer = parse(task, completion.text)
    if task.choices:
        answer = to_choice(task, candidate, answer)
    return replace(completion, text=answer, reasoning=rationale)
