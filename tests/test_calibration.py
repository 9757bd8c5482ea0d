"""Calibrated choice scores, verbalizers and the prompt format as candidate components.

The test double ``biased`` (a ScriptedBackend, not a model) scores "positive" 3 nats above its
evidence: the evidence is +1 for a positive review word, -1 for a negative one and 0 for a
content-free input. Raw scoring therefore always says "positive" (accuracy 0.5 on the
balanced toy task), and the exact fix is a bias of (+1.5, -1.5) after centring.
"""

from __future__ import annotations

import argparse
import json
import math

import pytest

from promptlift import (
    Budget,
    Candidate,
    Completion,
    FewShot,
    Request,
    ResponseCache,
    Run,
    ScriptedBackend,
    calibration,
    formats,
    verbalizers,
)
from promptlift.errors import BudgetExhausted, CapabilityError, ConfigError
from promptlift.tasks.base import Task
from promptlift.testing import OptimizerContract
from promptlift.testing.doubles import WORDS, toy_task

BIAS = 3.0


def evidence(request: Request) -> float:
    text = request.prompt if request.prompt is not None else request.messages[-1].content
    last = text.rsplit("Review:", 1)[-1].split("\n", 1)[0]
    if any(w in last for w in WORDS[:3]):
        return 1.0
    return -1.0 if any(w in last for w in WORDS[3:]) else 0.0


def biased_script(request: Request) -> list[float]:
    s = evidence(request)
    return [BIAS + s, -s] + [-5.0] * (len(request.choices) - 2)


def biased(raw_prompt: bool = True) -> ScriptedBackend:
    return ScriptedBackend(biased_script, name="biased", raw_prompt=raw_prompt)


def make_run(backend=None, budget: Budget | None = None, cache=None, task: Task | None = None) -> Run:
    return Run(task or toy_task(), backend or biased(), budget=budget or Budget(metric_calls=10_000), cache=cache)


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTLIFT_CACHE", str(tmp_path / "cache"))


# --- the bias arithmetic -------------------------------------------------------------------
def test_contextual_bias_is_log_mean_probability_centred():
    bias = calibration.contextual_bias([[math.log(0.8), math.log(0.2)], [math.log(0.6), math.log(0.4)]])
    expected = [math.log(0.7), math.log(0.3)]
    centre = sum(expected) / 2
    assert bias == pytest.approx([e - centre for e in expected], abs=1e-6)


def test_batch_bias_is_mean_log_softmax_centred():
    assert calibration.batch_bias([[4.0, -1.0], [2.0, 1.0]]) == pytest.approx((1.5, -1.5))
    assert calibration.batch_bias([[0.0, 0.0, 0.0]]) == (0.0, 0.0, 0.0)


def test_bias_needs_rows_of_one_length():
    with pytest.raises(ConfigError):
        calibration.batch_bias([])
    with pytest.raises(ConfigError):
        calibration.contextual_bias([[0.0, 1.0], [0.0]])


# --- measuring it through a Run -------------------------------------------------------------
def test_contextual_calibration_measures_the_known_bias_and_fixes_it():
    run = make_run()
    seed = run.task.seed
    assert run.evaluate(seed, run.task.val).mean == 0.5  # always "positive"
    calibrated = calibration.calibrate(run, seed, "contextual")
    assert calibrated.calibration == pytest.approx((BIAS / 2, -BIAS / 2), abs=1e-6)
    assert (calibrated.instruction, calibrated.demos, calibrated.format) == (seed.instruction, seed.demos, seed.format)
    assert run.evaluate(calibrated, run.task.val).mean == 1.0


def test_contextual_probes_are_content_free_inputs_under_the_full_prompt():
    backend = biased()
    run = make_run(backend)
    candidate = run.task.seed.with_(demos=run.task.train[:2], format="plain")
    calibration.contextual(run, candidate)
    assert len(backend.requests) == len(calibration.CONTENT_FREE)
    for request, text in zip(backend.requests, calibration.CONTENT_FREE):
        assert request.prompt.startswith(candidate.instruction)
        assert request.prompt.count("Review:") == 3  # two demos and the probe
        assert request.prompt.endswith(f"Review: {text}\nSentiment:")


def test_batch_calibration_on_balanced_inputs_is_exact_and_ignores_labels():
    run = make_run()
    calibrated = calibration.batch(run, run.task.seed, examples=run.task.train)
    assert calibrated.calibration == pytest.approx((BIAS / 2, -BIAS / 2), abs=1e-6)
    assert run.evaluate(calibrated, run.task.test).mean == 1.0


def test_batch_sample_skips_demos_is_seeded_and_unlabeled():
    task = toy_task()
    candidate = task.seed.with_(demos=task.train[:3])
    first = calibration.unlabeled_sample(task, candidate, 10, seed=1)
    assert first == calibration.unlabeled_sample(task, candidate, 10, seed=1)
    assert {e.id for e in first}.isdisjoint({d.id for d in candidate.demos})
    assert all(e.output == "" for e in first) and len(first) == 10
    default = calibration.batch(make_run(), candidate)
    assert default.calibration[0] > 0 > default.calibration[1]


