"""GEPA at the end of a metric-call budget: it keeps one validation in hand, steps while the budget
left pays a step and that validation, then validates the best child still waiting; so a run spends
its budget to within a step's minibatches, and the plan (``gepa_walk``) knows where it ends.

Test doubles: the keyword ScriptedBackend task model (right when the prompt says 'sentiment'), a
task model that is wrong on every prompt (no child is ever accepted), and proposer doubles.
"""

from __future__ import annotations

import pytest

from promptlift import Budget, ScriptedBackend
from promptlift.optimizers.gepa import GEPA, _Child, _Waiting, best_waiting
from promptlift.optimizers.gepa_walk import Shares, walk
from promptlift.optimizers.pareto import PoolEntry
from promptlift.optimizers.reflection import Outcome
from promptlift.testing.doubles import keyword_script, toy_task


def always_wrong(request):
    """A task-model double: wrong on every prompt, so no child ever beats its parent."""
    text = request.prompt if request.prompt is not None else "\n".join(m.content for m in request.messages)
    positive = any(w in text.rsplit("Review:", 1)[-1] for w in ("good", "great", "fine"))
    return [-1.0, 0.0] if positive else [0.0, -1.0]


def writer(request):
    """A proposer double: a new instruction for every draw; the even draws say 'sentiment'."""
    word = "sentiment" if request.sample % 2 == 0 else "tone"
    return f"Judge the {word} of review {request.sample} carefully, then answer."


def run(gepa: GEPA, budget: int, task_model=keyword_script, seed: int = 0):
    return gepa.optimize(toy_task(), ScriptedBackend(task_model, name="toy"), budget=Budget(metric_calls=budget),
                         seed=seed, cache=None, proposer=ScriptedBackend(writer, name="proposer"),
                         evaluate_test=False)


@pytest.mark.parametrize("parents,children", [(1, 1), (2, 2)])
@pytest.mark.parametrize("budget", [53, 61, 100, 173])
def test_with_no_child_accepted_the_run_still_spends_its_budget_to_within_a_step(budget, parents, children):
    gepa = GEPA(parents_per_step=parents, children_per_parent=children, merge=False, reuse_scores=False)
    result = run(gepa, budget, always_wrong)
    reserve = (parents + 1) * gepa.minibatch_size
    assert budget - reserve < result.metric_calls <= budget
    last = result.trials[-1]
    assert last.role == "val" and last.info["stage"] == "last" and last.info["accepted"] is False
    before, after = last.info["minibatch"]
    assert after <= before  # a rejected child: validated only because the budget had nothing better to buy
    assert result.best.number == 0  # every prompt scores 0; the earliest (the seed) wins the tie


def test_an_accepted_child_the_budget_cannot_validate_at_once_is_validated_last_and_can_win():
    task = toy_task()
    n_val, reserve = len(task.val), 2 * GEPA().minibatch_size
    budget = n_val + reserve + n_val + reserve  # after one step a validation would leave no step in hand
    for seed in range(6):
        result = run(GEPA(merge=False), budget, seed=seed)
        last = [t for t in result.trials if t.info.get("stage") == "last"]
        if last and last[0].info["accepted"]:
            break
    else:
        pytest.fail("no seed accepted a child at the end of the budget")
    assert [t.info.get("stage") for t in result.trials if t.role == "val"] == ["seed", "last"]
    assert result.best.number == last[0].number and result.best.mean == 1.0
    assert result.metric_calls > budget - reserve


def waiting(accepted: bool, before: float, after: float, iteration: int) -> _Waiting:
    def outcome(total: float) -> Outcome:
        return Outcome((), (total,), ("",), ("",))
    parent = PoolEntry(index=0, candidate=toy_task().seed, trial=0, scores={})
    child = _Child(toy_task().seed, parent, [], outcome(before))
    return _Waiting(child, outcome(after), accepted, iteration)


def test_the_last_validation_prefers_accepted_then_the_largest_gain_then_the_earliest():
    pool = [waiting(False, 0.0, 3.0, 0), waiting(True, 1.0, 2.0, 1), waiting(True, 0.0, 2.0, 2),
            waiting(True, 0.0, 2.0, 3)]
    assert best_waiting(pool).iteration == 2
    assert best_waiting(pool[:1]).iteration == 0  # a rejected child when nothing else waits


def test_without_a_metric_call_limit_every_accepted_child_is_validated_at_once_and_none_last():
    result = GEPA(merge=False, max_iterations=6).optimize(
        toy_task(), ScriptedBackend(keyword_script, name="toy"), budget=Budget(lm_calls=10_000), seed=0, cache=None,
        proposer=ScriptedBackend(writer, name="proposer"), evaluate_test=False)
    assert all(t.info.get("stage") != "last" for t in result.trials)
    assert any(t.info.get("stage") == "reflection" for t in result.trials)


@pytest.mark.parametrize("budget", [53, 100, 173])
def test_the_walk_ends_where_gepa_ends_when_no_child_is_accepted(budget):
    task, gepa = toy_task(), GEPA(merge=False, reuse_scores=False)
    result = run(gepa, budget, always_wrong)
    steps = walk(gepa, Shares(perfect=0.0, unusable=0.0, accepted=0.0), n_val=len(task.val),
                 size=gepa.minibatch_size, probes=0, left=budget - len(task.val))
    assert result.metric_calls == len(task.val) + steps.metric
    assert steps.low == steps.high == steps.metric
