"""GEPA's plan as a walk over the budget left: worked cases by hand, and runs with test doubles.

The walk is checked where GEPA's steps are certain (every child accepted, none accepted, a
validation that no longer fits), then against a GEPA run whose acceptance is certain: a
proposer double that always writes a new instruction and a task-model double that is wrong on
every prompt (so no child beats its parent).
"""

from __future__ import annotations

import pytest

from promptlift import ScriptedBackend
from promptlift.optimizers.gepa_walk import Shares, walk
from promptlift.optimizers.registry import get_optimizer
from promptlift.testing.doubles import toy_task

CERTAIN = dict(perfect=0.0, unusable=0.0)


def test_every_child_accepted_validates_until_a_minibatch_and_validation_do_not_fit():
    steps = walk(get_optimizer("gepa"), Shares(accepted=1.0, **CERTAIN), n_val=10, size=2, probes=0, left=100)
    # each step: 2 + 2 + 10 = 14 calls, while 12 are left: 100 -> 86 -> ... -> 2, seven steps
    assert (steps.steps, steps.metric, steps.validated, steps.proposer) == (7, 98, 7, 7)
    assert steps.low == steps.high == 98


def test_no_child_accepted_spends_minibatches_only():
    steps = walk(get_optimizer("gepa"), Shares(accepted=0.0, **CERTAIN), n_val=10, size=2, probes=1, left=100)
    # each step: 4 calls while 12 are left: 23 steps, 8 left unspent; a calibrated child's probe is a request
    assert (steps.steps, steps.metric, steps.requests, steps.validated) == (23, 92, 115, 0)


def test_a_validation_that_does_not_fit_ends_the_search_without_it():
    steps = walk(get_optimizer("gepa", minibatch_size=3), Shares(accepted=1.0, **CERTAIN), n_val=10, size=3,
                 probes=0, left=14)
    assert (steps.steps, steps.metric, steps.validated) == (1, 6, 0)  # 8 left after the minibatches, 10 asked


def test_perfect_parents_and_unusable_answers_cost_no_child():
    steps = walk(get_optimizer("gepa", draws=2), Shares(perfect=0.5, unusable=1.0, accepted=1.0), n_val=10, size=2,
                 probes=0, left=100)
    # every step is a parent's minibatch (2 calls) while 12 are left: 45 steps; half reflect, two draws each
    assert (steps.steps, steps.metric, steps.validated) == (45, 90, 0)
    assert steps.proposer == pytest.approx(45)


def test_the_spread_brackets_the_expected_spend_and_stays_within_the_budget():
    steps = walk(get_optimizer("gepa"), Shares(perfect=0.1, unusable=0.3, accepted=0.25), n_val=50, size=3, probes=0,
                 left=350)
    assert 350 - 53 < steps.low < steps.metric < steps.high <= 350


def always_wrong(request):
    """A task-model double: wrong on every prompt, so no child ever beats its parent."""
    text = request.prompt if request.prompt is not None else "\n".join(m.content for m in request.messages)
    positive = any(w in text.rsplit("Review:", 1)[-1] for w in ("good", "great", "fine"))
    return [-1.0, 0.0] if positive else [0.0, -1.0]


def writer(request):
    """A proposer double: a new instruction for every draw."""
    return f"Decide the sentiment of the review: positive or negative. Variant {request.sample}."


def test_the_walk_counts_what_gepa_spends_when_no_child_is_accepted():
    task, proposer = toy_task(60), ScriptedBackend(writer)
    optimizer = get_optimizer("gepa", reuse_scores=False)
    budget = 3 * len(task.val) + 11
    result = optimizer.optimize(task, ScriptedBackend(always_wrong), budget=budget, proposer=proposer,
                                evaluate_test=False, cache=None)
    steps = walk(optimizer, Shares(accepted=0.0, **CERTAIN), n_val=len(task.val), size=optimizer.minibatch_size,
                 probes=0, left=budget - len(task.val))
    assert result.metric_calls == len(task.val) + steps.metric
    assert proposer.calls == steps.proposer


def test_without_a_metric_call_limit_it_plans_max_iterations_steps():
    steps = walk(get_optimizer("gepa", max_iterations=10), Shares(accepted=1.0, **CERTAIN), n_val=10, size=2,
                 probes=0, left=None)
    assert (steps.steps, steps.metric, steps.validated) == (10, 140, 10)


def test_the_plan_prints_the_spread_of_where_gepa_stops():
    task = toy_task(60)
    plan = get_optimizer("gepa").plan(task, ScriptedBackend(always_wrong), 200, cache=None)
    spread = next(n for n in plan.notes if "percentile" in n)
    low, high = (int(x) for x in spread.split(": ")[1].split(" metric")[0].split("-"))
    assert low <= plan.metric_calls <= high <= 200
