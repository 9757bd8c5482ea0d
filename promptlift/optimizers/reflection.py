"""The reflection step of GEPA: what the proposer model reads, and what is kept of its answer.

The proposer sees the current instruction and a few examples from the minibatch (input, the
model's output, the expected output, the score and the metric's feedback), worst first, each
field cut short so the prompt fits a small model's context. The prompt is a template users
can override; it must hold ``<instruction>`` and ``<examples>`` (GEPA's ``<curr_param>`` and
``<side_info>`` are accepted too) and may hold ``<task>`` (the task's description).

A small proposer often answers with chatter, copies an example, or restates the feedback.
``parse_proposal`` keeps only an instruction-like answer and returns None otherwise, so an
unusable proposal costs no metric calls (the parent is kept).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from promptlift.optimizers.propose import extract_instruction, rejected
from promptlift.tasks.fields import label
from promptlift.types import Example

if TYPE_CHECKING:
    from promptlift.tasks.base import Task

DEFAULT_TEMPLATE = """An assistant was given this instruction:
"<instruction>"

Here is how it did on some examples:

<examples>

Write an improved instruction that helps the assistant get every example right. Keep what works, \
fix what went wrong, and say exactly what the answer should look like. Reply with the new \
instruction only."""

PLACEHOLDERS = {"<instruction>": ("<instruction>", "<curr_param>"), "<examples>": ("<examples>", "<side_info>")}

_LABELLED = re.compile(
    r"(?:new|improved|revised|better|updated|rewritten|corrected)\s+(?:instruction|prompt)s?"
    r"(?:\s+(?:is|would be|could be))?\s*[:\-]\s*(.+)", re.I | re.S)
_QUOTED = re.compile(r"[\"\u201c]([^\"\u201d\n]{12,})[\"\u201d]")
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")
_SCAFFOLD = re.compile(
    r"\b(?:expected|got|correct answer|wrong answer|right answer|assistant answered|feedback|score)\s*:|"
    r"^(?:input|output|answer|example)\s*\d*\s*:|<\w+>", re.I | re.M)
_REFUSAL = re.compile(
    r"^(?:i'?m sorry|sorry|i apologi[sz]e|as an ai|i cannot|i can'?t|thank you|sure|certainly|"
    r"no improvement|your (?:instruction|answer)s? (?:is|was|were) correct)", re.I)


@dataclass(frozen=True)
class Outcome:
    """A candidate's results on a list of examples (from a trial, or remembered from earlier ones)."""

    examples: tuple[Example, ...]
    scores: tuple[float, ...]
    predictions: tuple[str, ...]
    feedback: tuple[str, ...]

    @property
    def total(self) -> float:
        return sum(self.scores)


@dataclass(frozen=True)
class Record:
    """One minibatch example as the proposer sees it."""

    inputs: dict[str, str]
    output: str
    expected: str
    score: float
    feedback: str


def check_template(template: str) -> str | None:
    """The name of a placeholder missing from ``template``, or None when it is usable."""
    for name, spellings in PLACEHOLDERS.items():
        if not any(s in template for s in spellings):
            return name
    return None


def records(outcome: Outcome, limit: int) -> list[Record]:
    """Up to ``limit`` examples of an outcome, lowest score first (ties keep their order)."""
    rows = [
        Record(dict(e.inputs), outcome.predictions[i], e.output, outcome.scores[i], outcome.feedback[i])
        for i, e in enumerate(outcome.examples)
    ]
    order = sorted(range(len(rows)), key=lambda i: (rows[i].score, i))
    return [rows[i] for i in order[:limit]]


def shorten(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: max(0, limit - 3)].rstrip() + "..."


