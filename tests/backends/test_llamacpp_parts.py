"""LlamaCppBackend pieces that need neither the model nor llama.cpp (the rest: test_llamacpp.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from promptlift import load_backend
from promptlift.backends.llamacpp_scoring import common_prefix, log_softmax
from promptlift.errors import ConfigError


def test_unknown_model_file_is_a_config_error():
    with pytest.raises(ConfigError, match="no GGUF file"):
        load_backend("llamacpp:/nowhere/model.gguf")


def test_common_prefix():
    assert common_prefix([(1, 2, 3), (1, 2, 4), (1, 2)]) == 2
    assert common_prefix([]) == 0
    assert math.isclose(float(np.exp(log_softmax(np.array([1.0, 2.0, 3.0]))).sum()), 1.0)


def test_groups_keep_their_kv_span_within_group_tokens():
    from promptlift.backends.llamacpp_scoring import ChoiceScorer, ScoringItem

    scorer = object.__new__(ChoiceScorer)  # grouping only: no llama.cpp context is made
    scorer.n_ctx, scorer.n_seq_max, scorer.n_batch, scorer.group_tokens = 8192, 64, 2048, 100
    shared = tuple(range(40))
    items = [ScoringItem(shared + (1000 + i,) * 10, ((5,), (6,))) for i in range(8)]  # 40 shared + 10 own tokens
    long = ScoringItem(tuple(range(2000, 2200)), ((5,), (6,)))
    assert scorer._groups(items) == [[0, 1, 2, 3, 4, 5], [6, 7]]  # 40 + 6 x 10 = 100 tokens of KV
    assert scorer._groups([*items[:2], long]) == [[0, 1], [2]]  # longer than the span: a group of its own
    scorer.group_tokens = scorer.n_ctx - 8
    assert scorer._groups(items) == [list(range(8))]


def test_extra_buffers_follow_the_cpu_unless_forced(monkeypatch):
    from promptlift.backends import llamacpp_cpu

    monkeypatch.setenv("PROMPTLIFT_LLAMA_EXTRA_BUFFERS", "0")
    assert llamacpp_cpu.extra_buffers_allowed() is False
    monkeypatch.setenv("PROMPTLIFT_LLAMA_EXTRA_BUFFERS", "1")
    assert llamacpp_cpu.extra_buffers_allowed() is True
    monkeypatch.delenv("PROMPTLIFT_LLAMA_EXTRA_BUFFERS")
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
        amx = "amx_int8" in handle.read().split()
    assert llamacpp_cpu.extra_buffers_allowed() is (not amx)
