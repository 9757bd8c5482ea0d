import dataclasses

import pytest

from promptlift import Budget, FewShot
from promptlift.errors import ConfigError
from promptlift.run import Run
from promptlift.tasks.corpus_metrics import CORPUS_METRICS
from promptlift.tasks.metric_names import get_metric
from promptlift.tasks.metrics import word_f1
from promptlift.testing.doubles import scripted, toy_task
from promptlift.types import Example

EXPECTED = ["a", "a", "a", "b"]
CONSTANT = ["a", "a", "a", "a"]


def test_macro_f1_and_balanced_accuracy_see_through_the_constant_majority_answer():
    macro, balanced = CORPUS_METRICS["macro_f1"], CORPUS_METRICS["balanced_accuracy"]
    assert macro.corpus(EXPECTED, CONSTANT, ["a", "b"]) == pytest.approx((6 / 7 + 0) / 2)  # F1(a) = 2*.75/1.75
    assert balanced.corpus(EXPECTED, CONSTANT, ["a", "b"]) == pytest.approx(0.5)
    assert macro.corpus(EXPECTED, EXPECTED, ["a", "b"]) == balanced.corpus(EXPECTED, EXPECTED, ["A", "B"]) == 1.0
    assert macro.corpus(["A "], ["a"], ["a", "b"]) == pytest.approx(0.5)  # case and space do not matter; b has F1 0


def test_a_corpus_metric_still_scores_one_example_with_feedback():
    score = get_metric("macro_f1")(Example({"x": "1"}, "positive"), "negative")
    assert score.value == 0.0 and "expected 'positive'" in score.feedback


def test_a_trial_under_a_corpus_metric_is_worth_the_corpus_value():
    task = dataclasses.replace(toy_task(), metric="macro_f1")
    run = Run(task, scripted(), budget=Budget(metric_calls=100))
    trial = run.validate(task.seed).trial  # the double answers 'negative' to everything without demos
    assert sum(trial.scores) / len(trial.scores) == 0.5
    assert trial.mean == trial.value == pytest.approx(1 / 3)
    assert run.score(task.seed, task.test).mean == pytest.approx(1 / 3)


def test_an_optimizer_selects_by_the_corpus_metric():
    task = dataclasses.replace(toy_task(), metric="balanced_accuracy")
    result = FewShot(k=2).optimize(task, scripted(), budget=60, cache=None)
    assert result.best.mean == 1.0 and result.baseline.mean == 0.5
    assert result.classification["metric"] == "balanced_accuracy"


def test_f1_is_word_f1_under_its_honest_name_and_the_old_name_warns():
    assert get_metric("word_f1") is word_f1
    with pytest.warns(FutureWarning, match="'f1' is deprecated: it is word-overlap F1"):
        assert get_metric("f1") is word_f1
    with pytest.raises(ConfigError, match="balanced_accuracy.*macro_f1"):
        get_metric("nope")
