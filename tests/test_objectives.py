"""Objectives beyond the metric: per-query costs, the prompt-token cap, the Pareto front (test doubles:
the toy task and the keyword ScriptedBackend, whose prompt "tokens" are words; the tiny torch model)."""

import json

import pytest

from promptlift import Budget, Candidate, Result, cli
from promptlift.backends import registry
from promptlift.errors import ConfigError
from promptlift.objectives import front, parse
from promptlift.optimizers.fewshot import FewShot
from promptlift.optimizers.prompt_cap import fit_demos
from promptlift.optimizers.soft_prompt import SoftPromptTuning
from promptlift.run import Run
from promptlift.testing.doubles import scripted, toy_task
from tests.optimizers.test_soft_prompt import backend  # noqa: F401 - the fixture (the tiny torch model)

LONG = Candidate(instruction="Classify the review. " * 20)


def fewshot(**options):
    return FewShot(k=4, zero_shot=False).optimize(toy_task(), scripted(), budget=Budget(metric_calls=120), cache=None,
                                                  **options)


def test_every_trial_records_its_costs_per_query():
    task, result = toy_task(), fewshot()
    for trial in result.trials:
        words = [len(" ".join(m.content for m in task.render(trial.candidate, e).messages).split()) for e in task.val]
        assert trial.per_query["prompt_tokens"] == pytest.approx(sum(words) / len(words))
        assert trial.per_query["completion_tokens"] == 1.0 and trial.per_query["dollars"] == 0.0
    assert result.best.per_query["prompt_tokens"] > result.baseline.per_query["prompt_tokens"]  # demos cost tokens


def test_an_over_cap_candidate_spends_no_model_and_no_metric_call():
    backend = scripted()
    run = Run(toy_task(), backend, budget=Budget(metric_calls=100), max_prompt_tokens=30)
    evaluation = run.validate(LONG)
    assert backend.calls == 0 and run.metric_calls == 0
    trial = evaluation.trial
    assert not trial.admissible and not trial.scored and trial.scores == (0.0,) * len(run.task.val)
    assert trial.feedback[0].startswith("inadmissible: 66 prompt tokens per query > max_prompt_tokens 30")
    run.validate(run.task.seed)
    assert run.best().candidate == run.task.seed


def test_a_seed_over_the_cap_is_one_clear_error():
    with pytest.raises(ConfigError, match=r"the seed candidate needs 9 prompt tokens per query, over "
                                          r"max_prompt_tokens=5; raise the cap"):
        fewshot(max_prompt_tokens=5)


def test_the_few_shot_family_drops_the_longest_demos_until_the_candidate_fits():
    task = toy_task()
    run = Run(task, scripted(), budget=Budget(metric_calls=100), max_prompt_tokens=20)
    demos = (task.train[0], task.train[1].__class__({"review": "a much longer review " * 3}, "negative"), task.train[2])
    fitted = fit_demos(run, task.seed.with_(demos=demos))
    assert fitted.demos == (task.train[0],) and run.prompt_tokens(fitted) <= 20 < run.prompt_tokens(
        task.seed.with_(demos=(task.train[0], task.train[2])))
    assert fit_demos(Run(task, scripted(), budget=Budget(metric_calls=100)), task.seed.with_(demos=demos)).demos == demos
    result = fewshot(max_prompt_tokens=23)  # the seed's 9 words and two demos of 7
    assert all(t.scored for t in result.trials)  # every proposal was drawn to fit: none wasted
    assert {len(t.candidate.demos) for t in result.trials[1:]} == {2}


def test_the_front_is_kept_written_round_tripped_tabled_and_plotted(tmp_path):
    result = FewShot(k=4, zero_shot=False).optimize(
        toy_task(), scripted(), budget=Budget(metric_calls=120), cache=None, run_dir=tmp_path / "run",
        objectives=("score", "prompt_tokens"), max_prompt_tokens=23)
    points = [(t.per_query["prompt_tokens"], t.mean) for t in result.front]
    assert points == sorted(points) and [round(p) for p, _ in points] == [9, 23]  # seed 0.5, 2 demos 1.0
    assert result.best == result.front[-1]
    saved = json.loads((tmp_path / "run" / "result.json").read_text())
    assert saved["objectives"] == ["score", "prompt_tokens"] and saved["max_prompt_tokens"] == 23
    assert saved["front"] == [t.number for t in result.front]
    again = Result.from_json(tmp_path / "run" / "result.json").front
    assert [(t.number, t.candidate, t.per_query) for t in again] == [(t.number, t.candidate, t.per_query)
                                                                      for t in result.front]
    frame = result.to_dataframe()
    assert {"prompt_tokens", "completion_tokens", "seconds_per_query", "dollars", "admissible", "on_front"} <= set(frame)
    assert frame["on_front"].sum() == len(result.front)
    assert (tmp_path / "run" / "front.png").stat().st_size > 0
    assert result.plot().axes[0].get_xlabel() == "prompt tokens per query"
    best = json.loads((tmp_path / "run" / "best_candidate.json").read_text())
    assert best["per_query"]["prompt_tokens"] <= 23


