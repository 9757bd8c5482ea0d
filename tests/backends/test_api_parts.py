"""Unit tests of the API backends' parts: retry loop, rate limits, wire format, prices (no server)."""

from __future__ import annotations

import math

import pytest

from promptlift.backends.limits import RateLimiter
from promptlift.backends.retry import Retrier, RetryPolicy, parse_retry_after
from promptlift.backends.usage import Prices, lookup_prices, max_context, usage_from
from promptlift.backends.wire import decode, match_choice, parse, payload, score_choices
from promptlift.errors import BackendError, ConfigError, MalformedResponse, RetryableError
from promptlift.types import Message, Request


class FakeTime:
    """A clock whose sleep advances it: timing logic tested without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def flaky(failures: list[BaseException], time: FakeTime | None = None, cost: float = 0.0):
    calls = []

    def attempt(timeout: float) -> str:
        calls.append(timeout)
        if time is not None:
            time.now += min(cost, timeout)  # an attempt never outlives its timeout
        if failures:
            raise failures.pop(0)
        return "done"

    return attempt, calls


# --- retry -------------------------------------------------------------------------------------
def test_retrier_retries_retryable_errors_until_success():
    time = FakeTime()
    retrier = Retrier(RetryPolicy(backoff=1.0, jitter=0.0), backend="b", clock=time.clock, sleep=time.sleep)
    attempt, calls = flaky([RetryableError("503", status=503)] * 3)
    assert retrier.call(attempt) == "done"
    assert len(calls) == 4 and time.slept == [1.0, 2.0, 4.0]


def test_retrier_does_not_retry_other_backend_errors():
    retrier = Retrier(RetryPolicy(), backend="b", sleep=lambda s: None)
    attempt, calls = flaky([BackendError("401", status=401)])
    with pytest.raises(BackendError, match="401"):
        retrier.call(attempt)
    assert len(calls) == 1


def test_retrier_gives_up_after_max_retries_with_the_last_status():
    time = FakeTime()
    retrier = Retrier(RetryPolicy(max_retries=2, backoff=0.1), backend="b", clock=time.clock, sleep=time.sleep)
    attempt, calls = flaky([RetryableError("429", status=429)] * 5)
    with pytest.raises(BackendError, match="gave up after 3 attempts") as info:
        retrier.call(attempt)
    assert len(calls) == 3 and info.value.status == 429 and info.value.backend == "b"


def test_retrier_keeps_the_deadline_and_gives_attempts_the_time_left():
    time = FakeTime()
    policy = RetryPolicy(deadline=10.0, backoff=2.0, jitter=0.0, max_retries=100)
    retrier = Retrier(policy, backend="b", clock=time.clock, sleep=time.sleep)
    attempt, timeouts = flaky([RetryableError("timeout")] * 100, time, cost=1.5)
    with pytest.raises(BackendError, match="deadline of 10 s"):
        retrier.call(attempt)
    assert timeouts[0] == 10.0 and timeouts[1] == pytest.approx(10.0 - 1.5 - 2.0)
    assert time.now <= 10.0  # never slept past the deadline


def test_retry_after_replaces_the_backoff_and_is_capped():
    time = FakeTime()
    retrier = Retrier(RetryPolicy(retry_after_max=5.0), backend="b", clock=time.clock, sleep=time.sleep)
    attempt, _ = flaky([RetryableError("429", retry_after=3.0), RetryableError("429", retry_after=500.0)])
    retrier.call(attempt)
    assert time.slept == [3.0, 5.0]


def test_jitter_stays_within_its_band():
    import random

    policy = RetryPolicy(backoff=1.0, jitter=0.5, backoff_max=100)
    rng = random.Random(0)
    for retry in range(1, 6):
        cap = 2 ** (retry - 1)
        assert all(cap * 0.5 <= policy.delay(retry, None, rng) <= cap for _ in range(50))


def test_parse_retry_after_forms():
    assert parse_retry_after({"Retry-After": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0) == 10.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after(None) is None


def test_retry_policy_rejects_bad_values_with_the_one_template():
    with pytest.raises(ConfigError, match=r"The 'deadline' parameter of RetryPolicy must be a number > 0. Got 0."):
        RetryPolicy(deadline=0)


# --- rate limits -------------------------------------------------------------------------------
def test_requests_per_minute_paces_requests():
    time = FakeTime()
    limiter = RateLimiter(requests_per_minute=120, clock=time.clock, sleep=time.sleep)  # 2 per second
    for _ in range(7):
        limiter.acquire(0)
    assert time.now == pytest.approx(2.5)  # 2 at once (a second's burst), then one per 0.5 s


def test_tokens_per_minute_waits_for_tokens_and_settles_real_counts():
    time = FakeTime()
    limiter = RateLimiter(tokens_per_minute=6000, clock=time.clock, sleep=time.sleep)  # 100 per second
    limiter.acquire(100)
    limiter.acquire(100)
    assert time.now == pytest.approx(1.0)
    limiter.settle(estimated_tokens=100, actual_tokens=300)  # 200 more than charged: a debt
    limiter.acquire(50)
    assert time.now == pytest.approx(3.5)


def test_an_oversized_request_waits_for_a_full_bucket_and_goes_through():
    time = FakeTime()
    limiter = RateLimiter(tokens_per_minute=60, clock=time.clock, sleep=time.sleep)  # 1 per second
    limiter.acquire(500)
    limiter.acquire(1)
    assert time.now == pytest.approx(500.0)


def test_no_limits_never_waits():
    limiter = RateLimiter()
    assert not limiter.active and limiter.acquire(10**6) == 0.0


# --- wire format and choice scoring ------------------------------------------------------------
CHAT = Request(messages=(Message("user", "hi"),), choices=("positive", "negative"), max_tokens=32, stop=("\n",))
PLAIN = Request(prompt="Sentiment:", choices=(" positive", " negative"))


def test_choice_payloads_ask_for_one_token_and_top_logprobs():
    chat = payload(CHAT, mode="logprobs", top_logprobs=20)
    assert chat == {"max_tokens": 1, "temperature": 0.0, "messages": [{"role": "user", "content": "hi"}],
                    "logprobs": True, "top_logprobs": 20}
    assert payload(PLAIN, mode="logprobs", top_logprobs=5)["logprobs"] == 5
    generate = payload(CHAT, mode="generate", top_logprobs=20)
    assert generate["max_tokens"] == 32 and generate["stop"] == ["\n"] and "logprobs" not in generate


def test_first_token_scores_merge_case_and_space_variants():
    top = [("positive", -0.5), (" Positive", -2.0), ("neg", -1.5), ("The", -3.0)]
    pos, neg = score_choices(["positive", "negative"], top)
    assert pos == pytest.approx(math.log(math.exp(-0.5) + math.exp(-2.0)))
    assert neg == pytest.approx(-1.5)


def test_an_absent_choice_gets_a_floor_below_every_listed_token():
    top = [("yes", math.log(0.6)), ("no", math.log(0.3))]
    yes, maybe = score_choices(["yes", "maybe"], top)
    assert maybe == pytest.approx(math.log(0.1)) and maybe < min(lp for _, lp in top)


def test_match_choice_prefers_the_answer_it_starts_with():
    assert match_choice("Negative. Not positive at all", ["positive", "negative"]) == 1
    assert match_choice("I'd say it is positive.", ["positive", "negative"]) == 0
    assert match_choice("positively", ["positive", "negative"]) is None
    assert match_choice("no idea", ["positive", "negative"]) is None


@pytest.mark.parametrize(
    "body, message",
    [
        ({"choices": []}, "no choices"),
        ({"object": "error"}, "no choices"),
        ({"choices": [{"message": None}]}, "no message"),
        ({"choices": [{"message": {"content": 7}}]}, "not a string"),
        ({"choices": [{"message": {"content": "x"}}]}, "logprobs were asked"),
        ({"choices": [{"message": {"content": "x"}, "logprobs": {"content": []}}]}, "logprobs were asked"),
    ],
)
def test_unusable_bodies_are_malformed(body, message):
    with pytest.raises(MalformedResponse, match=message):
        parse(body, CHAT, logprobs=True, backend="b")


def test_bad_json_is_malformed():
    with pytest.raises(MalformedResponse, match="not valid JSON"):
        decode('{"choices": [', "b")
    with pytest.raises(MalformedResponse, match="not an object"):
        decode("[1, 2]", "b")


# --- prices and usage --------------------------------------------------------------------------
def test_known_prices_come_from_litellms_bundled_map():
    prices = lookup_prices("gpt-4.1-mini", "openai")
    assert prices.known and prices.source == "litellm"
    assert prices.cost(1_000_000, 0) > 0 and max_context("gpt-4.1-mini") > 100_000


def test_unknown_prices_make_unknown_dollars_not_zero():
    prices = lookup_prices("my-local-model", "openai")
    assert not prices.known
    usage = usage_from({"usage": {"prompt_tokens": 10, "completion_tokens": 2}}, prices, 0.1, estimate=1)
    assert usage.dollars is None and usage.tokens == 12 and usage.calls == 1


def test_user_prices_are_per_million_tokens():
    prices = Prices.per_million((2.0, 8.0))
    assert prices.cost(500_000, 250_000) == pytest.approx(1.0 + 2.0)
    with pytest.raises(ConfigError, match="'prices' option"):
        Prices.per_million((1.0,))


def test_missing_usage_falls_back_to_an_estimate():
    usage = usage_from({}, Prices(0.0, 0.0), 0.1, estimate=42)
    assert usage.prompt_tokens == 42 and usage.dollars == 0.0
