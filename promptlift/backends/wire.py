"""Requests and responses on the wire of OpenAI-compatible APIs, and choice scoring over them.

``payload`` turns a Request into the body of ``/chat/completions`` (chat messages) or
``/completions`` (a raw prompt). ``parse`` checks a response body and raises
``MalformedResponse`` for anything that is not a usable completion (no choices, no text, missing
logprobs when they were asked for): such a response is never scored and never cached.

Choice scoring has two modes (``Capabilities.choice_scoring`` says which a backend uses):

``logprobs``
    One call with ``max_tokens=1`` and ``top_logprobs``. A choice's score is the
    log-sum-exp of the log-probabilities of the top tokens that start it, compared after
    stripping whitespace and case-folding (``"positive"``, ``" positive"``, ``"Positive"`` and
    ``"pos"`` all count for the choice ``positive``). This is an approximation: only the
    first token is scored, so a multi-token choice is scored by how likely the model is to
    *begin* it (choices that share a first token tie, and the earlier choice wins), and a
    choice absent from the top list gets a floor below every listed token (the log of the
    probability mass the list leaves over, at most the smallest listed log-probability).
``generate``
    For servers without logprobs (e.g. Anthropic through litellm): generate, then match the
    text to a choice (the choice it starts with, else the first choice named as a word). The
    matched choice gets log-probability 0 and the others ``UNLIKELY``; unmatched text is
    returned as is with no choice log-probabilities, so the task scores it as a wrong answer.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from promptlift.errors import MalformedResponse
from promptlift.types import Request

UNLIKELY = -100.0
MIN_LOGPROB = math.log(1e-12)
MODES = ("logprobs", "generate")


@dataclass(frozen=True)
class Parsed:
    """The usable part of a response: the text and, when asked, the first token's top logprobs."""

    text: str
    top: tuple[tuple[str, float], ...] = ()


def payload(request: Request, *, mode: str, top_logprobs: int) -> dict[str, Any]:
    """The JSON body (without ``model``) for ``request``."""
    body: dict[str, Any] = {"max_tokens": request.max_tokens, "temperature": request.temperature}
    if request.is_chat:
        body["messages"] = [m.to_dict() for m in request.messages]
    else:
        body["prompt"] = request.prompt
    if request.stop:
        body["stop"] = list(request.stop)
    if request.choices and mode == "logprobs":
        body.update(max_tokens=1, temperature=0.0)
        body.pop("stop", None)
        if request.is_chat:
            body.update(logprobs=True, top_logprobs=top_logprobs)
        else:
            body["logprobs"] = top_logprobs
    return body


def decode(text: str, backend: str) -> dict[str, Any]:
    """A response body as a dict; MalformedResponse for bad JSON."""
    try:
        body = json.loads(text)
    except ValueError as exc:  # JSONDecodeError, or an integer past Python's digit limit
        detail = f"{exc.msg} at char {exc.pos}" if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise MalformedResponse(f"response is not valid JSON ({detail})", backend=backend) from None
    if not isinstance(body, dict):
        raise MalformedResponse(f"response is a JSON {type(body).__name__}, not an object", backend=backend)
    return body


def parse(body: Mapping[str, Any], request: Request, *, logprobs: bool, backend: str) -> Parsed:
    """Check ``body`` and take its text (and top logprobs when ``logprobs``)."""
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise MalformedResponse("response has no choices", backend=backend)
    first = choices[0]
    if request.is_chat:
        message = first.get("message")
        if not isinstance(message, Mapping):
            raise MalformedResponse("response choice has no message", backend=backend)
        text = message.get("content")
    else:
        text = first.get("text")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise MalformedResponse(f"response text is a {type(text).__name__}, not a string", backend=backend)
    if not logprobs:
        return Parsed(text)
    top = _chat_top(first) if request.is_chat else _text_top(first)
    if not top:
        raise MalformedResponse("logprobs were asked for but the response has none (a server without "
                                "log-probabilities: use --model-option choice_scoring=generate)", backend=backend)
    return Parsed(text, top)


def _chat_top(choice: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:
    try:
        entries = choice["logprobs"]["content"][0]["top_logprobs"]
        return tuple((str(e["token"]), float(e["logprob"])) for e in entries)
    except (KeyError, IndexError, TypeError, ValueError):
        return ()


def _text_top(choice: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:
    try:
        entries = choice["logprobs"]["top_logprobs"][0]
        return tuple((str(token), float(lp)) for token, lp in entries.items())
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return ()


def _norm(text: str) -> str:
    return text.strip().casefold()


def logsumexp(values: Sequence[float]) -> float:
    peak = max(values)
    return peak + math.log(sum(math.exp(v - peak) for v in values))


def score_choices(choices: Sequence[str], top: Sequence[tuple[str, float]]) -> tuple[float, ...]:
    """Each choice's first-token score from the top logprobs (see the module docstring)."""
    listed = [lp for _, lp in top]
    left_over = 1.0 - sum(math.exp(lp) for lp in listed)
    floor = min(min(listed), math.log(left_over) if left_over > 1e-12 else MIN_LOGPROB)
    scores = []
    for choice in choices:
        target = _norm(choice)
        hits = [lp for token, lp in top if _norm(token) and target.startswith(_norm(token))]
        scores.append(logsumexp(hits) if hits else floor)
    return tuple(scores)


def match_choice(text: str, choices: Sequence[str]) -> int | None:
    """The index of the choice ``text`` answers with, or None."""
    said = _norm(text)
    targets = [_norm(c) for c in choices]
    by_length = sorted(range(len(choices)), key=lambda i: -len(targets[i]))
    for i in by_length:
        if targets[i] and said.startswith(targets[i]) and not said[len(targets[i]) : len(targets[i]) + 1].isalnum():
            return i
    found = [(m.start(), i) for i in by_length if targets[i] and (m := re.search(rf"\b{re.escape(targets[i])}\b", said))]
    return min(found)[1] if found else None


def generated_choice(text: str, choices: Sequence[str]) -> tuple[str, tuple[float, ...]]:
    """Text and choice log-probabilities of a generate-and-match answer."""
    index = match_choice(text, choices)
    if index is None:
        return text, ()
    return choices[index], tuple(0.0 if i == index else UNLIKELY for i in range(len(choices)))
