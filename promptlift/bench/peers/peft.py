"""The HF PEFT peer: prompt tuning and prefix tuning as a PEFT user writes them.

A fresh copy of the torch backend's model is wrapped by PEFT (PEFT patches the model it wraps,
so the backend's own weights stay as they were) and trained by the plain loop: shuffled
right-padded batches of prompt + label tokens, the model's own causal-LM loss on the label
tokens, AdamW, gradient clipping. The tokens are the backend's own (``encode``: chat template
and the seed instruction), the same promptlift's rungs train on. Accuracy is the choice with
the higher log-probability (single-token choices). Seconds per step are the median wall time
of one optimizer step (forward, backward, clipping, AdamW).

peft, torch and transformers are imported only when a PEFT cell runs.
"""

from __future__ import annotations

import logging
import random
import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from promptlift.backends.base import GradientBackend
from promptlift.backends.torch import TorchBackend
from promptlift.bench.peers.common import Meter, settings
from promptlift.errors import CapabilityError

if TYPE_CHECKING:
    from pathlib import Path

    from promptlift.bench.config import Cell
    from promptlift.tasks.base import Task
    from promptlift.training.packed import Encoded
    from promptlift.types import Example

log = logging.getLogger(__name__)
MODES = {"prompt": "PromptTuning", "prefix": "PrefixTuning"}


@dataclass(frozen=True)
class PEFTSettings:
    """Virtual tokens, their init (prompt tuning only: PEFT's PrefixTuning starts at random), and
    the training loop's learning rate, steps and batch size."""

    n_tokens: int = 8
    init: str = "text"
    lr: float = 0.03
    steps: int = 20
    batch_size: int = 8


SETTINGS = PEFTSettings


def cell(mode: str, task: Task, backend: Meter, cell: Cell, run_dir: Path) -> dict[str, Any]:
    """A sweep cell's partial row: PEFT never calls the model through promptlift's metric."""
    if not isinstance(backend.base, TorchBackend):
        raise CapabilityError(f"peft:{MODES[mode]} trains the model in process: it needs a torch backend, "
                              f"not {backend.id}", backend=backend.id)
    row = run(task, backend.base, settings(PEFTSettings, cell), mode, cell.seed)
    return {**row, "search_seconds": row.pop("seconds"), "metric_calls": None, "lm_calls": None}


def run(task: Task, backend: TorchBackend, config: Any, mode: str, seed: int) -> dict[str, Any]:
    """Train PEFT's ``mode`` on the training split; val and test accuracy, step times, trainable count.

    ``config`` has the ``PEFTSettings`` fields (the comparison script passes its arguments)."""
    from promptlift.training.packed import encode_examples

    started = time.perf_counter()
    data = encode_examples(backend, task, task.seed, task.train)
    model = peft_model(backend, task, config, mode, seed)
    params = [p for p in model.parameters() if p.requires_grad]
    times, loss = plain_training(model, params, data, backend, config, seed)
    val, test = accuracy(model, backend, task, task.val), accuracy(model, backend, task, task.test)
    init = config.init if mode == "prompt" else "random"
    row = {"method": f"HF PEFT {MODES[mode]} (init={init})", "family": "training", "seed": seed, "mode": mode,
           "impl": "peft", "val": val, "test": test, "seconds_per_step": statistics.median(times),
           "seconds": time.perf_counter() - started, "trainable": sum(p.numel() for p in params), "train_loss": loss}
    log.info("peft: %s", row)
    return row


def peft_model(backend: TorchBackend, task: Task, config: Any, mode: str, seed: int) -> Any:
    """A fresh copy of the backend's model, wrapped by PEFT for ``mode``."""
    import torch
    from peft import PrefixTuningConfig, PromptTuningConfig, PromptTuningInit, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    if mode == "prompt":
        init = {"text": PromptTuningInit.TEXT, "vocab": PromptTuningInit.SAMPLE_VOCAB, "random": PromptTuningInit.RANDOM}
        peft_config: Any = PromptTuningConfig(
            task_type="CAUSAL_LM", num_virtual_tokens=config.n_tokens, prompt_tuning_init=init[config.init],
            prompt_tuning_init_text=task.seed.instruction, tokenizer_name_or_path=str(backend.path))
    else:
        peft_config = PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=config.n_tokens,
                                         prefix_projection=False)
    base: Any = AutoModelForCausalLM.from_pretrained(str(backend.path), dtype=backend.dtype, attn_implementation="sdpa")
    return get_peft_model(base.to(backend.device), peft_config)


def batch_inputs(batch: list[Encoded], pad: int, device: Any = "cpu") -> dict[str, Any]:
    """Right-padded prompt + label tokens on ``device``; the loss is on the label tokens only (-100 elsewhere)."""
    import torch

    seqs = [list(e.prompt) + list(e.choices[e.label]) for e in batch]
    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), pad)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for row, (e, seq) in enumerate(zip(batch, seqs)):
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
        labels[row, len(e.prompt) : len(seq)] = torch.tensor(e.choices[e.label])
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}


def plain_training(model: Any, params: list, data: list[Encoded], backend: TorchBackend, config: Any,
                   seed: int) -> tuple[list[float], float]:
    """The loop a PEFT user writes: shuffled padded batches, the model's own loss, AdamW, clipping.
    Returns each step's seconds (forward, backward, clipping, AdamW) and the last loss."""
    import torch

    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    pad = _pad_id(backend)
    rng, times, loss = random.Random(seed), [], float("nan")
    order: list[int] = []
    model.train()  # PEFT's usual setting; SmolLM2 has no dropout, so train() and eval() compute the same
    for _ in range(config.steps):
        if len(order) < config.batch_size:
            order += rng.sample(range(len(data)), len(data))
        batch, order = [data[i] for i in order[: config.batch_size]], order[config.batch_size :]
        inputs = batch_inputs(batch, pad, backend.device)
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out = model(**inputs)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        times.append(time.perf_counter() - t)
        loss = float(out.loss.detach())
    model.eval()
    return times, loss


def accuracy(model: Any, backend: TorchBackend, task: Task, examples: Sequence[Example], batch_size: int = 16) -> float:
    """Accuracy of the PEFT model: the choice with the higher log-probability (single-token choices)."""
    import torch

    from promptlift.training.packed import encode_examples

    encoded = encode_examples(backend, task, task.seed, examples)
    if any(len(c) != 1 for e in encoded for c in e.choices):
        raise CapabilityError("the PEFT peer scores single-token choices only", backend=backend.id)
    pad = _pad_id(backend)
    right = 0
    with torch.inference_mode():
        for start in range(0, len(encoded), batch_size):
            part = encoded[start : start + batch_size]
            width = max(len(e.prompt) for e in part)
            ids = torch.full((len(part), width), pad)
            mask = torch.zeros_like(ids)
            for row, e in enumerate(part):
                ids[row, : len(e.prompt)] = torch.tensor(e.prompt)
                mask[row, : len(e.prompt)] = 1
            logits = model(input_ids=ids.to(backend.device),  # the last ``width`` positions: no virtual tokens
                           attention_mask=mask.to(backend.device)).logits[:, -width:]
            for row, e in enumerate(part):
                last = logits[row, len(e.prompt) - 1]
                best = max(range(len(e.choices)), key=lambda j: float(last[e.choices[j][0]]))
                right += best == e.label
    return right / len(encoded)


def _pad_id(backend: GradientBackend) -> int:
    pad = backend.tokenizer.pad_token_id
    return pad if pad is not None else 0
