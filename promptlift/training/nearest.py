"""Inspection: the vocabulary tokens nearest to each virtual token (cosine similarity).

For kind ``prompt`` a virtual token is compared with the input embedding table. For kind
``prefix`` there is no embedding, so each virtual token's layer-0 *value* vector is compared
with the layer-0 values of every vocabulary token (v = W_v · norm(embedding): values carry no
position, so this is exact for a token seen at any position).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptlift.backends.base import GradientBackend
from promptlift.errors import CapabilityError
from promptlift.softprompt.apply import decoder


def _value_table(model: Any) -> Any:
    import torch

    stack = decoder(model)
    try:
        layer = stack.layers[0]
        norm, v_proj = layer.input_layernorm, layer.self_attn.v_proj
    except AttributeError as exc:
        raise CapabilityError(f"nearest tokens of a prefix need a Llama-style model; {type(model).__name__} is not") from exc
    with torch.no_grad():
        return v_proj(norm(model.get_input_embeddings().weight)).float()  # [V, kv*hd]


def vocabulary_table(model: Any, kind: str) -> Any:
    """[vocab, dim] unit vectors a virtual token is compared with (embeddings, or layer-0 values)."""
    import torch

    with torch.no_grad():
        table = model.get_input_embeddings().weight.float() if kind == "prompt" else _value_table(model)
        return torch.nn.functional.normalize(table, dim=-1)


def nearest_token_ids(table: Any, kind: str, tensor: Any, k: int = 5) -> tuple[Any, Any]:
    """``(ids, similarities)`` [n_tokens, k] of the nearest rows of ``table`` to each virtual token."""
    import torch

    with torch.no_grad():
        if kind == "prompt":
            queries = tensor.float()
        else:
            values = tensor[0, 1].float()  # layer 0, values: [kv, n, hd]
            queries = values.permute(1, 0, 2).reshape(values.shape[1], -1)
        queries = torch.nn.functional.normalize(queries.to(table.device), dim=-1)
        best = (queries @ table.T).topk(k, dim=-1)
    return best.indices.cpu(), best.values.cpu()


def nearest_tokens(model: Any, tokenizer: Any, kind: str, tensor: Any, k: int = 5, *,
                   table: Any = None) -> list[list[tuple[str, float]]]:
    """For each virtual token, its ``k`` nearest vocabulary tokens as ``(token text, cosine)``."""
    table = vocabulary_table(model, kind) if table is None else table
    ids, sims = nearest_token_ids(table, kind, tensor, k)
    return [
        [(tokenizer.decode([int(i)]), round(float(s), 4)) for i, s in zip(row_ids, row_sims)]
        for row_ids, row_sims in zip(ids, sims)
    ]


def inspect_soft_prompt(path: str | Path, backend: GradientBackend, k: int = 5) -> list[list[tuple[str, float]]]:
    """Nearest vocabulary tokens of each virtual token in a saved soft prompt, on a torch backend."""
    from promptlift.softprompt.io import load_soft_prompt

    tensors, metadata = load_soft_prompt(path, model_id=backend.id)
    kind = metadata["kind"]
    tensor = tensors["embeddings" if kind == "prompt" else "prefix"]
    return nearest_tokens(backend.model, backend.tokenizer, kind, tensor, k)
