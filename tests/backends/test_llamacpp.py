"""LlamaCppBackend on the real embedded SmolLM2 (integration: a few examples each)."""

from __future__ import annotations

import numpy as np
import pytest

from promptlift import Message, Request, get_task, load_backend
from promptlift.backends.llamacpp_scoring import ScoringItem, log_softmax
from promptlift.errors import BackendError, CapabilityError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def backend():
    return load_backend("llamacpp:smollm2")


@pytest.fixture(scope="module")
def task():
    return get_task("sentiment", sizes=(8, 8, 8))


def reference_logprobs(backend, item: ScoringItem) -> list[float]:
    """Naive path: a fresh llama.cpp context per choice, logits for every position."""
    from llama_cpp import Llama

    from promptlift.backends.llamacpp_cpu import safe_model_params

    with safe_model_params():  # loaded as the backend loads it (no AMX buffers where they crash)
        llm = Llama(model_path=str(backend.path), n_ctx=512, logits_all=True, verbose=False, type_k=0, type_v=0)
    out = []
    for choice in item.choices:
        llm.reset()
        tokens = list(item.prompt) + list(choice)
        llm.eval(tokens)
        start = len(item.prompt) - 1
        out.append(sum(log_softmax(llm.scores[start + k])[t] for k, t in enumerate(choice)))
    return out


def test_id_names_engine_model_and_weights(backend):
    engine, name, weights = backend.id.split(":")
    assert engine == "llamacpp" and name.startswith("SmolLM2") and len(weights) == 12


def test_choice_scores_are_logprobs_and_text_is_the_argmax(backend, task):
    requests = [task.render(task.seed, e) for e in task.val]
    completions = backend.complete(requests)
    for request, completion in zip(requests, completions):
        assert len(completion.choice_logprobs) == 2
        assert all(lp < 0 for lp in completion.choice_logprobs)
        assert completion.text == request.choices[int(np.argmax(completion.choice_logprobs))]
        assert completion.usage.calls == 1 and completion.usage.prompt_tokens > 20


def test_batched_scores_match_the_naive_path(backend, task):
    """Shared-prefix batching changes llama.cpp's float path a little, never the ranking here."""
    candidate = task.seed.with_(demos=task.train[:2])
    requests = [task.render(candidate, e) for e in task.val[:4]]
    batched = backend.complete(requests)
    for request, completion in zip(requests, batched):
        expected = reference_logprobs(backend, backend._item(request))
        assert np.allclose(completion.choice_logprobs, expected, atol=0.15)


def test_multi_token_choices_are_summed(backend):
    trec = get_task("trec", sizes=(4, 4, 4))
    request = trec.render(trec.seed, trec.val[0])
    item = backend._item(request)
    assert any(len(c) > 1 for c in item.choices)  # 'abbreviation' is three tokens
    got = backend.complete([request])[0].choice_logprobs
    assert np.allclose(got, reference_logprobs(backend, item), atol=0.15)


def test_generation_is_greedy_and_honours_stop(backend):
    request = Request(messages=(Message("user", "Count: one, two, three, four"),), max_tokens=12)
    first, second = backend.complete([request, request])
    assert first.text and first.text == second.text
    stopped = backend.complete([Request(prompt="1, 2, 3, 4,", max_tokens=12, stop=(",",))])[0]
    assert "," not in stopped.text and stopped.usage.completion_tokens <= 12


def test_soft_prompt_is_refused_with_a_clear_error(backend, task):
    request = Request(prompt="x", choices=("a",), soft_prompt="/tmp/soft.safetensors")
    with pytest.raises(CapabilityError, match="torch engine"):
        backend.complete([request])


def test_too_long_prompt_is_a_backend_error(backend):
    with pytest.raises(BackendError, match="exceeds the context"):
        backend.complete([Request(prompt="word " * 9000, choices=(" a", " b"))])


