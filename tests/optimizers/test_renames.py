"""Renamed hyperparameters keep working for one release, with a DeprecationWarning (Python API,
CLI --param and benchmark YAML), and committed sweep configs keep their cell ids."""

import csv
import sqlite3
from pathlib import Path

import pytest

from promptlift.bench.config import grid_cells, load_config
from promptlift.bench.runner import build_optimizer
from promptlift.errors import ConfigError
from promptlift.optimizers.genetic import GeneticSearch
from promptlift.optimizers.registry import get_optimizer
from promptlift.optimizers.soft_prompt import SoftPromptTuning

ROOT = Path(__file__).resolve().parents[2]


def test_the_old_names_still_construct_the_optimizer_with_a_warning():
    with pytest.warns(DeprecationWarning, match="'minibatch' parameter of GeneticSearch is now called 'minibatch_size'"):
        old = GeneticSearch(minibatch=3, population_size=4)
    with pytest.warns(DeprecationWarning, match="'max_demos' .* now called 'k'"):
        assert GeneticSearch(max_demos=2).k == 2
    assert old == GeneticSearch(minibatch_size=3, population_size=4)
    with pytest.warns(DeprecationWarning, match="'mode' parameter of SoftPromptTuning is now called 'kind'"):
        assert SoftPromptTuning(mode="prefix", n_tokens=4) == SoftPromptTuning(kind="prefix", n_tokens=4)


def test_the_registry_maps_old_names_with_a_warning():  # the CLI's --param and the YAML go through it
    with pytest.warns(DeprecationWarning):
        assert get_optimizer("genetic", minibatch=5).minibatch_size == 5
    with pytest.warns(DeprecationWarning, match="'mode' parameter of SoftPromptTuning"):
        assert get_optimizer("soft_prompt", mode="prefix").kind == "prefix"


def test_old_and_new_name_together_are_refused():
    with pytest.raises(ConfigError, match="give 'minibatch_size' only"):
        get_optimizer("genetic", minibatch=5, minibatch_size=4)
    with pytest.raises(ConfigError, match="give 'kind' only"):
        get_optimizer("soft_prompt", mode="prefix", kind="prompt")


def test_the_new_names_warn_nothing(recwarn):
    GeneticSearch(minibatch_size=3, k=2)
    SoftPromptTuning(kind="prefix")
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]


@pytest.mark.parametrize("path", sorted((ROOT / "benchmarks" / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_committed_sweep_configs_still_build_every_optimizer(path, recwarn):
    cells = grid_cells(load_config(path))
    for params in {repr(sorted(c.params.items())): (c.optimizer, c.params) for c in cells}.values():
        if ":" not in params[0] and params[0] in {"fewshot", "bootstrap", "mipro", "genetic", "similarity", "auto",
                                                            "soft_prompt"}:
            assert build_optimizer(*params).name == params[0]


def test_the_committed_reduced_sweep_keeps_its_cell_ids():
    with open(ROOT / "benchmarks" / "results" / "bench_reduced" / "results.csv", newline="") as handle:
        committed = {row["cell"] for row in csv.DictReader(handle) if row["optimizer_name"] == "genetic"}
    assert committed and committed <= {c.id for c in grid_cells(load_config(ROOT / "benchmarks" / "configs" / "reduced.yaml"))}


def test_the_committed_ladder_keeps_its_cell_ids():  # its prefix cells say mode: prefix, its prompt_search mipro
    with sqlite3.connect(f"file:{ROOT / 'benchmarks' / 'results' / 'ladder' / 'sweep.db'}?mode=ro", uri=True) as db:
        committed = {cell for (cell,) in db.execute("SELECT cell FROM promptlift_bench_cells")}
    assert any("-prefix-" in c for c in committed) and any("-prompt_search-" in c for c in committed)
    assert committed <= {c.id for c in grid_cells(load_config(ROOT / "benchmarks" / "configs" / "ladder.yaml"))}


def test_the_cli_param_takes_an_old_name_with_a_warning(tmp_path, monkeypatch):
    import json

    from promptlift import cli
    from promptlift.backends import registry

    monkeypatch.setitem(registry.ENGINES, "toy", "promptlift.testing.doubles:ToyEngine")
    data = tmp_path / "reviews.jsonl"
    data.write_text("\n".join(json.dumps({"review": f"a {'good' if i % 2 else 'bad'} film {i}",
                                          "label": "positive" if i % 2 else "negative"}) for i in range(40)))
    argv = ["optimize", "--model", "toy:x", "--no-progress", "--task", str(data), "--optimizer", "genetic",
            "--param", "minibatch=2", "--param", "population_size=2", "--param", "generations=0",
            "--budget", "30", "--run-dir", str(tmp_path / "run")]
    with pytest.warns(DeprecationWarning, match="'minibatch' parameter of GeneticSearch"):
        assert cli.main(argv) == 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["minibatch_size"] == 2


def test_the_cli_param_takes_the_old_soft_prompt_mode_with_a_warning(tmp_path, monkeypatch, capsys):
    """``--param mode=prefix`` reaches SoftPromptTuning as ``kind`` (the toy double then fails the
    backend check: it has no gradients, which is the next thing the run asks)."""
    import json

    from promptlift import cli
    from promptlift.backends import registry

    monkeypatch.setitem(registry.ENGINES, "toy", "promptlift.testing.doubles:ToyEngine")
    data = tmp_path / "reviews.jsonl"
    data.write_text("\n".join(json.dumps({"review": f"a {'good' if i % 2 else 'bad'} film {i}",
                                          "label": "positive" if i % 2 else "negative"}) for i in range(20)))
    argv = ["optimize", "--model", "toy:x", "--no-progress", "--task", str(data), "--optimizer", "soft_prompt",
            "--param", "mode=prefix", "--budget", "30", "--run-dir", str(tmp_path / "run")]
    with pytest.warns(DeprecationWarning, match="'mode' parameter of SoftPromptTuning is now called 'kind'"):
        assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "gradient" in err.lower() and "no parameter" not in err
