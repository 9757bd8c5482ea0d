import pytest
import torch

from promptlift.errors import ConfigError, DataError
from promptlift.softprompt.io import (
    check_model,
    check_shape,
    content_hash,
    load_soft_prompt,
    save_content_addressed,
    save_soft_prompt,
)

META = {"kind": "prompt", "model_id": "torch:tiny:abc", "n_tokens": 3, "init": "text", "hidden": 8, "layers": 2}


def test_round_trip_keeps_tensor_and_metadata_as_strings(tmp_path):
    tensor = torch.randn(3, 8)
    path = save_soft_prompt(tmp_path / "sp.safetensors", {"embeddings": tensor}, META)
    tensors, metadata = load_soft_prompt(path, model_id="torch:tiny:abc")
    assert torch.equal(tensors["embeddings"], tensor)
    assert metadata == {k: str(v) for k, v in META.items()}


def test_prefix_round_trip_in_bfloat16(tmp_path):
    prefix = torch.randn(2, 2, 1, 3, 4).to(torch.bfloat16)
    meta = {**META, "kind": "prefix"}
    path = save_soft_prompt(tmp_path / "p.safetensors", {"prefix": prefix}, meta)
    tensors, metadata = load_soft_prompt(path)
    assert tensors["prefix"].dtype == torch.bfloat16 and torch.equal(tensors["prefix"], prefix)
    assert metadata["kind"] == "prefix"


def test_loading_onto_another_model_is_refused_with_a_clear_message(tmp_path):
    path = save_soft_prompt(tmp_path / "sp.safetensors", {"embeddings": torch.zeros(3, 8)}, META)
    with pytest.raises(ConfigError, match=r"trained on 'torch:tiny:abc' and cannot be loaded onto 'torch:other:1'"):
        load_soft_prompt(path, model_id="torch:other:1")
    with pytest.raises(ConfigError):
        check_model({"model_id": "a"}, "b")


def test_content_addressed_names_change_with_the_tensor(tmp_path):
    a = torch.zeros(3, 8)
    b = a.clone()
    b[0, 0] = 1e-6
    first = save_content_addressed(tmp_path, {"embeddings": a}, META)
    again = save_content_addressed(tmp_path, {"embeddings": a.clone()}, META)
    other = save_content_addressed(tmp_path, {"embeddings": b}, META)
    assert first == again and first != other
    assert first.name == f"soft_prompt-{content_hash({'embeddings': a}, META)}.safetensors"
    assert content_hash({"embeddings": a}, {**META, "model_id": "x"}) != content_hash({"embeddings": a}, META)


def test_malformed_files_and_shapes_are_reported(tmp_path):
    with pytest.raises(DataError, match="n_tokens"):
        save_soft_prompt(tmp_path / "x.safetensors", {"embeddings": torch.zeros(4, 8)}, META)
    with pytest.raises(DataError, match="needs the tensor 'prefix'"):
        save_soft_prompt(tmp_path / "x.safetensors", {"embeddings": torch.zeros(3, 8)}, {**META, "kind": "prefix"})
    with pytest.raises(DataError, match="lacks"):
        save_soft_prompt(tmp_path / "x.safetensors", {"embeddings": torch.zeros(3, 8)}, {"kind": "prompt"})
    (tmp_path / "junk.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(DataError, match="not a readable"):
        load_soft_prompt(tmp_path / "junk.safetensors")
    with pytest.raises(ConfigError, match="no soft-prompt file"):
        load_soft_prompt(tmp_path / "missing.safetensors")
    tensors = {"embeddings": torch.zeros(3, 8)}
    check_shape(META, tensors, hidden=8, layers=2, n_kv_heads=1, head_dim=8)
    with pytest.raises(ConfigError, match="does not fit this model"):
        check_shape(META, tensors, hidden=16, layers=2, n_kv_heads=1, head_dim=8)
