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
prompt tokens (``run.ledger``), so ``lm_calls``, ``tokens`` and ``seconds`` limits also
bound training. Training stops before it would run past a validation the metric-call
budget can no longer pay for.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import statistics
import time
from pathlib import Path
from typing import Any, ClassVar

from promptlift.backends.base import require
from promptlift.cache import default_cache_dir
from promptlift.errors import CapabilityError, ConfigError
from promptlift.optimizers.base import Optimizer
from promptlift.run import Run
from promptlift.types import Candidate, Usage

log = logging.getLogger(__name__)

MODES = ("prompt", "prefix")
LOSSES = ("choices", "likelihood")
INITS = ("text", "vocab", "random")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SoftPromptTuning(Optimizer):
    """Prompt tuning (Lester et al. 2021) and prefix tuning (Li & Liang 2021) on a gradient backend.

    mode: "prompt" (n_tokens virtual input embeddings) or "prefix" (per-layer key/value prefixes).
    n_tokens: number of virtual tokens. init: "text" (tokens of ``init_text``, default the
    instruction of the hard candidate), "vocab" (sampled vocabulary tokens) or "random".
    lr, weight_decay, grad_clip: AdamW settings (grad_clip None: no clipping).
    steps or epochs: training length (epochs, if set, overrides steps). batch_size: examples per step.
    eval_every: steps between validations. patience: validations without improvement before
    stopping (None: never stop early). projection: prefix reparameterisation MLP width (None: none).
    initial: the hard candidate to compose with (None: the task's seed); a Candidate, its JSON dict,
    or the path of a JSON file holding one (e.g. another run's ``best_candidate.json``).
    autocast: bf16 autocast on CUDA.
    loss (classification tasks): "choices", cross-entropy over the task's choices (their summed
    token log-probabilities, what scoring ranks), or "likelihood", the negative log-likelihood
    of the correct choice's tokens over the whole vocabulary (HF PEFT's causal-LM loss).
    """

    name: ClassVar[str] = "soft_prompt"
    mode: str = "prompt"
    n_tokens: int = 16
    init: str = "text"
    init_text: str | None = None
    lr: float = 0.03
    steps: int = 100
    epochs: float | None = None
    batch_size: int = 8
    weight_decay: float = 0.0
    grad_clip: float | None = 1.0
    eval_every: int = 25
    patience: int | None = 3
    projection: int | None = None
    initial: Candidate | None = None
    autocast: bool = True
    loss: str = "choices"

    def __post_init__(self) -> None:
        if isinstance(self.initial, (dict, str, Path)):  # the string boundary: JSON or a best_candidate.json path
            object.__setattr__(self, "initial", _candidate_from(self.initial))
        super().__post_init__()

    def _check(self) -> None:
        self.require("mode", self.mode in MODES, f"one of {MODES}")
        self.require("init", self.init in INITS, f"one of {INITS}")
        self.require("loss", self.loss in LOSSES, f"one of {LOSSES}")
        for name in ("n_tokens", "steps", "batch_size", "eval_every"):
            value = getattr(self, name)
            self.require(name, isinstance(value, int) and not isinstance(value, bool) and value >= 1, "an int >= 1")
        self.require("lr", isinstance(self.lr, (int, float)) and self.lr > 0, "a float > 0")
        self.require("weight_decay", isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0, "a float >= 0")
        self.require("grad_clip", self.grad_clip is None or self.grad_clip > 0, "None or a float > 0")
        self.require("epochs", self.epochs is None or self.epochs > 0, "None or a float > 0")
        self.require("patience", self.patience is None or (isinstance(self.patience, int) and self.patience >= 1), "None or an int >= 1")
        ok = self.projection is None or (isinstance(self.projection, int) and self.projection >= 1 and self.mode == "prefix")
        self.require("projection", ok, "None, or an int >= 1 with mode='prefix'")
        self.require("initial", self.initial is None or isinstance(self.initial, Candidate),
                     "None, a Candidate, its JSON dict or a JSON file with one")

    def config(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["initial"] = self.initial.to_dict() if self.initial is not None else None
        return {"optimizer": self.name, **data}

    def optimize(self, task: Any, backend: Any, **kwargs: Any) -> Any:
        """As ``Optimizer.optimize``, after checking up front that ``backend`` can train soft prompts."""
        check_backend(backend)
        return super().optimize(task, backend, **kwargs)

    # --- search ----------------------------------------------------------------------------
    def _search(self, run: Run) -> None:
        backend = check_backend(getattr(run.backend, "inner", run.backend))
        hard = self._hard_candidate(run)
        if not run.task.train:
            raise ConfigError(f"SoftPromptTuning needs training examples; task {run.task.name!r} has none")
        if not self._can_validate(run):
            log.warning("no metric-call budget left to validate a soft prompt; nothing trained")
            return
        session = _Session.start(self, run, backend, hard)
        session.train()

    def _hard_candidate(self, run: Run) -> Candidate:
        """The hard candidate the soft prompt is added to; validated alone first if new."""
        hard = (self.initial or run.task.seed).with_(soft_prompt=None)
        if getattr(hard, "reasoning", False):
            raise ConfigError("SoftPromptTuning trains the answer directly; its hard candidate cannot ask for "
                              "reasoning first (reasoning=True): pass a candidate with reasoning=False")
        if hard != run.task.seed:
            run.validate(hard, info={"role": "initial"})
        return hard

    def trainable_parameters(self, backend: Any) -> int:
        """Parameters trained on ``backend``'s model: n x hidden (prompt), n x 2 x layers x kv_dim (prefix),
        plus the reparameterisation MLP (n x hidden embeddings and two linear layers) with ``projection``."""
        from promptlift.softprompt.apply import ModelDims

        dims = ModelDims.of(backend.model)
        n, kv = self.n_tokens, 2 * dims.layers * dims.n_kv_heads * dims.head_dim
        if self.mode == "prompt":
            return n * dims.hidden
        if not self.projection:
            return n * kv
        p = self.projection
        return n * dims.hidden + (dims.hidden * p + p) + (p * kv + kv)

    def total_steps(self, n_train: int) -> int:
        if self.epochs is not None:
            return max(1, math.ceil(self.epochs * n_train / self.batch_size))
        return self.steps

    def _can_validate(self, run: Run) -> bool:
        remaining = run.remaining_metric_calls()
        return remaining is None or remaining >= len(run.task.val)


def _candidate_from(value: Any) -> Any:
    """A Candidate from its JSON dict or from a JSON file (``best_candidate.json``); else ``value`` unchanged."""
    import json

    data = value
    if isinstance(value, (str, Path)):
        try:
            data = json.loads(Path(value).read_text())
        except (OSError, ValueError):
            return value  # _check names the parameter
    if isinstance(data, dict):
        data = data.get("candidate", data)
        try:
            return Candidate.from_dict(data)
        except (KeyError, TypeError, ValueError):
            return value
    return value


def check_backend(backend: Any) -> Any:
    """Raise CapabilityError unless ``backend`` offers gradients (a torch model) and applies soft prompts."""
    require(backend, "gradients", "SoftPromptTuning")
    require(backend, "soft_prompts", "SoftPromptTuning")
    missing = [a for a in ("model", "tokenizer", "encode") if not hasattr(backend, a)]
    if missing:
        raise CapabilityError(
            f"SoftPromptTuning needs a gradient backend exposing model, tokenizer and encode(); "
            f"{backend.id} lacks {', '.join(missing)}",
            backend=backend.id,
        )
    return backend


def soft_prompt_dir(run: Run) -> Path:
    """Where a run's soft-prompt files go: ``<run_dir>/soft_prompts``, else the cache directory."""
    return (run.log.dir if run.log else default_cache_dir()) / "soft_prompts"


class _Session:
    """The state of one training run (kept off the frozen optimizer)."""

    def __init__(self, spec: SoftPromptTuning, run: Run, backend: Any, hard: Candidate, trainer: Any, data: list) -> None:
        self.spec, self.run, self.backend, self.hard = spec, run, backend, hard
        self.trainer, self.data = trainer, data
        self.best = max((t.mean for t in run.val_trials()), default=0.0)
        self.stale = 0
        self.step_seconds: list[float] = []
        self.table: Any = None  # the vocabulary table nearest() compares with, computed once
        self.parent = next((t.number for t in reversed(run.val_trials()) if t.candidate == hard), None)

    @classmethod
    def start(cls, spec: SoftPromptTuning, run: Run, backend: Any, hard: Candidate) -> _Session:
        import torch

        from promptlift.softprompt.apply import ModelDims, insert_position
        from promptlift.softprompt.params import SoftParameters, init_token_ids
        from promptlift.softprompt.train import Trainer, encode_examples, frozen

        model, tokenizer = backend.model, backend.tokenizer
        frozen(model)
        data = encode_examples(backend, run.task, hard, run.task.train)
        dims = ModelDims.of(model)
        generator = torch.Generator().manual_seed(run.rng.getrandbits(63))
        text = spec.init_text if spec.init_text is not None else hard.instruction
        ids = init_token_ids(spec.init, spec.n_tokens, text, tokenizer, dims.vocab, generator)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
            params = SoftParameters(spec.mode, dims, spec.n_tokens, spec.projection)
        params.initialise(model, ids, generator)
        params.to(model.get_input_embeddings().weight.device)
        trainer = Trainer(
            model, params, at=insert_position(tokenizer, data[0].prompt),
            choice_loss=bool(run.task.choices) and spec.loss == "choices", lr=spec.lr, weight_decay=spec.weight_decay,
            grad_clip=spec.grad_clip, autocast=spec.autocast,
        )
        log.info("soft prompt (%s): %d trainable parameters, %d in the saved tensor",
                 spec.mode, params.trainable_parameters(), params.saved_parameters())
        return cls(spec, run, backend, hard, trainer, data)

    def train(self) -> None:
        from promptlift.softprompt.train import batches

        total = self.spec.total_steps(len(self.data))
        stream = batches(self.data, self.spec.batch_size, self.run.rng)
        for step in range(1, total + 1):
            batch = next(stream)
            self.run.ledger.reserve(metric_calls=0, lm_calls=len(batch))
            started = time.perf_counter()
            loss = self.trainer.step(batch)
            seconds = time.perf_counter() - started
            self.step_seconds.append(seconds)
            self.run.ledger.spend(Usage(calls=len(batch), prompt_tokens=sum(e.tokens for e in batch), seconds=seconds))
            if step % self.spec.eval_every and step != total:
                continue
            if not self.validate(step, loss, final=step == total) or not self.spec._can_validate(self.run):
                return

    def validate(self, step: int, loss: float, *, final: bool) -> bool:
        """Save the current soft prompt, validate it; False to stop (patience run out)."""
        candidate = self.candidate()
        params = self.trainer.params
        info: dict[str, Any] = {
            "role": "soft_prompt", "mode": self.spec.mode, "step": step, "train_loss": round(loss, 6),
            "n_tokens": self.spec.n_tokens, "trainable_parameters": params.trainable_parameters(),
            "soft_prompt_parameters": params.saved_parameters(), "nearest": self.nearest(),
            "seconds_per_step": round(statistics.median(self.step_seconds or [0.0]), 6),  # the first step warms up
        }
        self.step_seconds = []
        parents = () if self.parent is None else (self.parent,)
        mean = self.run.validate(candidate, parents=parents, info=info).mean
        if mean > self.best:
            self.best, self.stale = mean, 0
            return True
        self.stale += 1
        if self.spec.patience is not None and self.stale >= self.spec.patience and not final:
            log.info("early stop at step %d: %d validations without improvement", step, self.stale)
            return False
        return True

    def candidate(self) -> Candidate:
        from promptlift.softprompt.io import save_content_addressed

        params = self.trainer.params
        with _no_grad():
            tensor = params.tensor().detach().float().cpu()
        dims = params.dims
        metadata = {
            "kind": self.spec.mode, "model_id": self.backend.id, "n_tokens": self.spec.n_tokens,
            "init": self.spec.init, "hidden": dims.hidden, "layers": dims.layers,
        }
        path = save_content_addressed(soft_prompt_dir(self.run), {params.tensor_name: tensor}, metadata)
        return self.hard.with_(soft_prompt=str(path.resolve()), calibration=())

    def nearest(self) -> list[str]:
        """The nearest vocabulary token of each virtual token (for the trial log)."""
        from promptlift.softprompt.nearest import nearest_tokens, vocabulary_table

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
