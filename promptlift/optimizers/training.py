"""GradientTraining: the base of every optimizer that trains by gradient on the torch backend.

Soft prompts, LoRA, full fine-tuning and rejection-sampling fine-tuning share their
hyperparameters (AdamW settings, the training length, validation and early stopping), the
hard candidate they train under (``initial``, else the task's seed; validated alone first),
and the check that the backend can train (:func:`promptlift.backends.base.require_gradients`).
A subclass says what is trained in ``_search``; the step/validate loop is
:class:`promptlift.training.loop.Loop`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from promptlift.backends.base import Backend, GradientBackend, require_gradients
from promptlift.cache import default_cache_dir
from promptlift.checks import is_int, is_number
from promptlift.errors import ConfigError
from promptlift.optimizers.base import Optimizer
from promptlift.result import Result
from promptlift.run import Run
from promptlift.tasks.base import Task
from promptlift.training.loop import Schedule, total_steps
from promptlift.types import Candidate

if TYPE_CHECKING:
    from promptlift.backends.base import Backend
    from promptlift.budget import Budget
    from promptlift.optimizers.plan import Calls
    from promptlift.tasks.base import Task

log = logging.getLogger(__name__)

LOSSES = ("choices", "likelihood")


@dataclasses.dataclass(frozen=True, kw_only=True)
class GradientTraining(Optimizer):
    """Shared hyperparameters of the gradient rungs.

    lr, weight_decay, grad_clip: AdamW settings (grad_clip None: no clipping).
    steps or epochs: training length (epochs, if set, overrides steps). batch_size: examples per step.
    eval_every: steps between validations. patience: validations without improvement before
    stopping (None: never stop early).
    initial: the hard candidate to train under (None: the task's seed); a Candidate, its JSON
    dict, or the path of a JSON file holding one (e.g. another run's ``best_candidate.json``).
    autocast: bf16 autocast on CUDA.
    loss (classification tasks): "choices", cross-entropy over the task's choices (their summed
    token log-probabilities, what scoring ranks), or "likelihood", the negative log-likelihood
    of the correct choice's tokens over the whole vocabulary (HF PEFT's causal-LM loss).
    Generation tasks always train on the target's tokens.
    """

    name: ClassVar[str] = "gradient_training"
    lr: float = 1e-3
    steps: int = 100
    epochs: float | None = None
    batch_size: int = 8
    weight_decay: float = 0.0
    grad_clip: float | None = 1.0
    eval_every: int = 25
    patience: int | None = 3
    initial: Candidate | None = None
    autocast: bool = True
    loss: str = "choices"

    def __post_init__(self) -> None:
        if isinstance(self.initial, (dict, str, Path)):  # the string boundary: JSON or a best_candidate.json path
            object.__setattr__(self, "initial", candidate_from(self.initial))
        super().__post_init__()

    def _check(self) -> None:
        self.require("loss", self.loss in LOSSES, f"one of {LOSSES}")
        for name in ("steps", "batch_size", "eval_every"):
            self.require_int(name, 1)
        self.require("lr", is_number(self.lr) and self.lr > 0, "a float > 0")
        self.require("weight_decay", is_number(self.weight_decay) and self.weight_decay >= 0, "a float >= 0")
        self.require("grad_clip", self.grad_clip is None or (is_number(self.grad_clip) and self.grad_clip > 0),
                     "None or a float > 0")
        self.require("epochs", self.epochs is None or (is_number(self.epochs) and self.epochs > 0), "None or a float > 0")
        self.require("patience", self.patience is None or is_int(self.patience, 1),
                     "None or an int >= 1")
        self.require("initial", self.initial is None or isinstance(self.initial, Candidate),
                     "None, a Candidate, its JSON dict or a JSON file with one")

    def config(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["initial"] = self.initial.to_dict() if self.initial is not None else None
        return {"optimizer": self.name, **data}

    def optimize(self, task: Task, backend: Backend, **kwargs: Any) -> Result:
        """As ``Optimizer.optimize``, after checking up front that ``backend`` can train."""
        self.check_backend(backend)
        return super().optimize(task, backend, **kwargs)

    def check_backend(self, backend: Backend) -> GradientBackend:
        """``backend`` as a GradientBackend (override to require more)."""
        return require_gradients(backend, type(self).__name__)

    def _calls(self, task: Task, backend: Backend, budget: Budget) -> Calls:
        """The plan's call pattern (``Optimizer.plan``): :func:`promptlift.optimizers.patterns.training`."""
        from promptlift.optimizers import patterns

        return patterns.training(self, task, backend, budget)

    def total_steps(self, n_train: int) -> int:
        return total_steps(self.steps, self.epochs, n_train, self.batch_size)

    def schedule(self, n_train: int) -> Schedule:
        return Schedule(self.total_steps(n_train), self.batch_size, self.eval_every, self.patience)

    def choice_loss(self, run: Run) -> bool:
        return bool(run.task.choices) and self.loss == "choices"

    def ready(self, run: Run) -> tuple[GradientBackend, Candidate] | None:
        """(the backend, the hard candidate) to train with, or None when the budget cannot validate."""
        return ready(run, self.check_backend(run.model), self.initial, type(self).__name__)


def ready(run: Run, backend: GradientBackend, initial: Candidate | None,
          purpose: str) -> tuple[GradientBackend, Candidate] | None:
    """(``backend``, the hard candidate to train under), or None when the budget cannot validate."""
    hard = hard_candidate(run, initial, purpose)
    if not run.task.train:
        raise ConfigError(f"{purpose} needs training examples; task {run.task.name!r} has none")
    if not run.affords_validation():
        log.warning("no metric-call budget left to validate a trained candidate; nothing trained")
        return None
    return backend, hard


def hard_candidate(run: Run, initial: Candidate | None, purpose: str) -> Candidate:
    """The hard candidate training runs under (``initial``, else the seed); validated alone first if new."""
    hard = (initial or run.task.seed).with_(soft_prompt=None, weights=None)
    if hard.reasoning:
        raise ConfigError(f"{purpose} trains the answer directly; its hard candidate cannot ask for reasoning "
                          "first (reasoning=True): pass a candidate with reasoning=False")
    if hard != run.task.seed:
        run.validate(hard, info={"stage": "initial"})
    return hard


def parent_of(run: Run, hard: Candidate) -> int | None:
    """The number of the last validation of ``hard`` (a trained candidate's parent in the lineage)."""
    return next((t.number for t in reversed(run.val_trials()) if t.candidate == hard), None)


def weights_dir(run: Run, kind: str) -> Path:
    """Where a run's trained files go: ``<run_dir>/<kind>``, else under the cache directory."""
    return (run.log.dir if run.log else default_cache_dir()) / kind


def candidate_from(value: Any) -> Any:
    """A Candidate from its JSON dict or from a JSON file (``best_candidate.json``); else ``value`` unchanged."""
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
