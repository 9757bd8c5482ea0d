"""The CLI end to end, on the ToyEngine test double (the real model runs in test_demo.py)."""

import json

import pytest

from promptlift import cli
from promptlift.backends import registry
from promptlift.testing import doubles
from promptlift.types import Candidate


@pytest.fixture(autouse=True)
def toy_engine(monkeypatch):
    monkeypatch.setitem(registry.ENGINES, "toy", "promptlift.testing.doubles:ToyEngine")


@pytest.fixture
def data(tmp_path):
    rows = [{"review": f"a {'good' if i % 2 else 'bad'} film {i}", "label": "positive" if i % 2 else "negative"}
            for i in range(60)]
    path = tmp_path / "reviews.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def optimize(*args):
    return cli.main(["optimize", "--model", "toy:x", "--no-progress", *args])


def test_optimize_writes_the_run_directory_and_prints_the_table(data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert optimize("--task", str(data), "--budget", "60", "--run-dir", str(run_dir), "--param", "k=2") == 0
    out = capsys.readouterr().out
    assert "baseline (seed)" in out and "test lift" in out
    assert {p.name for p in run_dir.iterdir()} >= {"config.json", "cli.json", "trials.jsonl", "result.json", "best_candidate.json"}
    best = json.loads((run_dir / "best_candidate.json").read_text())
    assert f"best prompt: {Candidate.from_dict(best['candidate']).describe()}\n" in out
    assert best["request"]["messages"][-1]["content"] == "Review: {review}"


def test_resume_replays_from_the_cache_without_model_calls(data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    optimize("--task", str(data), "--budget", "48", "--run-dir", str(run_dir), "--json")
    first = json.loads(capsys.readouterr().out)
    assert cli.main(["optimize", "--resume", str(run_dir), "--no-progress", "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["best_val"] == first["best_val"] and second["metric_calls"] == first["metric_calls"]
    assert second["cache_hits"] == second["lm_calls"] > 0


def test_evaluate_rescores_the_best_candidate(data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    optimize("--task", str(data), "--budget", "60", "--run-dir", str(run_dir), "--json")
    best_test = json.loads(capsys.readouterr().out)["best_test"]
    assert cli.main(["evaluate", "--task", str(data), "--model", "toy:x",
                     "--candidate", str(run_dir / "best_candidate.json"), "--split", "test"]) == 0
    assert f"test: {best_test:.4f}" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "nope"], "Unknown task 'nope'"),
        (["--optimizer", "nope"], "Unknown optimizer 'nope'"),
        (["--model", "nope:x"], "Unknown engine 'nope'"),
        (["--param", "k=0"], "The 'k' parameter of Auto must be an int >= 1. Got 0."),
        (["--param", "zz=1"], "Auto has no parameter"),
        (["--optimizer", "fewshot", "--param", "k=0"], "The 'k' parameter of FewShot must be an int >= 1. Got 0."),
        (["--model-option", "oops"], "--model-option 'oops' must look like NAME=VALUE"),
        (["--sizes", "10,5"], "--sizes '10,5' must be three whole numbers TRAIN,VAL,TEST"),
        (["--choices", "pos,neg"], "label 'negative' is not one of the choices ['pos', 'neg']"),
        (["--budget", "5"], "--budget 5 cannot score the seed and one candidate on the 12 validation examples "
                            "(each candidate is scored on all of them): use --budget 48 or more, or fewer validation "
                            "examples, e.g. --sizes 36,1,12"),
    ],
)
def test_bad_input_is_one_clear_line(data, args, message, capsys):
    argv = ["optimize", "--task", str(data), "--model", "toy:x", "--no-progress", *args]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_resume_refuses_flags_that_would_change_the_run(data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    optimize("--task", str(data), "--budget", "24", "--run-dir", str(run_dir), "--json")
    capsys.readouterr()
    argv = ["optimize", "--resume", str(run_dir), "--budget", "99", "--model", "toy:x", "--no-progress"]
    assert cli.main(argv) == 2  # --model is the saved value: only --budget changes the run
    assert "--budget cannot change it" in capsys.readouterr().err


def test_evaluate_refuses_a_candidate_of_another_task(data, tmp_path, capsys):
    path = tmp_path / "best_candidate.json"
    path.write_text(json.dumps({"candidate": {"instruction": "Q?"}, "task": "trec", "choices": ["ABBR", "DESC"]}))
    argv = ["evaluate", "--task", str(data), "--model", "toy:x", "--candidate", str(path)]
    assert cli.main(argv) == 2
    assert "written for task 'trec' with choices ['ABBR', 'DESC']" in capsys.readouterr().err
    path.write_text(json.dumps({"instruction": "Q?", "calibration": [0.1, 0.2, 0.3]}))
    assert cli.main(argv) == 2
    assert "3 calibration biases for the 2 choices" in capsys.readouterr().err
    path.write_text(json.dumps({"instruction": "Q?", "temperature": 0}))
    assert cli.main(argv) == 2
    assert "not a candidate (unknown keys ['temperature'])" in capsys.readouterr().err


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "optimize" in capsys.readouterr().out


def test_an_option_the_engine_does_not_take_is_named_with_those_it_does(monkeypatch):
    from promptlift.backends.registry import load_backend
    from promptlift.errors import ConfigError

    class LocalEngine:  # test double: a local engine with two options
        def __init__(self, path, *, n_ctx=8192, n_threads=None):
            self.path = path

        @classmethod
        def from_spec(cls, model, **options):
            return cls(model, **options)

    monkeypatch.setattr(doubles, "LocalEngine", LocalEngine, raising=False)
    monkeypatch.setitem(registry.ENGINES, "local", "promptlift.testing.doubles:LocalEngine")
    assert load_backend("local:m", n_threads=2).path == "m"
    with pytest.raises(ConfigError, match="local:m: unknown option\\(s\\) foo; LocalEngine takes n_ctx, n_threads."):
        load_backend("local:m", foo=1)


def test_evaluate_writes_every_prediction_and_the_per_class_table(data, tmp_path, capsys):
    out = tmp_path / "predictions.jsonl"
    assert cli.main(["evaluate", "--task", str(data), "--model", "toy:x", "--split", "val", "--metric", "macro_f1",
                     "--predictions", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 12 and set(rows[0]) == {"id", "inputs", "expected", "prediction", "score", "feedback"}
    assert "macro F1" in printed and "the candidate predicts 'positive' for 100%" in printed  # one label only


def test_compare_puts_two_runs_side_by_side(data, tmp_path, capsys):
    for name, optimizer in (("a", "fewshot"), ("b", "auto")):
        optimize("--task", str(data), "--budget", "60", "--run-dir", str(tmp_path / name), "--optimizer", optimizer)
    capsys.readouterr()
    page = tmp_path / "compare.html"
    assert cli.main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--html", str(page)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[2].startswith("a ") and out.splitlines()[3].startswith("b ")
    assert "Best prompts" in page.read_text() and page.read_text().count("<pre>") == 2
    assert cli.main(["compare", str(tmp_path / "nope")]) == 2
    assert "no result.json" in capsys.readouterr().err


def test_the_default_run_says_what_it_chose_and_shows_baselines(data, tmp_path, capsys):
    assert optimize("--task", str(data), "--budget", "60", "--run-dir", str(tmp_path / "run")) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("auto: fewshot: a classification task, so format, label words and demos")
    assert "\nconstant '" in captured.out and "uniform random (expected)" in captured.out
    assert "search" in captured.out and "test scoring" in captured.out
    assert (tmp_path / "run" / "report.html").is_file()


def test_a_data_file_split_is_fitted_to_the_budget(tmp_path, capsys):
    rows = [{"review": f"film {i}", "label": "positive" if i % 2 else "negative"} for i in range(200)]
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    assert optimize("--task", str(path), "--budget", "80", "--run-dir", str(tmp_path / "run"), "--json") == 0
    captured = capsys.readouterr()
    assert "note: val capped at 20 of its 40 examples" in captured.err
    assert json.loads(captured.out)["metric_calls"] == 80
