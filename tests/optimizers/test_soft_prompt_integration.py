"""SoftPromptTuning on the real SmolLM2 through TorchBackend (small: a few examples, one step)."""

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


@pytest.mark.parametrize("mode", ["prompt", "prefix"])
def test_training_scores_equal_backend_scores_on_smollm2(smollm2, tmp_path, mode):
    from promptlift.optimizers.soft_prompt import _Session
    from promptlift.run import Run

    task = get_task("sentiment", sizes=(4, 2, 2))
    run = Run(task, smollm2, budget=Budget(metric_calls=10), run_dir=tmp_path / "run")
    session = _Session.start(SoftPromptTuning(mode=mode, n_tokens=4, batch_size=2), run, smollm2, task.seed)
    before = smollm2.model.lm_head.weight.clone()
    session.trainer.step(session.data[:2])
    candidate = session.candidate()
    completions = smollm2.complete([task.render(candidate, e) for e in task.train[:3]])
    with torch.no_grad():
        trained = session.trainer.choice_logprobs(session.data[:3])
    assert torch.allclose(trained, torch.tensor([c.choice_logprobs for c in completions]), atol=2e-3)
    assert torch.equal(before, smollm2.model.lm_head.weight)
    assert session.nearest() and len(session.nearest()) == 4