def test_probes_are_lm_calls_in_the_budget_and_never_trials():
    run = make_run(budget=Budget(metric_calls=100, lm_calls=2))
    with pytest.raises(BudgetExhausted, match="lm_calls"):
        calibration.contextual(run, run.task.seed)
    run = make_run()
    calibration.contextual(run, run.task.seed)
    assert run.usage.calls == 3 and run.metric_calls == 0 and run.trials == []


def test_probes_are_cached(tmp_path):
    backend = biased()
    cache = ResponseCache(tmp_path / "responses.sqlite")
    first = calibration.calibrate(make_run(backend, cache=cache), toy_task().seed, "contextual")
    calls = backend.calls
    second = calibration.calibrate(make_run(backend, cache=cache), toy_task().seed, "contextual")
    assert backend.calls == calls and first == second


def test_calibration_errors_are_clear():
    run = make_run()
    with pytest.raises(ConfigError, match="Unknown calibration method 'platt'"):
        calibration.calibrate(run, run.task.seed, "platt")
    assert calibration.calibrate(run, run.task.seed, None) is run.task.seed
    generation = Task(name="gen", input_fields=("review",), train=toy_task().train, val=toy_task().val)
    with pytest.raises(ConfigError, match="classification task"):
        calibration.contextual(make_run(task=generation), generation.seed)
    with pytest.raises(ConfigError, match="reasoning candidate"):
        calibration.batch(run, run.task.seed.with_(reasoning=True))
    texts = ScriptedBackend(lambda r: Completion(text="positive"), name="texts")
    with pytest.raises(CapabilityError, match="choice log-probabilities"):
        calibration.batch(make_run(texts), toy_task().seed)


def test_calibration_round_trips_and_rescoring_needs_no_optimizer():
    run = make_run()
    calibrated = calibration.contextual(run, run.task.seed.with_(verbalizer=("great", "terrible")))
    restored = Candidate.from_dict(json.loads(json.dumps(calibrated.to_dict())))
    assert restored == calibrated and restored.key == calibrated.key
    fresh = make_run()  # a new run, no optimizer: the bias is applied by Task.resolve
    assert fresh.evaluate(restored, fresh.task.test).mean == 1.0
    assert fresh.evaluate(restored.with_(calibration=()), fresh.task.test).mean == 0.5


# --- verbalizers -----------------------------------------------------------------------------
def test_candidates_for_lists_own_labels_first_then_known_sets():
    task = toy_task()
    found = verbalizers.candidates_for(task)
    assert found[0] == task.choices
    assert ("great", "terrible") in found and ("yes", "no") in found
    upper = Task(name="u", input_fields=("x",), train=(), val=task.val, choices=("Positive", "Negative"))
    assert verbalizers.candidates_for(upper)[:2] == (("Positive", "Negative"), ("positive", "negative"))
    assert verbalizers.candidates_for(Task(name="g", input_fields=("x",), train=(), val=task.val)) == ()


def test_verbalizer_words_are_scored_and_mapped_back_to_labels():
    task = toy_task()
    candidate = verbalizers.apply(task, task.seed.with_(demos=task.train[:2]), ("great", "terrible"))
    assert verbalizers.apply(task, candidate, task.choices).verbalizer == ()
    chat = task.render(candidate, task.val[0])
    assert chat.choices == ("great", "terrible")
    assert {m.content for m in chat.messages if m.role == "assistant"} <= {"great", "terrible"}
    assert task.render(candidate.with_(format="plain"), task.val[0]).choices == (" great", " terrible")
    run = make_run()
    evaluation = run.evaluate(calibration.contextual(run, candidate), task.val)
    assert set(evaluation.trial.predictions) == {"positive", "negative"} and evaluation.mean == 1.0


def test_bad_verbalizers_are_refused():
    task = toy_task()
    with pytest.raises(ConfigError, match="one word per label"):
        verbalizers.apply(task, task.seed, ("great",))
    with pytest.raises(ConfigError, match="distinct"):
        verbalizers.apply(task, task.seed, ("good", "good"))
    with pytest.raises(ConfigError):
        verbalizers.resolve_option(task, "sometimes")
    verbalizers.register(("alpha", "beta"), ("a", "b"))
    alpha = Task(name="ab", input_fields=("x",), train=(), val=task.val, choices=("alpha", "beta"))
    assert verbalizers.candidates_for(alpha) == (("alpha", "beta"), ("a", "b"))


# --- formats ---------------------------------------------------------------------------------
def test_plain_format_needs_a_raw_prompt_backend():
    chat_only = biased(raw_prompt=False)
    run = make_run(chat_only)
    with pytest.raises(CapabilityError, match="raw_prompt"):
        run.evaluate(run.task.seed.with_(format="plain"), run.task.val)
    with pytest.raises(CapabilityError, match="raw_prompt"):
        calibration.contextual(run, run.task.seed.with_(format="plain"))
    assert run.evaluate(run.task.seed, run.task.val).mean == 0.5  # chat still works
    assert formats.available(chat_only, ("chat", "plain")) == ("chat",)
    with pytest.raises(CapabilityError, match="raw_prompt"):
        formats.available(chat_only, ("plain",))
    with pytest.raises(ConfigError, match="Unknown prompt format"):
        formats.check(("html",))


