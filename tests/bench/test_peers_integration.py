"""The sweep's peers on the real default model: DSPy's BootstrapFewShotWithRandomSearch and
the gepa package on llama.cpp SmolLM2, HF PEFT prompt tuning on the torch SmolLM2 (tiny
splits and budgets: this checks that each peer runs for real, not how well)."""

import math

import pytest

from promptlift.bench import Sweep
from tests.bench.helpers import toy_config

pytestmark = pytest.mark.integration


def test_each_peer_runs_a_cell_on_the_real_model(tmp_path):
    for module in ("llama_cpp", "dspy", "gepa", "peft"):
        pytest.importorskip(module)
    from promptlift.bench import load_config

    tiny = {"n_tokens": 2, "steps": 2, "batch_size": 2}
    path = toy_config(
        tmp_path, name="peers", tasks=[{"name": "sentiment", "sizes": [8, 4, 4]}], budgets=[12], seeds=[0],
        models=[{"spec": "llamacpp:smollm2", "label": "smollm2", "options": {"n_threads": 1}},
                {"spec": "torch:smollm2", "label": "smollm2-torch"}],
        optimizers=[{"name": "dspy:bootstrap_rs", "params": {"bootstrap_size": 2, "max_tokens": 24}, "models": ["smollm2"]},
                    {"name": "gepa-package", "params": {"minibatch": 2}, "models": ["smollm2"]},
                    {"name": "peft:prompt_tuning", "params": tiny, "models": ["smollm2-torch"]}])
    sweep = Sweep(load_config(path), progress=False)
    summary = sweep.work()
    rows = {r["result"]["optimizer"]: r["result"] for r in sweep.claims.rows() if r["result"]}
    assert not summary.failed, [r["error"] for r in sweep.claims.rows() if r["error"]]
    assert set(rows) == {"dspy:bootstrap_rs", "gepa-package", "peft:prompt_tuning"}
    assert all(row["peer"] and math.isfinite(row["best_test"]) for row in rows.values())
    assert rows["dspy:bootstrap_rs"]["lm_calls"] > 0 and rows["gepa-package"]["metric_calls"] > 0
    assert rows["peft:prompt_tuning"]["peer.trainable"] == 2 * 576  # two virtual tokens of SmolLM2's hidden size
