"""The backend contract suite: every backend must pass it (as every optimizer passes
:class:`~promptlift.testing.optimizers.OptimizerContract`).

Use it from a test module::

    from promptlift.testing import BackendContract

    class TestMyBackend(BackendContract):
        def make(self):
            return MyBackend(...)

What it checks is what optimizers and the cache rely on: one Completion per Request in the
same order and number, one log-probability per choice (the text is the most likely choice),
an id that is the same for an equal backend, prompt tokens counted before a call as the call
then reports them (``count_tokens``, where a backend has it), and a ``CapabilityError`` (never a wrong answer)
for a request it cannot serve.
"""

from __future__ import annotations

import math

import pytest

from promptlift.backends.base import Backend, token_counter
from promptlift.errors import CapabilityError
from promptlift.testing.doubles import toy_task
from promptlift.types import Candidate, Request


class BackendContract:
    def make(self) -> Backend:  # pragma: no cover - overridden
        raise NotImplementedError

    def requests(self) -> list[Request]:
        """A mixed batch: choice requests of the toy task and one generation request in the middle."""
        task = toy_task()
        scored = [task.render(task.seed, e) for e in task.val[:4]]
        return scored[:2] + [Request(messages=scored[0].messages, max_tokens=4)] + scored[2:]

    def test_is_a_backend_with_an_id(self):
        backend = self.make()
        assert isinstance(backend, Backend)
        assert isinstance(backend.id, str) and backend.id

    def test_one_completion_per_request_in_order(self):
        backend, requests = self.make(), self.requests()
        completions = backend.complete(requests)
        assert len(completions) == len(requests)
        for request, completion in zip(requests, completions, strict=True):
            if request.choices:
                assert len(completion.choice_logprobs) == len(request.choices)
                assert all(math.isfinite(lp) and lp <= 1e-6 for lp in completion.choice_logprobs)
                best = max(range(len(request.choices)), key=completion.choice_logprobs.__getitem__)
                assert completion.text == request.choices[best]
            else:
                assert isinstance(completion.text, str) and not completion.choice_logprobs
            assert completion.usage.calls == 1

    def test_counted_prompt_tokens_are_the_reported_ones(self):
        """``count_tokens`` (optional: what a ``max_prompt_tokens`` cap is checked with before scoring)
        counts each prompt as ``complete`` then reports it."""
        backend, requests = self.make(), self.requests()
        count = token_counter(backend)
        if count is None:
            pytest.skip("no count_tokens: prompt tokens are estimated at ~4 characters per token")
        counted = count(requests)
        assert counted == [c.usage.prompt_tokens for c in backend.complete(requests)]
        assert all(n > 0 for n in counted)

    def test_order_does_not_change_the_answers(self):
        backend, requests = self.make(), [r for r in self.requests() if r.choices]
        forward = backend.complete(requests)
        backward = backend.complete(requests[::-1])[::-1]
        for a, b in zip(forward, backward, strict=True):
            assert a.text == b.text
            assert a.choice_logprobs == pytest.approx(b.choice_logprobs, abs=self.tolerance)

    tolerance = 1e-4  # batch shape may move a float score a little (llama.cpp: more; see its tests)

    def test_id_is_stable(self):
        assert self.make().id == self.make().id

    def test_an_unservable_request_is_a_capability_error(self):
        backend = self.make()
        request = self.unservable()
        if request is None:
            pytest.skip("this backend serves every kind of request")
        with pytest.raises(CapabilityError):
            backend.complete([request])

    def unservable(self) -> Request | None:
        """A request this backend cannot serve (default: one with trained weights, if it applies none)."""
        backend = self.make()
        if backend.capabilities.weights:
            return None
        task = toy_task()
        return task.render(Candidate(weights="/nonexistent/lora-0"), task.val[0])
