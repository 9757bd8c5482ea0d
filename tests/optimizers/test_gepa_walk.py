"""GEPA's plan as a walk over the budget left: worked cases by hand, and runs with test doubles.

The walk is checked where GEPA's steps are certain (every child accepted, none accepted, a
child that waits for the last validation), then against a GEPA run whose acceptance is certain: a
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


def test_every_child_accepted_validates_while_a_step_and_a_validation_stay_in_hand():
    steps = walk(get_optimizer("gepa"), Shares(accepted=1.0, **CERTAIN), n_val=10, size=2, probes=0, left=100)
    # each step 2 + 2 + 10 = 14 calls while 14 more stay in hand: 100 -> 86 -> ... -> 16; the seventh
    # step's child waits (16 -> 12: no step left), and the last validation takes it: 12 -> 2
    assert (steps.steps, steps.metric, steps.validated, steps.proposer) == (7, 98, 7, 7)
    assert steps.low == steps.high == 98


def test_no_child_accepted_spends_minibatches_then_validates_the_best_rejected_child():
    steps = walk(get_optimizer("gepa"), Shares(accepted=0.0, **CERTAIN), n_val=10, size=2, probes=1, left=100)
    # each step 4 calls while 14 are left: 22 steps (100 -> 12), then the last validation (12 -> 2);
    # a calibrated child's probe is a request
    assert (steps.steps, steps.metric, steps.requests, steps.validated) == (22, 98, 120, 1)


def test_a_child_the_budget_cannot_validate_at_once_waits_for_the_last_validation():
    steps = walk(get_optimizer("gepa", minibatch_size=3), Shares(accepted=1.0, **CERTAIN), n_val=10, size=3,
                 probes=0, left=20)
    # one step (20 -> 14: a validation now would leave no step in hand), then the last validation
    assert (steps.steps, steps.metric, steps.validated) == (1, 16, 1)


def test_too_little_for_a_step_and_a_validation_takes_no_step():
    steps = walk(get_optimizer("gepa", minibatch_size=3), Shares(accepted=1.0, **CERTAIN), n_val=10, size=3,
                 probes=0, left=15)
    assert (steps.steps, steps.metric, steps.validated) == (0, 0, 0)


def test_perfect_parents_and_unusable_answers_cost_no_child():
    steps = walk(get_optimizer("gepa", draws=2), Shares(perfect=0.5, unusable=1.0, accepted=1.0), n_val=10, size=2,
                 probes=0, left=100)
    # every step is a parent's minibatch (2 calls) while 14 are left: 44 steps; half reflect, two draws
    # each; no child ever waits, so no last validation
    assert (steps.steps, steps.metric, steps.validated) == (44, 88, 0)
    assert steps.proposer == pytest.approx(44)


def test_the_spread_is_within_a_step_of_the_budget():
    steps = walk(get_optimizer("gepa"), Shares(perfect=0.1, unusable=0.3, accepted=0.25), n_val=50, size=3, probes=0,
                 left=350)
    assert 350 - 6 <= steps.low <= steps.metric <= steps.high <= 350


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
