"""The optimizer contract suite: every optimizer must pass it (like optuna's sampler tests).

Use it from a test module::

    from promptlift.testing import OptimizerContract

    class TestMyOptimizer(OptimizerContract):
        def make(self):
            return MyOptimizer(population_size=4)
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest

from promptlift import Budget, Optimizer, Plan, Result
from promptlift.errors import ConfigError
from promptlift.testing.doubles import scripted, toy_task


class OptimizerContract:
    budget = 120

    def make(self) -> Optimizer:  # pragma: no cover - overridden
        raise NotImplementedError

    def run(self, tmp_path, seed: int = 0, budget: int | None = None, run_dir=None, **options) -> Result:
        """One run on the toy task; ``options`` go to ``optimize`` (e.g. ``max_prompt_tokens``)."""
        task = toy_task()
        return self.make().optimize(
            task, scripted(), budget=Budget(metric_calls=budget or self.budget), seed=seed, cache=None, run_dir=run_dir,
            **options,
        )

    def test_returns_result_with_best_among_trials(self, tmp_path):
        result = self.run(tmp_path)
        assert isinstance(result, Result)
        assert result.best in result.trials
        assert result.best.role == "val"
        assert result.best.mean == max(t.mean for t in result.trials if t.role == "val")
        assert result.baseline.candidate == toy_task().seed

    def test_budget_is_honoured_exactly(self, tmp_path):
        result = self.run(tmp_path, budget=self.budget)
        assert result.metric_calls <= self.budget
        assert sum(len(t.scores) for t in result.trials) == result.metric_calls
        assert result.trials[-1].metric_calls == result.metric_calls

    def test_same_seed_same_result(self, tmp_path):
        first, second = self.run(tmp_path, seed=3), self.run(tmp_path, seed=3)
        assert [t.candidate for t in first.trials] == [t.candidate for t in second.trials]
        assert first.best.candidate == second.best.candidate

    def test_task_is_not_mutated(self, tmp_path):
        task = toy_task()
        before = copy.deepcopy(task.describe()), task.train, task.val, task.test, task.seed
        self.make().optimize(task, scripted(), budget=self.budget, cache=None)
        assert (task.describe(), task.train, task.val, task.test, task.seed) == before

    def test_run_dir_holds_the_record(self, tmp_path):
        result = self.run(tmp_path, run_dir=tmp_path / "run")
        names = {p.name for p in (tmp_path / "run").iterdir()}
        assert {"config.json", "trials.jsonl", "result.json", "best_candidate.json"} <= names
        lines = (tmp_path / "run" / "trials.jsonl").read_text().splitlines()
        assert len(lines) == len(result.trials)
        assert Result.from_json(tmp_path / "run" / "result.json").best.candidate == result.best.candidate

    def test_max_prompt_tokens_is_honoured(self, tmp_path):
        """No admissible trial, and never the best, is over the cap; over-cap candidates spend no metric call.
        The cap lies halfway between the seed's prompt tokens and the longest the uncapped search validated."""
        free = self.run(tmp_path)
        seed = free.baseline.per_query["prompt_tokens"]
        longest = max(t.per_query["prompt_tokens"] for t in free.trials if t.role == "val")
        cap = math.ceil(seed + (longest - seed) / 2)
        result = self.run(tmp_path, max_prompt_tokens=cap, objectives=("score", "prompt_tokens"))
        assert result.best.admissible and result.best.per_query["prompt_tokens"] <= cap
        assert all(t.per_query["prompt_tokens"] <= cap for t in result.trials if t.role == "val" and t.admissible)
        assert all(not t.admissible for t in result.trials if t.per_query.get("prompt_tokens", 0) > cap
                   and t.role == "val")
        assert sum(len(t.scores) for t in result.trials if t.scored) == result.metric_calls
        assert result.front and all(t.admissible for t in result.front)
        again = Result.from_dict(result.to_dict())
        assert again.max_prompt_tokens == cap and [t.number for t in again.front] == [t.number for t in result.front]

    def test_bad_hyperparameter_names_itself(self):
        with pytest.raises(ConfigError, match=r"The '\w+' parameter of \w+ must"):
            self.make_invalid()

    def test_plan_calls_no_model_and_stays_within_the_budget(self):
        backend = _Counting(scripted())
        plan = self.make().plan(toy_task(), backend, Budget(metric_calls=self.budget), cache=None)
        assert backend.requests == 0
        assert isinstance(plan, Plan) and plan.metric_calls <= self.budget and plan.affordable in (True, False)
        assert str(plan).startswith("plan: ") and json.loads(json.dumps(plan.to_dict()))["lm_calls"] == plan.lm_calls

    def make_invalid(self) -> Optimizer:
        """Override: construct the optimizer with one invalid hyperparameter."""
        pytest.skip("no invalid configuration declared")


class _Counting:
    """A backend wrapper that counts the requests sent through it (any backend, test double or real)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.requests = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def complete(self, requests: Any) -> Any:
        self.requests += len(requests)
        return self.inner.complete(requests)
