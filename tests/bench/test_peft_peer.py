"""The HF PEFT peer cells (``peft:prompt_tuning``, ``peft:prefix_tuning``) on a tiny random model.

The tiny Llama is a test double: its accuracy is noise, so these tests check what a peer
cell must get right whatever the model: the row it reports, the trainable-parameter count
PEFT builds, and that PEFT trains a copy (the backend's own weights stay as they were).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from promptlift.testing.doubles import toy_task
from tests.tiny_model import tiny_backend

pytest.importorskip("peft")
FAST = {"n_tokens": 3, "steps": 2, "batch_size": 4, "init": "random"}


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    yield from tiny_backend(tmp_path_factory)


def run_cell(backend, name: str, tmp_path, **params):
    from promptlift.bench.peers import Meter, peer_runner

    cell = SimpleNamespace(optimizer=name, params={**FAST, **params}, seed=0, budget={"metric_calls": 100})
    return peer_runner(name)(toy_task(40), Meter(backend), cell, tmp_path)


def test_prompt_tuning_cell_reports_a_row_and_leaves_the_backend_untouched(backend, tmp_path):
    before = {k: v.clone() for k, v in backend.model.state_dict().items()}
    row = run_cell(backend, "peft:prompt_tuning", tmp_path)
    hidden = backend.model.config.hidden_size
    assert row["trainable"] == FAST["n_tokens"] * hidden
    assert 0.0 <= row["test"] <= 1.0 and 0.0 <= row["val"] <= 1.0
    assert row["seconds_per_step"] > 0 and row["search_seconds"] >= row["seconds_per_step"]
    assert row["metric_calls"] is None  # PEFT never calls the model through promptlift's metric
    after = backend.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_prefix_tuning_cell_trains_one_key_and_value_prefix_per_layer(backend, tmp_path):
    row = run_cell(backend, "peft:prefix_tuning", tmp_path)
    config = backend.model.config
    kv_width = config.hidden_size // config.num_attention_heads * config.num_key_value_heads
    assert row["trainable"] in {FAST["n_tokens"] * 2 * config.num_hidden_layers * w for w in (kv_width, config.hidden_size)}
    assert row["mode"] == "prefix"


def test_a_backend_that_cannot_train_is_refused_up_front(tmp_path):
    from promptlift.errors import CapabilityError
    from promptlift.testing.doubles import scripted

    with pytest.raises(CapabilityError, match="needs a torch backend"):
        run_cell(scripted(), "peft:prompt_tuning", tmp_path)


def test_an_unknown_peer_parameter_is_refused_by_name(backend, tmp_path):
    from promptlift.errors import ConfigError

    with pytest.raises(ConfigError, match="no parameter.*'epochs'"):
        run_cell(backend, "peft:prompt_tuning", tmp_path, epochs=3)
