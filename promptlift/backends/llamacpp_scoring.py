"""Batched choice scoring on llama.cpp with shared-prefix KV reuse.

Optimizers score one prompt prefix (instruction + demos) over many examples. The scorer
keeps that prefix in KV sequence 0 across calls, copies it (a metadata operation in the
unified KV cache) into one sequence per request, and decodes every request's suffix in a
single batch with logits requested only where a choice token is predicted. Multi-token
choices get a second batch of sequences forked from their request's sequence.

A group's KV span (the prefix, every suffix and tail) is kept to ``group_tokens``: in the unified
KV cache every token attends over the whole span (other sequences masked, not skipped), so
packing unrelated long prompts costs attention in proportion to the span. Measured on the 2-core
machine (``benchmarks/llamacpp_grouping.py``): a 512-token span scores 1.2-1.4x faster than
groups filling the context.

It owns a llama.cpp context of its own (``n_seq_max`` sequences, unified KV), separate
from the context llama-cpp-python's ``Llama`` uses for generation; both share the weights.
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from promptlift.backends.base import common_prefix

log = logging.getLogger(__name__)

MIN_SUFFIX = 8
GROUP_TOKENS = 512  # one llama.cpp ubatch
GGML_TYPE_F32 = 0


@dataclass(frozen=True)
class ScoringItem:
    """One request to score: prompt tokens and each choice's tokens."""

    prompt: tuple[int, ...]
    choices: tuple[tuple[int, ...], ...]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - float(np.max(logits))
    return shifted - np.log(np.exp(shifted).sum())


