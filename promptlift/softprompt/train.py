"""The gradient step of soft-prompt tuning: encode examples once, then AdamW on a frozen model.

Loss. For a classification task each choice's log-probability is the sum of its tokens'
log-probabilities after the prompt (exactly what the torch backend scores), and the loss is
the cross-entropy of the correct choice under a softmax over the choices. When every choice
is one token this needs only the last prompt position's logits for those tokens. For a
generation task the loss is teacher-forced cross-entropy on the target's tokens (mean per token).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, replace
from typing import Any, Iterator, Sequence

import torch

from promptlift.softprompt.apply import right_pad, soft_hidden
from promptlift.softprompt.params import SoftParameters

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Encoded:
    """One training example as token ids: the prompt, each choice (or the target), the answer index."""

    prompt: tuple[int, ...]
    choices: tuple[tuple[int, ...], ...]
    label: int

    @property
    def tokens(self) -> int:
        return len(self.prompt) + sum(len(c) for c in self.choices)


def encode_examples(backend: Any, task: Any, candidate: Any, examples: Sequence[Any]) -> list[Encoded]:
    """Token ids of ``examples`` rendered under ``candidate`` with the backend's own ``encode``."""
    out = []
    for example in examples:
        request = task.render(candidate.with_(soft_prompt=None), example)
        if task.choices:
            label = task.choices.index(example.output)
        else:
            target = (" " if request.prompt is not None else "") + example.output
            request, label = replace(request, choices=(target,)), 0
        prompt, choices = backend.encode(request)
        out.append(Encoded(tuple(prompt), tuple(tuple(c) for c in choices), label))
    return out


def frozen(model: Any) -> None:
    """Freeze every model weight (requires_grad False) and switch off dropout."""
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)


def batches(items: Sequence[Encoded], size: int, rng: Any) -> Iterator[list[Encoded]]:
    """Endless shuffled mini-batches (a fresh permutation every epoch, from the run's seeded rng)."""
    while True:
        order = list(range(len(items)))
        rng.shuffle(order)
        for start in range(0, len(order), size):
            yield [items[i] for i in order[start : start + size]]


class Trainer:
    """AdamW on the soft parameters; the model is frozen and only read."""

    def __init__(self, model: Any, params: SoftParameters, *, at: int, pad_id: int, classification: bool,
                 lr: float, weight_decay: float, grad_clip: float | None, autocast: bool) -> None:
        self.model, self.params, self.at, self.pad_id = model, params, at, pad_id
        self.classification, self.grad_clip = classification, grad_clip
        self.device = model.get_input_embeddings().weight.device
        self.autocast = autocast and self.device.type == "cuda"
        self.optimizer = torch.optim.AdamW(params.parameters(), lr=lr, weight_decay=weight_decay)

    def _context(self) -> Any:
        if self.autocast:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def step(self, batch: Sequence[Encoded]) -> float:
        """One AdamW step on ``batch``; returns the loss."""
        self.optimizer.zero_grad(set_to_none=True)
        with self._context():
            loss = self.loss(batch)
        loss.backward()
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.params.parameters(), self.grad_clip)
        self.optimizer.step()
        return float(loss.detach())

    def loss(self, batch: Sequence[Encoded]) -> torch.Tensor:
        if self.classification and all(len(c) == 1 for e in batch for c in e.choices):
            return self._single_token_loss(batch)
        return self._sequence_loss(batch)

    def _hidden(self, sequences: Sequence[Sequence[int]]) -> torch.Tensor:
        ids, mask = right_pad(sequences, self.pad_id, self.device)
        return soft_hidden(self.model, ids, mask, self.params.kind, self.params.tensor(), self.at)

    def _single_token_loss(self, batch: Sequence[Encoded]) -> torch.Tensor:
        hidden = self._hidden([e.prompt for e in batch])
        last = torch.tensor([len(e.prompt) - 1 for e in batch], device=self.device)
        h = hidden[torch.arange(len(batch), device=self.device), last]  # [B, H]
        ids = torch.tensor([[c[0] for c in e.choices] for e in batch], device=self.device)  # [B, C]
        head = self.model.get_output_embeddings()
        weight = head.weight[ids]  # [B, C, H]
        logits = torch.einsum("bh,bch->bc", h.to(weight.dtype), weight)
        if getattr(head, "bias", None) is not None:
            logits = logits + head.bias[ids]
        labels = torch.tensor([e.label for e in batch], device=self.device)
        return torch.nn.functional.cross_entropy(logits.float(), labels)

    def choice_logprobs(self, batch: Sequence[Encoded]) -> torch.Tensor:
        """[B, C]: each choice's summed token log-probabilities after the prompt (what scoring ranks)."""
        picked, owner, rows = self._token_logprobs(batch)
        sums = torch.zeros(rows, device=self.device).index_add(0, owner, picked)
        return sums.view(len(batch), -1)

    def _token_logprobs(self, batch: Sequence[Encoded]) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Log-probability of every choice token, and the (example, choice) row it belongs to."""
        rows, positions, targets, owner = [], [], [], []
        for e in batch:
            for choice in e.choices:
                row = len(rows)
                rows.append(e.prompt + choice[:-1])
                for j, token in enumerate(choice):
                    positions.append((row, len(e.prompt) - 1 + j))
                    targets.append(token)
                    owner.append(row)
        hidden = self._hidden(rows)
        index = torch.tensor(positions, device=self.device)
        h = hidden[index[:, 0], index[:, 1]]  # [P, H]
        logprobs = torch.log_softmax(self.model.get_output_embeddings()(h).float(), dim=-1)
        picked = logprobs.gather(1, torch.tensor(targets, device=self.device).unsqueeze(1)).squeeze(1)
        return picked, torch.tensor(owner, device=self.device), len(rows)

    def _sequence_loss(self, batch: Sequence[Encoded]) -> torch.Tensor:
        """CE over choices of the summed choice log-probs; for generation, token-mean NLL of the target."""
        if not self.classification:
            return -self._token_logprobs(batch)[0].mean()
        labels = torch.tensor([e.label for e in batch], device=self.device)
        return torch.nn.functional.cross_entropy(self.choice_logprobs(batch), labels)
