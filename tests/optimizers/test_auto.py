import dataclasses

import pytest

from promptlift.backends.base import Capabilities
from promptlift.optimizers.auto import Auto
from promptlift.optimizers.bootstrap import BootstrapFewShot
from promptlift.optimizers.fewshot import FewShot
from promptlift.optimizers.registry import get_optimizer
from promptlift.testing import OptimizerContract
from promptlift.testing.doubles import scripted, toy_task


class TestAutoContract(OptimizerContract):
    def make(self):
        return Auto(k=2)

    def make_invalid(self):
        return Auto(k=0)


def test_classification_gets_the_joint_calibrated_search():
    choice = Auto().choose(toy_task(), scripted(), 400)
    assert isinstance(choice.optimizer, FewShot)
    assert (choice.optimizer.formats, choice.optimizer.verbalizers, choice.optimizer.calibrate) == ("auto", "auto", "auto")
    assert "calibrated" in choice.reason and "\n" not in choice.reason


def test_no_choice_scores_means_no_calibration():
    backend = scripted()
    backend.capabilities = dataclasses.replace(backend.capabilities, choice_scoring=False)
    choice = Auto().choose(toy_task(), backend, 400)
    assert choice.optimizer.calibrate is None and "returns no choice log-probabilities" in choice.reason


@pytest.mark.parametrize(("budget", "expected"), [(10_000, BootstrapFewShot), (20, FewShot)])
def test_generation_bootstraps_when_the_budget_allows(budget, expected):
    task = dataclasses.replace(toy_task(), choices=(), metric="exact_match")
    choice = Auto().choose(task, scripted(), budget)
    assert type(choice.optimizer) is expected
    assert choice.reason.startswith(expected.name)


def test_auto_runs_the_chosen_search_and_records_its_name():
    result = Auto(k=2).optimize(toy_task(), scripted(), budget=200, cache=None)
    assert result.optimizer == "fewshot"
    assert any(t.candidate.calibration for t in result.trials[1:])


def test_every_few_shot_family_optimizer_takes_the_same_auto_values():
    for name in ("fewshot", "bootstrap", "similarity", "mipro", "genetic", "auto"):
        optimizer = get_optimizer(name, formats="auto", calibrate="auto")
        assert (optimizer.formats, optimizer.calibrate) == ("auto", "auto")
    assert get_optimizer("gepa", calibrate="auto").calibrate == "auto"
    assert Capabilities().choice_scoring  # the default the choice above relies on


def test_auto_searches_inside_an_existing_run_too():
    from promptlift import Budget
    from promptlift.errors import BudgetExhausted
    from promptlift.run import Run

    task = toy_task()
    run = Run(task, scripted(), budget=Budget(metric_calls=100))
    run.validate(task.seed)
    with pytest.raises(BudgetExhausted):  # a search ends when the budget does (optimize catches it)
        Auto(k=2)._search(run)
    assert len(run.trials) == 5 and run.trials[1].candidate.calibration  # calibrated zero-shot candidates first
