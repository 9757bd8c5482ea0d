"""The plans of the training rungs and best-of-N against their runs: no model call, and LM calls
(training examples and probe features charged as LM calls) within 10% of what the run makes.

The gradient rungs run on the tiny random-weight Llama (a test double model) through the real
TorchBackend; best-of-N on the keyword ScriptedBackend double with a generation version of the
toy task. No response cache: every request is a call.
"""

from __future__ import annotations

import dataclasses

import pytest

from promptlift import Budget, ScriptedBackend
from promptlift.optimizers.registry import get_optimizer
from promptlift.testing.doubles import keyword_script, toy_task
from tests.tiny_model import tiny_backend

SMALL = {"steps": 4, "eval_every": 2, "batch_size": 4, "patience": None}
RUNGS = [
    ("lora", {"rank": 2, **SMALL}, 200),
    ("finetune", {"lr": 1e-3, **SMALL}, 200),
    ("rft", {"rank": 2, "rounds": 2, "samples": 2, **SMALL}, 200),
    ("rft", {"rank": 2, "rounds": 3, "samples": 2, **SMALL}, 90),  # round 2 validates once, round 3 only samples
    ("rft", {"rank": 2, "rounds": 2, "samples": 2, "epochs": 1.0, "batch_size": 4, "eval_every": 2,
             "patience": None}, 400),  # each round trains on the answers accepted so far
    ("linear_probe", {"layers": [1, 2]}, 200),
    ("linear_probe", {}, 200),  # "auto": the layers the backend's model has
    ("soft_prompt", SMALL, 200),
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    yield from tiny_backend(tmp_path_factory)


def plan_and_run(optimizer, task, backend, budget):
    plan = optimizer.plan(task, backend, Budget(metric_calls=budget), cache=None)
    calls_before = backend.calls if hasattr(backend, "calls") else None
    result = optimizer.optimize(task, backend, budget=budget, cache=None, evaluate_test=False)
    return plan, result, calls_before


@pytest.mark.parametrize("name, params, budget", RUNGS)
def test_a_training_rungs_plan_is_within_10_percent_of_its_run(name, params, budget, tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTLIFT_CACHE", str(tmp_path / "cache"))
    optimizer = get_optimizer(name, **params)
    plan, result, _ = plan_and_run(optimizer, toy_task(80), tiny, budget)
    actual = result.usage.calls  # no cache: every request, training example and probe pass counted
    assert abs(plan.lm_calls - actual) <= 0.10 * actual, (plan.lm_calls, actual)
    assert abs(plan.metric_calls - result.metric_calls) <= 0.10 * result.metric_calls


def test_best_of_n_plan_counts_every_vote():
    task = dataclasses.replace(toy_task(80), choices=(), metric=lambda e, p: p.strip() == e.output)
    backend = ScriptedBackend(keyword_script)
    optimizer = get_optimizer("best_of_n", n=[2, 3])
    plan, result, before = plan_and_run(optimizer, task, backend, 200)
    assert before == 0  # the plan called nothing
    assert plan.lm_calls == backend.calls == result.usage.calls
