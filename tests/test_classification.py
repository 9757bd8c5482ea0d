import dataclasses

import pytest

from promptlift import FewShot, calibration, classification
from promptlift.result import Result
from promptlift.testing.doubles import scripted, toy_task
from promptlift.types import Example


def imbalanced_task(positives: int = 2, n: int = 20):
    rows = [Example({"review": f"film {i}"}, "positive" if i < positives else "negative", id=f"e{i}") for i in range(n)]
    return dataclasses.replace(toy_task(), train=tuple(rows), val=tuple(rows[:10]), test=tuple(rows))


def test_every_classification_result_carries_baselines_per_class_metrics_and_confusion(tmp_path):
    result = FewShot(k=2).optimize(toy_task(), scripted(), budget=60, cache=None, run_dir=tmp_path)
    info = result.classification
    assert info["split"] == "test" and info["labels"] == ["positive", "negative"]
    best, seed = info["candidates"]["best"], info["candidates"]["baseline"]
    assert best["accuracy"] == best["macro_f1"] == 1.0 and best["confusion"] == [[10, 0], [0, 10]]
    assert seed["confusion"] == [[0, 10], [0, 10]]  # the seed answers 'negative' to everything
    assert seed["per_class"]["negative"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 10}
    assert info["baselines"]["majority"]["score"] == 0.5
    assert info["baselines"]["uniform"]["accuracy"] == 0.5
    assert Result.from_json(tmp_path / "result.json").classification == info


def test_per_example_test_predictions_are_public():
    result = FewShot(k=2).optimize(toy_task(), scripted(), budget=60, cache=None)
    rows = result.predictions("best", "test")
    assert len(rows) == 20 and {r["prediction"] for r in rows} == {"positive", "negative"}
    assert {r["prediction"] for r in result.predictions("baseline")} == {"negative"}
    assert len(result.predictions("best", "val")) == len(toy_task().val)
    assert result.search_seconds is not None and result.test_seconds is not None


def test_imbalanced_labels_under_accuracy_warn_and_suggest_macro_f1():
    warning = classification.imbalance_warning(imbalanced_task())
    assert "'negative' 90%" in warning and "--metric macro_f1" in warning
    assert classification.imbalance_warning(toy_task()) is None
    assert classification.imbalance_warning(dataclasses.replace(imbalanced_task(), metric="macro_f1")) is None


def test_a_best_candidate_answering_one_label_is_flagged():
    result = FewShot(k=2).optimize(toy_task(), scripted(), budget=20, cache=None)  # only the seed: all 'negative'
    assert any("predicts 'negative' for 100%" in w for w in result.warnings)


def test_majority_baseline_is_the_training_splits_most_frequent_label():
    task = imbalanced_task()
    assert classification.majority_label(task) == "negative"
    assert classification.baselines(task, task.test)["majority"]["accuracy"] == 0.9


def test_calibration_adds_the_training_prior_unless_the_metric_is_class_balanced():
    task = imbalanced_task()  # 2 positives, 18 negatives: add-one smoothed prior 3/22, 19/22
    prior = calibration.class_prior(task)
    assert prior == pytest.approx((3 / 22, 19 / 22))
    bias = calibration.with_prior((0.0, 0.0), prior)
    assert bias[0] > 0 > bias[1]  # Task.resolve subtracts the bias: the frequent label gains
    assert calibration.class_prior(dataclasses.replace(task, metric="balanced_accuracy")) is None
