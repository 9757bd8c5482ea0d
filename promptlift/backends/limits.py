"""Client-side rate limits: requests and tokens per minute, shared by a backend's threads.

Each limit is a token bucket that refills continuously at ``limit / 60`` per second and holds
at most one second's worth (so a burst never exceeds what the provider's own per-second
enforcement accepts). Tokens are charged up front from an estimate (prompt characters / 4
plus ``max_tokens``) and settled with the real count when the answer arrives; a bucket may
go negative, which delays the next requests instead of refusing them.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from promptlift.errors import param_error


class Bucket:
    """A thread-safe token bucket; ``take`` blocks until the level allows the amount."""

    def __init__(
        self,
        per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._stamp = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self.level = min(self.capacity, self.level + (now - self._stamp) * self.rate)
        self._stamp = now

    def take(self, amount: float) -> float:
        """Wait until ``amount`` fits (a large amount waits for a full bucket), then take it.

        Returns the seconds waited.
        """
        waited = 0.0
        while True:
            with self._lock:
                self._refill()
                need = min(amount, self.capacity)
                if self.level >= need:
                    self.level -= amount
                    return waited
                wait = (need - self.level) / self.rate
            self._sleep(wait)
            waited += wait

    def give_back(self, amount: float) -> None:
        """Credit (or, with a negative amount, debit) the bucket after the real cost is known."""
        with self._lock:
            self._refill()
            self.level = min(self.capacity, self.level + amount)


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits (either may be None: unlimited)."""

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        for name, value in (("requests_per_minute", requests_per_minute), ("tokens_per_minute", tokens_per_minute)):
            if value is not None and not value > 0:
                raise param_error("RateLimiter", name, "a number > 0 or None", value)
        self.requests = Bucket(requests_per_minute, clock=clock, sleep=sleep) if requests_per_minute else None
        self.tokens = Bucket(tokens_per_minute, clock=clock, sleep=sleep) if tokens_per_minute else None

    @property
    def active(self) -> bool:
        return self.requests is not None or self.tokens is not None

    def acquire(self, estimated_tokens: int) -> float:
        """Block until one request of about ``estimated_tokens`` may go out; returns seconds waited."""
        waited = self.requests.take(1) if self.requests else 0.0
        if self.tokens:
            waited += self.tokens.take(estimated_tokens)
        return waited

    def settle(self, estimated_tokens: int, actual_tokens: int) -> None:
        """Correct the token bucket once the real token count is known."""
        if self.tokens and actual_tokens != estimated_tokens:
            self.tokens.give_back(estimated_tokens - actual_tokens)
