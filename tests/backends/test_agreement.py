"""Both local engines rank choices the same way on the same prompts (they run the same weights).

Integration: the real SmolLM2 through llama.cpp (Q4_1 GGUF) and torch (its float32
dequantization). ``benchmarks/agreement.py`` measures the same on 200 examples.
"""

from __future__ import annotations

import importlib.util

import pytest

pytestmark = pytest.mark.integration

for _package in ("torch", "transformers", "llama_cpp"):
    if importlib.util.find_spec(_package) is None:
        pytest.skip(f"{_package} is not installed", allow_module_level=True)
if importlib.util.find_spec("promptlift.backends.llamacpp") is None:
    pytest.skip("the llama.cpp backend is not available", allow_module_level=True)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: on a busy shared CPU, two spin-waiting threads run many times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def engines():
    from promptlift.backends.llamacpp import LlamaCppBackend
    from promptlift.backends.torch import TorchBackend

    # the torch copy is converted once into PROMPTLIFT_MODELS (~40 s the first time), then reused
    return TorchBackend.from_spec("smollm2", device="cpu"), LlamaCppBackend.from_spec("smollm2", n_threads=1)


@pytest.mark.parametrize("layout", ["chat", "plain"])
def test_engines_rank_choices_alike(engines, layout):
    from promptlift.tasks.builtin import get_task

    task = get_task("sentiment", sizes=(1, 4, 1))
    candidate = task.seed.with_(demos=task.train[:1], format=layout)
    requests = [task.render(candidate, e) for e in task.val]
    torch_out, llama_out = (engine.complete(requests) for engine in engines)
    for request, a, b in zip(requests, torch_out, llama_out):
        assert len(a.choice_logprobs) == len(b.choice_logprobs) == len(request.choices)
        diffs = [abs(x - y) for x, y in zip(a.choice_logprobs, b.choice_logprobs)]
        assert max(diffs) < 1.0, (a.choice_logprobs, b.choice_logprobs)
        margin = a.choice_logprobs[0] - a.choice_logprobs[1]
        assert a.text == b.text or abs(margin) < 0.3, (a.choice_logprobs, b.choice_logprobs)
        assert a.usage.prompt_tokens == b.usage.prompt_tokens  # the same tokens reach both models
