"""The shipped smoke sweep on the real model (SmolLM2 through llama.cpp), two workers, one storage."""

import subprocess
import sys

import pandas as pd
import pytest

from promptlift.bench import grid_cells, load_config
from tests.bench.helpers import ROOT

SMOKE = ROOT / "benchmarks" / "configs" / "smoke.yaml"


@pytest.mark.integration
def test_smoke_sweep_two_workers_write_the_report(tmp_path):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("dspy")
    from promptlift.backends.models import embedded_gguf
    from promptlift.errors import MissingDependency

    try:
        embedded_gguf()
    except MissingDependency as exc:
        pytest.skip(str(exc))
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "promptlift.cli", "bench", str(SMOKE), "--output", str(out), "--no-progress"]
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    workers = [subprocess.Popen(argv, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT) for log in logs]
    try:
        codes = [w.wait(timeout=1500) for w in workers]
    finally:
        for w in workers:
            w.kill()
    assert codes == [0, 0], [log.read_text()[-3000:] for log in logs]

    cells = grid_cells(load_config(SMOKE))
    frame = pd.read_csv(out / "results.csv")
    assert sorted(frame["cell"]) == sorted(c.id for c in cells)  # every cell once
    assert (frame["attempts"] == 1).all() and frame["worker"].nunique() == 2
    assert frame["best_test"].between(0, 1).all() and frame["baseline_test"].between(0, 1).all()
    ours = frame[frame["optimizer"] == "fewshot"]
    assert (ours["metric_calls"] <= ours["budget_metric_calls"]).all() and (ours["lm_calls"] > 0).all()
    peer = frame[frame["optimizer"] == "dspy:labeled"]
    assert len(peer) == 2 and (peer["n_demos"] == 4).all()  # DSPy's program, back as a promptlift candidate
    assert (peer["lm_calls"] == 0).all()  # LabeledFewShot compiles without calling the model
    assert pd.read_parquet(out / "results.parquet").shape == frame.shape
    report = (out / "report.md").read_text()
    assert "| sentiment | smollm2 | task model | fewshot | 8 | 2 |" in report
    assert "dspy:labeled" in report and "![test_scores.png](test_scores.png)" in report
    for png in ("test_scores.png", "score_vs_budget.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
