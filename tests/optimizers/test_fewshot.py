import pytest

from promptlift import FewShot
from promptlift.errors import ConfigError
from promptlift.testing.doubles import scripted, toy_task
from promptlift.testing import OptimizerContract


class TestFewShotContract(OptimizerContract):
    def make(self):
        return FewShot(k=2)

    def make_invalid(self):
        return FewShot(k=0)


def test_fewshot_finds_demos_that_lift_the_toy_task():
    result = FewShot(k=2).optimize(toy_task(), scripted(), budget=100, cache=None)
    assert result.baseline.mean == 0.5  # the double answers 'negative' without demos
    assert result.best.mean == 1.0
    assert result.best_test == 1.0 and result.lift == 0.5


def test_balanced_demos_cover_every_label():
    task = toy_task()
    result = FewShot(k=4).optimize(task, scripted(), budget=60, cache=None)
    for trial in result.trials[1:]:
        labels = [d.output for d in trial.candidate.demos]
        assert labels.count("positive") == labels.count("negative") == 2


def test_bad_k_message_names_the_parameter():
    with pytest.raises(ConfigError, match=r"The 'k' parameter of FewShot must be an int >= 1. Got 0."):
        FewShot(k=0)


def test_zero_shot_candidates_come_first_in_each_format():
    result = FewShot(k=2, formats=("chat", "plain"), calibrate="contextual").optimize(
        toy_task(), scripted(), budget=200, cache=None
    )
    first = [t.candidate for t in result.trials[1:3]]
    assert [(c.format, len(c.demos)) for c in first] == [("chat", 0), ("plain", 0)]
    assert all(len(c.calibration) == 2 for c in first)
    assert all(len(t.candidate.demos) == 2 for t in result.trials[3:])
    assert result.stopped_by == "metric_calls"
