"""Asking the proposer model for new instructions, shared by GEPA and genetic search.

``ask`` sends one meta-prompt (n draws) through ``Run.generate`` (so budget and cache apply)
and ``extract_instruction`` pulls the instruction out of a chatty answer. A 135M proposer
often answers badly: extraction falls back to the original text rather than inventing one.
"""

from __future__ import annotations

import re

from promptlift.run import Run
from promptlift.types import Message, Request

_FENCE = re.compile(r"```(?:[a-zA-Z]*\n)?(.*?)```", re.S)
_PREFIX = re.compile(r"^(?:new |improved |revised |better )?(?:instruction|prompt)s?\s*[:\-]\s*", re.I)
MAX_CHARS = 1200


def ask(run: Run, prompt: str, *, n: int = 1, temperature: float = 0.7, max_tokens: int = 256,
        system: str = "") -> list[str]:
    """n raw answers of the proposer model to ``prompt``."""
    messages = ((Message("system", system),) if system else ()) + (Message("user", prompt),)
    requests = [Request(messages=messages, temperature=temperature, max_tokens=max_tokens) for _ in range(n)]
    return [c.text for c in run.generate(requests)]


def extract_instruction(text: str, fallback: str = "") -> str:
    """The instruction inside an answer: a fenced block if any, else the text minus a label.

    Returns ``fallback`` when nothing usable is left (empty, or only punctuation).
    """
    fenced = _FENCE.findall(text)
    body = fenced[0] if fenced else text
    body = _PREFIX.sub("", body.strip()).strip().strip('"').strip("'").strip()
    body = body[:MAX_CHARS].strip()
    return body if any(ch.isalpha() for ch in body) else fallback
