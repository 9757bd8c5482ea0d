"""The one retry loop of promptlift's API backends.

The OpenAI SDK and litellm both ship their own retries; the API backends switch them off
(``max_retries=0``, ``num_retries=0``) so that this loop is the only one, and an attempt count
is exact: the server sees ``1 + retries`` requests per logical call.

Policy (``RetryPolicy``):

- retried: ``RetryableError`` (HTTP 408, 409, 429, 5xx, connection errors, timeouts), with
  exponential backoff ``backoff * 2**(n-1)`` capped at ``backoff_max``, times a random jitter
  factor in ``[1 - jitter, 1]``; a server's ``Retry-After`` (or ``retry-after-ms``) replaces the
  computed delay, capped at ``retry_after_max``;
- not retried: any other ``BackendError`` (400, 401, 403, 404, context length, malformed
  responses) propagates at once;
- ``deadline`` seconds bound a logical call: each attempt's timeout is the time left (or
  ``attempt_timeout`` if smaller, so a hung connection can be retried within the deadline),
  and a backoff that would end past the deadline is not slept: the call fails at once instead.
  The attempt's timeout is handed to the SDK (httpx), which applies it per network operation:
  a hung server is abandoned on time (plus the SDK's own error handling, measured at 0.02 s
  for openai and 0.15-0.2 s for litellm on a heavily loaded 2-core machine), but a server that
  trickles bytes more often than the timeout can stretch an attempt.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from dataclasses import dataclass
from typing import Callable, Mapping, TypeVar

from promptlift.checks import is_int, is_number
from promptlift.errors import BackendError, RetryableError, param_error

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 409, 429})


def is_retryable_status(status: int | None) -> bool:
    return status is not None and (status in RETRYABLE_STATUS or 500 <= status <= 599)


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how long to retry one logical call (all times in seconds)."""

    max_retries: int = 6
    backoff: float = 0.5
    backoff_max: float = 30.0
    jitter: float = 0.5
    retry_after_max: float = 60.0
    deadline: float = 60.0
    attempt_timeout: float | None = None

    def __post_init__(self) -> None:
        def real(value: object) -> bool:
            return is_number(value, finite=True)

        checks = {
            "max_retries": (is_int(self.max_retries, 0, 100), "an int in [0, 100]"),
            "backoff": (real(self.backoff) and self.backoff >= 0, "a number >= 0"),
            "backoff_max": (real(self.backoff_max) and self.backoff_max >= 0, "a number >= 0"),
            "jitter": (real(self.jitter) and 0 <= self.jitter <= 1, "a number in [0, 1]"),
            "retry_after_max": (real(self.retry_after_max) and self.retry_after_max >= 0, "a number >= 0"),
            "deadline": (real(self.deadline) and self.deadline > 0, "a number > 0"),
            "attempt_timeout": (self.attempt_timeout is None or real(self.attempt_timeout) and self.attempt_timeout > 0,
                                "a number > 0 or None"),
        }
        for name, (ok, requirement) in checks.items():
            if not ok:
                raise param_error("RetryPolicy", name, requirement, getattr(self, name))

    def delay(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_max)
        base = min(self.backoff * 2 ** (retry - 1), self.backoff_max)
        return base * (1.0 - self.jitter * rng.random())


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date), else None."""
    if not headers:
        return None
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    try:
        if "retry-after-ms" in lower:
            return float(lower["retry-after-ms"]) / 1000.0
        if "retry-after" in lower:
            value = lower["retry-after"].strip()
            try:
                return float(value)
            except ValueError:
                when = email.utils.parsedate_to_datetime(value).timestamp()
                return max(0.0, when - (time.time() if now is None else now))
    except (TypeError, ValueError, OverflowError):
        return None
    return None


class Retrier:
    """Runs ``attempt(timeout)`` under a RetryPolicy; ``clock``/``sleep`` are injectable for tests."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        backend: str,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy = policy
        self.backend = backend
        self._rng = random.Random(seed)
        self._clock = clock
        self._sleep = sleep

    def call(self, attempt: Callable[[float], T], before_retry: Callable[[], None] | None = None) -> T:
        """The result of the first successful attempt; raises BackendError when giving up.

        ``attempt`` gets the seconds left until the deadline (its timeout); ``before_retry``
        runs before each retry (the backend waits for its rate limiter there).
        """
        policy, started, number = self.policy, self._clock(), 0
        while True:
            number += 1
            if number > 1 and before_retry is not None:
                before_retry()
            timeout = policy.deadline - (self._clock() - started)
            if policy.attempt_timeout is not None:
                timeout = min(timeout, policy.attempt_timeout)
            try:
                return attempt(max(timeout, 0.001))
            except RetryableError as exc:
                wait = self._next_wait(exc, number, started)
                log.info("%s: attempt %d failed (%s); retrying in %.3f s", self.backend, number, _reason(exc), wait)
                self._sleep(wait)

    def _next_wait(self, exc: RetryableError, number: int, started: float) -> float:
        policy = self.policy
        if number > policy.max_retries:
            raise BackendError(
                f"gave up after {number} attempts (max_retries={policy.max_retries}): {_reason(exc)}",
                backend=self.backend, status=exc.status,
            ) from None
        wait = policy.delay(number, exc.retry_after, self._rng)
        spent = self._clock() - started
        if spent + wait >= policy.deadline:
            state = "reached" if spent >= policy.deadline else f"leaves no time for a retry in {wait:.2f} s"
            raise BackendError(
                f"deadline of {policy.deadline:g} s {state} after {number} attempt(s) in {spent:.2f} s: {_reason(exc)}",
                backend=self.backend, status=exc.status,
            ) from None
        return wait


def _reason(exc: BackendError) -> str:
    text = str(exc)
    prefix = f"[{exc.backend}] " if exc.backend else ""
    return text[len(prefix):] if prefix and text.startswith(prefix) else text
