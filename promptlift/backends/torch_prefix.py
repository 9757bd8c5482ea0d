"""Shared-prefix KV caches for the torch backend.

Optimizers score one prompt prefix (instruction + demos) over many examples. A
:class:`PrefixStore` computes that prefix's keys and values once and keeps the few most
recent ones across calls, so the next chunk of the same candidate starts from the stored
prefix (cropped to the part it shares, then extended with what is new).

A prefix grows from a :class:`Root`: the part of the sequence that is not plain prompt tokens.
Without a soft prompt the root is empty. A ``prompt`` soft prompt's root is the prompt's
first ``at`` tokens (a BOS token, if any) followed by the virtual-token embeddings; a
``prefix`` soft prompt's root is its key/value tensors themselves. Positions then continue
after the root, exactly as :func:`promptlift.softprompt.apply.soft_hidden` runs them in
training, so scores and gradients see the same model.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from promptlift.backends.base import common_prefix
from promptlift.softprompt.apply import cache_argument, decoder

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

KV = list  # list[tuple[torch.Tensor, torch.Tensor]]: per layer keys and values [1, kv_heads, n, head_dim]


@dataclass(frozen=True)
class SoftPrompt:
    """A loaded soft prompt: ``kind`` "prompt" or "prefix", its tensor on the model's device."""

    key: str
    kind: str
    tensor: Any  # torch.Tensor

    @property
    def n_tokens(self) -> int:
        return int(self.tensor.shape[0] if self.kind == "prompt" else self.tensor.shape[3])


@dataclass
class Root:
    """Where every prefix of a group starts: soft-prompt state and the prompt tokens it consumed."""

    key: tuple
    head: tuple[int, ...]  # prompt tokens consumed by the root (a BOS before soft embeddings)
    kv: KV = field(default_factory=list)
    length: int = 0  # positions the root occupies


@dataclass
class Prefix:
    """A computed prefix: the root plus ``tokens``; ``length`` positions in all."""

    root_key: tuple
    tokens: tuple[int, ...]
    kv: KV
    length: int


def cluster(prompts: Sequence[Sequence[int]], overhead: int = 32) -> list[list[int]]:
    """Indices of ``prompts`` sorted and split into groups worth sharing one prefix.

    Walking the prompts in sorted order, the next prompt joins the current group unless that
    would shrink the group's common prefix so much that recomputing the lost tokens in every
    member costs more than computing a new prefix (plus ``overhead`` tokens for a forward).
    """
    order = sorted(range(len(prompts)), key=lambda i: tuple(prompts[i]))
    groups: list[list[int]] = []
    shared = 0
    for i in order:
        if groups:
            joined = min(shared, common_prefix([prompts[groups[-1][-1]], prompts[i]]))
            if len(groups[-1]) * (shared - joined) <= joined + overhead:
                groups[-1].append(i)
                shared = joined
                continue
        groups.append([i])
        shared = len(prompts[i])
    return groups


def make_cache(kv: KV, batch: int = 1) -> Any:
    """A fresh DynamicCache holding ``kv`` (expanded to ``batch`` rows); never mutates ``kv``."""
    from transformers import DynamicCache

    if not kv:
        return DynamicCache()
    if batch > 1:
        kv = [(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in kv]
    return DynamicCache(ddp_cache_data=kv)


def cache_kv(cache: Any) -> KV:
    return [(layer.keys, layer.values) for layer in cache.layers]


def crop(kv: KV, length: int) -> KV:
    return [(k[:, :, :length], v[:, :, :length]) for k, v in kv]


def extend(model: Any, kv: KV, start: int, tokens: Sequence[int] = (), embeds: Any = None) -> KV:
    """``kv`` followed by ``tokens`` (or input ``embeds`` [n, hidden]) at positions ``start``..."""
    import torch

    n = len(tokens) if embeds is None else int(embeds.shape[0])
    if n == 0:
        return kv
    device = model.device
    positions = torch.arange(start, start + n, device=device)[None]
    cache = make_cache(kv)
    inputs = {"inputs_embeds": embeds[None]} if embeds is not None else {
        "input_ids": torch.tensor([list(tokens)], device=device)}
    stack = decoder(model)
    stack(**inputs, position_ids=positions, **cache_argument(stack, cache), use_cache=True)
    return cache_kv(cache)


def make_root(model: Any, soft: SoftPrompt | None, head: Sequence[int]) -> Root:
    """The root for a soft prompt (``head``: prompt tokens before the virtual tokens)."""
    import torch

    if soft is None:
        return Root(key=("",), head=())
    if soft.kind == "prefix":
        dtype = model.get_input_embeddings().weight.dtype
        prefix = soft.tensor.to(dtype)
        kv = [(prefix[i, 0][None], prefix[i, 1][None]) for i in range(prefix.shape[0])]
        return Root(key=(soft.key,), head=(), kv=kv, length=soft.n_tokens)
    embed = model.get_input_embeddings()
    head_ids = torch.tensor(list(head), dtype=torch.long, device=model.device)
    embeds = torch.cat([embed(head_ids), soft.tensor.to(embed.weight.dtype)], dim=0)
    kv = extend(model, [], 0, embeds=embeds)
    return Root(key=(soft.key, tuple(head)), head=tuple(head), kv=kv, length=len(head) + soft.n_tokens)


class PrefixStore:
    """The ``capacity`` most recently used prefixes (and roots), reused across calls."""

    def __init__(self, model: Any, capacity: int = 4) -> None:
        self.model = model
        self.capacity = capacity
        self._prefixes: OrderedDict[tuple, Prefix] = OrderedDict()
        self._roots: OrderedDict[tuple, Root] = OrderedDict()
        self.prefix_tokens = 0  # tokens run through the model to build prefixes (tests, benchmarks)
        self.packed_tokens = 0  # tokens run after a prefix: suffixes and choice branches

    def clear(self) -> None:
        self._prefixes.clear()
        self._roots.clear()

    def root(self, soft: SoftPrompt | None, head: Sequence[int]) -> Root:
        key = ("",) if soft is None else (soft.key,) if soft.kind == "prefix" else (soft.key, tuple(head))
        if key not in self._roots:
            self._roots[key] = make_root(self.model, soft, head)
            self._trim(self._roots)
        self._roots.move_to_end(key)
        return self._roots[key]

    def prefix(self, root: Root, tokens: Sequence[int]) -> Prefix:
        """The KV of ``root`` + ``tokens``, reusing the stored prefix that shares the most."""
        tokens = tuple(tokens)
        best, shared = None, 0
        for entry in self._prefixes.values():
            if entry.root_key == root.key:
                n = common_prefix([entry.tokens, tokens])
                if n > shared or best is None:
                    best, shared = entry, n
        if best is not None and shared == len(best.tokens) == len(tokens):
            self._prefixes.move_to_end((root.key, tokens))
            return best
        base = crop(best.kv, root.length + shared) if best is not None and shared else root.kv
        shared = shared if best is not None else 0
        kv = extend(self.model, base, root.length + shared, tokens[shared:])
        self.prefix_tokens += len(tokens) - shared
        made = Prefix(root_key=root.key, tokens=tokens, kv=kv, length=root.length + len(tokens))
        self._prefixes[(root.key, tokens)] = made
        self._trim(self._prefixes)
        return made

    def _trim(self, entries: OrderedDict) -> None:
        while len(entries) > self.capacity:
            entries.popitem(last=False)
