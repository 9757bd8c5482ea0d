"""SoftPromptTuning: gradient-trained virtual tokens (prompt tuning) or KV prefixes (prefix tuning).

The hard candidate (``initial``, e.g. another optimizer's best, else the task's seed) stays
as it is: instruction, demos and format are rendered as usual, and the learned soft prompt
is added in front of the rendered tokens. The model's weights are frozen; only the soft
parameters are trained, with AdamW on the training split. Every ``eval_every`` steps the
current soft prompt is saved (content-addressed safetensors in ``<run_dir>/soft_prompts``)
and the candidate carrying its path is scored with ``run.validate`` — through the same
backend, cache, budget and trial log as every other optimizer. ``run.best()`` therefore
keeps the best checkpoint; ``patience`` stops early when validation stops improving.

Budget: metric calls are validation evaluations only (as for every optimizer, one per
scored example). Each training example a step consumes is charged as one LM call plus its
prompt tokens (``run.charge``), so ``lm_calls``, ``tokens`` and ``seconds`` limits also
bound training. Training stops before it would run past a validation the metric-call
budget can no longer pay for.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, ClassVar

from promptlift.backends.base import Backend, GradientBackend, require
from promptlift.checks import is_int
from promptlift.errors import CapabilityError
from promptlift.optimizers.renames import renamed
from promptlift.optimizers.training import GradientTraining, parent_of, weights_dir
from promptlift.run import Run
from promptlift.softprompt.io import KINDS
from promptlift.training.loop import Loop
from promptlift.types import Candidate

log = logging.getLogger(__name__)

INITS = ("text", "vocab", "random")


@renamed(mode="kind")  # the file format's word (``metadata["kind"]``); ``mode`` warns for one release
@dataclasses.dataclass(frozen=True, kw_only=True)
class SoftPromptTuning(GradientTraining):
    """Prompt tuning (Lester et al. 2021) and prefix tuning (Li & Liang 2021) on a gradient backend.

    kind: "prompt" (n_tokens virtual input embeddings) or "prefix" (per-layer key/value prefixes),
    the ``kind`` the saved soft-prompt file records (``mode`` is its old name).
    n_tokens: number of virtual tokens. init: "text" (tokens of ``init_text``, default the
    instruction of the hard candidate), "vocab" (sampled vocabulary tokens) or "random".
    projection: prefix reparameterisation MLP width (None: none). The training settings
    (lr, steps, epochs, batch_size, eval_every, patience, initial, loss, ...) are
    :class:`~promptlift.optimizers.training.GradientTraining`'s.
    """

    name: ClassVar[str] = "soft_prompt"
    kind: str = "prompt"
    n_tokens: int = 16
    init: str = "text"
    init_text: str | None = None
    lr: float = 0.03
    projection: int | None = None

    def _check(self) -> None:
        super()._check()
        self.require("kind", self.kind in KINDS, f"one of {KINDS}")
        self.require("init", self.init in INITS, f"one of {INITS}")
        self.require_int("n_tokens", 1)
        ok = self.projection is None or (is_int(self.projection, 1) and self.kind == "prefix")
        self.require("projection", ok, "None, or an int >= 1 with kind='prefix'")

    def check_backend(self, backend: Backend) -> GradientBackend:
        """A gradient backend that also applies soft prompts."""
        gradient = super().check_backend(backend)
        require(backend, "soft_prompts", "SoftPromptTuning")
        return gradient

    # --- search ----------------------------------------------------------------------------
    def _search(self, run: Run) -> None:
        ready = self.ready(run)
        if ready is not None:
            _Session.start(self, run, *ready).train()

    def trainable_parameters(self, backend: GradientBackend) -> int:
        """Parameters trained on ``backend``'s model: n x hidden (prompt), n x 2 x layers x kv_dim (prefix),
        plus the reparameterisation MLP (n x hidden embeddings and two linear layers) with ``projection``."""
        from promptlift.softprompt.apply import ModelDims

        dims = ModelDims.of(backend.model)
        n, kv = self.n_tokens, 2 * dims.layers * dims.n_kv_heads * dims.head_dim
        if self.kind == "prompt":
            return n * dims.hidden
        if not self.projection:
            return n * kv
        p = self.projection
        return n * dims.hidden + (dims.hidden * p + p) + (p * kv + kv)


def soft_prompt_dir(run: Run) -> Path:
    """Where a run's soft-prompt files go: ``<run_dir>/soft_prompts``, else the cache directory."""
    return weights_dir(run, "soft_prompts")


