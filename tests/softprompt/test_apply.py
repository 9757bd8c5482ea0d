"""soft_hidden must equal running the model on real tokens when the soft prompt *is* those tokens."""

import pytest
import torch

from promptlift.softprompt.apply import ModelDims, insert_position, right_pad, soft_logits


@pytest.fixture(scope="module")
def model():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return LlamaForCausalLM(config).eval()


IDS = [5, 6, 7, 8, 9]
SOFT = [11, 12, 13]


def ones(n):
    return torch.ones((1, n), dtype=torch.long)


def test_prompt_embeddings_of_real_tokens_equal_inserting_the_tokens(model):
    with torch.no_grad():
        reference = model(torch.tensor([IDS[:1] + SOFT + IDS[1:]])).logits
        embeddings = model.get_input_embeddings().weight[SOFT]
        got = soft_logits(model, torch.tensor([IDS]), ones(5), "prompt", embeddings, at=1)
    expected = torch.cat([reference[:, :1], reference[:, 1 + len(SOFT):]], dim=1)
    assert torch.allclose(got, expected, atol=1e-5)


def test_prefix_of_real_keys_and_values_equals_prepending_the_tokens(model):
    with torch.no_grad():
        cache = model(torch.tensor([SOFT]), use_cache=True).past_key_values
        prefix = torch.stack([torch.stack([layer.keys[0], layer.values[0]]) for layer in cache.layers])
        assert prefix.shape == ModelDims.of(model).prefix_shape(len(SOFT))
        got = soft_logits(model, torch.tensor([IDS]), ones(5), "prefix", prefix)
        expected = model(torch.tensor([SOFT + IDS])).logits[:, len(SOFT):]
    assert torch.allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["prompt", "prefix"])
def test_right_padding_does_not_change_a_row(model, kind):
    tensor = torch.randn(3, 32) * 0.02 if kind == "prompt" else torch.randn(2, 2, 2, 3, 8)
    ids, mask = right_pad([IDS, IDS[:3]], 0, "cpu")
    with torch.no_grad():
        batch = soft_logits(model, ids, mask, kind, tensor, at=1)
        alone = soft_logits(model, torch.tensor([IDS[:3]]), ones(3), kind, tensor, at=1)
    assert torch.allclose(batch[1, :3], alone[0], atol=1e-5)


def test_gradients_reach_the_soft_tensor_only(model):
    for p in model.parameters():
        p.requires_grad_(False)
    prefix = torch.randn(2, 2, 2, 3, 8, requires_grad=True)
    soft_logits(model, torch.tensor([IDS]), ones(5), "prefix", prefix).sum().backward()
    assert prefix.grad is not None and prefix.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())


def test_insert_position_is_after_a_bos_token():
    class Tok:  # test double: a tokenizer whose BOS id is 1
        bos_token_id = 1

    assert insert_position(Tok(), [1, 5, 6]) == 1
    assert insert_position(Tok(), [5, 6]) == 0
