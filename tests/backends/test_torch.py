"""TorchBackend: packed shared-prefix scoring and batched generation against the naive path.

Unit tests run a tiny random-weight Llama (a test double from ``tests.tiny_model``, with a
larger init so log-probabilities vary); the integration test runs the real SmolLM2.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from promptlift.backends import convert  # noqa: E402
from promptlift.backends.torch import TorchBackend  # noqa: E402
from promptlift.backends.torch_prefix import cluster, common_prefix  # noqa: E402
from promptlift.backends.torch_scoring import reference_logprobs  # noqa: E402
from promptlift.errors import ConfigError, MissingDependency  # noqa: E402
from promptlift.types import Message, Request  # noqa: E402

TOLERANCE = 1e-3
REVIEWS = ["a good film", "an awful movie", "this was not very good", "the film is bad", "great", "poor poor film"]
CHOICES = ("positive", "negative", "very positive", "not very bad")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: on a busy shared CPU, two spin-waiting threads run many times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from transformers import LlamaConfig, LlamaForCausalLM

    from tests.tiny_model import build_tokenizer

    path = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = build_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True,
        initializer_range=0.3, bos_token_id=None, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture
def backend(model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTLIFT_CACHE", str(tmp_path / "cache"))
    return TorchBackend.from_spec(str(model_dir), device="cpu", chunk_tokens=40)


def chat(review: str, instruction: str = "classify the sentiment", demos: int = 2) -> Request:
    messages = [Message("system", instruction)]
    for i in range(demos):
        messages += [Message("user", f"review : {REVIEWS[i]}"), Message("assistant", CHOICES[i % 2])]
    messages.append(Message("user", f"review : {review}"))
    return Request(messages=tuple(messages), choices=CHOICES)


def naive(backend: TorchBackend, request: Request, soft=None) -> list[float]:
    prompt, choices = backend.encode(request)
    with torch.no_grad():
        at = 0
        if soft is not None and soft.kind == "prompt":
            from promptlift.softprompt.apply import insert_position

            at = insert_position(backend.tokenizer, prompt)
        return reference_logprobs(backend.model, prompt, choices, soft, at)


def assert_close(got, want) -> None:
    diff = max(abs(a - b) for a, b in zip(got, want, strict=True))
    assert diff < TOLERANCE, (got, want)


def test_packed_scoring_matches_naive_forward(backend):
    requests = [chat(r) for r in REVIEWS]
    completions = backend.complete(requests)
    spread = set()
    for request, completion in zip(requests, completions):
        want = naive(backend, request)
        assert_close(completion.choice_logprobs, want)
        assert completion.text == request.choices[max(range(4), key=want.__getitem__)]
        spread.update(round(x, 2) for x in want)
    assert len(spread) > 8  # the model is not uniform: the comparison means something


def test_prefix_is_computed_once_and_reused_across_calls(backend):
    first = backend.complete([chat(r) for r in REVIEWS[:3]])
    computed = backend.store.prefix_tokens
    again = backend.complete([chat(r) for r in REVIEWS[3:]] + [chat(REVIEWS[0])])
    assert 0 < computed and backend.store.prefix_tokens - computed <= 2  # a token or two of new shared prefix
    assert_close(again[-1].choice_logprobs, first[0].choice_logprobs)


def test_mixed_candidates_and_raw_prompts_in_one_call(backend):
    requests = []
    for i, review in enumerate(REVIEWS):
        requests.append(chat(review, instruction="classify the review", demos=i % 3))
        requests.append(Request(prompt=f"review : {review}\nsentiment :", choices=(" positive", " negative")))
    for request, completion in zip(requests, backend.complete(requests)):
        assert_close(completion.choice_logprobs, naive(backend, request))
        assert completion.usage.calls == 1 and completion.usage.dollars == 0.0
        assert completion.usage.prompt_tokens == len(backend.encode(request)[0])


def test_short_prompts_sharing_nothing(backend):
    requests = [Request(prompt=text, choices=CHOICES) for text in ("good", "bad film", "poor", "a great film")]
    for request, completion in zip(requests, backend.complete(requests)):
        assert_close(completion.choice_logprobs, naive(backend, request))


def test_encode_follows_the_contract(backend):
    request = chat("good")
    text = backend.tokenizer.apply_chat_template([m.to_dict() for m in request.messages], tokenize=False,
                                                 add_generation_prompt=True)
    prompt, choices = backend.encode(request)
    assert prompt == backend.tokenizer(text).input_ids
    assert choices == [backend.tokenizer(c, add_special_tokens=False).input_ids for c in CHOICES]
    assert [len(c) for c in choices] == [1, 1, 2, 3]


def test_cluster_splits_unrelated_prompts_and_keeps_one_candidate_together():
    one = [[1, 2, 3, 4, 5, 6, 7, 8, 9, i] for i in range(5)]
    other = [[7, 7, 7, 7, 7, 7, 7, 7, 7, i] for i in range(3)]
    assert sorted(map(sorted, cluster(one))) == [list(range(5))]
    groups = cluster(one + other)
    assert sorted(map(sorted, groups)) == [list(range(5)), [5, 6, 7]]
    assert common_prefix([[1, 2, 3], [1, 2], [1, 2, 4]]) == 2


def test_generation_matches_greedy_generate(backend):
    requests = [Request(messages=chat(r).messages, max_tokens=6) for r in REVIEWS[:4]]
    completions = backend.complete(requests)
    for request, completion in zip(requests, completions):
        prompt, _ = backend.encode(request)
        with torch.no_grad():
            ids = backend.model.generate(torch.tensor([prompt]), max_new_tokens=6, do_sample=False,
                                         pad_token_id=backend.tokenizer.pad_token_id)[0, len(prompt):].tolist()
        if ids[-1] in backend.end_ids:
            ids = ids[:-1]
        want = backend.tokenizer.decode([t for t in ids if t not in backend.end_ids], skip_special_tokens=True)
        assert completion.text == want.strip()
        assert 1 <= completion.usage.completion_tokens <= 6


def test_generation_honours_stop_and_seeds(backend):
    base = Request(prompt="review : good film\nsentiment :", max_tokens=12, temperature=1.5)
    first, again, other = backend.complete([base, base, base.__class__(**{**base.__dict__, "sample": 1})])
    assert first.text == again.text
    assert first.text != other.text
    words = first.text.split()
    if len(words) > 2:
        stopped = backend.complete([Request(prompt=base.prompt, max_tokens=12, temperature=1.5, stop=(words[1],))])[0]
        assert words[1] not in stopped.text


def _soft_file(backend, tmp_path, kind: str, model_id: str | None = None):
    from promptlift.softprompt.apply import ModelDims
    from promptlift.softprompt.io import save_soft_prompt

    dims = ModelDims.of(backend.model)
    torch.manual_seed(1)
    if kind == "prompt":
        tensors = {"embeddings": torch.randn(3, dims.hidden) * 0.5}
    else:
        tensors = {"prefix": torch.randn(*dims.prefix_shape(3)) * 0.5}
    meta = {"kind": kind, "model_id": model_id or backend.id, "n_tokens": "3", "init": "random",
            "hidden": str(dims.hidden), "layers": str(dims.layers)}
    return save_soft_prompt(tmp_path / f"{kind}.safetensors", tensors, meta)


@pytest.mark.parametrize("kind", ["prompt", "prefix"])
def test_soft_prompt_scores_match_the_training_path(backend, tmp_path, kind):
    path = str(_soft_file(backend, tmp_path, kind))
    requests = [Request(messages=chat(r).messages, choices=CHOICES, soft_prompt=path) for r in REVIEWS[:4]]
    plain = backend.complete([chat(r) for r in REVIEWS[:4]])
    completions = backend.complete(requests)
    soft = backend._soft_prompt(path)
    for request, completion, without in zip(requests, completions, plain):
        assert_close(completion.choice_logprobs, naive(backend, request, soft))
        assert max(abs(a - b) for a, b in zip(completion.choice_logprobs, without.choice_logprobs)) > 1e-2
    generated = backend.complete([Request(messages=chat("good").messages, max_tokens=4, soft_prompt=path)])
    assert generated[0].usage.completion_tokens >= 1


def test_soft_prompt_of_another_model_is_refused(backend, tmp_path):
    path = str(_soft_file(backend, tmp_path, "prompt", model_id="torch:other:123"))
    with pytest.raises(ConfigError, match="trained on"):
        backend.complete([Request(messages=chat("good").messages, choices=CHOICES, soft_prompt=path)])


def test_capabilities_id_and_options(backend, model_dir):
    assert backend.id.startswith(f"torch:{model_dir.name}:")
    caps = backend.capabilities
    assert caps.chat and caps.choice_scoring and caps.raw_prompt and caps.soft_prompts and caps.gradients
    assert backend.dtype == torch.float32 and backend.device.type == "cpu"
    with pytest.raises(ConfigError, match="dtype"):
        TorchBackend(model_dir, dtype="int3")
    with pytest.raises(ConfigError, match="no transformers model directory"):
        TorchBackend.from_spec(str(model_dir / "missing"))


def test_missing_package_names_the_install_command(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec  # test double below: "gguf" is not installed, the rest is
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real(name, *a))
    with pytest.raises(MissingDependency, match="pip install"):
        convert.require_packages("torch", "gguf")


def test_killed_conversion_leaves_no_model(tmp_path, monkeypatch):
    models = tmp_path / "models"
    monkeypatch.setenv("PROMPTLIFT_MODELS", str(models))

    def dies(gguf, out):  # test double for the conversion: a half-written model, then Ctrl-C
        out.mkdir(parents=True)
        (out / "model.safetensors").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(convert, "_convert", dies)
    with pytest.raises(KeyboardInterrupt):
        convert.ensure_converted()
    assert not convert.converted_dir().exists()
    assert list(models.iterdir()) == []

    def works(gguf, out):  # test double for the conversion: a complete (empty) model
        out.mkdir(parents=True)
        (out / convert.COMPLETE_MARK).write_text("{}")

    convert.converted_dir().mkdir()  # a stale, incomplete directory from an older version
    monkeypatch.setattr(convert, "_convert", works)
    assert (convert.ensure_converted() / convert.COMPLETE_MARK).is_file()


@pytest.mark.integration
def test_real_smollm2_scores_like_the_naive_path():
    from promptlift.tasks.builtin import get_task

    real = TorchBackend.from_spec("smollm2", device="cpu")  # converted once into PROMPTLIFT_MODELS, then reused
    task = get_task("sentiment", sizes=(1, 2, 1))
    candidate = task.seed.with_(demos=task.train[:1])
    requests = [task.render(candidate, e) for e in task.val]
    completions = real.complete(requests)
    for request, completion in zip(requests, completions):
        assert_close(completion.choice_logprobs, naive(real, request))
        assert completion.text in task.choices
    answer = real.complete([Request(messages=(Message("user", "Say hello."),), max_tokens=8)])[0]
    assert answer.text and "<|im_end|>" not in answer.text and answer.usage.completion_tokens <= 8


def test_masked_attention_leaves_out_cudnn_on_cuda_only():
    from promptlift.backends.torch_scoring import masked_attention

    before = torch.backends.cuda.cudnn_sdp_enabled()
    with masked_attention(torch.device("cuda")):
        assert not torch.backends.cuda.cudnn_sdp_enabled()
        assert torch.backends.cuda.mem_efficient_sdp_enabled() and torch.backends.cuda.math_sdp_enabled()
    assert torch.backends.cuda.cudnn_sdp_enabled() == before
    with masked_attention(torch.device("cpu")):
        assert torch.backends.cuda.cudnn_sdp_enabled() == before
    with masked_attention("cuda:1"):  # a device string names the device too
        assert not torch.backends.cuda.cudnn_sdp_enabled()
