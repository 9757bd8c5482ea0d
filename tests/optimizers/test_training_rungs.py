"""The training rungs (LoRA, FineTuning, RFT, LinearProbe) on a tiny random-weight Llama through
the real TorchBackend (a test double model), and BestOfN on the ScriptedBackend test double.

The tiny model's predictions are noise: these tests check mechanics (the base weights never
change, saved weights load in plain transformers + PEFT and score as the backend scores,
what training learns on a task whose only signal is a label prior, budget, files), not accuracy.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from promptlift import Budget, Candidate, Example, ScriptedBackend, Task
from promptlift.backends import torch_weights
from promptlift.errors import BackendError, CapabilityError, ConfigError
from promptlift.optimizers.best_of_n import BestOfN
from promptlift.optimizers.finetune import FineTuning, LoRA
from promptlift.optimizers.probe import LinearProbe
from promptlift.optimizers.rft import RejectionSamplingFineTuning
from promptlift.run import Run
from promptlift.testing.doubles import keyword_script, scripted, toy_task
from promptlift.testing import optimizers as contract
from promptlift.testing import OptimizerContract
from tests.optimizers.test_soft_prompt import _isolated, backend, biased_task  # noqa: F401 - fixtures

SMALL = {"steps": 4, "eval_every": 2, "batch_size": 4, "patience": None}


class TestLoRAContract(OptimizerContract):
    def make(self):
        return LoRA(rank=2, **SMALL)

    def make_invalid(self):
        return LoRA(rank=0)


class TestFineTuningContract(OptimizerContract):
    def make(self):
        return FineTuning(lr=1e-3, **SMALL)

    def make_invalid(self):
        return FineTuning(lr=-1.0)


class TestRFTContract(OptimizerContract):
    def make(self):
        return RejectionSamplingFineTuning(rank=2, rounds=2, samples=2, **SMALL)

    def make_invalid(self):
        return RejectionSamplingFineTuning(samples=0)


class TestLinearProbeContract(OptimizerContract):
    def make(self):
        return LinearProbe(layers=[1, 2])

    def make_invalid(self):
        return LinearProbe(layers="all")


def generation_task() -> Task:
    return dataclasses.replace(toy_task(), choices=(), metric=lambda e, p: p.strip() == e.output)


class TestBestOfNContract(OptimizerContract):
    """On a generation version of the toy task and the keyword-script test double."""

    def make(self):
        return BestOfN(n=[2, 3])

    def make_invalid(self):
        return BestOfN(n=1)

    @pytest.fixture(autouse=True)
    def _generation(self, monkeypatch):
        monkeypatch.setattr(contract, "toy_task", generation_task)
        monkeypatch.setattr(contract, "scripted", lambda *a, **k: ScriptedBackend(keyword_script))


def weights_of(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("make", [lambda: LoRA(rank=2, **SMALL), lambda: FineTuning(lr=1e-3, **SMALL)],
                         ids=["lora", "finetune"])
def test_the_backends_own_weights_never_change(backend, make):
    before = weights_of(backend.model)
    make().optimize(toy_task(), backend, budget=Budget(metric_calls=200), cache=None)
    after = weights_of(backend.model)
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("make", [lambda: LoRA(rank=4, lr=0.05, steps=12, eval_every=4, batch_size=8, patience=None),
                                  lambda: FineTuning(lr=3e-3, steps=12, eval_every=4, batch_size=8, patience=None)],
                         ids=["lora", "finetune"])
def test_training_learns_a_label_prior(backend, make):
    task = biased_task(backend)
    result = make().optimize(task, backend, budget=Budget(metric_calls=200), cache=None)
    assert result.baseline.mean < 0.5
    assert result.best.mean > result.baseline.mean + 0.3
    assert result.best.candidate.weights and result.best.info["trainable_parameters"] > 0


def test_lora_adapter_loads_in_plain_peft_and_scores_as_the_backend(backend, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    task = biased_task(backend)
    result = LoRA(rank=4, lr=0.05, steps=8, eval_every=4, batch_size=8, patience=None).optimize(
        task, backend, budget=Budget(metric_calls=200), cache=None, run_dir=tmp_path / "run")
    adapter = result.best.candidate.weights
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in (tmp_path / "run" / "lora").glob("*/*")}
    plain = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(backend.path), adapter).eval()
    request = task.render(result.best.candidate, task.val[0])
    prompt, choices = backend.encode(request)
    with torch.no_grad():
        expected = []
        for choice in choices:
            ids = torch.tensor([prompt + choice])
            logprobs = torch.log_softmax(plain(input_ids=ids).logits[0].float(), dim=-1)
            expected.append(sum(float(logprobs[len(prompt) - 1 + i, t]) for i, t in enumerate(choice)))
    scored = backend.complete([request])[0].choice_logprobs
    assert scored == pytest.approx(expected, abs=1e-4)


def test_finetuning_keeps_only_the_best_checkpoint(backend, tmp_path):
    task = biased_task(backend)
    result = FineTuning(lr=3e-3, steps=12, eval_every=4, batch_size=8, patience=None).optimize(
        task, backend, budget=Budget(metric_calls=200), cache=None, run_dir=tmp_path / "run")
    kept = list((tmp_path / "run" / "finetune").iterdir())
    trained = [t for t in result.trials if t.candidate.weights]
    assert len(trained) == 3
    assert [str(p.resolve()) for p in kept] == [result.best.candidate.weights]
    assert (kept[0] / "config.json").is_file() and (kept[0] / "model.safetensors").is_file()


def test_weights_of_another_model_are_refused(backend, tmp_path):
    task = toy_task()
    result = LinearProbe(layers=[1]).optimize(task, backend, budget=Budget(metric_calls=200), cache=None,
                                              run_dir=tmp_path / "run")
    path = result.trials[-1].candidate.weights
    meta = json.loads((tmp_path / "run" / "probe").glob("*/promptlift.json").__next__().read_text())
    assert meta["kind"] == "probe" and meta["model_id"] == backend.id
    other = tmp_path / "other"
    other.mkdir()
    (other / "promptlift.json").write_text(json.dumps({**meta, "model_id": "torch:another:0"}))
    with pytest.raises(BackendError, match="trained on 'torch:another:0'"):
        backend.complete([task.render(Candidate(weights=str(other)), task.val[0])])
    assert path


def test_probe_scores_are_sklearns_probabilities(backend):
    """The saved head (standardisation folded in, sklearn's binary form unfolded) gives sklearn's predict_proba."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from promptlift.backends.torch_probe import features

    task = toy_task()
    result = LinearProbe(layers=[2]).optimize(task, backend, budget=Budget(metric_calls=200), cache=None)
    probe_trial = result.trials[-1]
    assert probe_trial.info["layer"] == 2
    encode = lambda examples: [backend.encode(task.render(task.seed, e))[0] for e in examples]  # noqa: E731
    x_train = features(backend.model, encode(task.train), [2])[:, 0].double().numpy()
    y_train = [task.choices.index(e.output) for e in task.train]
    reference = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=0))
    reference.fit(x_train, y_train)
    x_val = features(backend.model, encode(task.val[:6]), [2])[:, 0].double().numpy()
    expected = reference.predict_proba(x_val)
    completions = backend.complete([task.render(probe_trial.candidate, e) for e in task.val[:6]])
    got = torch.tensor([c.choice_logprobs for c in completions]).exp().numpy()
    assert got == pytest.approx(expected, abs=2e-3)


