"""The README's main job, small: the ``optimize`` console script on the real default model
(SmolLM2-135M through llama.cpp), then ``evaluate`` on its best candidate, then the listing
commands. The CLI's other paths run on the ToyEngine double in test_cli.py."""

import json

import pytest

from promptlift import cli
from promptlift.errors import MissingDependency

pytestmark = pytest.mark.integration


@pytest.fixture
def real_model(tmp_path, monkeypatch):
    pytest.importorskip("llama_cpp")
    monkeypatch.setenv("PROMPTLIFT_CACHE", str(tmp_path / "cache"))
    from promptlift import load_backend

    try:
        load_backend("llamacpp:smollm2")
    except MissingDependency as exc:
        pytest.skip(str(exc))


def test_the_demo_optimises_then_evaluate_rescores_its_best_candidate(real_model, tmp_path, capsys):
    run_dir = tmp_path / "demo"
    code = cli.optimize_main(["--task", "sentiment", "--sizes", "16,8,8", "--model", "llamacpp:smollm2",
                              "--optimizer", "fewshot", "--param", 'formats=["chat","plain"]',
                              "--param", "calibrate=contextual", "--param", "k=2", "--budget", "40",
                              "--run-dir", str(run_dir), "--no-progress", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert 0 < summary["metric_calls"] <= 40 and summary["lm_calls"] > 0
    assert {p.name for p in run_dir.iterdir()} >= {"config.json", "trials.jsonl", "result.json", "best_candidate.json"}
    trials = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    assert len(trials) >= 2  # the seed and at least one searched candidate

    assert cli.main(["evaluate", "--task", "sentiment", "--sizes", "16,8,8", "--model", "llamacpp:smollm2",
                     "--candidate", str(run_dir / "best_candidate.json"), "--split", "test"]) == 0
    assert f"test: {summary['best_test']:.4f}" in capsys.readouterr().out  # the same score, re-measured
    assert cli.main(["cache", "stats"]) == 0
    assert "llamacpp:SmolLM2-135M-Instruct" in capsys.readouterr().out  # the run's answers were kept


def test_the_listing_commands_name_the_tasks_and_the_default_model(real_model, capsys):
    assert cli.main(["tasks"]) == 0
    assert "sentiment" in capsys.readouterr().out
    assert cli.main(["models"]) == 0
    assert "smollm2" in capsys.readouterr().out
