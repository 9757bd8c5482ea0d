"""Sweep config parsing and grid expansion."""

from pathlib import Path

import pytest

from promptlift.bench.config import Cell, grid_cells, load_config, parse_config, parse_overrides
from promptlift.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
BASE = {"name": "s", "tasks": ["sentiment"], "optimizers": ["fewshot"], "models": ["llamacpp:smollm2"], "budgets": [10]}


def test_shorthands_expand_to_full_specs():
    config = parse_config({**BASE, "proposers": [None, "llamacpp:smollm2"], "budgets": [10, {"metric_calls": 20, "seconds": 5}]})
    assert config.tasks[0].name == "sentiment" and config.models[0].spec == "llamacpp:smollm2"
    assert config.proposers[0] is None and config.proposers[1].spec == "llamacpp:smollm2"
    assert config.budgets == [{"metric_calls": 10}, {"metric_calls": 20, "seconds": 5}]
    assert config.seeds == [0] and config.search is None
    assert config.storage_url.startswith("sqlite:///") and config.storage_url.endswith("runs/bench/s/sweep.db")


def test_grid_is_the_product_of_every_axis_and_hyperparameter_grid():
    config = parse_config({**BASE, "tasks": ["sentiment", {"name": "trec", "sizes": [10, 5, 5]}],
                           "optimizers": ["fewshot", {"name": "genetic", "params": {"generations": 2},
                                                      "grid": {"population_size": [4, 6]}}],
                           "budgets": [10, 20], "seeds": [0, 1, 2]})
    cells = grid_cells(config)
    assert len(cells) == 2 * 2 * 3 * (1 + 2)
    assert len({c.id for c in cells}) == len(cells)
    genetic = [c for c in cells if c.optimizer == "genetic"]
    assert {c.params["population_size"] for c in genetic} == {4, 6}
    assert all(c.params["generations"] == 2 for c in genetic)
    assert {c.label for c in genetic} == {"genetic[population_size=4]", "genetic[population_size=6]"}
    # seeds vary fastest after the optimizers, so a partial sweep covers every method
    assert [c.seed for c in cells[:3]] == [0, 0, 0] and cells[3].seed == 1


def test_cell_ids_are_stable_and_round_trip():
    cell = grid_cells(parse_config({**BASE, "optimizers": [{"name": "fewshot", "params": {"k": 2}}]}))[0]
    again = Cell.from_dict(cell.to_dict())
    assert again == cell and again.id == cell.id
    assert cell.id.startswith("sentiment-fewshot-smollm2-10-s0-")
    other = grid_cells(parse_config({**BASE, "optimizers": [{"name": "fewshot", "params": {"k": 3}}]}))[0]
    assert other.id != cell.id  # a hyperparameter is part of the identity, even under one label


@pytest.mark.parametrize("bad, message", [
    ({"name": "has space"}, "name"),
    ({"tasks": []}, "tasks"),
    ({"budgets": [0]}, "metric_calls"),
    ({"budgets": [{"metric_calls": 5, "wallclock": 3}]}, "wallclock"),
    ({"optimizers": [{"name": "fewshot", "params": {"k": 2}, "grid": {"k": [1, 2]}}]}, "more than one"),
    ({"optimizers": [{"name": "fewshot", "grid": {"k": []}}]}, "no values"),
    ({"optimizers": ["fewshot", "fewshot"]}, "duplicate labels"),
    ({"cache": "sometimes"}, "cache"),
    ({"typo_key": 1}, "typo_key"),
    ({"search": {"n_trials": 0}}, "n_trials"),
])
def test_bad_configs_name_the_problem(bad, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({**BASE, **bad})


def test_search_space_distributions():
    config = parse_config({**BASE, "search": {"n_trials": 4, "sampler": "random"},
                           "optimizers": [{"name": "fewshot", "space": {"k": {"low": 1, "high": 8},
                                                                          "calibrate": {"choices": [None, "contextual"]}}}]})
    space = config.optimizers[0].space
    assert isinstance(space["k"].low, int) and space["calibrate"].choices == [None, "contextual"]
    with pytest.raises(ConfigError, match="choices or both low and high"):
        parse_config({**BASE, "optimizers": [{"name": "fewshot", "space": {"k": {"low": 1}}}]})


def test_yaml_file_and_overrides(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ntasks: [sentiment]\noptimizers: [fewshot]\nmodels: ['llamacpp:smollm2']\nbudgets: [10]\nseeds: [0, 1, 2]\n")
    config = load_config(path, parse_overrides(["seeds=[5]", f"output={tmp_path / 'o'}"]))
    assert config.seeds == [5] and config.output_dir == tmp_path / "o"
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_overrides(["seeds"])
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_shipped_configs_parse():
    for name in ("smoke", "standard", "reduced", "fewshot_vs_dspy", "gepa_vs_gepa", "soft_prompt_vs_peft"):
        config = load_config(ROOT / "benchmarks" / "configs" / f"{name}.yaml")
        assert grid_cells(config)


def test_a_data_file_task_takes_the_configs_sizes_and_any_task_a_metric(tmp_path):
    from promptlift.bench.config import TaskSpec
    from promptlift.bench.runner import build_task
    from promptlift.errors import DataError
    from tests.bench.helpers import toy_task_file

    path = toy_task_file(tmp_path)
    options = {"output_field": "sentiment", "choices": ["positive", "negative"], "metric": "macro_f1"}
    task = build_task(TaskSpec(name=str(path), sizes=(20, 8, 6), options=options))
    assert (len(task.train), len(task.val), len(task.test)) == (20, 8, 6) and task.metric_name == "macro_f1"
    split = tmp_path / "split.jsonl"
    split.write_text('{"review": "a", "sentiment": "positive", "split": "train"}\n'
                     '{"review": "b", "sentiment": "negative", "split": "val"}\n')
    with pytest.raises(DataError, match="has a 'split' column, so sizes"):
        build_task(TaskSpec(name=str(split), sizes=(1, 1, 0), options={"output_field": "sentiment"}))


def test_no_progress_silences_the_peers_bars_too(monkeypatch, tmp_path):
    import argparse
    import os

    from promptlift.commands import bench
    from promptlift.errors import PromptliftError

    monkeypatch.setenv("TQDM_DISABLE", "0")  # restored after the test
    args = argparse.Namespace(no_progress=True, set=[], storage=None, output=None, config=str(tmp_path / "none.yaml"))
    with pytest.raises(PromptliftError):
        bench.run(args)  # fails on the missing config, after the environment is set for tqdm (DSPy's bars)
    assert os.environ["TQDM_DISABLE"] == "1"


def test_a_misspelt_peer_parameter_fails_the_sweep_before_any_cell(tmp_path):
    import subprocess
    import sys

    from promptlift.bench.runner import check_optimizers
    from promptlift.errors import ConfigError
    from tests.bench.helpers import toy_config

    config = load_config(toy_config(tmp_path, optimizers=[{"name": "dspy:labeled", "params": {"max_token": 24}}]))
    with pytest.raises(ConfigError, match=r"dspy:labeled.*no parameter.*'max_token'.*max_tokens"):
        check_optimizers(config)
    check_optimizers(load_config(toy_config(tmp_path, optimizers=[{"name": "gepa-package", "params": {"minibatch": 2}}])))
    code = ("import sys; from promptlift.bench.peers import check_params; "
            "[check_params(n, {}) for n in ('dspy:labeled', 'gepa-package', 'peft:prompt_tuning')]; "
            "print(sorted(m for m in ('dspy', 'gepa', 'peft', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"  # checking names imports none of the peers' libraries
