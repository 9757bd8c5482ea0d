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
