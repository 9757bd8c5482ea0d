"""The trainable part of a soft prompt, and how it is initialised.

``prompt``: ``n_tokens x hidden`` virtual-token embeddings.
``prefix``: per-layer key/value prefixes, ``layers x 2 x kv_heads x n_tokens x head_dim``
(= n_tokens x 2 x layers x kv_dim, where kv_dim = hidden for models without grouped-query
attention). With ``projection`` the prefix is reparameterised as in Li & Liang (2021) and HF
PEFT: ``n_tokens x hidden`` embeddings -> Linear(hidden, projection) -> tanh ->
Linear(projection, layers x 2 x kv_dim); only the resulting prefix is saved.

Initialisation (``init``): ``text`` repeats/truncates the tokens of a text (the instruction)
to n_tokens, like PEFT's TEXT init; ``vocab`` samples n_tokens vocabulary tokens; ``random``
draws prompt embeddings from a normal distribution with the mean and std of the real
embedding table, and prefix keys/values from N(0, 1) (HF PEFT's PrefixTuning init).
For the prefix mode without projection, ``text`` and ``vocab`` use the *keys and values the
model computes for those tokens*, so training starts exactly where the hard text prefix is.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from promptlift.errors import ConfigError
from promptlift.softprompt.apply import ModelDims, decoder

log = logging.getLogger(__name__)

INITS = ("text", "vocab", "random")


def init_token_ids(init: str, n_tokens: int, text: str, tokenizer: Any, vocab: int,
                   generator: torch.Generator) -> torch.Tensor | None:
    """The token ids an init starts from ([n_tokens]), or None for ``random``."""
    if init == "random":
        return None
    if init == "text":
        ids = list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text.strip() else []
        if not ids:
            log.warning("init='text' has no text to start from; sampling vocabulary tokens instead")
        else:
            reps = -(-n_tokens // len(ids))
            return torch.tensor((ids * reps)[:n_tokens], dtype=torch.long)
    return torch.randint(0, vocab, (n_tokens,), generator=generator)


def _token_kv(model: Any, ids: torch.Tensor) -> torch.Tensor:
    """The keys and values the model computes for ``ids``: [layers, 2, kv, n, hd]."""
    stack = decoder(model)
    device = model.get_input_embeddings().weight.device
    with torch.no_grad():
        cache = stack(input_ids=ids.unsqueeze(0).to(device), use_cache=True).past_key_values
        layers = [cache.layers[i] for i in range(len(cache.layers))] if hasattr(cache, "layers") else None
        if layers is not None:
            pairs = [(layer.keys[0], layer.values[0]) for layer in layers]
        else:  # pragma: no cover - legacy tuple caches
            pairs = [(k[0], v[0]) for k, v in cache]
    return torch.stack([torch.stack(pair) for pair in pairs]).float()


class SoftParameters(torch.nn.Module):
    """Holds the trainable tensors; ``tensor()`` gives what is applied and saved."""

    def __init__(self, kind: str, dims: ModelDims, n_tokens: int, projection: int | None = None) -> None:
        super().__init__()
        self.kind, self.dims, self.n_tokens, self.projection = kind, dims, n_tokens, projection
        kv_dim = dims.n_kv_heads * dims.head_dim
        if kind == "prompt" or projection:
            self.embeddings = torch.nn.Parameter(torch.zeros(n_tokens, dims.hidden))
        if kind == "prefix" and projection:
            self.mlp = torch.nn.Sequential(
                torch.nn.Linear(dims.hidden, projection), torch.nn.Tanh(),
                torch.nn.Linear(projection, dims.layers * 2 * kv_dim),
            )
        elif kind == "prefix":
            self.prefix = torch.nn.Parameter(torch.zeros(dims.prefix_shape(n_tokens)))
        if kind not in ("prompt", "prefix"):
            raise ConfigError(f"soft-prompt kind must be 'prompt' or 'prefix'. Got {kind!r}.")

    @property
    def tensor_name(self) -> str:
        return "embeddings" if self.kind == "prompt" else "prefix"

    def tensor(self) -> torch.Tensor:
        """prompt: [n, hidden]; prefix: [layers, 2, kv_heads, n, head_dim]."""
        if self.kind == "prompt":
            return self.embeddings
        if not self.projection:
            return self.prefix
        d = self.dims
        flat = self.mlp(self.embeddings)  # [n, layers * 2 * kv * hd]
        return flat.view(self.n_tokens, d.layers, 2, d.n_kv_heads, d.head_dim).permute(1, 2, 3, 0, 4)

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def saved_parameters(self) -> int:
        """Numbers in the saved tensor: n x hidden (prompt) or n x 2 x layers x kv_dim (prefix)."""
        return int(torch.Size(self.tensor().shape).numel())

    @torch.no_grad()
    def initialise(self, model: Any, ids: torch.Tensor | None, generator: torch.Generator) -> None:
        """Fill the parameters from token ids (text/vocab init) or at random."""
        table = model.get_input_embeddings().weight.detach().float().cpu()
        if self.kind == "prompt" or self.projection:
            if ids is None:
                noise = torch.randn(self.n_tokens, self.dims.hidden, generator=generator)
                self.embeddings.copy_(noise * table.std() + table.mean())
            else:
                self.embeddings.copy_(table[ids])
            return
        if ids is None:  # N(0, 1), as HF PEFT's PrefixEncoder (an nn.Embedding) starts
            self.prefix.copy_(torch.randn(self.dims.prefix_shape(self.n_tokens), generator=generator))
        else:
            self.prefix.copy_(_token_kv(model, ids).cpu())
