import subprocess
import sys

import pytest

from promptlift import Candidate, Example, ScriptedBackend
from promptlift.errors import ConfigError
from promptlift.interop import dspy as pl_dspy
from promptlift.testing.doubles import keyword_script, toy_task

dspy = pytest.importorskip("dspy")


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTLIFT_CACHE", str(tmp_path / "cache"))


def chat_adapter_script(request):
    """Answers in DSPy's ChatAdapter format, with the keyword double's label."""
    label = keyword_script(request.__class__(messages=request.messages, choices=("positive", "negative")))
    label = "positive" if label == [0.0, -1.0] else "negative"
    return f"[[ ## sentiment ## ]]\n{label}\n\n[[ ## completed ## ]]"


def test_importing_promptlift_and_the_interop_module_does_not_import_dspy():
    code = "import sys, promptlift, promptlift.interop.dspy; assert 'dspy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_promptlift_backend_answers_dspy_calls():
    backend = ScriptedBackend(chat_adapter_script)
    lm = pl_dspy.lm(backend)
    assert isinstance(lm, dspy.BaseLM)
    program = pl_dspy.to_dspy(toy_task().seed, toy_task())
    with dspy.context(lm=lm):
        prediction = program(review="a good film")
    assert prediction.sentiment in ("positive", "negative")
    assert backend.calls == 1 and lm.backend_engine.calls == 1
    sent = backend.requests[0]
    assert sent.messages[0].role == "system" and "Classify the review." in sent.messages[0].content
    assert sent.messages[-1].role == "user" and "a good film" in sent.messages[-1].content


def test_sampled_calls_get_distinct_sample_numbers():
    backend = ScriptedBackend(lambda r: "[[ ## sentiment ## ]]\npositive\n\n[[ ## completed ## ]]")
    lm = pl_dspy.lm(backend, temperature=1.0)
    program = pl_dspy.to_dspy(toy_task().seed, toy_task())
    with dspy.context(lm=lm):
        program(review="x", config={"rollout_id": 1})
        program(review="x", config={"rollout_id": 2})
    assert [r.sample for r in backend.requests] == [1, 2]
    assert all(r.temperature == 1.0 for r in backend.requests)


def test_candidate_round_trips_through_a_dspy_program():
    task = toy_task()
    candidate = task.seed.with_(demos=task.train[:3])
    program = pl_dspy.to_dspy(candidate, task)
    assert isinstance(program, dspy.Predict)
    assert program.signature.instructions == "Classify the review."
    assert [d.sentiment for d in program.demos] == [e.output for e in task.train[:3]]
    assert pl_dspy.from_dspy(program, task) == candidate


def test_reasoning_candidate_becomes_chain_of_thought_and_back():
    task = toy_task()
    demo = Example({"review": "a good film"}, "positive", id="r1", reasoning="It says good.")
    candidate = Candidate(instruction="", demos=(demo,), reasoning=True)
    program = pl_dspy.to_dspy(candidate, task)
    assert isinstance(program, dspy.ChainOfThought)
    assert program.predict.demos[0].reasoning == "It says good."
    assert pl_dspy.from_dspy(program, task) == candidate


def test_components_dspy_cannot_hold_are_dropped_with_a_warning(caplog):
    task = toy_task()
    candidate = task.seed.with_(format="plain", calibration=(0.1, -0.1))
    program = pl_dspy.to_dspy(candidate, task)
    assert "calibration" in caplog.text and "format" in caplog.text
    assert pl_dspy.from_dspy(program, task, base=candidate) == candidate


def test_program_with_several_predictors_needs_a_name():
    task = toy_task()

    class Two(dspy.Module):
        def __init__(self):
            super().__init__()
            self.first = pl_dspy.to_dspy(task.seed, task)
            self.second = pl_dspy.to_dspy(task.seed.with_(instruction="Other."), task)

    with pytest.raises(ConfigError, match="2 predictors"):
        pl_dspy.from_dspy(Two(), task)
    assert pl_dspy.from_dspy(Two(), task, predictor="second").instruction == "Other."


def test_a_dspy_optimizer_runs_on_a_promptlift_backend_and_its_program_comes_back():
    task = toy_task()
    backend = ScriptedBackend(chat_adapter_script)
    metric = pl_dspy.Metric(task)
    optimizer = dspy.BootstrapFewShot(metric=metric, max_bootstrapped_demos=2, max_labeled_demos=0)
    with dspy.context(lm=pl_dspy.lm(backend)):
        compiled = optimizer.compile(pl_dspy.to_dspy(task.seed, task), trainset=pl_dspy.examples(task, task.train[:12]))
    candidate = pl_dspy.from_dspy(compiled, task)
    assert len(candidate.demos) == 2 and metric.calls >= 2
    assert {d.id for d in candidate.demos} <= {e.id for e in task.train}
    # the candidate is an ordinary promptlift candidate: the double scores it perfectly (2 demos)
    requests = [task.render(candidate, e) for e in task.val]
    completions = ScriptedBackend(keyword_script).complete(requests)
    scores = [task.score(e, task.resolve(candidate, c)).value for e, c in zip(task.val, completions)]
    assert sum(scores) / len(scores) == 1.0


def test_metric_scores_predictions_and_counts_calls():
    task = toy_task()
    metric = pl_dspy.Metric(task)
    gold = pl_dspy.to_dspy_example(task, task.val[0])
    assert metric(gold, dspy.Prediction(sentiment=task.val[0].output)) == 1.0
    assert metric(gold, dspy.Prediction(sentiment="maybe")) == 0.0
    assert metric(gold, None) == 0.0 and metric.calls == 3


@pytest.mark.integration
def test_a_dspy_program_runs_on_the_real_default_model(tmp_path, monkeypatch):
    pytest.importorskip("llama_cpp")
    from promptlift import get_task, load_backend
    from promptlift.errors import MissingDependency

    try:
        backend = load_backend("llamacpp:smollm2")
    except MissingDependency as exc:
        pytest.skip(str(exc))
    task = get_task("sentiment", sizes=(4, 2, 2))
    lm = pl_dspy.lm(backend, max_tokens=24)
    program = pl_dspy.to_dspy(task.seed.with_(demos=task.train[:2]), task)
    with dspy.context(lm=lm):
        prediction = program(**task.val[0].inputs)  # greedy decoding: this example parses to a label
    assert prediction.sentiment in task.choices
    assert lm.backend_engine.calls >= 1 and backend.id in lm.model
    assert lm.history and "[[ ## review ## ]]" in lm.history[0]["messages"][-1]["content"]
