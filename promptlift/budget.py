"""Budgets: limits on metric calls, LM calls, tokens, dollars and seconds, and what was spent.

Metric calls and LM calls are checked *before* an evaluation starts, so they are never
exceeded. Tokens, dollars and seconds are only known after a call returns: they are checked
before each batch of calls, so they overshoot by at most one batch (``Run.chunk`` requests,
task and proposer models together). Cached answers count as spent, so replaying a run
stops exactly where the original stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from promptlift.errors import BudgetExhausted, ConfigError
from promptlift.types import Usage


@dataclass(frozen=True)
class Budget:
    """Search limits; ``None`` means unlimited. At least one limit must be set."""

    metric_calls: int | None = None
    lm_calls: int | None = None
    tokens: int | None = None
    dollars: float | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        limits = self.to_dict()
        if all(v is None for v in limits.values()):
            raise ConfigError("A Budget needs at least one limit (metric_calls, lm_calls, tokens, dollars or seconds).")
        for name, value in limits.items():
            if value is not None and value <= 0:
                raise ConfigError(f"The {name!r} limit of Budget must be > 0. Got {value!r}.")

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("metric_calls", "lm_calls", "tokens", "dollars", "seconds")}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Budget:
        return cls(**{k: v for k, v in data.items() if v is not None})


@dataclass
class Ledger:
    """What a run has spent against its Budget (task and proposer models together)."""

    budget: Budget
    metric_calls: int = 0
    usage: Usage = field(default_factory=Usage)
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining_metric_calls(self) -> int | None:
        limit = self.budget.metric_calls
        return None if limit is None else max(0, limit - self.metric_calls)

    def reserve(self, metric_calls: int, lm_calls: int) -> None:
        """Raise BudgetExhausted unless the next evaluation fits."""
        limit = self.budget.metric_calls
        if limit is not None and self.metric_calls + metric_calls > limit:
            raise BudgetExhausted("metric_calls")
        if self.budget.lm_calls is not None and self.usage.calls + lm_calls > self.budget.lm_calls:
            raise BudgetExhausted("lm_calls")
        self.check()

    def check(self) -> None:
        """Raise BudgetExhausted if a post-paid limit (tokens, dollars, seconds) is reached."""
        budget = self.budget
        if budget.tokens is not None and self.usage.tokens >= budget.tokens:
            raise BudgetExhausted("tokens")
        if budget.dollars is not None and (self.usage.dollars or 0.0) >= budget.dollars:
            raise BudgetExhausted("dollars")
        if budget.seconds is not None and self.elapsed >= budget.seconds:
            raise BudgetExhausted("seconds")

    def spend(self, usage: Usage, metric_calls: int = 0) -> None:
        self.usage = self.usage + usage
        self.metric_calls += metric_calls