def test_a_probe_on_one_class_predicts_it(backend):
    task = biased_task(backend)
    result = LinearProbe(layers=[1]).optimize(task, backend, budget=Budget(metric_calls=200), cache=None)
    assert result.baseline.mean < 0.5 and result.best.mean == 1.0


def test_probe_refuses_a_generation_task(backend):
    with pytest.raises(ConfigError, match="classification task"):
        LinearProbe().optimize(generation_task(), backend, budget=Budget(metric_calls=200), cache=None)


def test_training_rungs_refuse_a_backend_without_gradients():
    for optimizer in (LoRA(), FineTuning(), RejectionSamplingFineTuning(), LinearProbe()):
        with pytest.raises(CapabilityError, match="gradients"):
            optimizer.optimize(toy_task(), scripted(), budget=100, cache=None)


def test_training_is_charged_as_lm_calls(backend):
    task = toy_task()
    result = LoRA(rank=2, steps=4, eval_every=2, batch_size=4, patience=None).optimize(
        task, backend, budget=Budget(metric_calls=200), cache=None)
    validations = sum(len(t.scores) for t in result.trials)
    assert result.usage.calls == validations + 4 * 4  # every validated example plus 4 steps of 4
    assert result.trials[-1].info["train_tokens"] > 0 and result.trials[-1].info["train_seconds"] > 0


