"""The few-shot family on the real default model (SmolLM2 through llama.cpp), a few examples each."""

from __future__ import annotations

import pytest

from promptlift import Budget, get_task, load_backend
from promptlift.errors import MissingDependency
from promptlift.optimizers.bootstrap import BootstrapFewShot
from promptlift.optimizers.joint import JointSearch
from promptlift.optimizers.similarity import SimilarityFewShot

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def backend():
    pytest.importorskip("llama_cpp")
    try:
        return load_backend("llamacpp:smollm2")
    except (MissingDependency, ModuleNotFoundError) as exc:
        pytest.skip(f"default model unavailable: {exc}")


@pytest.fixture
def task(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTLIFT_CACHE", str(tmp_path))
    return get_task("sentiment", sizes=(16, 4, 4))


def test_bootstrap_keeps_only_what_the_real_model_got_right(backend, task):
    result = BootstrapFewShot(k=2, bootstrap_size=8).optimize(task, backend, budget=Budget(metric_calls=20), cache=None)
    boot = next(t for t in result.trials if t.info.get("stage") == "bootstrap")
    right = {i for i, s in zip(boot.example_ids, boot.scores) if s == 1.0}
    bootstrapped = [t for t in result.trials if t.role == "val" and t.info.get("bootstrapped")]
    assert bootstrapped
    for trial in bootstrapped:
        assert {d.id for d in trial.candidate.demos if d.id in {e.id for e in task.train}} & right
    assert result.metric_calls <= 20 and result.best_test is not None


def test_similarity_retrieves_per_input_demos_with_minilm(backend, task):
    pytest.importorskip("transformers")
    try:
        result = SimilarityFewShot(ks=(2,), balanced=False).optimize(task, backend, budget=8, cache=None)
    except MissingDependency as exc:
        pytest.skip(str(exc))
    best = result.trials[-1].candidate
    assert best.retrieval is not None and best.retrieval.k == 2 and best.retrieval.embedder == "minilm"


def test_joint_search_proposes_with_the_real_model_and_validates(backend, task):
    optimizer = JointSearch(n_instructions=2, n_demo_sets=2, k=2, bootstrap_size=4, minibatch_size=2, full_eval_every=2,
                            max_trials=2)
    result = optimizer.optimize(task, backend, budget=Budget(metric_calls=24), cache=None)
    assert any(t.role == "minibatch" for t in result.trials)
    assert len([t for t in result.trials if t.role == "val"]) >= 2
    assert result.usage.calls >= result.metric_calls + 1  # the proposer's calls count too
