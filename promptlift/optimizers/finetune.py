"""LoRA and FineTuning: the weight-training rungs (the model itself learns the task).

Both train a copy of the torch backend's model on the training split, rendered under the
hard candidate (the task's seed unless ``initial`` says otherwise), with the losses soft
prompts use (choice cross-entropy for classification, teacher-forced cross-entropy on the
target for generation) and the same packed one-pass forward. Every ``eval_every`` steps the
trained weights are saved beside the run and the candidate carrying their path is validated
through ``Run`` (see :mod:`promptlift.training.loop`); the best validation is the result.

- ``LoRA`` saves PEFT adapters (``<run_dir>/lora/lora-<hash>``: ``adapter_config.json`` +
  ``adapter_model.safetensors``) that plain transformers + PEFT load as they are.
- ``FineTuning`` trains every weight and keeps only the best checkpoint on disk
  (``<run_dir>/finetune/finetune-<hash>``, a transformers model directory: ~540 MB for the
  135M model in float32), deleting the others as validation moves on.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

from promptlift.backends import torch_weights
from promptlift.backends.base import GradientBackend
from promptlift.checks import is_int, is_number
from promptlift.optimizers.training import GradientTraining, parent_of, weights_dir
from promptlift.run import Run
from promptlift.training import weights as models
from promptlift.training.loop import Loop
from promptlift.types import Candidate, Example

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class LoRA(GradientTraining):
    """Low-rank adapters (Hu et al. 2021) with HF PEFT.

    rank, alpha, dropout: LoraConfig's ``r``, ``lora_alpha``, ``lora_dropout``. targets: the
    module names adapted (default: every attention and MLP projection of a Llama-style model).
    The training settings are :class:`~promptlift.optimizers.training.GradientTraining`'s.
    """

    name: ClassVar[str] = "lora"
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.0
    targets: tuple[str, ...] = models.LLAMA_TARGETS
    lr: float = 2e-3

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", tuple(self.targets) if isinstance(self.targets, (list, tuple)) else self.targets)
        super().__post_init__()

    def _check(self) -> None:
        super()._check()
        self.require_int("rank", 1)
        self.require("alpha", is_int(self.alpha, 1), "an int > 0")
        self.require("dropout", is_number(self.dropout) and 0 <= self.dropout < 1, "a float in [0, 1)")
        self.require("targets", isinstance(self.targets, tuple) and bool(self.targets)
                     and all(isinstance(t, str) for t in self.targets), "a non-empty list of module names")

    def _search(self, run: Run) -> None:
        ready = self.ready(run)
        if ready is not None:
            self.train(run, *ready, run.task.train)

    def train(self, run: Run, backend: GradientBackend, hard: Candidate, examples: Sequence[Example],
              stage: str | None = None) -> None:
        """Train a fresh adapter on ``examples`` under ``hard`` and validate its checkpoints."""
        targets = models.lora_targets(backend.model, self.targets)
        self.require("targets", bool(targets), f"module names of this model (none of {list(self.targets)} found)")
        spec = models.LoraSpec(self.rank, self.alpha, float(self.dropout), targets)
        peft_model, model = models.lora_model(backend.model, spec, seed=run.rng.getrandbits(62))
        train_weights(self, run, backend, hard, examples, model, "lora",
                      lambda d: models.save_lora(peft_model, d), stage=stage or self.name)


@dataclasses.dataclass(frozen=True, kw_only=True)
class FineTuning(GradientTraining):
    """Full fine-tuning: every weight of (a copy of) the model, early stopping on validation.

    The training settings are :class:`~promptlift.optimizers.training.GradientTraining`'s;
    the default learning rate suits a 135M model with AdamW.
    """

    name: ClassVar[str] = "finetune"
    lr: float = 2e-5

    def _search(self, run: Run) -> None:
        ready = self.ready(run)
        if ready is None:
            return
        backend, hard = ready
        model = models.full_model(backend.model)
        keep = _BestOnly(run)
        try:
            train_weights(self, run, backend, hard, run.task.train, model, "finetune",
                          lambda d: models.save_full(model, backend.tokenizer, d), on_save=keep.saved)
        finally:  # also when the budget ends the loop
            keep.prune()


def train_weights(spec: GradientTraining, run: Run, backend: GradientBackend, hard: Candidate, examples: Sequence[Example],
                  model: Any, kind: str, write: Callable[[Path], None], *, stage: str | None = None,
                  on_save: Callable[[Path], None] | None = None) -> None:
    """The loop for a model whose own (trainable) weights learn: save with ``write``, validate, repeat."""
    from promptlift.training.packed import Trainer, encode_examples

    data = encode_examples(backend, run.task, hard, examples)
    trainer = Trainer(model, None, at=0, choice_loss=spec.choice_loss(run), lr=spec.lr,
                      weight_decay=spec.weight_decay, grad_clip=spec.grad_clip, autocast=spec.autocast)
    log.info("%s: %d trainable parameters, %d training examples", kind,
             sum(p.numel() for p in trainer.trainable), len(data))

    def checkpoint() -> Candidate:
        path = torch_weights.save(weights_dir(run, kind), kind, backend.id, write)
        if on_save is not None:
            on_save(path)
        return hard.with_(weights=str(path.resolve()), calibration=())

    Loop(run, trainer, data, spec.schedule(len(data)), checkpoint=checkpoint, parent=parent_of(run, hard),
         stage=stage or spec.name).train()


class _BestOnly:
    """Deletes saved checkpoints that are not the run's best (full models are large)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.paths: list[Path] = []

    def saved(self, path: Path) -> None:
        self.prune()
        self.paths.append(path)

    def prune(self) -> None:
        best = self.run.best().candidate.weights
        for path in list(self.paths):
            if best is None or str(path.resolve()) != best:
                shutil.rmtree(path, ignore_errors=True)
                self.paths.remove(path)
