"""Running a transformers causal LM with a soft prompt: one code path for training and scoring.

``soft_hidden`` returns the final hidden states of the *real* tokens only (the virtual tokens'
positions are cut out again), so callers index logits exactly as they would without a soft
prompt. Batches are right-padded (``attention_mask`` 1 for real tokens, 0 for trailing pads):
position ids then run 0..T-1 (plus the soft tokens) for every row, as in unpadded calls.

kind ``prompt``: ``embeddings`` [n, hidden] are spliced into ``inputs_embeds`` at position
``at`` (1 after a BOS token, else 0). kind ``prefix``: ``prefix`` [layers, 2, kv_heads, n,
head_dim] becomes ``past_key_values`` (keys are used as given, without rotary embedding, like
HF PEFT's prefix tuning); the query positions start at n.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ModelDims:
    """The sizes a soft prompt must fit."""

    hidden: int
    layers: int
    n_kv_heads: int
    head_dim: int
    vocab: int

    @classmethod
    def of(cls, model: Any) -> ModelDims:
        config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
        heads = config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        return cls(
            hidden=config.hidden_size,
            layers=config.num_hidden_layers,
            n_kv_heads=getattr(config, "num_key_value_heads", None) or heads,
            head_dim=head_dim,
            vocab=config.vocab_size,
        )

    def prefix_shape(self, n_tokens: int) -> tuple[int, int, int, int, int]:
        return (self.layers, 2, self.n_kv_heads, n_tokens, self.head_dim)


def insert_position(tokenizer: Any, prompt_ids: Sequence[int]) -> int:
    """Where virtual tokens go: after a leading BOS token, else at the start."""
    bos = getattr(tokenizer, "bos_token_id", None)
    return 1 if bos is not None and len(prompt_ids) > 0 and prompt_ids[0] == bos else 0


def right_pad(sequences: Sequence[Sequence[int]], pad_id: int, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)`` of right-padded sequences."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(list(seq), dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids.to(device), mask.to(device)


def prefix_cache(prefix: torch.Tensor, batch: int, dtype: Any = None) -> Any:
    """A DynamicCache holding ``prefix`` [layers, 2, kv, n, hd] for each of ``batch`` rows (differentiable)."""
    from transformers import DynamicCache

    if dtype is not None:
        prefix = prefix.to(dtype)
    layers = [
        (prefix[i, 0].unsqueeze(0).expand(batch, -1, -1, -1), prefix[i, 1].unsqueeze(0).expand(batch, -1, -1, -1))
        for i in range(prefix.shape[0])
    ]
    return DynamicCache(ddp_cache_data=layers)


def decoder(model: Any) -> Any:
    """The transformer stack under a causal LM's head (``model.model`` for Llama), found the way
    transformers names it (``base_model_prefix``), so any architecture works."""
    return getattr(model, model.base_model_prefix)


def cache_argument(stack: Any, cache: Any) -> dict[str, Any]:
    """The keyword that passes a KV cache to ``stack.forward``: ``cache`` since transformers 5.x
    renamed it (the old ``past_key_values`` warns there on every call), ``past_key_values`` before."""
    keyword = "cache" if "cache" in inspect.signature(stack.forward).parameters else "past_key_values"
    return {keyword: cache}


def _compute_dtype(model: Any, device_type: str) -> Any:
    import torch

    if torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return model.get_input_embeddings().weight.dtype


def soft_hidden(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    kind: str | None = None,
    tensor: torch.Tensor | None = None,
    at: int = 0,
) -> torch.Tensor:
    """Final hidden states [B, T, hidden] of the real tokens, with an optional soft prompt applied."""
    import torch

    stack = decoder(model)
    if kind is None or tensor is None:
        return stack(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
    batch, n = input_ids.shape[0], (tensor.shape[0] if kind == "prompt" else tensor.shape[3])
    ones = torch.ones((batch, n), dtype=attention_mask.dtype, device=attention_mask.device)
    if kind == "prompt":
        embeds = model.get_input_embeddings()(input_ids)
        soft = tensor.to(embeds.dtype).unsqueeze(0).expand(batch, -1, -1)
        embeds = torch.cat([embeds[:, :at], soft, embeds[:, at:]], dim=1)
        mask = torch.cat([attention_mask[:, :at], ones, attention_mask[:, at:]], dim=1)
        hidden = stack(inputs_embeds=embeds, attention_mask=mask, use_cache=False).last_hidden_state
        return torch.cat([hidden[:, :at], hidden[:, at + n :]], dim=1)
    if kind == "prefix":
        cache = prefix_cache(tensor, batch, _compute_dtype(model, input_ids.device.type))
        mask = torch.cat([ones, attention_mask], dim=1)
        out = stack(input_ids=input_ids, attention_mask=mask, **cache_argument(stack, cache), use_cache=True)
        return out.last_hidden_state
    raise ValueError(f"unknown soft-prompt kind {kind!r}")


def soft_logits(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, kind: str | None = None,
                tensor: torch.Tensor | None = None, at: int = 0) -> torch.Tensor:
    """Logits [B, T, vocab] of the real tokens (see ``soft_hidden``)."""
    return model.get_output_embeddings()(soft_hidden(model, input_ids, attention_mask, kind, tensor, at))
