"""The gradient step of soft-prompt tuning: encode examples once, then AdamW on a frozen model.

Loss. For a classification task each choice's log-probability is the sum of its tokens'
log-probabilities after the prompt (exactly what the torch backend scores), and the loss is
the cross-entropy of the correct choice under a softmax over the choices (``choice_loss``);
otherwise, and for a generation task, the teacher-forced cross-entropy of the correct tokens
over the whole vocabulary (mean per token; for a classification task that is HF PEFT's loss).

Speed. A batch is computed the way the torch backend scores: the soft prompt and the tokens
every prompt of the batch shares (chat template, instruction, demos) appear once, and the
rows' remaining tokens are packed after them into one sequence with a tree-shaped attention
mask (no padding; a row sees the shared part and itself), so the LM head runs only where a
choice token is read. It is all one decoder pass: on a GPU, where a model this small is bound
by kernel launches, a second pass for the shared part would cost as much as the first.
Gradients flow through all of it to the soft parameters.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import torch

from promptlift.backends.base import GradientBackend
from promptlift.softprompt.apply import cache_argument, decoder
from promptlift.training.soft_params import SoftParameters
from promptlift.types import Candidate, Example

if TYPE_CHECKING:
    from promptlift.tasks.base import Task

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


def encode_examples(backend: GradientBackend, task: Task, candidate: Candidate,
                    examples: Sequence[Example]) -> list[Encoded]:
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
    """AdamW on the soft parameters (the model frozen and only read), or, with ``params=None``,
    on the model's own trainable weights (LoRA adapters, full fine-tuning: the training rungs
    of :mod:`promptlift.training`), with the same batches, packing and losses."""

    def __init__(self, model: Any, params: SoftParameters | None, *, at: int, choice_loss: bool,
                 lr: float, weight_decay: float, grad_clip: float | None, autocast: bool) -> None:
        self.model, self.params, self.at = model, params, at
        self.choice_loss, self.grad_clip = choice_loss, grad_clip
        self.device = model.get_input_embeddings().weight.device
        self.autocast = autocast and self.device.type == "cuda"
        owner = params if params is not None else model
        self.trainable = [p for p in owner.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.trainable, lr=lr, weight_decay=weight_decay)

    def _context(self) -> Any:
        """bf16 autocast (if on) and the attention kernels for tree masks; backward runs the same kernels."""
        from promptlift.backends.torch_scoring import masked_attention

        stack = contextlib.ExitStack()
        stack.enter_context(masked_attention(self.device))
        if self.autocast:
            stack.enter_context(torch.autocast("cuda", dtype=torch.bfloat16))
        return stack

    def step(self, batch: Sequence[Encoded]) -> float:
        """One AdamW step on ``batch``; returns the loss."""
        self.optimizer.zero_grad(set_to_none=True)
        with self._context():
            loss = self.loss(batch)
        loss.backward()
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.trainable, self.grad_clip)
        self.optimizer.step()
        return float(loss.detach())

    def loss(self, batch: Sequence[Encoded]) -> torch.Tensor:
        """CE over choices of the summed choice log-probs (classification); otherwise the token-mean
        NLL of the correct choice's tokens (the generation target, or the label under "likelihood")."""
        picked, owner = self._token_logprobs(batch)
        width = len(batch[0].choices)
        labels = torch.tensor([e.label for e in batch], device=self.device)
        if not self.choice_loss:
            return -picked[owner % width == labels[owner // width]].mean()
        sums = torch.zeros(len(batch) * width, device=self.device).index_add(0, owner, picked)
        return torch.nn.functional.cross_entropy(sums.view(len(batch), width), labels)

    def choice_logprobs(self, batch: Sequence[Encoded]) -> torch.Tensor:
        """[B, C]: each choice's summed token log-probabilities after the prompt (what scoring ranks)."""
        picked, owner = self._token_logprobs(batch)
        width = len(batch[0].choices)
        return torch.zeros(len(batch) * width, device=self.device).index_add(0, owner, picked).view(len(batch), width)

    def _token_logprobs(self, batch: Sequence[Encoded]) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability of every choice token, and its ``example * n_choices + choice`` index.

        One decoder pass: the shared tokens (after the soft prompt) and the packed rows run
        together under :func:`rooted_mask`; a soft prompt of kind "prefix" is the pass's KV cache.
        """
        from promptlift.backends.torch_scoring import Item, pack, shared_length

        at = self.at if self.params is not None and self.params.kind == "prompt" else 0
        items = [Item(tuple(e.prompt[at:]), e.choices) for e in batch]
        shared = shared_length(items)
        head, common = list(batch[0].prompt[:at]), list(items[0].prompt[:shared])
        embeds, cache, cached = self._soft_inputs(head)
        before = embeds.shape[0] + len(common)  # the pass's tokens before the packed rows
        length = cached + before  # positions taken before the packed rows
        packed = pack(items, shared, length)  # the scorer's packing: what trains is what is scored
        tensor = lambda values: torch.tensor(values, dtype=torch.long, device=self.device)  # noqa: E731
        embed = self.model.get_input_embeddings()
        inputs = torch.cat([embeds, embed(tensor(common + packed.tokens))])[None]
        positions = tensor(list(range(cached, length)) + packed.positions)[None]
        mask = rooted_mask(tensor(packed.owner), tensor(packed.branch), cached, before)
        stack = decoder(self.model)
        hidden = stack(
            inputs_embeds=inputs, position_ids=positions, attention_mask=mask, **cache_argument(stack, cache),
            use_cache=cache is not None,
        ).last_hidden_state[0]
        width = len(batch[0].choices)
        reads = tensor([(index, target, item * width + choice) for item, choice, index, target in packed.reads])
        logits = self.model.get_output_embeddings()(hidden[before + reads[:, 0]]).float()  # reads: [R, 3]
        picked = torch.log_softmax(logits, dim=-1).gather(1, reads[:, 1:2]).squeeze(1)
        return picked, reads[:, 2]

    def _soft_inputs(self, head: Sequence[int]) -> tuple[torch.Tensor, Any, int]:
        """What comes before the shared tokens: ([head tokens + soft prompt] embeddings, no cache, 0)
        for kind "prompt"; (no embeddings, the soft prefix as a KV cache, its length) for kind "prefix"."""
        from promptlift.softprompt.apply import prefix_cache

        embed = self.model.get_input_embeddings()
        if self.params is None:  # weight training: no soft prompt, nothing before the shared tokens
            return embed(torch.tensor(list(head), dtype=torch.long, device=self.device)), None, 0
        tensor = self.params.tensor()
        if self.params.kind == "prompt":
            ids = torch.tensor(list(head), dtype=torch.long, device=self.device)
            return torch.cat([embed(ids), tensor.to(embed.weight.dtype)]), None, 0
        dtype = torch.get_autocast_dtype("cuda") if self.autocast else embed.weight.dtype
        empty = torch.zeros(0, embed.weight.shape[1], dtype=embed.weight.dtype, device=self.device)
        return empty, prefix_cache(tensor, 1, dtype), tensor.shape[3]


def rooted_mask(owner: torch.Tensor, branch: torch.Tensor, cached: int, before: int) -> torch.Tensor:
    """[1, 1, before + T, cached + before + T] bool for one pass of ``before`` tokens and T packed ones.

    Every token sees the ``cached`` positions (a prefix soft prompt); the ``before`` tokens
    (head, soft prompt, shared tokens) are causal among themselves; a packed token sees all of
    them and, inside the pack, what :func:`~promptlift.backends.torch_scoring.tree_mask` allows
    (its own row and branch).
    """
    from promptlift.backends.torch_scoring import tree_mask

    packed = tree_mask(owner, branch, cached + before)[0, 0]  # [T, cached + before + T]
    index = torch.arange(before, device=owner.device)
    causal = torch.cat([torch.ones(before, cached, dtype=torch.bool, device=owner.device),
                        index[None, :] <= index[:, None],
                        torch.zeros(before, owner.shape[0], dtype=torch.bool, device=owner.device)], dim=1)
    return torch.cat([causal, packed])[None, None]
