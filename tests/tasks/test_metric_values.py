"""What a metric may return: any real number or numpy scalar in [0, 1]; anything else is a
MetricError naming the metric, the example and the value. Past an error rate the run stops."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from promptlift import Budget, FewShot, Task
from promptlift.errors import MetricError
from promptlift.testing.doubles import scripted, toy_task
from promptlift.types import Completion, Example, Score


@pytest.mark.parametrize("value, expected", [
    (True, 1.0), (0, 0.0), (1, 1.0), (0.25, 0.25), (np.bool_(True), 1.0), (np.bool_(False), 0.0),
    (np.int64(1), 1.0), (np.float32(0.5), 0.5), (np.float64(0.75), 0.75), (Score(0.5, "half"), 0.5),
])
def test_real_numbers_and_numpy_scalars_in_range_are_scores(value, expected):
    task = Task(name="t", input_fields=("q",), train=(), val=(Example({"q": "x"}, "y", id="e1"),),
                metric=lambda example, prediction: value)
    assert task.score(task.val[0], Completion(text="y")).value == expected


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 5.0, -1, 1.0000001, np.float64("nan"), "1", None,
                                   [1.0], Score(2.0)])
def test_nan_infinite_out_of_range_and_non_numbers_are_metric_errors(value):
    def mine(example, prediction):
        return value

    task = Task(name="t", input_fields=("q",), train=(), val=(Example({"q": "x"}, "y", id="e7"),), metric=mine)
    with pytest.raises(MetricError) as info:
        task.score(task.val[0], Completion(text="y"))
    message = str(info.value)
    assert "metric 'mine' returned" in message and "on example e7" in message
    assert repr(value.value if isinstance(value, Score) else value) in message


def test_the_check_is_one_function_corpus_metrics_can_call():
    from promptlift.tasks.metrics import metric_value

    assert metric_value(0.5, metric="macro_f1", example="(corpus)") == 0.5
    with pytest.raises(MetricError, match=r"metric 'macro_f1' returned nan on example \(corpus\)"):
        metric_value(math.nan, metric="macro_f1", example="(corpus)")


def flaky(failing: set[str]):
    def metric(example, prediction):
        return math.nan if example.id in failing else float(prediction == example.output)
    return metric


def test_a_metric_that_fails_on_a_few_examples_does_not_end_the_run(tmp_path):
    task = toy_task(400)  # 100 validation examples; the metric fails on one of them
    task = dataclasses.replace(task, metric=flaky({task.val[3].id}))
    result = FewShot(k=2, max_candidates=2).optimize(task, scripted(), budget=Budget(metric_calls=300), cache=None)
    assert len([t for t in result.trials if t.role == "val"]) == 3  # the seed and both candidates
    seed = result.trials[0]
    assert seed.scores[3] == 0.0 and seed.feedback[3].startswith("metric error: metric 'metric' returned nan")


def test_past_the_error_rate_the_run_stops_with_its_trials_saved(tmp_path):
    task = toy_task(80)
    task = dataclasses.replace(task, metric=flaky({e.id for e in task.val[:5]}))
    with pytest.raises(MetricError, match=r"the metric failed on 5 of 20 examples, more than 5%; the first: metric"):
        FewShot(k=2).optimize(task, scripted(), budget=Budget(metric_calls=200), cache=None, run_dir=tmp_path)
    assert len((tmp_path / "trials.jsonl").read_text().splitlines()) == 1
    assert json.loads((tmp_path / "result.json").read_text())["stopped_by"].startswith("error: the metric failed")
