"""Choice scoring on a transformers causal LM: shared prefix once, suffixes packed, logits sparse.

For a group of requests that share a root (the same soft prompt, or none) the scorer

1. computes the prompts' longest common prefix once (:class:`PrefixStore`, reused across calls);
2. packs every request's remaining suffix, plus one short branch per multi-token choice (its
   tokens but the last), into one sequence with a tree-shaped attention mask: a suffix sees the
   prefix and itself; a branch sees the prefix, its request's suffix and itself. Packing
   leaves no padding, and position ids continue each request's own sequence;
3. runs the LM head only at the positions that predict a choice token, and sums each choice's
   token log-probabilities.

:func:`reference_logprobs` is the naive path (one full forward per choice) the tests and
benchmarks compare against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from promptlift.backends.torch_prefix import PrefixStore, Root, common_prefix, make_cache
from promptlift.softprompt.apply import cache_argument, decoder

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Item:
    """One request to score: prompt tokens after the root's head, and each choice's tokens."""

    prompt: tuple[int, ...]
    choices: tuple[tuple[int, ...], ...]


@dataclass
class Packed:
    """One packed chunk: tokens, their positions, the tree mask, and where to read log-probs."""

    tokens: list[int]
    positions: list[int]
    owner: list[int]  # which item of the chunk each token belongs to
    branch: list[int]  # -1 for suffix tokens, else a branch number unique in the chunk
    reads: list[tuple[int, int, int, int]]  # (item, choice, packed index, target token)


def shared_length(items: Sequence[Item]) -> int:
    """Tokens computed once for the group; every item keeps at least one token of its own."""
    shortest = min(len(it.prompt) for it in items)
    return max(0, min(common_prefix([it.prompt for it in items]), shortest - 1))


def score_group(model: Any, store: PrefixStore, root: Root, items: Sequence[Item], *,
                chunk_tokens: int = 512) -> list[list[float]]:
    """Each item's choices' summed log-probabilities, in order."""
    shared = shared_length(items)
    prefix = store.prefix(root, items[0].prompt[:shared])
    out: list[list[float]] = [[0.0] * len(it.choices) for it in items]
    for chunk in _chunks(items, shared, chunk_tokens):
        packed = pack([items[i] for i in chunk], shared, prefix.length)
        values = _run(model, prefix.kv, prefix.length, packed)
        store.packed_tokens += len(packed.tokens)
        for (item, choice, _, _), value in zip(packed.reads, values):
            out[chunk[item]][choice] += value
    return out


def _size(item: Item, shared: int) -> int:
    return len(item.prompt) - shared + sum(len(c) - 1 for c in item.choices if len(c) > 1)


def _chunks(items: Sequence[Item], shared: int, limit: int) -> list[list[int]]:
    """Consecutive items whose packed size stays under ``limit`` tokens (one item at least)."""
    chunks: list[list[int]] = []
    size = 0
    for i, item in enumerate(items):
        n = _size(item, shared)
        if chunks and size + n <= limit:
            chunks[-1].append(i)
            size += n
        else:
            chunks.append([i])
            size = n
    return chunks


def pack(items: Sequence[Item], shared: int, start: int) -> Packed:
    """Every item's suffix after ``shared`` tokens, and one branch per distinct multi-token choice head,
    in one sequence whose positions continue from ``start`` (scoring and training both pack this way)."""
    packed = Packed([], [], [], [], [])
    branches = 0
    for i, item in enumerate(items):
        suffix = item.prompt[shared:]
        base = len(packed.tokens)
        _append(packed, suffix, start, i, -1)
        last = base + len(suffix) - 1
        seen: dict[tuple[int, ...], int] = {}
        for j, choice in enumerate(item.choices):
            if not choice:
                continue
            packed.reads.append((i, j, last, choice[0]))
            if len(choice) < 2:
                continue
            head = tuple(choice[:-1])
            if head not in seen:
                seen[head] = len(packed.tokens)
                _append(packed, head, start + len(suffix), i, branches)
                branches += 1
            at = seen[head]
            packed.reads.extend((i, j, at + k, choice[k + 1]) for k in range(len(choice) - 1))
    return packed


def _append(packed: Packed, tokens: Sequence[int], start: int, owner: int, branch: int) -> None:
    packed.tokens.extend(tokens)
    packed.positions.extend(range(start, start + len(tokens)))
    packed.owner.extend([owner] * len(tokens))
    packed.branch.extend([branch] * len(tokens))


def masked_attention(device: Any) -> Any:
    """A context choosing attention kernels for explicit masks: on CUDA, not cuDNN's.

    Tree masks change shape with every batch; cuDNN attention builds an execution plan for
    each new shape, which made a soft-prompt step on an H100 2.4x slower (291 vs 120 ms) and
    scoring 1.3x slower (benchmarks/results/h100.md). Memory-efficient, flash and math
    attention need no plan. On a CPU it changes nothing.
    """
    import contextlib

    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    if torch.device(device).type != "cuda":  # a torch.device or a string such as "cuda:1"
        return contextlib.nullcontext()

    return sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.MATH])


def tree_mask(owner: torch.Tensor, branch: torch.Tensor, prefix_length: int) -> torch.Tensor:
    """[1, 1, T, prefix + T] bool: True where a packed token may attend (see the module docstring)."""
    import torch

    n = owner.shape[0]
    index = torch.arange(n, device=owner.device)
    causal = index[None, :] <= index[:, None]
    same = owner[None, :] == owner[:, None]
    visible = (branch[None, :] == -1) | (branch[None, :] == branch[:, None])
    inner = causal & same & visible
    outer = torch.ones((n, prefix_length), dtype=torch.bool, device=owner.device)
    return torch.cat([outer, inner], dim=1)[None, None]


def _run(model: Any, kv: list, prefix_length: int, packed: Packed) -> list[float]:
    """Log-probabilities of every read of one packed chunk."""
    import torch

    device = model.device
    tokens = torch.tensor([packed.tokens], device=device)
    positions = torch.tensor([packed.positions], device=device)
    owner = torch.tensor(packed.owner, device=device)
    branch = torch.tensor(packed.branch, device=device)
    mask = tree_mask(owner, branch, prefix_length)
    stack = decoder(model)
    hidden = stack(input_ids=tokens, position_ids=positions, attention_mask=mask,
                     **cache_argument(stack, make_cache(kv)), use_cache=True).last_hidden_state[0]
    rows = sorted({at for _, _, at, _ in packed.reads})
    where = {at: r for r, at in enumerate(rows)}
    logits = model.get_output_embeddings()(hidden[torch.tensor(rows, device=device)]).float()
    logprobs = torch.log_softmax(logits, dim=-1)
    picks = torch.tensor([[where[at], target] for _, _, at, target in packed.reads], device=device)
    return logprobs[picks[:, 0], picks[:, 1]].tolist()


def reference_logprobs(model: Any, prompt: Sequence[int], choices: Sequence[Sequence[int]], soft: Any = None,
                       at: int = 0) -> list[float]:
    """The naive path: one full forward over prompt + choice for each choice, full logits.

    ``soft`` is an optional :class:`~promptlift.backends.torch_prefix.SoftPrompt`, applied
    with :func:`promptlift.softprompt.apply.soft_logits` (the training code path).
    """
    import torch

    from promptlift.softprompt.apply import soft_logits

    out = []
    for choice in choices:
        ids = torch.tensor([list(prompt) + list(choice)], device=model.device)
        mask = torch.ones_like(ids)
        if soft is None:
            logits = model(input_ids=ids, attention_mask=mask).logits[0]
        else:
            logits = soft_logits(model, ids, mask, soft.kind, soft.tensor, at)[0]
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        n = len(prompt)
        out.append(sum(float(logprobs[n - 1 + k, t]) for k, t in enumerate(choice)))
    return out
