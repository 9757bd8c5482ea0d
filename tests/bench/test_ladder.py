"""The ladder: its sweep config, its report's statistics, and `promptlift ladder` end to end on a
tiny random-weight model (a test double model: its scores are noise, never results)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from promptlift.bench.config import grid_cells
from promptlift.bench.ladder import ladder_config, rungs_for
from promptlift.bench.ladder_report import Line, answer, bootstrap, break_even, paired_difference
from promptlift.bench.runner import build_task
from promptlift.cli import main
from promptlift.errors import ConfigError
from promptlift.testing.doubles import toy_examples
from tests.tiny_model import build_model_dir


def test_rungs_apply_by_task_kind():
    classification = {r.name for r in rungs_for(True)}
    generation = {r.name for r in rungs_for(False)}
    assert "linear_probe" in classification and "linear_probe" not in generation
    assert "best_of_n" in generation and "best_of_n" not in classification
    assert len(classification) >= 10 and {"lora", "finetune", "rft", "soft_prompt", "prefix"} <= generation


def test_unknown_rung_names_the_known_ones():
    with pytest.raises(ConfigError, match="unknown rung.*lora"):
        rungs_for(True, ["lora", "dpo"])


def test_sizes_share_val_and_test_and_nest_train():
    config = ladder_config(["sentiment"], train_sizes=[16, 64], seeds=[0], val=20, test=30)
    small, large = (build_task(spec) for spec in config.tasks)
    assert (len(small.train), len(large.train)) == (16, 64)
    assert small.train == large.train[:16]
    assert small.val == large.val and small.test == large.test and len(small.test) == 30


def test_cells_cover_every_applicable_rung_size_and_seed():
    config = ladder_config(["sentiment", "arithmetic"], train_sizes=[16, 64], seeds=[0, 1])
    cells = grid_cells(config)
    by_task = {}
    for cell in cells:
        by_task.setdefault(cell.task.name, set()).add(cell.label)
    assert "linear_probe" in by_task["sentiment"] and "best_of_n" in by_task["arithmetic"]
    assert "linear_probe" not in by_task["arithmetic"] and "best_of_n" not in by_task["sentiment"]
    assert len(cells) == 2 * 2 * (len(by_task["sentiment"]) + len(by_task["arithmetic"]))


def test_bootstrap_interval_covers_the_mean_and_pairing_tightens_it():
    rng = np.random.default_rng(0)
    base = (rng.random((3, 200)) < 0.6).astype(float)
    better = base.copy()
    better[:, :20] = 1.0  # right on 20 more examples (where base was wrong or right)
    low, high = bootstrap(base)
    assert low < base.mean() < high
    paired_low, paired_high = bootstrap(better, base)
    assert paired_low > 0  # the same examples, 20 fixed: the paired interval excludes 0
    unpaired = bootstrap(better)[0] - bootstrap(base)[1]
    assert unpaired < 0 < paired_low  # unpaired intervals overlap; the paired one tells them apart


def test_answer_names_the_smallest_size_where_training_wins():
    zero = np.zeros((3, 100))
    half = np.tile((np.arange(100) < 50).astype(float), (3, 1))
    most = np.tile((np.arange(100) < 90).astype(float), (3, 1))
    by_size = {16: {"fewshot": Line("fewshot", half), "lora": Line("lora", half)},
                64: {"fewshot": Line("fewshot", half), "lora": Line("lora", most), "zero_shot": Line("zero_shot", zero)}}
    text = answer("toy", by_size)
    assert "from n=64" in text and "lora" in text and "+40.0 points" in text


def test_break_even_counts_queries_until_a_shorter_prompt_pays_for_training():
    scores = np.ones((1, 10))
    prompt = Line("fewshot", scores, prompt_tokens=150.0, search_tokens=0.0)
    trained = Line("lora", scores, prompt_tokens=50.0, train_tokens=1000.0, search_tokens=1000.0)
    # training 6*N*1000 against saving 2*N*100 per query: 30 queries
    assert break_even(trained, prompt, n_params=1e6) == "30"
    longer = Line("lora", scores, prompt_tokens=200.0, train_tokens=1000.0, search_tokens=1000.0)
    assert break_even(longer, prompt, n_params=1e6) == "never"


@pytest.mark.integration
def test_ladder_command_end_to_end_on_a_tiny_model(tmp_path, monkeypatch):
    """Real sweep machinery, real torch backend, a tiny random model: every cell runs, the report is written."""
    monkeypatch.setenv("PROMPTLIFT_CACHE", str(tmp_path / "cache"))
    model = build_model_dir(tmp_path / "model")
    data = tmp_path / "toy.jsonl"
    data.write_text("\n".join(json.dumps({"review": e.inputs["review"], "label": e.output}) for e in toy_examples(80)))
    out = tmp_path / "ladder"
    code = main(["ladder", "--task", str(data), "--model", f"torch:{model}", "--train-sizes", "8,16", "--seeds", "0",
                 "--rungs", "fewshot,linear_probe,lora", "--budget", "64", "--output", str(out), "--no-progress"])
    assert code == 0
    report = (out / "ladder.md").read_text()
    for rung in ("zero_shot", "fewshot", "linear_probe", "lora"):
        assert f"| {rung} (" in report
    assert "n=8: test [95% CI]" in report and "n=16: test [95% CI]" in report
    assert (out / "learning_curves.png").stat().st_size > 0 and (out / "ladder.csv").is_file()
    assert "| lora (" not in (out / "ladder.html").read_text() and "<td>lora (" in (out / "ladder.html").read_text()
    rerun = main(["ladder", "--config", str(out / "ladder.yaml"), "--report"])  # from the storage alone
    assert rerun == 0 and (out / "ladder.md").read_text().split("## toy")[1] == report.split("## toy")[1]


def test_a_partial_ladder_compares_rungs_on_the_seeds_both_have():
    right = np.ones((1, 100))
    wrong = np.zeros((1, 100))
    half = (np.arange(100) < 50).astype(float)[None, :]
    prompt = Line("prompt_search", np.vstack([half, right]), seeds=(0, 1))  # seed 1 ran, seed 0 is weaker
    lora = Line("lora", (np.arange(100) < 70).astype(float)[None, :], seeds=(0,))  # only seed 0 has run yet
    diff, low, high = paired_difference(lora, prompt)
    assert diff == pytest.approx(0.2) and low <= diff <= high  # seed 0 against seed 0, not against both
    assert paired_difference(Line("lora", wrong, seeds=(2,)), prompt) is None
    zero_shot = Line("zero_shot", wrong)  # seed-independent: pairs with every seed
    assert paired_difference(prompt, zero_shot)[0] == pytest.approx(0.75)
