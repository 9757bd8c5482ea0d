"""LinearProbe: logistic regression on a hidden layer of the frozen model (classification tasks).

The training split is rendered under the hard candidate (the task's seed unless ``initial``
says otherwise) and run once through the model; the last prompt token's hidden state at
each candidate layer is a feature vector. One probe per layer is fitted with scikit-learn
(:mod:`promptlift.training.probe`), saved beside the run (``<run_dir>/probe/probe-<hash>``)
and validated through ``Run`` as a candidate carrying its path; the layer is thus chosen on
validation, like every other component. The forward passes over the training split are
charged to the budget as LM calls.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from promptlift.backends import torch_weights
from promptlift.backends.base import Backend, GradientBackend, require_gradients
from promptlift.checks import is_int, is_number
from promptlift.errors import ConfigError
from promptlift.optimizers import training
from promptlift.optimizers.base import Optimizer
from promptlift.optimizers.training import candidate_from, parent_of, weights_dir
from promptlift.result import Result
from promptlift.run import Run
from promptlift.tasks.base import Task
from promptlift.types import Candidate, Usage

if TYPE_CHECKING:
    from promptlift.budget import Budget
    from promptlift.optimizers.plan import Calls

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, kw_only=True)
class LinearProbe(Optimizer):
    """A linear probe on the hidden state of the prompt's last token.

    layers: "auto" (a few late-middle layers, most promising first) or a list of layer
    numbers (0: embeddings; the model's layer count: the last layer). c: the inverse L2
    strength of the logistic regression. initial: the hard candidate the inputs are rendered
    under (None: the task's seed); a Candidate, its JSON dict, or a JSON file holding one.
    """

    name: ClassVar[str] = "linear_probe"
    layers: Any = "auto"
    c: float = 1.0
    initial: Candidate | None = None

    def __post_init__(self) -> None:
        if isinstance(self.layers, list):
            object.__setattr__(self, "layers", tuple(self.layers))
        if isinstance(self.initial, (dict, str, Path)):
            object.__setattr__(self, "initial", candidate_from(self.initial))
        super().__post_init__()

    def _check(self) -> None:
        self.require("initial", self.initial is None or isinstance(self.initial, Candidate),
                     "None, a Candidate, its JSON dict or a JSON file with one")
        ok = self.layers == "auto" or (isinstance(self.layers, tuple) and bool(self.layers) and all(
            is_int(n, 0) for n in self.layers))
        self.require("layers", ok, '"auto" or a non-empty list of layer numbers >= 0')
        self.require("c", is_number(self.c) and self.c > 0, "a float > 0")

    def optimize(self, task: Task, backend: Backend, **kwargs: Any) -> Result:
        """As ``Optimizer.optimize``, after checking up front that ``backend`` exposes its model."""
        check_backend(backend)
        return super().optimize(task, backend, **kwargs)

    def _calls(self, task: Task, backend: Backend, budget: Budget) -> Calls:
        """The plan's call pattern (``Optimizer.plan``): :func:`promptlift.optimizers.patterns.probe`."""
        from promptlift.optimizers import patterns

        return patterns.probe(self, task, backend, budget)

    def _search(self, run: Run) -> None:
        if not run.task.choices:
            raise ConfigError(f"LinearProbe needs a classification task (choices); {run.task.name!r} generates")
        ready = training.ready(run, check_backend(run.model), self.initial, "LinearProbe")
        if ready is None:
            return
        backend, hard = ready
        from promptlift.backends.torch_probe import features, layer_count
        from promptlift.training.probe import auto_layers, fit

        n_layers = layer_count(backend.model)
        layers = auto_layers(n_layers) if self.layers == "auto" else [n for n in self.layers if n <= n_layers]
        if not layers:
            raise ConfigError(f"LinearProbe: none of the layers {list(self.layers)} exists (the model has {n_layers})")
        prompts = [backend.encode(run.task.render(hard, e))[0] for e in run.task.train]
        run.require(lm_calls=len(prompts))
        started = time.perf_counter()
        x = features(backend.model, prompts, layers, pad_id=backend.tokenizer.pad_token_id or 0)
        seconds = time.perf_counter() - started
        run.charge(Usage(calls=len(prompts), prompt_tokens=sum(map(len, prompts)), seconds=seconds))
        labels = [run.task.choices.index(e.output) for e in run.task.train]
        parent = parent_of(run, hard)
        for i, layer in enumerate(layers):
            run.require_validation()
            fitted = time.perf_counter()
            weight, bias = fit(x[:, i], labels, len(run.task.choices), c=self.c, seed=run.seed)
            path = torch_weights.save(weights_dir(run, "probe"), "probe", backend.id,
                                      functools.partial(torch_weights.save_probe, weight=weight, bias=bias),
                                      layer=layer, classes=list(run.task.choices))
            info = {"stage": self.name, "layer": layer, "trainable_parameters": int(weight.numel() + bias.numel()),
                    "train_seconds": round(seconds + time.perf_counter() - fitted, 3),
                    "train_tokens": sum(map(len, prompts))}
            run.validate(hard.with_(weights=str(path.resolve()), calibration=()),
                         parents=() if parent is None else (parent,), info=info)

    def config(self) -> dict[str, Any]:
        return {"optimizer": self.name, "layers": list(self.layers) if isinstance(self.layers, tuple) else self.layers,
                "c": self.c, "initial": self.initial.to_dict() if self.initial is not None else None}


def check_backend(backend: Backend) -> GradientBackend:
    """A gradient backend (the model's hidden states, in process) that applies trained weights."""
    gradient = require_gradients(backend, "LinearProbe")
    if not backend.capabilities.weights:
        raise ConfigError(f"LinearProbe needs a backend that applies trained weights; {backend.id} does not")
    return gradient
