"""The training rungs on the real SmolLM2 through TorchBackend (small: a few examples, a few steps),
and best-of-N on the real model through llama.cpp."""

import json

import pytest
import torch

from promptlift import Budget, get_task
from promptlift.optimizers.best_of_n import BestOfN
from promptlift.optimizers.finetune import LoRA
from promptlift.optimizers.probe import LinearProbe

pytestmark = pytest.mark.integration


def _load(spec: str, **options):
    from promptlift.backends.registry import load_backend

    try:
        return load_backend(spec, **options)
    except Exception as exc:  # noqa: BLE001 - a missing model or package skips (fails under make test)
        pytest.skip(f"{spec} is not available: {exc}")


@pytest.fixture(scope="module")
def smollm2():
    return _load("torch:smollm2", device="cpu")


def test_lora_trains_an_adapter_on_smollm2_and_leaves_the_model_unchanged(smollm2, tmp_path):
    task = get_task("sentiment", sizes=(16, 8, 8))
    before = {name: tensor.clone() for name, tensor in smollm2.model.state_dict().items()}
    result = LoRA(rank=4, steps=4, eval_every=2, batch_size=4).optimize(
        task, smollm2, budget=Budget(metric_calls=40), cache=None, run_dir=tmp_path / "run")
    trained = [t for t in result.trials if t.candidate.weights]
    assert [t.info["step"] for t in trained] == [2, 4]
    assert all(t.info["trainable_parameters"] > 0 and t.info["train_tokens"] > 0 for t in trained)
    adapter = trained[-1].candidate.weights
    config = json.loads((tmp_path / "run" / "lora" / adapter.rsplit("/", 1)[-1] / "adapter_config.json").read_text())
    assert config["r"] == 4 and config["peft_type"] == "LORA"
    assert result.best_test is not None and result.metric_calls <= 40
    after = smollm2.model.state_dict()
    assert all(torch.equal(tensor, after[name]) for name, tensor in before.items())


def test_linear_probe_on_smollm2_scores_through_the_backend(smollm2):
    task = get_task("sentiment", sizes=(32, 16, 16))
    result = LinearProbe(layers=[20, 30]).optimize(task, smollm2, budget=Budget(metric_calls=48), cache=None)
    probes = [t for t in result.trials if t.candidate.weights]
    assert [t.info["layer"] for t in probes] == [20, 30]
    assert all(t.info["trainable_parameters"] == 2 * 576 + 2 for t in probes)  # SmolLM2-135M: hidden 576
    completions = smollm2.complete([task.render(probes[0].candidate, e) for e in task.val[:3]])
    assert all(len(c.choice_logprobs) == 2 and abs(sum(torch.tensor(c.choice_logprobs).exp()) - 1) < 1e-4
               for c in completions)


def test_best_of_n_on_llamacpp_samples_and_votes():
    backend = _load("llamacpp:smollm2")
    task = get_task("arithmetic", sizes=(4, 4, 4))
    result = BestOfN(n=[3]).optimize(task, backend, budget=Budget(metric_calls=8), cache=None)
    voted = result.trials[-1]
    assert voted.candidate.votes == 3 and voted.info["votes"] == 3
    assert voted.usage.calls == 3 * len(task.val)  # three sampled answers per example
    assert result.usage.calls == len(task.val) + 3 * len(task.val)
