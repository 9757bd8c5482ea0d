"""The CLI end to end, on the ToyEngine test double (the real model runs in test_demo.py)."""

import json

import pytest

from promptlift import cli
from promptlift.backends import registry


@pytest.fixture(autouse=True)
def toy_engine(monkeypatch):
    monkeypatch.setitem(registry.ENGINES, "toy", "tests.doubles:ToyEngine")


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
        (["--param", "k=0"], "The 'k' parameter of FewShot must be an int >= 1. Got 0."),
        (["--param", "zz=1"], "FewShot has no parameter"),
        (["--model-option", "oops"], "--model-option 'oops' must look like NAME=VALUE"),
    ],
)
def test_bad_input_is_one_clear_line(data, args, message, capsys):
    argv = ["optimize", "--task", str(data), "--model", "toy:x", "--no-progress", *args]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "optimize" in capsys.readouterr().out
