"""Plans before the run: no model call, and LM calls within 10% of what the run then makes.

Test doubles only: the task model is a ScriptedBackend whose answers depend on a hash of the
prompt (about 60% right, so GEPA accepts some children and rejects others), the proposer a
ScriptedBackend that writes a new instruction for most draws and an unusable answer for the
rest. The CLI's --dry-run is tested against the loopback OpenAI-compatible server in
tests/test_plan_cli.py.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from promptlift import Budget, ResponseCache, ScriptedBackend
from promptlift.optimizers.registry import get_optimizer
from promptlift.testing.doubles import toy_task

WORDS = ["carefully", "closely", "quickly", "honestly", "fairly", "calmly", "plainly", "boldly", "simply", "wisely"]


def hashed_model(request):
    """A task-model double: right on about 60% of prompts (by a hash of the prompt)."""
    text = request.prompt if request.prompt is not None else "\n".join(m.content for m in request.messages)
    luck = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 16**8
    if not request.choices:
        return f"Answer the review {WORDS[int(luck * 10)]}."
    positive = any(w in text.rsplit("Review:", 1)[-1] for w in ("good", "great", "fine"))
    return [0.0, -1.0] if positive == (luck < 0.6) else [-1.0, 0.0]


def writer(request):
    """A proposer double: a new instruction for three draws in four, an apology for the fourth."""
    n = request.sample
    if n % 4 == 3:
        return "I'm sorry, I cannot improve that."
    return (f"Read the review {WORDS[n % 10]} and {WORDS[(n // 10) % 10]}, then decide its sentiment: "
            f"positive or negative. Variant {n}.")


CASES = [
    ("fewshot", {}, 300),
    ("fewshot", {"calibrate": "contextual", "formats": "auto", "verbalizers": "auto"}, 300),
    ("gepa", {}, 600),
    ("gepa", {"calibrate": "contextual"}, 600),
    ("gepa", {"parents_per_step": 2, "children_per_parent": 2}, 600),
    ("genetic", {}, 400),
    ("genetic", {"mode": "de", "calibrate": "contextual"}, 400),
    ("mipro", {"formats": "auto", "calibrate": "contextual"}, 400),
    ("bootstrap", {}, 300),
    ("similarity", {"embedder": "hashing"}, 300),
]


@pytest.mark.parametrize("name, params, budget", CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_the_plan_calls_no_model_and_its_lm_calls_are_within_10_percent_of_the_run(name, params, budget, seed,
                                                                                   tmp_path):
    task, optimizer = toy_task(200), get_optimizer(name, **params)
    model, proposer = ScriptedBackend(hashed_model, name="model"), ScriptedBackend(writer, name="writer")
    cache = ResponseCache(tmp_path / "cache.sqlite")
    plan = optimizer.plan(task, model, Budget(metric_calls=budget), proposer=proposer, cache=cache)
    assert model.calls == proposer.calls == 0
    result = optimizer.optimize(task, model, budget=budget, proposer=proposer, cache=cache, seed=seed,
                                evaluate_test=False)
    actual = model.calls + proposer.calls
    assert abs(plan.lm_calls - actual) <= 0.10 * actual, (plan.lm_calls, actual, result.metric_calls)
    assert abs(plan.metric_calls - result.metric_calls) <= 0.10 * result.metric_calls


def test_the_plan_counts_repeated_requests_as_cache_hits_only_with_a_cache():
    task, optimizer = toy_task(), get_optimizer("fewshot", calibrate="contextual")
    model = ScriptedBackend(hashed_model)
    with_cache = optimizer.plan(task, model, 120, cache=ResponseCache(":memory:"))
    without = optimizer.plan(task, model, 120, cache=None)
    assert without.lm_calls - with_cache.lm_calls == len(task.val)  # the calibrated seed asks the seed's requests


def test_a_budget_too_small_for_one_proposal_names_the_smallest_that_is_enough():
    task = toy_task()  # 20 validation examples
    plan = get_optimizer("gepa", minibatch_size=3).plan(task, ScriptedBackend(hashed_model), 45, cache=None)
    assert plan.affordable is False and plan.min_budget == 2 * 20 + 2 * 3
    assert "cannot pay for one reflection after the seed: use at least 46 metric calls" in str(plan)
    assert get_optimizer("gepa", minibatch_size=3).plan(task, ScriptedBackend(hashed_model), 46, cache=None).affordable


def test_the_plan_reads_like_a_table_and_round_trips_as_json():
    task = toy_task()
    plan = get_optimizer("genetic").plan(task, ScriptedBackend(hashed_model), 200, cache=None)
    text = str(plan)
    assert text.startswith("plan: genetic on toy with scripted:scripted")
    assert "search: task model" in text and "search: proposer" in text and "test: seed and best" in text
    assert "tokens counted by the model's tokenizer" in text and "time unknown" in text  # the double counts words
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["lm_calls"] == plan.lm_calls and data["dollars"] == 0.0 and data["seconds"] is None
    assert plan.line().startswith(f"plan: genetic, {plan.metric_calls} metric calls, ~{plan.lm_calls:,} LM calls")


def test_seconds_come_from_the_timings_stored_in_the_cache(tmp_path):
    from promptlift.types import Completion, Usage

    task, cache = toy_task(), ResponseCache(tmp_path / "cache.sqlite")
    model = ScriptedBackend(hashed_model)
    assert get_optimizer("fewshot").plan(task, model, 100, cache=cache).seconds is None
    requests = [task.render(task.seed, e) for e in task.train[:10]]
    cache.put_many(model.id, requests, [Completion("positive", (0.0, -1.0), usage=Usage(1, 100, 0, 0.0, 0.5))] * 10)
    plan = get_optimizer("fewshot").plan(task, model, 100, cache=cache)
    assert plan.seconds == pytest.approx(plan.parts[0].calls * 0.5)  # 0.5 s per choice-scored call
    assert "the engine's measured throughput (10 stored answers)" in str(plan)


def test_a_generation_rate_waits_for_three_generated_answers(tmp_path):
    """One short answer is mostly its prompt's processing: its seconds per token would plan a
    proposer several times too slow, so GEPA's time stays unknown until three are stored."""
    from promptlift.types import Completion, Request, Usage

    task, cache = toy_task(), ResponseCache(tmp_path / "cache.sqlite")
    model = ScriptedBackend(hashed_model)
    scored = [task.render(task.seed, e) for e in task.train[:10]]
    cache.put_many(model.id, scored, [Completion("positive", (0.0, -1.0), usage=Usage(1, 100, 0, 0.0, 0.5))] * 10)
    for i in range(3):
        assert get_optimizer("gepa").plan(task, model, 200, cache=cache).seconds is None, i
        made = Completion("a new instruction " * 10, usage=Usage(1, 200, 40, 0.0, 2.0))
        cache.put_many(model.id, [Request(prompt=f"reflect {i}", max_tokens=120)], [made])
    plan = get_optimizer("gepa").plan(task, model, 200, cache=cache)
    proposer = next(p for p in plan.parts if p.name == "search: proposer")
    assert proposer.seconds == pytest.approx(proposer.completion_tokens * 2.0 / 40)