class _Session:
    """The state of one training run (kept off the frozen optimizer)."""

    def __init__(self, spec: SoftPromptTuning, run: Run, backend: GradientBackend, hard: Candidate, trainer: Any,
                 data: list) -> None:
        self.spec, self.run, self.backend, self.hard = spec, run, backend, hard
        self.trainer, self.data = trainer, data
        self.table: Any = None  # the vocabulary table nearest() compares with, computed once
        self.parent = parent_of(run, hard)

    @classmethod
    def start(cls, spec: SoftPromptTuning, run: Run, backend: GradientBackend, hard: Candidate) -> _Session:
        import torch

        from promptlift.softprompt.apply import ModelDims, insert_position
        from promptlift.training.packed import Trainer, encode_examples, frozen
        from promptlift.training.soft_params import SoftParameters, init_token_ids

        model, tokenizer = backend.model, backend.tokenizer
        frozen(model)
        data = encode_examples(backend, run.task, hard, run.task.train)
        dims = ModelDims.of(model)
        generator = torch.Generator().manual_seed(run.rng.getrandbits(63))
        text = spec.init_text if spec.init_text is not None else hard.instruction
        ids = init_token_ids(spec.init, spec.n_tokens, text, tokenizer, dims.vocab, generator)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
            params = SoftParameters(spec.kind, dims, spec.n_tokens, spec.projection)
        params.initialise(model, ids, generator)
        params.to(model.get_input_embeddings().weight.device)
        trainer = Trainer(
            model, params, at=insert_position(tokenizer, data[0].prompt),
            choice_loss=spec.choice_loss(run), lr=spec.lr, weight_decay=spec.weight_decay,
            grad_clip=spec.grad_clip, autocast=spec.autocast,
        )
        log.info("soft prompt (%s): %d trainable parameters, %d in the saved tensor",
                 spec.kind, params.trainable_parameters(), params.saved_parameters())
        return cls(spec, run, backend, hard, trainer, data)

    def train(self) -> None:
        spec = self.spec
        Loop(self.run, self.trainer, self.data, spec.schedule(len(self.data)), checkpoint=self.candidate, info=self.info,
             parent=self.parent, stage="soft_prompt").train()

    def info(self) -> dict[str, Any]:
        """What a soft-prompt trial records beside the loop's figures."""
        params = self.trainer.params
        return {"kind": self.spec.kind, "n_tokens": self.spec.n_tokens,
                "trainable_parameters": params.trainable_parameters(),
                "soft_prompt_parameters": params.saved_parameters(), "nearest": self.nearest()}

    def candidate(self) -> Candidate:
        from promptlift.softprompt.io import save_content_addressed

        params = self.trainer.params
        with _no_grad():
            tensor = params.tensor().detach().float().cpu()
        dims = params.dims
        metadata = {
            "kind": self.spec.kind, "model_id": self.backend.id, "n_tokens": self.spec.n_tokens,
            "init": self.spec.init, "hidden": dims.hidden, "layers": dims.layers,
        }
        path = save_content_addressed(soft_prompt_dir(self.run), {params.tensor_name: tensor}, metadata)
        return self.hard.with_(soft_prompt=str(path.resolve()), calibration=())

    def nearest(self) -> list[str]:
        """The nearest vocabulary token of each virtual token (for the trial log)."""
        from promptlift.training.nearest import nearest_tokens, vocabulary_table

        params = self.trainer.params
        try:
            if self.table is None:
                self.table = vocabulary_table(self.backend.model, params.kind)
            with _no_grad():
                rows = nearest_tokens(self.backend.model, self.backend.tokenizer, params.kind,
                                      params.tensor().detach(), k=1, table=self.table)
        except CapabilityError:
            return []
        return [row[0][0] for row in rows]


def _no_grad() -> Any:
    import torch

    return torch.no_grad()
