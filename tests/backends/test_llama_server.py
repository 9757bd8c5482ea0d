"""Both API backends against the real OpenAI-compatible server of llama-cpp-python on 127.0.0.1.

The server (``python -m llama_cpp.server``) serves the embedded SmolLM2 GGUF; it is started
once per session by the ``llama_server`` fixture. Small on purpose: a few examples each.
"""

from __future__ import annotations

import math

import pytest

from promptlift import Budget, FewShot, get_task
from promptlift.cache import ResponseCache
from promptlift.types import Message, Request
from tests.backends import conftest

pytestmark = pytest.mark.integration
SLOW_CPU = {"deadline": 300.0}  # a shared 2-core machine can be slow; no timing is asserted here


def make_backend(engine, url, **options):
    return conftest.make_backend(engine, url, **{**SLOW_CPU, **options})

INSTRUCTION = "Classify the sentiment of the movie review as positive or negative."
CHOICE = Request(
    messages=(Message("system", INSTRUCTION), Message("user", "Review: a warm, funny and moving film.")),
    choices=("positive", "negative"),
)


def test_generation(engine, llama_server):
    backend = make_backend(engine, llama_server.url, prices=(0, 0))
    request = Request(messages=(Message("user", "Name a colour."),), max_tokens=8)
    [completion] = backend.complete([request])
    assert completion.text.strip()
    assert completion.usage.prompt_tokens > 5 and 1 <= completion.usage.completion_tokens <= 8
    assert completion.usage.dollars == 0.0 and backend.stats == {"calls": 1, "attempts": 1, "failures": 0}


def test_choice_scoring_from_top_logprobs(engine, llama_server):
    backend = make_backend(engine, llama_server.url)
    plain = Request(prompt=f"{INSTRUCTION}\n\nReview: a dull, lifeless mess.\nSentiment:", choices=(" positive", " negative"))
    chat, raw = backend.complete([CHOICE, plain])
    for completion, request in ((chat, CHOICE), (raw, plain)):
        assert len(completion.choice_logprobs) == 2 and all(math.isfinite(lp) for lp in completion.choice_logprobs)
        assert all(lp <= 0 for lp in completion.choice_logprobs)
        assert completion.text == request.choices[max(range(2), key=completion.choice_logprobs.__getitem__)]
        assert completion.usage.completion_tokens == 1  # one token asked for, scored from its top logprobs
    assert backend.capabilities.choice_scoring and backend.stats["attempts"] == 2


def test_openai_and_litellm_see_the_same_model(llama_server):
    first = make_backend("openai", llama_server.url).complete([CHOICE])[0]
    second = make_backend("litellm", llama_server.url).complete([CHOICE])[0]
    assert first.choice_logprobs == pytest.approx(second.choice_logprobs, abs=1e-4)


def test_generate_and_match_over_the_real_server(engine, llama_server):
    backend = make_backend(engine, llama_server.url, choice_scoring="generate")
    request = Request(messages=(Message("user", "Answer with one word, yes or no: is the sky blue?"),),
                      choices=("yes", "no"), max_tokens=4)
    [completion] = backend.complete([request])
    assert completion.usage.completion_tokens >= 1
    assert completion.text in ("yes", "no") or completion.choice_logprobs == ()


def test_short_fewshot_optimisation_then_a_cached_replay_makes_no_calls(engine, llama_server, tmp_path):
    task = get_task("sentiment", sizes=(12, 3, 0))
    cache = ResponseCache(tmp_path / "responses.sqlite")
    backend = make_backend(engine, llama_server.url, max_concurrency=4)

    def optimise(run_dir):
        return FewShot(k=2, max_candidates=1).optimize(
            task, backend, budget=Budget(metric_calls=6), seed=1, cache=cache, run_dir=run_dir
        )

    first = optimise(tmp_path / "first")
    calls = backend.stats["calls"]
    assert len(first.trials) == 2 and first.best in first.trials
    assert calls == 6 and first.usage.tokens > 0

    replay = optimise(tmp_path / "replay")
    assert backend.stats["calls"] == calls  # zero model calls on the replay
    assert [t.scores for t in replay.trials] == [t.scores for t in first.trials]
    assert replay.cache_hits == 6
