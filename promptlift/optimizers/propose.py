"""Asking the proposer model for new instructions, shared by GEPA and genetic search.

``drafts`` sends meta-prompts (n draws each) in one batch through ``Run.generate`` (so budget
and cache apply), ``credit`` records what the answer behind an
instruction cost (``Trial.proposal``), and ``extract_instruction`` pulls the instruction out of
a chatty answer. A 135M proposer often answers badly: extraction falls back to the original
text rather than inventing one.
``rejected`` names what is wrong with a proposal that must not be scored: text about
proposing ("Reply with the new instruction only.", echoed from the meta-prompt) or an
instruction that hard-codes one label ("Always answer positive."), which games a skewed
validation split instead of doing the task. Both were seen as GEPA and genetic proposals.
"""

from __future__ import annotations

import re
from typing import Sequence

from promptlift.run import Run
from promptlift.types import Completion, Message, Request, Usage

_FENCE = re.compile(r"```(?:[a-zA-Z]*\n)?(.*?)```", re.S)
_PREFIX = re.compile(r"^(?:new |improved |revised |better )?(?:instruction|prompt)s?\s*[:\-]\s*", re.I)
MAX_CHARS = 1200
_META = re.compile(
    r"\b(?:reply|respond|answer|output|return|write)\s+(?:with\s+)?(?:only\s+|just\s+)?(?:the|a|your)\s+"
    r"(?:new|improved|revised|better|updated|rewritten)?\s*(?:instruction|prompt)\b|"
    r"\b(?:the|this|an?)\s+(?:new|improved|revised|updated|rewritten)\s+(?:instruction|prompt)\b|"
    r"\b(?:instruction|prompt)\s+(?:above|below)\b|^\s*here\s+is\b", re.I)
_DIRECTIVE = (r"\b(?:answer|reply|respond|output|return|say|choose|pick|select|predict|"
              r"label\s+(?:it|each|every\s+\w+)\s+as|is)\W+(?:with\W+)?(?:always\W+)?")


def drafts(run: Run, prompts: Sequence[str], *, n: int = 1, temperature: float = 0.7, max_tokens: int = 256,
           system: str = "") -> list[list[Completion]]:
    """n answers of the proposer to each of ``prompts``, asked in one batch (a backend that serves
    requests concurrently answers them together); each answer carries its own cost (``usage``)."""
    def request(prompt: str) -> Request:
        messages = ((Message("system", system),) if system else ()) + (Message("user", prompt),)
        return Request(messages=messages, temperature=temperature, max_tokens=max_tokens)

    answers = run.generate([request(p) for p in prompts for _ in range(n)])
    return [answers[i * n : (i + 1) * n] for i in range(len(prompts))]


def credit(run: Run, instruction: str, completion: Completion | Usage) -> str:
    """Record what the proposer answer that gave ``instruction`` cost (``Trial.proposal``); returns it."""
    if instruction:
        run.record_proposal(instruction, completion.usage if isinstance(completion, Completion) else completion)
    return instruction


def extract_instruction(text: str, fallback: str = "") -> str:
    """The instruction inside an answer: a fenced block if any, else the text minus a label.

    Returns ``fallback`` when nothing usable is left (empty, or only punctuation).
    """
    fenced = _FENCE.findall(text)
    body = fenced[0] if fenced else text
    body = _PREFIX.sub("", body.strip()).strip().strip('"').strip("'").strip()
    body = body[:MAX_CHARS].strip()
    return body if any(ch.isalpha() for ch in body) else fallback


def rejected(text: str, labels: Sequence[str] = ()) -> str | None:
    """Why the proposal ``text`` must not be scored, or None: it talks about proposing, or it
    tells the model to give one of ``labels`` (two or more) and names no other."""
    if _META.search(text):
        return "it is text about proposing an instruction, not an instruction"
    if len(set(labels)) < 2:
        return None
    named = [label for label in dict.fromkeys(labels) if re.search(rf"\b{re.escape(label)}\b", text, re.I)]
    if len(named) == 1 and re.search(_DIRECTIVE + re.escape(named[0]) + r"\b", text, re.I):
        return f"it hard-codes the label {named[0]!r}"
    return None
