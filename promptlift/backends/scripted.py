"""ScriptedBackend: an in-memory test double (like httpx's MockTransport).

It runs no model. A user function answers each Request, which makes optimizer logic testable
in milliseconds and deterministic. Use it in unit tests; never report its numbers as results.
"""

from __future__ import annotations

from typing import Callable, Sequence

from promptlift.backends.base import Capabilities
from promptlift.errors import CapabilityError
from promptlift.types import Completion, Request, Usage

Answer = str | Sequence[float] | Completion
Script = Callable[[Request], Answer]


class ScriptedBackend:
    """Answers requests with ``script(request)``: a text, a list of choice log-probs, or a Completion.

    ``calls`` counts requests answered (after any cache); ``batches`` counts complete() calls.
    """

    def __init__(self, script: Script, *, name: str = "scripted", raw_prompt: bool = True) -> None:
        self.id = f"scripted:{name}"
        self.capabilities = Capabilities(raw_prompt=raw_prompt)
        self._script = script
        self.calls = 0
        self.batches = 0
        self.requests: list[Request] = []

    def complete(self, requests: Sequence[Request]) -> list[Completion]:
        self.batches += 1
        return [self._answer(r) for r in requests]

    def count_tokens(self, requests: Sequence[Request]) -> list[int]:
        """Each request's prompt "tokens" as ``complete`` reports them (its words)."""
        return [_word_count(r) for r in requests]

    def _answer(self, request: Request) -> Completion:
        if request.soft_prompt or request.weights:  # like every backend without them: refused, never ignored
            raise CapabilityError("soft prompts and trained weights need a local torch backend", backend=self.id)
        self.calls += 1
        self.requests.append(request)
        answer = self._script(request)
        usage = Usage(calls=1, prompt_tokens=_word_count(request), completion_tokens=1)
        if isinstance(answer, Completion):
            return answer
        if isinstance(answer, str):
            return Completion(text=answer, usage=usage)
        logprobs = tuple(float(x) for x in answer)
        best = max(range(len(logprobs)), key=logprobs.__getitem__)
        return Completion(text=request.choices[best], choice_logprobs=logprobs, usage=usage)


def _word_count(request: Request) -> int:
    text = request.prompt if request.prompt is not None else " ".join(m.content for m in request.messages)
    return len(text.split())