def test_front_keeps_only_undominated_admissible_validation_trials():
    trials = fewshot().trials
    kept = front(trials, ("score", "prompt_tokens"))
    assert kept and all(t.role == "val" for t in kept)
    for t in trials[1:]:
        if t not in kept:
            assert any(k.mean >= t.mean and k.per_query["prompt_tokens"] <= t.per_query["prompt_tokens"] for k in kept)
    assert front(trials, ("score",)) == [max(trials, key=lambda t: (t.mean, -t.number))]


def test_unknown_objectives_are_named():
    assert parse("score, prompt_tokens") == ("score", "prompt_tokens")
    with pytest.raises(ConfigError, match="objectives must be distinct names from score, prompt_tokens"):
        parse("score,length")


def test_soft_prompts_count_their_virtual_tokens(backend, tmp_path, monkeypatch):  # noqa: F811 - the fixture
    monkeypatch.setenv("PROMPTLIFT_CACHE", str(tmp_path / "cache"))
    task = toy_task()
    result = SoftPromptTuning(n_tokens=2, steps=2, eval_every=2, batch_size=4, patience=None).optimize(
        task, backend, budget=Budget(metric_calls=60), cache=None)
    trained = next(t for t in result.trials if t.candidate.soft_prompt)
    hard = [backend.count_tokens([task.render(task.seed, e)])[0] for e in task.val]
    assert trained.per_query["prompt_tokens"] == pytest.approx(sum(hard) / len(hard) + 2)
    capped = SoftPromptTuning(n_tokens=2, steps=2, eval_every=2, batch_size=4, patience=None).optimize(
        task, backend, budget=Budget(metric_calls=60), cache=None, max_prompt_tokens=int(max(hard)) + 1)
    assert capped.best.candidate == task.seed and not any(t.scored for t in capped.trials if t.candidate.soft_prompt)


@pytest.fixture
def toy_engine(monkeypatch):
    monkeypatch.setitem(registry.ENGINES, "toy", "promptlift.testing.doubles:ToyEngine")


def test_the_cli_prints_the_front_and_refuses_unknown_objectives(toy_engine, tmp_path, capsys):
    data = tmp_path / "reviews.jsonl"
    data.write_text("\n".join(json.dumps({"review": f"a {'good' if i % 2 else 'bad'} film {i}",
                                          "label": "positive" if i % 2 else "negative"}) for i in range(60)))
    argv = ["optimize", "--task", str(data), "--model", "toy:x", "--no-progress", "--optimizer", "fewshot",
            "--budget", "60", "--run-dir", str(tmp_path / "run")]
    with pytest.raises(SystemExit) as exited:
        cli.main([*argv, "--objective", "score,length"])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "objectives must be distinct names" in err and len(err.splitlines()) == 1
    assert cli.main([*argv, "--objective", "score,prompt_tokens", "--max-prompt-tokens", "200"]) == 0
    out = capsys.readouterr().out
    assert "Pareto front of score,prompt_tokens over val, max prompt tokens 200" in out
    saved = json.loads((tmp_path / "run" / "result.json").read_text())
    assert saved["front"] and saved["max_prompt_tokens"] == 200


def test_tokens_are_estimated_from_characters_where_a_backend_cannot_count_them():
    from promptlift.objectives import count_tokens
    from promptlift.types import Message, Request

    class NoTokenizer:  # an API model: no count_tokens
        pass

    request = Request(messages=(Message("user", "x" * 40),))
    assert count_tokens(NoTokenizer(), [request]) == ([10], "4 characters per token (no tokenizer)")
    assert count_tokens(scripted(), [request])[1] == "the model's tokenizer"