def test_votes_take_the_majority_of_sampled_answers():
    """A test double answering by sample number: sample 1 says the wrong label, 2 and 3 the right one."""
    task = generation_task()

    def by_sample(request):
        right = keyword_script(dataclasses.replace(request, choices=()))
        wrong = "negative" if right == "positive" else "positive"
        return wrong if request.sample == 1 else right

    double = ScriptedBackend(by_sample)
    run = Run(task, double, budget=Budget(metric_calls=100))
    smart = Candidate(instruction="Classify the sentiment.")
    assert run.validate(smart.with_(votes=3)).mean == 1.0
    assert run.validate(smart.with_(votes=2)).mean == 0.0  # a 1-1 tie: the first draw wins
    assert double.calls == len(task.val) * 5
    assert {r.sample for r in double.requests} == {1, 2, 3} and all(r.temperature > 0 for r in double.requests)


def test_votes_on_a_classification_task_are_refused():
    run = Run(toy_task(), scripted(), budget=Budget(metric_calls=100))
    with pytest.raises(ConfigError, match="generation task"):
        run.validate(Candidate(votes=3))


def test_rft_keeps_only_accepted_samples_with_the_drawn_answer_as_target():
    """Generation: a test double that answers right on sample 2 only."""
    task = generation_task()

    def second_is_right(request):
        right = keyword_script(dataclasses.replace(request, choices=()))
        return right if request.sample % 2 == 0 else "maybe"

    run = Run(task, ScriptedBackend(second_is_right), budget=Budget(metric_calls=100))
    kept = RejectionSamplingFineTuning(samples=2).accepted(run, Candidate(instruction="sentiment"), task.train[:5])
    assert [e.id for e in kept] == [e.id for e in task.train[:5]]
    assert [e.output for e in kept] == [e.output for e in task.train[:5]]
    assert run.usage.calls == 10


def test_candidate_with_weights_and_votes_round_trips():
    candidate = Candidate(instruction="x", weights="/w/lora-abc", votes=5)
    assert Candidate.from_dict(json.loads(json.dumps(candidate.to_dict()))) == candidate
    assert "trained weights" in candidate.describe() and "majority of 5 samples" in candidate.describe()
    assert Candidate().to_dict() == {"instruction": "", "demos": [], "format": "chat"}  # old keys unchanged


def test_save_is_content_addressed(tmp_path):
    def write(d):
        (d / "probe.safetensors").write_bytes(b"same")

    first = torch_weights.save(tmp_path, "probe", "m", write, layer=1, classes=["a"])
    second = torch_weights.save(tmp_path, "probe", "m", write, layer=1, classes=["a"])
    third = torch_weights.save(tmp_path, "probe", "m", write, layer=2, classes=["a"])
    assert first == second != third and first.name.startswith("probe-")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({first.name, third.name})

