"""SoftPromptTuning on the real SmolLM2 through TorchBackend (small: a few examples, a few steps)."""

import math

import pytest
import torch

from promptlift import Budget, get_task
from promptlift.optimizers.soft_prompt import SoftPromptTuning

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smollm2():
    from promptlift.backends.registry import load_backend

    try:
        return load_backend("torch:smollm2", device="cpu")
    except Exception as exc:  # noqa: BLE001 - a missing model or package skips
        pytest.skip(f"torch:smollm2 is not available: {exc}")


@pytest.mark.parametrize("kind", ["prompt", "prefix"])
def test_training_scores_equal_backend_scores_on_smollm2(smollm2, tmp_path, kind):
    from promptlift.optimizers.soft_prompt import _Session
    from promptlift.run import Run

    task = get_task("sentiment", sizes=(4, 2, 2))
    run = Run(task, smollm2, budget=Budget(metric_calls=10), run_dir=tmp_path / "run")
    session = _Session.start(SoftPromptTuning(kind=kind, n_tokens=4, batch_size=2), run, smollm2, task.seed)
    before = smollm2.model.lm_head.weight.clone()
    session.trainer.step(session.data[:2])
    candidate = session.candidate()
    completions = smollm2.complete([task.render(candidate, e) for e in task.train[:3]])
    with torch.no_grad():
        trained = session.trainer.choice_logprobs(session.data[:3])
    assert torch.allclose(trained, torch.tensor([c.choice_logprobs for c in completions]), atol=2e-3)
    assert torch.equal(before, smollm2.model.lm_head.weight)
    assert session.nearest() and len(session.nearest()) == 4


def test_optimize_trains_a_soft_prompt_on_smollm2_and_leaves_the_model_frozen(smollm2, tmp_path):
    from promptlift.softprompt.io import load_soft_prompt

    task = get_task("sentiment", sizes=(8, 4, 4))
    before = {name: tensor.clone() for name, tensor in smollm2.model.state_dict().items()}
    result = SoftPromptTuning(n_tokens=2, steps=4, eval_every=2, batch_size=2).optimize(
        task, smollm2, budget=Budget(metric_calls=40), cache=None, run_dir=tmp_path / "run")
    soft = [t for t in result.trials if t.info.get("stage") == "soft_prompt"]
    assert [t.info["step"] for t in soft] == [2, 4]
    assert all(math.isfinite(t.info["train_loss"]) for t in soft)
    assert result.metric_calls <= 40 and result.best_test is not None
    tensors, _ = load_soft_prompt(soft[-1].candidate.soft_prompt, model_id=smollm2.id)
    assert [t.shape[0] for t in tensors.values()] == [2]  # two virtual tokens
    after = smollm2.model.state_dict()
    assert all(torch.equal(tensor, after[name]) for name, tensor in before.items())
