"""Batched generation on a transformers causal LM, on top of a shared prefix KV cache.

Requests of a group share a :class:`~promptlift.backends.torch_prefix.Prefix`. Their
suffixes are sorted by length and batched; in a batch each row's suffix is left-padded, the
padding masked out, and position ids continue each row's own sequence, so a row sees the
same positions and tokens as it would alone. Decoding is greedy at temperature 0, otherwise
sampled from a generator seeded per request; the LM head runs on the last position only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from promptlift.backends.torch_prefix import Prefix, make_cache
from promptlift.softprompt.apply import cache_argument, decoder

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Job:
    """One generation: the suffix after the shared prefix and how to decode."""

    suffix: tuple[int, ...]
    max_tokens: int
    temperature: float
    stop: tuple[str, ...]
    seed: int


@dataclass
class Output:
    text: str
    tokens: int  # generated tokens, the end token included when one was produced


def generate_batch(model: Any, tokenizer: Any, prefix: Prefix, jobs: Sequence[Job], end_ids: set[int]) -> list[Output]:
    """Decode every job of one batch; see the module docstring."""
    import torch

    device, batch = model.device, len(jobs)
    width = max(len(j.suffix) for j in jobs)
    ids = torch.full((batch, width), _pad(tokenizer, end_ids), dtype=torch.long)
    real = torch.zeros((batch, width), dtype=torch.long)
    for row, job in enumerate(jobs):
        ids[row, width - len(job.suffix):] = torch.tensor(job.suffix)
        real[row, width - len(job.suffix):] = 1
    positions = (prefix.length + real.cumsum(1) - 1).clamp(min=prefix.length)
    mask = torch.cat([torch.ones((batch, prefix.length), dtype=torch.long), real], dim=1).to(device)
    cache = make_cache(prefix.kv, batch)
    generators = [_generator(job, device) for job in jobs]
    made: list[list[int]] = [[] for _ in jobs]
    done = [False] * batch
    step_ids, step_pos = ids.to(device), positions.to(device)
    for _ in range(max(j.max_tokens for j in jobs)):
        logits = _last_logits(model, step_ids, step_pos, mask, cache)
        nxt = [_choose(logits[r], jobs[r], generators[r]) for r in range(batch)]
        for r, token in enumerate(nxt):
            if not done[r]:
                made[r].append(token)
                done[r] = _finished(tokenizer, made[r], jobs[r], end_ids)
        if all(done):
            break
        step_ids = torch.tensor(nxt, device=device)[:, None]
        step_pos = step_pos[:, -1:] + 1
        mask = torch.cat([mask, torch.ones((batch, 1), dtype=mask.dtype, device=device)], dim=1)
    return [_output(tokenizer, tokens, job, end_ids) for tokens, job in zip(made, jobs)]


def _pad(tokenizer: Any, end_ids: set[int]) -> int:
    pad = getattr(tokenizer, "pad_token_id", None)
    return pad if pad is not None else min(end_ids) if end_ids else 0


def _generator(job: Job, device: Any) -> torch.Generator | None:
    import torch

    if job.temperature <= 0:
        return None
    generator = torch.Generator(device=device)
    generator.manual_seed(job.seed)
    return generator


def _last_logits(model: Any, ids: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor, cache: Any) -> torch.Tensor:
    stack = decoder(model)
    hidden = stack(input_ids=ids, position_ids=positions, attention_mask=mask, **cache_argument(stack, cache),
                     use_cache=True).last_hidden_state[:, -1]
    return model.get_output_embeddings()(hidden).float()


def _choose(logits: torch.Tensor, job: Job, generator: torch.Generator | None) -> int:
    import torch

    if job.temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / job.temperature, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))


def _finished(tokenizer: Any, tokens: list[int], job: Job, end_ids: set[int]) -> bool:
    if tokens[-1] in end_ids or len(tokens) >= job.max_tokens:
        return True
    if job.stop:
        text = tokenizer.decode(tokens, skip_special_tokens=True)
        return any(s in text for s in job.stop)
    return False


def _output(tokenizer: Any, tokens: list[int], job: Job, end_ids: set[int]) -> Output:
    body = tokens[:-1] if tokens and tokens[-1] in end_ids else tokens
    text = tokenizer.decode(body, skip_special_tokens=True)
    cut = min((text.find(s) for s in job.stop if s in text), default=-1)
    if cut >= 0:
        text = text[:cut]
    return Output(text=text.strip(), tokens=len(tokens))
