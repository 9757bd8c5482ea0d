"""The models weight-training rungs train: a LoRA-adapted copy or a full copy of the backend's model.

The backend's own model is never changed (it scores every validation, and its weights on
disk are the user's): training runs on a deep copy, and each checkpoint is saved in its own
ecosystem's format by :func:`promptlift.backends.torch_weights.save`, which the backend then
applies to a fresh copy for scoring.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

log = logging.getLogger(__name__)

# The attention and MLP projections of Llama-style models (SmolLM2): PEFT's usual LoRA targets.
LLAMA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class LoraSpec:
    """PEFT LoraConfig's settings (rank, alpha, dropout, the modules adapted)."""

    rank: int
    alpha: int
    dropout: float
    targets: tuple[str, ...]


def lora_model(base: Any, spec: LoraSpec, seed: int) -> tuple[Any, Any]:
    """(the PEFT model, the adapted transformers model inside it) on a copy of ``base``.

    Training runs on the inner model (PEFT injects the LoRA layers in place), so the packed
    forward of :class:`promptlift.training.packed.Trainer` sees the architecture it knows;
    the PEFT wrapper is kept to save the adapter in PEFT's format.
    """
    import torch
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=spec.rank, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                        target_modules=list(spec.targets), bias="none", task_type="CAUSAL_LM")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        peft_model = get_peft_model(copy.deepcopy(base), config)
    inner = peft_model.get_base_model()
    inner.train() if spec.dropout > 0 else inner.eval()
    return peft_model, inner


def full_model(base: Any) -> Any:
    """A copy of ``base`` with every weight trainable (dropout off: small models use none)."""
    model = copy.deepcopy(base).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return model


def save_lora(peft_model: Any, directory: Path) -> None:
    """PEFT's adapter format: ``adapter_config.json`` + ``adapter_model.safetensors`` (no model card)."""
    peft_model.save_pretrained(str(directory), safe_serialization=True)
    (directory / "README.md").unlink(missing_ok=True)  # a generated model card: not weights


def save_full(model: Any, tokenizer: Any, directory: Path) -> None:
    """A transformers model directory (safetensors) with the tokenizer: loads with ``from_pretrained``."""
    model.save_pretrained(str(directory), safe_serialization=True)
    tokenizer.save_pretrained(str(directory))


def lora_targets(model: Any, wanted: Sequence[str]) -> tuple[str, ...]:
    """The ``wanted`` module names the model has (a ConfigError-worthy empty tuple if none)."""
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    return tuple(t for t in wanted if t in names)