def format_records(task: Task, rows: Sequence[Record], chars: int = 240) -> str:
    """The examples block: input fields, the model's answer, the expected answer, feedback."""
    blocks = []
    for row in rows:
        lines = [f"{label(name)}: {shorten(row.inputs.get(name, ''), chars)}" for name in task.input_fields]
        lines.append(f"Assistant's answer: {shorten(row.output, chars) or '(empty)'}")
        lines.append(f"Correct answer: {shorten(row.expected, chars)}")
        verdict = "right" if row.score >= 1.0 else ("wrong" if row.score <= 0.0 else f"partly right ({row.score:.2f})")
        note = shorten(row.feedback, chars)
        lines.append(f"Verdict: {verdict}" + (f" ({note})" if note and row.score < 1.0 else ""))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def build_prompt(template: str, task: Task, instruction: str, rows: Sequence[Record], chars: int = 240) -> str:
    """The reflection prompt: ``template`` with the instruction, examples and task filled in."""
    prompt = template
    for spelling in PLACEHOLDERS["<instruction>"]:
        prompt = prompt.replace(spelling, instruction.strip() or "(no instruction)")
    for spelling in PLACEHOLDERS["<examples>"]:
        prompt = prompt.replace(spelling, format_records(task, rows, chars))
    return prompt.replace("<task>", task.description or task.name)


def parse_proposal(text: str, parent: str, rows: Sequence[Record] = (), *, template: str = "",
                   min_words: int = 4, max_words: int = 120) -> str | None:
    """An instruction-like proposal pulled out of ``text``, or None when there is none.

    Tries, in order: a fenced block, a labelled line ("Improved instruction: ..."), a quoted
    sentence, then the first paragraph. Rejects: too short or long, a refusal or chatter,
    scaffolding copied from the prompt (``Correct answer:``, or six words in a row of the
    ``template``'s own text), text copied from an example's input, or the parent itself.
    """
    sources = [value for row in rows for value in row.inputs.values()] + template_text(template)
    for body in _pieces(text):
        body = _clean(body)
        if _usable(body, parent, rows, sources, min_words, max_words):
            return body
    return None


def template_text(template: str) -> list[str]:
    """The fixed text of a template: the pieces between its placeholders."""
    pieces = [template]
    for spelling in [s for spellings in PLACEHOLDERS.values() for s in spellings] + ["<task>"]:
        pieces = [part for piece in pieces for part in piece.split(spelling)]
    return [p for p in pieces if p.strip()]


def _pieces(text: str) -> list[str]:
    out = []
    fenced = extract_instruction(text, "") if "```" in text else ""
    if fenced:
        out.append(fenced)
    labelled = _LABELLED.search(text)
    if labelled:
        out.append(labelled.group(1).strip().split("\n\n")[0])
    out += [m.group(1) for m in _QUOTED.finditer(text)]
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    out += paragraphs[:2]
    return out


def _clean(body: str) -> str:
    lines = [_BULLET.sub("", line).strip() for line in body.strip().splitlines()]
    body = " ".join(line for line in lines if line)
    body = extract_instruction(body, body)  # drops an "Instruction:" label and outer quotes
    return body.strip().strip("*`\"'\u201c\u201d ").strip()


def _usable(body: str, parent: str, rows: Sequence[Record], sources: Sequence[str], min_words: int,
            max_words: int) -> bool:
    words = body.split()
    if not (min_words <= len(words) <= max_words) or not any(ch.isalpha() for ch in body):
        return False
    if _REFUSAL.match(body) or _SCAFFOLD.search(body) or rejected(body, [row.expected for row in rows]):
        return False
    if _norm(body) == _norm(parent):
        return False
    fields = {label(name).lower() for row in rows for name in row.inputs}
    if body.split(":", 1)[0].strip().lower() in fields:
        return False
    return not any(_copies(body, source) for source in sources)


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _copies(body: str, source: str, n: int = 6) -> bool:
    """True when ``body`` repeats ``n`` consecutive words of ``source``."""
    src = _norm(source).split()
    if len(src) < n:
        return False
    grams = {tuple(src[i : i + n]) for i in range(len(src) - n + 1)}
    words = _norm(body).split()
    return any(tuple(words[i : i + n]) in grams for i in range(len(words) - n + 1))
