"""The retry loop at the wire: a loopback fault server counts every request both backends send."""

from __future__ import annotations

import re
import time

import pytest

from promptlift.cache import CachedBackend, ResponseCache
from promptlift.errors import BackendError, MalformedResponse, RetryableError
from promptlift.types import Message, Request
from tests.backends.conftest import make_backend

CHOICE = Request(messages=(Message("user", "Review: a fine film"),), choices=("positive", "negative"))
GENERATE = Request(messages=(Message("user", "hello there"),))

# fault -> wire requests for one logical call (then "ok"): hits = 1 + retries
RECOVERED = {"429": 2, "429-retry-after": 2, "500": 2, "503": 2, "reset": 2, "408": 2, "409": 2, "502": 2}
FAIL_AT_ONCE = {"400": 400, "401": 401, "403": 403, "404": 404, "ctx400": 400}
MALFORMED = ("badjson", "nochoices", "nologprobs")


class RecordingSleep:
    """Test spy for the retrier's sleep: records each wait, then really sleeps it."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


@pytest.mark.parametrize("fault", sorted(RECOVERED))
def test_retryable_fault_is_retried_once_then_answered(engine, faults, fault):
    backend = make_backend(engine, faults.url)
    faults.plan(fault)
    [completion] = backend.complete([CHOICE])
    assert completion.text == "positive" and len(completion.choice_logprobs) == 2
    assert faults.hits == RECOVERED[fault]
    assert backend.stats == {"calls": 1, "attempts": RECOVERED[fault], "failures": 0}


@pytest.mark.parametrize("fault", ["429", "500", "503", "reset"])
def test_persistent_fault_stops_after_max_retries(engine, faults, fault):
    backend = make_backend(engine, faults.url, max_retries=3)
    faults.plan(then=fault)
    with pytest.raises(BackendError, match="gave up after 4 attempts") as info:
        backend.complete([GENERATE])
    assert not isinstance(info.value, RetryableError)
    assert faults.hits == 4  # 1 + max_retries
    assert info.value.backend == backend.id


@pytest.mark.parametrize("fault", sorted(FAIL_AT_ONCE))
def test_non_retryable_status_fails_at_once_with_a_typed_error(engine, faults, fault):
    backend = make_backend(engine, faults.url)
    faults.plan(fault)
    with pytest.raises(BackendError) as info:
        backend.complete([GENERATE])
    assert not isinstance(info.value, (RetryableError, MalformedResponse))
    assert faults.hits == 1
    assert info.value.status == FAIL_AT_ONCE[fault]
    assert f"HTTP {FAIL_AT_ONCE[fault]}" in str(info.value) and backend.id in str(info.value)
    if fault == "ctx400":
        assert "context length exceeded" in str(info.value)


def test_retry_after_is_honoured_and_capped(engine, faults):
    backend = make_backend(engine, faults.url, retry_after_max=0.2)
    backend.retrier._sleep = sleep = RecordingSleep()
    faults.retry_after = 0.15
    faults.plan("429-retry-after")
    backend.complete([GENERATE])
    faults.retry_after = 3600  # an hour: capped at retry_after_max
    faults.plan("429-retry-after")
    backend.complete([GENERATE])
    assert sleep.waits == [0.15, 0.2]
    assert faults.hits == 2


def test_backoff_grows_exponentially_with_jitter(engine, faults):
    backend = make_backend(engine, faults.url, backoff=0.01, backoff_max=0.03, jitter=0.5)
    backend.retrier._sleep = sleep = RecordingSleep()
    faults.plan("500", "500", "500", "500")
    backend.complete([GENERATE])
    assert faults.hits == 5
    caps = [0.01, 0.02, 0.03, 0.03]  # doubling, capped at backoff_max
    assert all(cap * 0.5 <= wait <= cap for wait, cap in zip(sleep.waits, caps, strict=True))


def warmed(backend, faults):
    """The backend after one answered call (SDK imports done: the clock then times the call only)."""
    backend.complete([GENERATE])
    faults.plan()
    return backend


def test_a_hanging_server_is_abandoned_at_the_deadline(engine, faults):
    backend = warmed(make_backend(engine, faults.url, deadline=0.5), faults)
    faults.plan(then="hang")  # every attempt would hang for 10 s
    with pytest.raises(BackendError, match="deadline of 0.5 s") as info:
        backend.complete([GENERATE])
    assert faults.hits == 1  # the timeout used the whole deadline: no time was left to retry
    assert "timeout" in str(info.value)  # abandoned by the client, not answered by the server


def test_attempt_timeout_retries_a_hang_within_the_deadline(engine, faults):
    backend = warmed(make_backend(engine, faults.url, deadline=2.5, attempt_timeout=1.0), faults)
    faults.plan(then="hang")
    with pytest.raises(BackendError, match=r"deadline of 2.5 s (reached|leaves no time for a retry in [0-9.]+ s) after \d+ attempt") as raised:
        backend.complete([GENERATE])
    # attempts start at ~0 s, ~1 s and ~2 s on an idle machine; under load the client's own
    # overhead can leave room for only two. Either way every attempt reached the wire.
    attempts = int(re.search(r"after (\d+) attempt", str(raised.value)).group(1))
    assert attempts == faults.hits >= 2


def test_a_backoff_past_the_deadline_is_not_slept(engine, faults):
    backend = make_backend(engine, faults.url, deadline=1.0, retry_after_max=60)
    backend.retrier._sleep = sleep = RecordingSleep()
    faults.retry_after = 30
    faults.plan(then="429-retry-after")
    with pytest.raises(BackendError, match=r"deadline of 1 s leaves no time for a retry in 30.00 s after 1 attempt"):
        backend.complete([GENERATE])
    assert faults.hits == 1 and sleep.waits == []


@pytest.mark.parametrize("fault", MALFORMED)
def test_malformed_answers_raise_and_are_never_cached(engine, faults, fault, tmp_path):
    backend = make_backend(engine, faults.url)
    cache = ResponseCache(tmp_path / "responses.sqlite")
    cached = CachedBackend(backend, cache)
    faults.plan(fault)
    with pytest.raises(MalformedResponse):
        cached.complete([CHOICE])
    assert faults.hits == 1  # a malformed answer is not retried
    assert cache.stats() == {}
    [fresh] = cached.complete([CHOICE])  # the next call goes to the server again
    [replay] = cached.complete([CHOICE])
    assert faults.hits == 2
    assert not fresh.cached and replay.cached and replay.choice_logprobs == fresh.choice_logprobs
    assert cache.stats() == {backend.id: 1}


def test_batch_runs_concurrently_within_max_concurrency_and_keeps_order(engine, faults):
    backend = make_backend(engine, faults.url, max_concurrency=4)
    faults.plan(then="slow")
    requests = [Request(messages=(Message("user", f"message {i}"),)) for i in range(12)]
    completions = backend.complete(requests)
    assert [c.text for c in completions] == [f"message {i}" for i in range(12)]
    assert faults.hits == 12
    assert 1 < faults.peak_in_flight <= 4


def test_one_failed_call_fails_the_batch_and_only_the_answers_are_cached(engine, faults, tmp_path):
    backend = make_backend(engine, faults.url, max_concurrency=3)
    cache = ResponseCache(tmp_path / "responses.sqlite")
    faults.plan("401")
    requests = [Request(messages=(Message("user", f"message {i}"),)) for i in range(6)]
    with pytest.raises(BackendError, match="HTTP 401"):
        CachedBackend(backend, cache).complete(requests)
    assert faults.hits <= 6
    failed = faults.requests[0]["messages"][-1]["content"]  # the first request the server saw got the 401
    answers = cache.get_many(backend.id, requests)
    assert answers[[r.messages[-1].content for r in requests].index(failed)] is None  # a failure is never cached
    assert sum(a is not None for a in answers) == faults.hits - 1  # every answer received is kept at once


def test_generate_and_match_scores_choices_without_logprobs(engine, faults):
    backend = make_backend(engine, faults.url, choice_scoring="generate")
    assert backend.capabilities.choice_scoring is False
    request = Request(messages=(Message("user", "Negative, I think."),), choices=("positive", "negative"))
    [completion] = backend.complete([request])
    assert "logprobs" not in faults.requests[0]
    assert completion.text == "negative" and completion.choice_logprobs == (-100.0, 0.0)


def test_raw_prompt_uses_the_completions_endpoint(engine, faults):
    backend = make_backend(engine, faults.url)
    request = Request(prompt="Review: fine\nSentiment:", choices=(" positive", " negative"))
    [completion] = backend.complete([request])
    assert faults.requests[0]["path"].endswith("/completions") and "/chat/" not in faults.requests[0]["path"]
    assert faults.requests[0]["logprobs"] == 20
    assert completion.text == " positive" and completion.choice_logprobs[0] > completion.choice_logprobs[1]
    assert completion.usage.prompt_tokens == 9 and completion.usage.completion_tokens == 1
