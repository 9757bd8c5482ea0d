"""benchmarks/scoring_rate.py: the instrumented token counts on tiny workloads.

The torch test runs a tiny random-weight Llama (a test double from ``tests.tiny_model``); the
llama.cpp test (integration) runs the real embedded SmolLM2 GGUF.
"""

from __future__ import annotations

import importlib.util

import pytest

from promptlift.backends.base import common_prefix
from promptlift.types import Message, Request
from tests.benchmarks import script

REVIEWS = ["a good film", "an awful movie", "this was not very good", "the film is bad"]
CHOICES = ("positive", "negative", "very positive")


def requests(system: str = "classify the sentiment of the review") -> list[Request]:
    return [Request(messages=(Message("system", system), Message("user", f"review : {text}")), choices=CHOICES)
            for text in REVIEWS]


def test_raw_batches_take_the_count_cycling_the_stream_in_full_batches():
    bench = script("scoring_rate")
    assert bench.raw_batches([1, 2, 3], 7, 3) == [[1, 2, 3], [1, 2, 3], [1]]
    assert sum(map(len, bench.raw_batches(list(range(50)), 120, 32))) == 120
    with pytest.raises(ValueError):
        bench.raw_batches([], 4, 2)


def test_the_markdown_has_one_row_per_cell():
    bench = script("scoring_rate")
    row = {"engine": "torch", "threads": 1, "demos": 4, "prompt_tokens_per_example": 184.0,
           "model_tokens_per_example": 40.0, "tokens_per_forward": 300.0, "examples_per_s": 1.5,
           "tokens_per_s": 60.0, "raw_tokens_per_s": 75.0, "ratio": 0.8, "load_start": 7.0, "load_end": 7.5}
    args = {"examples": 8, "chunk": 32, "repeats": 3, "raw_batch": 512}
    report = {"machine": "2 CPU cores", "args": args, "cells": [row, row], "profiles": {}}
    text = bench.markdown(report)
    assert text.count("| torch | 1 | 4 | 184 | 40.0 | 300 | 1.50 | 60 | 75 | 0.80 | 7.0-7.5 |") == 2
    merged = bench.merge([report, dict(report, machine="other", cells=[row], profiles={"p": {}})])
    assert [c["run"] for c in merged["cells"]] == [1, 1, 2] and list(merged["profiles"]) == ["p"]
    assert "run 2: other" in merged["machine"]


@pytest.fixture(scope="module")
def torch_engine(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import torch

    from promptlift.backends.torch import TorchBackend
    from tests.tiny_model import build_model_dir

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    path = build_model_dir(tmp_path_factory.mktemp("tiny-llama"))
    engine = script("scoring_rate").TorchEngine(TorchBackend.from_spec(str(path), device="cpu", chunk_tokens=40))
    yield engine
    engine.close()
    torch.set_num_threads(before)


class TestTorchCounting:
    def test_the_hook_counts_every_token_the_scorer_runs(self, torch_engine):
        engine = torch_engine
        bench = script("scoring_rate")
        batch = requests()
        prompts = [engine.prompt(r) for r in batch]
        shared = min(common_prefix(prompts), min(map(len, prompts)) - 1)
        branches = 1  # "very positive" is two words: one branch token per request
        expected = shared + sum(len(p) - shared + branches for p in prompts)
        seconds, tokens, forwards = bench.score(engine, batch, chunk=32)
        store = engine.backend.store
        assert tokens == expected == store.prefix_tokens + store.packed_tokens
        assert forwards >= 2 and seconds > 0  # a prefix forward and packed chunks of <= 40 tokens
        assert bench.score(engine, batch, chunk=32)[1] == expected  # cold again: the prefix is recomputed

    def test_the_raw_arm_counts_the_tokens_it_runs(self, torch_engine):
        engine = torch_engine
        bench = script("scoring_rate")
        stream = [t for r in requests() for t in engine.prompt(r)]
        seconds, tokens = bench.raw(engine, bench.raw_batches(stream, 50, 16))
        assert tokens == 50 and seconds > 0


@pytest.mark.integration
def test_llamacpp_counts_the_tokens_of_every_decode_batch():
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")
    bench = script("scoring_rate")
    engine = bench.build("llamacpp", 1)
    batch = requests()
    items = [engine.backend._item(r) for r in batch]
    shared = engine.scorer._shared(items)
    tails = sum(len(c) - 1 for it in items for c in it.choices)
    expected = shared + sum(len(it.prompt) - shared for it in items) + tails
    _, tokens, forwards = bench.score(engine, batch, chunk=32)
    assert tokens == expected and forwards == 3  # prefix, suffixes, choice tails
    assert bench.raw(engine, [list(items[0].prompt)])[1] == len(items[0].prompt)
