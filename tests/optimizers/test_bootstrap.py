import pytest

from promptlift import Candidate, Example, ScriptedBackend, Task
from promptlift.errors import ConfigError
from promptlift.optimizers.bootstrap import BootstrapFewShot
from promptlift.testing.doubles import WORDS, scripted, toy_task
from promptlift.testing import OptimizerContract


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTLIFT_CACHE", str(tmp_path / "cache"))


class TestBootstrapContract(OptimizerContract):
    def make(self):
        return BootstrapFewShot(k=2, bootstrap_size=20)

    def make_invalid(self):
        return BootstrapFewShot(rounds=0)


def test_bootstrap_trials_are_train_trials_and_count_in_the_budget():
    result = BootstrapFewShot(k=2, bootstrap_size=20).optimize(toy_task(), scripted(), budget=100, cache=None)
    boot = [t for t in result.trials if t.info.get("stage") == "bootstrap"]
    assert len(boot) == 1 and boot[0].role == "train" and len(boot[0].scores) == 20
    assert result.metric_calls == sum(len(t.scores) for t in result.trials) <= 100


def test_demos_are_outputs_the_metric_accepted():
    # The double answers 'negative' without demos: only negative examples are accepted.
    result = BootstrapFewShot(k=2, bootstrap_size=20).optimize(toy_task(), scripted(), budget=80, cache=None)
    boot = next(t for t in result.trials if t.info.get("stage") == "bootstrap")
    accepted = {i for i, s in zip(boot.example_ids, boot.scores) if s == 1.0}
    searched = [t for t in result.trials if t.role == "val" and t.number > 0]
    assert searched
    for trial in searched:
        assert all(d.id in accepted for d in trial.candidate.demos)
        assert all(d.output == "negative" for d in trial.candidate.demos)


def test_later_rounds_are_conditioned_on_accepted_demos():
    result = BootstrapFewShot(k=2, rounds=2, bootstrap_size=10).optimize(toy_task(), scripted(), budget=80, cache=None)
    rounds = [t for t in result.trials if t.info.get("stage") == "bootstrap"]
    assert [t.info["round"] for t in rounds] == [1, 2]
    assert len(rounds[0].candidate.demos) == 0 and len(rounds[1].candidate.demos) == 2
    assert rounds[1].mean == 1.0  # two demos make the double answer correctly


def _reasoning_task() -> Task:
    ex = [Example({"question": f"{a} + {b}"}, str(a + b), id=f"q{a}-{b}") for a in range(8) for b in range(5)]
    return Task(name="add", input_fields=("question",), train=ex[:20], val=ex[20:30], test=ex[30:], metric="number",
                seed=Candidate(instruction="Add the numbers."))


def _adder(request):
    question = request.messages[-1].content.split("Question: ")[-1]
    a, b = (int(x) for x in question.split(" + "))
    wrong = (a + b) % 3 == 0  # the double errs on a third of the sums
    return f"Reasoning: {a} plus {b}.\nAnswer: {a + b + (1 if wrong else 0)}"


def test_reasoning_demos_keep_the_models_rationale():
    task = _reasoning_task()
    result = BootstrapFewShot(k=2, reasoning=True, bootstrap_size=20).optimize(
        task, ScriptedBackend(_adder), budget=60, cache=None)
    assert result.best.candidate.reasoning
    boot = next(t for t in result.trials if t.info.get("stage") == "bootstrap")
    assert 0 < boot.mean < 1
    demos = [d for t in result.trials if t.role == "val" for d in t.candidate.demos]
    assert demos and all(d.reasoning.endswith(".") and "plus" in d.reasoning for d in demos)
    assert all(int(d.output) == sum(int(x) for x in d.inputs["question"].split(" + ")) for d in demos)


def test_calibrate_with_reasoning_is_refused():
    with pytest.raises(ConfigError, match="'calibrate' parameter of BootstrapFewShot"):
        BootstrapFewShot(reasoning=True, calibrate="contextual")


def test_no_accepted_output_falls_back_to_labeled_demos():
    def contrary(request):  # scripted test double: always the wrong label
        negative = any(w in request.messages[-1].content for w in WORDS[3:])
        return [0.0, -1.0] if negative else [-1.0, 0.0]

    result = BootstrapFewShot(k=2, bootstrap_size=10).optimize(toy_task(), ScriptedBackend(contrary), budget=60, cache=None)
    vals = [t for t in result.trials if t.role == "val" and t.number > 0]
    assert vals and all(t.info["bootstrapped"] == 0 and t.info["labeled"] == 2 for t in vals)