# --- FewShot searching the components ---------------------------------------------------------
class TestCalibratedFewShotContract(OptimizerContract):
    def make(self):
        return FewShot(k=2, formats=("chat", "plain"), verbalizers="auto", calibrate="batch")

    def make_invalid(self):
        return FewShot(calibrate="platt")


def test_fewshot_calibrate_lifts_the_biased_double_and_stores_the_bias(tmp_path):
    task = toy_task()
    raw = FewShot(k=2).optimize(task, biased(), budget=100, cache=None)
    assert raw.best.mean == 0.5
    result = FewShot(k=2, calibrate="contextual").optimize(task, biased(), budget=100, cache=None, run_dir=tmp_path / "run")
    assert result.best.mean == 1.0 and result.best_test == 1.0
    assert result.best.candidate.calibration == pytest.approx((1.5, -1.5))
    assert result.best.info["calibrate"] == "contextual"
    exported = json.loads((tmp_path / "run" / "best_candidate.json").read_text())
    assert exported["candidate"]["calibration"] == pytest.approx([1.5, -1.5])


def test_fewshot_draws_formats_and_verbalizers_from_the_options():
    task = toy_task()
    optimizer = FewShot(k=2, formats=["chat", "plain"], verbalizers=[["great", "terrible"], ["good", "bad"]])
    assert optimizer.formats == ("chat", "plain") and optimizer.verbalizers == (("great", "terrible"), ("good", "bad"))
    result = optimizer.optimize(task, biased(), budget=300, cache=None)
    searched = [t.candidate for t in result.trials[1:]]
    assert {c.format for c in searched} == {"chat", "plain"}
    assert {c.verbalizer for c in searched} == {("great", "terrible"), ("good", "bad")}
    chat_only = FewShot(k=2, formats=("chat", "plain")).optimize(task, biased(raw_prompt=False), budget=60, cache=None)
    assert {t.candidate.format for t in chat_only.trials} == {"chat"}


def test_fewshot_bad_component_options_name_themselves():
    with pytest.raises(ConfigError, match="The 'calibrate' parameter of FewShot"):
        FewShot(calibrate="platt")
    with pytest.raises(ConfigError, match="The 'formats' parameter of FewShot"):
        FewShot(formats=("html",))
    with pytest.raises(ConfigError, match="The 'verbalizers' parameter of FewShot"):
        FewShot(verbalizers="some")


def test_fewshot_skips_probes_the_budget_cannot_score():
    backend = biased()
    result = FewShot(k=2, calibrate="batch").optimize(toy_task(), backend, budget=50, cache=None, evaluate_test=False)
    assert len(result.trials) == 2  # seed + one candidate; a third would not fit
    assert backend.calls == 2 * 20 + calibration.BATCH_SIZE  # val twice, one batch probe


def test_evaluate_command_reapplies_the_stored_calibration(tmp_path, monkeypatch, capsys):
    from promptlift.commands import evaluate

    task = toy_task()
    FewShot(k=2, calibrate="contextual").optimize(task, biased(), budget=100, cache=None, run_dir=tmp_path / "run")
    # test doubles: the command gets the toy task and the biased scripted backend instead of real ones
    monkeypatch.setattr(evaluate, "task_from_args", lambda args: task)
    monkeypatch.setattr(evaluate, "backend_from_args", lambda args: biased())
    args = argparse.Namespace(candidate=str(tmp_path / "run" / "best_candidate.json"), split="test", limit=None,
                              no_cache=True, show=0, predictions=None)
    assert evaluate.run(args) == 0
    assert "toy test: 1.0000" in capsys.readouterr().out
    assert evaluate.run(argparse.Namespace(**{**vars(args), "candidate": None})) == 0
    assert "toy test: 0.5000" in capsys.readouterr().out


def test_unknown_labels_get_derived_label_words_or_a_warning(caplog):
    task = toy_task()
    coded = Task(name="c", input_fields=("x",), train=(), val=task.val, choices=("NOT_SPAMMY", "Spammy"))
    assert verbalizers.candidates_for(coded)[1:] == (("not_spammy", "spammy"), ("not spammy", "spammy"))
    short = Task(name="s", input_fields=("x",), train=(), val=task.val, choices=("pos", "neg"))
    assert ("positive", "negative") in verbalizers.candidates_for(short)
    opaque = Task(name="o", input_fields=("x",), train=(), val=task.val, choices=("x17", "q9"))
    assert verbalizers.resolve_option(opaque, "auto") == (("x17", "q9"),)
    assert "found no label words for the labels ['x17', 'q9']" in caplog.text
