"""SoftPromptTuning on a tiny random-weight Llama through the real TorchBackend (a test double model).

The tiny model's predictions are noise; these tests check mechanics (frozen weights, the
training loss agreeing with the backend's scores, budget, determinism, files), not accuracy.
"""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from promptlift import Budget, Candidate, Example, Task
from promptlift.errors import CapabilityError, ConfigError
from promptlift.optimizers.soft_prompt import SoftPromptTuning
from promptlift.softprompt.io import load_soft_prompt
from promptlift.testing.doubles import scripted, toy_task
from promptlift.testing import optimizers as contract
from promptlift.testing import OptimizerContract
from tests.tiny_model import build_model_dir, tiny_backend

SMALL = {"n_tokens": 2, "steps": 8, "eval_every": 2, "batch_size": 4, "lr": 0.1, "patience": None}


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    yield from tiny_backend(tmp_path_factory)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch, backend):
    monkeypatch.setenv("PROMPTLIFT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(contract, "scripted", lambda *a, **k: backend)  # the contract suite needs gradients


class TestSoftPromptContract(OptimizerContract):
    def make(self):
        return SoftPromptTuning(**SMALL)

    def make_invalid(self):
        return SoftPromptTuning(n_tokens=0)


def biased_task(backend, n: int = 24) -> Task:
    """Every answer is the label the untrained model mostly does *not* pick: only a prior to learn."""
    inputs = [{"review": f"a film number {i}"} for i in range(n)]
    probe = Task(name="probe", input_fields=("review",), train=(), val=(Example(inputs[0], "positive"),),
                 choices=("positive", "negative"), seed=Candidate(instruction="Classify the review."))
    picks = [c.text for c in backend.complete([probe.render(probe.seed, Example(x, "")) for x in inputs])]
    label = "negative" if picks.count("positive") >= n / 2 else "positive"
    examples = [Example(x, label, id=f"b{i}") for i, x in enumerate(inputs)]
    return Task(name="biased", input_fields=("review",), output_field="sentiment", train=examples[:16],
                val=examples[16:], metric="accuracy", choices=("positive", "negative"),
                seed=Candidate(instruction="Classify the review."))


def train_loss(backend, task, result) -> float:
    """Mean training loss of the best candidate's soft prompt, computed by the trainer's own loss."""
    from promptlift.softprompt.apply import ModelDims
    from promptlift.training.soft_params import SoftParameters
    from promptlift.training.packed import Trainer, encode_examples

    data = encode_examples(backend, task, task.seed, task.train)
    params = SoftParameters("prompt", ModelDims.of(backend.model), 2)
    if result is not None:
        tensors, _ = load_soft_prompt(result.best.candidate.soft_prompt)
        params.embeddings.data.copy_(tensors["embeddings"])
    trainer = Trainer(backend.model, params, at=0, choice_loss=True, lr=0.1, weight_decay=0.0,
                      grad_clip=None, autocast=False)
    with torch.no_grad():
        return float(trainer.loss(data))


def test_model_weights_stay_frozen_and_bit_identical(backend):
    before = {k: v.clone() for k, v in backend.model.state_dict().items()}
    for kind in ("prompt", "prefix"):
        SoftPromptTuning(kind=kind, **SMALL).optimize(toy_task(), backend, budget=200, cache=None)
    after = backend.model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(p.requires_grad for p in backend.model.parameters())


@pytest.mark.parametrize("loss", ["choices", "likelihood"])
def test_training_learns_a_label_prior(backend, loss):
    task = biased_task(backend)
    result = SoftPromptTuning(**{**SMALL, "steps": 20, "eval_every": 20, "init": "vocab", "loss": loss}).optimize(
        task, backend, budget=100, cache=None)
    soft = [t for t in result.trials if t.info.get("stage") == "soft_prompt"]
    assert soft and result.best.candidate.soft_prompt == soft[-1].candidate.soft_prompt
    assert result.baseline.mean <= 0.5 and result.best.mean == 1.0
    if loss == "choices":
        assert soft[-1].info["train_loss"] < 0.3
        assert train_loss(backend, task, result) < 0.3 < train_loss(backend, task, None)


def test_likelihood_loss_is_the_correct_choices_negative_log_likelihood(backend):
    """loss="likelihood" (PEFT's objective): -log p(correct choice tokens) over the vocabulary,
    i.e. minus the backend-ranked log-probability of the right choice, averaged per token."""
    from promptlift.softprompt.apply import ModelDims
    from promptlift.training.soft_params import SoftParameters
    from promptlift.training.packed import Trainer, encode_examples

    task = toy_task()
    data = encode_examples(backend, task, task.seed, task.train[:6])
    params = SoftParameters("prompt", ModelDims.of(backend.model), 2)
    params.initialise(backend.model, None, torch.Generator().manual_seed(0))
    made = {flag: Trainer(backend.model, params, at=0, choice_loss=flag, lr=0.1, weight_decay=0.0, grad_clip=None,
                          autocast=False) for flag in (True, False)}
    with torch.no_grad():
        rows = made[True].choice_logprobs(data)
        right = rows[torch.arange(len(data)), torch.tensor([e.label for e in data])]
        tokens = sum(len(e.choices[e.label]) for e in data)
        assert float(made[False].loss(data)) == pytest.approx(float(-right.sum() / tokens), rel=1e-5)
        assert float(made[True].loss(data)) == pytest.approx(
            float(torch.nn.functional.cross_entropy(rows, torch.tensor([e.label for e in data]))), rel=1e-5)


@pytest.mark.parametrize("kind,projection", [("prompt", None), ("prefix", None), ("prefix", 8)])
def test_the_training_scores_are_the_backends_scores(backend, tmp_path, kind, projection):
    """What the loss sees equals what TorchBackend ranks, for the saved soft prompt."""
    from promptlift.optimizers.soft_prompt import _Session
    from promptlift.run import Run
    from promptlift.training.packed import batches

    task = toy_task()
    spec = SoftPromptTuning(kind=kind, projection=projection, **SMALL)
    run = Run(task, backend, budget=Budget(metric_calls=100), run_dir=tmp_path / "run")
    session = _Session.start(spec, run, backend, task.seed)
    session.trainer.step(next(batches(session.data, 4, run.rng)))  # move away from the init
    candidate = session.candidate()
    examples = list(task.train[:5])
    completions = backend.complete([task.render(candidate, e) for e in examples])
    with torch.no_grad():
        trained = session.trainer.choice_logprobs(session.data[:5])
    scored = torch.tensor([c.choice_logprobs for c in completions])
    assert torch.allclose(trained, scored, atol=1e-4)
    assert str(tmp_path / "run" / "soft_prompts") in candidate.soft_prompt


@pytest.mark.parametrize("kind", ["prompt", "prefix"])
def test_packed_training_forward_equals_one_forward_per_choice(backend, kind):
    """The packed, shared-prefix training path against the naive one (full sequence per choice)."""
    from promptlift.backends.torch_scoring import reference_logprobs
    from promptlift.backends.torch_prefix import SoftPrompt
    from promptlift.optimizers.soft_prompt import _Session
    from promptlift.run import Run

    words = Task(name="words", input_fields=("review",), train=toy_task().train, val=toy_task().val,
                 choices=("positive", "very good film", "bad"), seed=Candidate(instruction="Classify the review."))
    data = [e for e in toy_task().train[:5]]
    task = dataclasses.replace(words, train=tuple(dataclasses.replace(e, output="bad") for e in data))
    run = Run(task, backend, budget=Budget(metric_calls=100))
    session = _Session.start(SoftPromptTuning(kind=kind, **SMALL), run, backend, task.seed)
    assert [len(c) for c in session.data[0].choices] == [1, 3, 1]
    params = session.trainer.params
    with torch.no_grad():
        packed = session.trainer.choice_logprobs(session.data)
        soft = SoftPrompt(key="k", kind=kind, tensor=params.tensor())
        naive = torch.tensor([reference_logprobs(backend.model, e.prompt, e.choices, soft, 0) for e in session.data])
    assert torch.allclose(packed, naive, atol=1e-4)


@pytest.mark.parametrize("kind,projection,expected", [
    ("prompt", None, 3 * 32),  # n_tokens x hidden
    ("prefix", None, 3 * 2 * 2 * 16),  # n_tokens x 2 x layers x kv_dim (2 kv heads x head_dim 8)
])
def test_trainable_parameter_counts(backend, kind, projection, expected):
    result = SoftPromptTuning(kind=kind, projection=projection, **{**SMALL, "n_tokens": 3, "steps": 2}).optimize(
        toy_task(), backend, budget=100, cache=None)
    info = result.trials[-1].info
    assert info["trainable_parameters"] == info["soft_prompt_parameters"] == expected
    assert SoftPromptTuning(kind=kind, n_tokens=3).trainable_parameters(backend) == expected
    tensors, metadata = load_soft_prompt(result.trials[-1].candidate.soft_prompt, model_id=backend.id)
    assert sum(t.numel() for t in tensors.values()) == expected
    assert metadata["kind"] == kind and metadata["n_tokens"] == "3" and metadata["hidden"] == "32"
    from promptlift.training.nearest import inspect_soft_prompt

    nearest = inspect_soft_prompt(result.trials[-1].candidate.soft_prompt, backend, k=3)
    assert len(nearest) == 3 and all(len(row) == 3 for row in nearest)
    assert all(isinstance(token, str) and -1.0 <= cosine <= 1.0 + 1e-6 for row in nearest for token, cosine in row)


def test_projection_mlp_is_counted_but_only_the_prefix_is_saved(backend):
    result = SoftPromptTuning(kind="prefix", projection=8, **{**SMALL, "n_tokens": 3, "steps": 2}).optimize(
        toy_task(), backend, budget=100, cache=None)
    info = result.trials[-1].info
    mlp = (32 * 8 + 8) + (8 * 2 * 2 * 16 + 2 * 2 * 16)
    assert info["trainable_parameters"] == 3 * 32 + mlp
    assert SoftPromptTuning(kind="prefix", projection=8, n_tokens=3).trainable_parameters(backend) == 3 * 32 + mlp
    assert info["soft_prompt_parameters"] == 3 * 2 * 2 * 16


def test_a_soft_prompt_of_another_model_is_refused(backend, tmp_path):
    result = SoftPromptTuning(**{**SMALL, "steps": 2}).optimize(toy_task(), backend, budget=100, cache=None)
    path = result.trials[-1].candidate.soft_prompt
    with pytest.raises(ConfigError, match="cannot be loaded onto 'torch:other'"):
        load_soft_prompt(path, model_id="torch:other")
    from promptlift.backends.torch import TorchBackend

    other = TorchBackend(build_model_dir(tmp_path / "other", seed=1), device="cpu")
    assert other.id != backend.id
    task = toy_task()
    with pytest.raises(ConfigError, match=f"trained on '{backend.id}'"):
        other.complete([task.render(result.trials[-1].candidate, task.val[0])])


def test_a_backend_without_gradients_is_refused_before_any_call():
    double = scripted()
    with pytest.raises(CapabilityError, match="SoftPromptTuning needs a backend with 'gradients'"):
        SoftPromptTuning(**SMALL).optimize(toy_task(), double, budget=100, cache=None)
    assert double.calls == 0


def test_composes_with_a_hard_candidate(backend):
    task = toy_task()
    hard = Candidate(instruction="Say the sentiment.", demos=(task.train[0], task.train[1]), calibration=(0.5, 0.0))
    result = SoftPromptTuning(initial=hard, **SMALL).optimize(task, backend, budget=200, cache=None)
    stages = [t.info.get("stage") for t in result.trials]
    assert stages[:3] == ["seed", "initial", "soft_prompt"]
    assert result.trials[1].candidate == hard
    for trial in result.trials[2:]:
        assert trial.candidate.with_(soft_prompt=None) == hard.with_(calibration=())
        assert trial.candidate.soft_prompt and trial.parents == (1,)


def test_a_reasoning_candidate_is_refused(backend):
    with pytest.raises(ConfigError, match="reasoning"):
        SoftPromptTuning(initial=Candidate(instruction="x", reasoning=True), **SMALL).optimize(
            toy_task(), backend, budget=100, cache=None)


def test_budget_counts_validations_as_metric_calls_and_training_as_lm_calls(backend):
    result = SoftPromptTuning(**SMALL).optimize(toy_task(), backend, budget=60, cache=None)
    assert result.metric_calls == 60  # seed + two validations of 20
    assert [t.info.get("step") for t in result.trials] == [None, 2, 4]
    validation_calls = sum(t.usage.calls for t in result.trials)
    assert result.usage.calls == validation_calls + 4 * 4  # four training steps of four examples
    limited = SoftPromptTuning(**SMALL).optimize(toy_task(), backend, budget=Budget(metric_calls=1000, lm_calls=50), cache=None)
    assert limited.stopped_by == "lm_calls" and limited.usage.calls <= 50


def test_early_stopping_on_validation(backend):
    result = SoftPromptTuning(**{**SMALL, "lr": 1e-9, "steps": 40, "patience": 2}).optimize(
        toy_task(), backend, budget=1000, cache=None)
    means = [t.mean for t in result.trials]  # the seed, then one validation every 2 steps
    assert result.trials[-1].info["step"] < 40  # stopped early
    best, stale, stop = means[0], 0, None
    for i, mean in enumerate(means[1:], start=1):
        best, stale = (mean, 0) if mean > best else (best, stale + 1)
        if stale == 2:
            stop = i
            break
    assert stop == len(means) - 1  # exactly at the second validation in a row without improvement


def test_text_init_starts_at_the_instruction_tokens(backend, tmp_path):
    from promptlift.optimizers.soft_prompt import _Session
    from promptlift.run import Run

    task = toy_task()
    for kind in ("prompt", "prefix"):
        run = Run(task, backend, budget=Budget(metric_calls=100))
        session = _Session.start(SoftPromptTuning(kind=kind, **{**SMALL, "n_tokens": 4}), run, backend, task.seed)
        words = backend.tokenizer.tokenize("Classify the review.")
        assert session.nearest() == words[:4]


def test_generation_task_trains_on_the_target(backend):
    examples = [Example({"question": f"number {i}"}, str(i % 7), id=f"g{i}") for i in range(24)]
    task = Task(name="gen", input_fields=("question",), output_field="answer", train=examples[:16], val=examples[16:],
                metric="exact_match", seed=Candidate(instruction="Answer the question."), max_tokens=3)
    result = SoftPromptTuning(**{**SMALL, "steps": 4}).optimize(task, backend, budget=100, cache=None)
    soft = [t for t in result.trials if t.info.get("stage") == "soft_prompt"]
    assert len(soft) == 2 and all(t.info["train_loss"] > 0 for t in soft)
    assert all(isinstance(p, str) for t in soft for p in t.predictions)


@pytest.mark.parametrize("kwargs,name", [
    ({"kind": "lora"}, "kind"), ({"init": "zeros"}, "init"), ({"lr": 0}, "lr"), ({"batch_size": 0}, "batch_size"),
    ({"projection": 8}, "projection"), ({"patience": 0}, "patience"), ({"initial": "text"}, "initial"),
])
def test_bad_hyperparameters_name_themselves(kwargs, name):
    with pytest.raises(ConfigError, match=rf"The '{name}' parameter of SoftPromptTuning must be"):
        SoftPromptTuning(**kwargs)


def test_initial_from_json_or_a_best_candidate_file(tmp_path):
    hard = Candidate(instruction="x", demos=(toy_task().train[0],))
    assert SoftPromptTuning(initial=hard.to_dict()).initial == hard
    path = tmp_path / "best_candidate.json"
    path.write_text(json.dumps({"candidate": hard.to_dict(), "task": "toy"}))
    assert SoftPromptTuning(initial=str(path)).initial == hard
    with pytest.raises(ConfigError, match="The 'initial' parameter"):
        SoftPromptTuning(initial=str(tmp_path / "missing.json"))


def test_config_is_json(backend):
    hard = Candidate(instruction="x", demos=(toy_task().train[0],))
    config = SoftPromptTuning(initial=hard).config()
    assert json.loads(json.dumps(config))["initial"]["instruction"] == "x"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("kind", ["prompt", "prefix"])
def test_trains_on_cuda_with_bf16_autocast(tmp_path, kind):
    from promptlift.backends.torch import TorchBackend

    cuda = TorchBackend(build_model_dir(tmp_path / "model"), device="cuda")
    result = SoftPromptTuning(kind=kind, **SMALL).optimize(toy_task(), cuda, budget=100, cache=None)
    soft = [t for t in result.trials if t.info.get("stage") == "soft_prompt"]
    assert soft and all(math.isfinite(t.info["train_loss"]) for t in soft)
    tensors, _ = load_soft_prompt(soft[-1].candidate.soft_prompt, model_id=cuda.id)
    assert all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors.values())


def test_a_soft_prompts_virtual_tokens_count_as_prompt_tokens(backend):
    task = toy_task()
    result = SoftPromptTuning(**SMALL).optimize(task, backend, budget=Budget(metric_calls=100), cache=None)
    trained = next(t for t in result.trials if t.candidate.soft_prompt)
    request = task.render(trained.candidate, task.val[0])
    completion = backend.complete([request])[0]
    assert completion.usage.prompt_tokens == len(backend.encode(request)[0]) + SMALL["n_tokens"]