class ChoiceScorer:
    """Scores choice continuations for many prompts at once; see the module docstring."""

    def __init__(self, llm, *, n_ctx: int = 8192, n_seq_max: int = 64, n_batch: int = 2048, n_threads: int = 1,  # noqa: ANN001
                 group_tokens: int | None = GROUP_TOKENS) -> None:
        import llama_cpp
        from llama_cpp import _internals

        params = llama_cpp.llama_context_default_params()
        params.n_ctx, params.n_batch, params.n_ubatch = n_ctx, n_batch, min(512, n_batch)
        params.n_seq_max, params.kv_unified = n_seq_max, True
        params.n_threads = params.n_threads_batch = n_threads
        params.no_perf = True
        # f32 KV cache, no flash attention: measured here, llama.cpp's CPU numerics then vary least
        # with how requests are batched (~0.05 nats instead of ~0.2 with f16 KV or flash attention)
        params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        params.type_k = params.type_v = GGML_TYPE_F32
        self._ctx = _internals.LlamaContext(model=llm._model, params=params, verbose=False)
        self._batch = _internals.LlamaBatch(n_tokens=n_batch, embd=0, n_seq_max=1, verbose=False)
        self.n_ctx, self.n_seq_max, self.n_batch = n_ctx, n_seq_max, n_batch
        self.group_tokens = group_tokens
        self.n_vocab = llm.n_vocab()
        self._prefix: tuple[int, ...] = ()  # tokens held in sequence 0
        self.decoded_tokens = 0  # tokens put into decode batches (benchmarks/scoring_rate.py)
        self.decodes = 0

    @property
    def group_tokens(self) -> int:
        return self._group_tokens

    @group_tokens.setter
    def group_tokens(self, tokens: int | None) -> None:
        """The most KV tokens a group may span; None: as many as the context holds."""
        self._group_tokens = min(tokens or self.n_ctx, self.n_ctx - 8)

    def score(self, items: Sequence[ScoringItem]) -> list[list[float]]:
        """Each item's choices' summed log-probabilities, in order."""
        out: list[list[float]] = [[] for _ in items]
        for group in self._groups(items):
            for index, logprobs in zip(group, self._score_group([items[i] for i in group])):
                out[index] = logprobs
        return out

    def _groups(self, items: Sequence[ScoringItem]) -> list[list[int]]:
        """Consecutive items (sorted by prompt) packed so each group fits ``group_tokens`` and the batch
        (an item longer than that is a group of its own)."""
        order = sorted(range(len(items)), key=lambda i: items[i].prompt)
        groups: list[list[int]] = []
        current: list[int] = []
        for index in order:
            trial = current + [index]
            if current and not self._fits([items[i] for i in trial]):
                groups.append(current)
                trial = [index]
            current = trial
        if current:
            groups.append(current)
        return groups

    def _fits(self, items: Sequence[ScoringItem]) -> bool:
        prefix = self._shared(items)
        suffix = sum(len(it.prompt) - prefix for it in items)
        tails = sum(len(c) - 1 for it in items for c in it.choices if len(c) > 1)
        seqs = sum(1 + sum(len(c) > 1 for c in it.choices) for it in items)
        return (
            seqs < self.n_seq_max
            and prefix + suffix + tails <= self.group_tokens
            and max(suffix, tails) <= self.n_batch
        )

    def _shared(self, items: Sequence[ScoringItem]) -> int:
        """The prefix decoded once. Every request keeps >= MIN_SUFFIX tokens of its own: llama.cpp
        uses other matmul kernels for 1-token batches, so a result would depend on grouping."""
        shortest = min(len(it.prompt) for it in items)
        return max(0, min(common_prefix([it.prompt for it in items]), shortest - MIN_SUFFIX))

    def _score_group(self, items: Sequence[ScoringItem]) -> list[list[float]]:
        prefix_len = self._shared(items)
        self._load_prefix(items[0].prompt[:prefix_len])
        first = self._decode_suffixes(items, prefix_len)
        results = [[float(first[i][c[0]]) for c in it.choices] for i, it in enumerate(items)]
        self._add_tails(items, results)
        for seq in range(1, self.n_seq_max):
            self._ctx.kv_cache_seq_rm(seq, -1, -1)
        return results

    def _load_prefix(self, prefix: Sequence[int]) -> None:
        """Make sequence 0 hold exactly ``prefix``, reusing what it already holds."""
        keep = common_prefix([self._prefix, prefix])
        self._ctx.kv_cache_seq_rm(0, keep, -1)
        rest = list(prefix[keep:])
        for start in range(0, len(rest), self.n_batch):
            part = rest[start : start + self.n_batch]
            self._fill([(t, keep + start + j, 0, False) for j, t in enumerate(part)])
            self._decode()
        self._prefix = tuple(prefix)

    def _decode_suffixes(self, items: Sequence[ScoringItem], prefix_len: int) -> list[np.ndarray]:
        """Fork sequence 0 into 1..n, decode each suffix, return log-probs after each prompt."""
        entries, last = [], []
        for i, item in enumerate(items):
            seq = i + 1
            self._ctx.kv_cache_seq_cp(0, seq, 0, prefix_len)
            suffix = item.prompt[prefix_len:]
            entries += [(t, prefix_len + j, seq, j == len(suffix) - 1) for j, t in enumerate(suffix)]
            last.append(len(entries) - 1)
        self._fill(entries)
        self._decode()
        return [log_softmax(self._logits(row)) for row in last]

    def _add_tails(self, items: Sequence[ScoringItem], results: list[list[float]]) -> None:
        """Add log-probs of the 2nd..last tokens of multi-token choices (one forked sequence each)."""
        entries, reads = [], []
        seq = len(items)
        for i, item in enumerate(items):
            for j, choice in enumerate(item.choices):
                if len(choice) < 2:
                    continue
                seq += 1
                self._ctx.kv_cache_seq_cp(i + 1, seq, 0, len(item.prompt))
                for k, token in enumerate(choice[:-1]):
                    entries.append((token, len(item.prompt) + k, seq, True))
                    reads.append((i, j, len(entries) - 1, choice[k + 1]))
        if not entries:
            return
        self._fill(entries)
        self._decode()
        for i, j, row, target in reads:
            results[i][j] += float(log_softmax(self._logits(row))[target])

    def _fill(self, entries: Sequence[tuple[int, int, int, bool]]) -> None:
        """Put (token, position, sequence, wants_logits) entries into the batch."""
        batch = self._batch.batch
        batch.n_tokens = len(entries)
        for j, (token, pos, seq, logits) in enumerate(entries):
            batch.token[j] = token
            batch.pos[j] = pos
            batch.n_seq_id[j] = 1
            batch.seq_id[j][0] = seq
            batch.logits[j] = logits

    def _decode(self) -> None:
        self._ctx.decode(self._batch)
        self.decoded_tokens += self._batch.batch.n_tokens
        self.decodes += 1

    def clear(self) -> None:
        """Forget every cached token (the next group decodes its prefix again)."""
        self._ctx.kv_cache_clear()
        self._prefix = ()

    def decode_plain(self, tokens: Sequence[int]) -> None:
        """Decode ``tokens`` (at most ``n_batch``) as one fresh sequence, logits for the last only:
        the engine's own prompt processing, which ``benchmarks/scoring_rate.py`` sets scoring against."""
        if not 0 < len(tokens) <= self.n_batch:
            raise ValueError(f"decode_plain takes 1 to {self.n_batch} tokens, got {len(tokens)}")
        self.clear()
        self._fill([(t, j, 0, j == len(tokens) - 1) for j, t in enumerate(tokens)])
        self._decode()
        self.clear()

    def _logits(self, row: int) -> np.ndarray:
        pointer = self._ctx.get_logits_ith(row)
        return np.ctypeslib.as_array(ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(self.n_vocab,))

    def close(self) -> None:
        self._batch.close()
        self._ctx.close()
