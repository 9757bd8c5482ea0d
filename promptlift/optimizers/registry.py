"""Optimizer names for the string boundary (CLI, YAML). The Python API takes objects.

Entries are imported lazily, so a name costs nothing until it is used.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from promptlift.errors import ConfigError, param_error
from promptlift.optimizers.base import Optimizer
from promptlift.optimizers.renames import new_names

OPTIMIZERS: dict[str, str] = {
    "auto": "promptlift.optimizers.auto:Auto",
    "fewshot": "promptlift.optimizers.fewshot:FewShot",
    "bootstrap": "promptlift.optimizers.bootstrap:BootstrapFewShot",
    "similarity": "promptlift.optimizers.similarity:SimilarityFewShot",
    "mipro": "promptlift.optimizers.joint:JointSearch",
    "gepa": "promptlift.optimizers.gepa:GEPA",
    "genetic": "promptlift.optimizers.genetic:GeneticSearch",
    "soft_prompt": "promptlift.optimizers.soft_prompt:SoftPromptTuning",
    "lora": "promptlift.optimizers.finetune:LoRA",
    "finetune": "promptlift.optimizers.finetune:FineTuning",
    "rft": "promptlift.optimizers.rft:RejectionSamplingFineTuning",
    "linear_probe": "promptlift.optimizers.probe:LinearProbe",
    "best_of_n": "promptlift.optimizers.best_of_n:BestOfN",
}


def optimizer_class(name: str) -> type[Optimizer]:
    if name not in OPTIMIZERS:
        raise ConfigError(f"Unknown optimizer {name!r}. Available: {', '.join(OPTIMIZERS)}.")
    module_name, _, class_name = OPTIMIZERS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise ConfigError(f"The optimizer {name!r} is not available in this version.") from None
        raise
    return getattr(module, class_name)


def get_optimizer(name: str, **params: Any) -> Optimizer:
    """An optimizer by name with hyperparameters; unknown names or parameters are listed."""
    cls = optimizer_class(name)
    params = new_names(cls, params)  # an old parameter name still loads, with a DeprecationWarning
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise ConfigError(f"{cls.__name__} has no parameter(s) {unknown}. Parameters: {sorted(fields)}.")
    for key, value in params.items():  # JSON true is a Python int: refuse it where a number is meant
        if isinstance(value, bool) and str(fields[key].type).split("|")[0].strip() in ("int", "float"):
            raise param_error(cls.__name__, key, f"a number ({fields[key].type})", value)
    try:
        return cls(**params)
    except TypeError as exc:  # a check comparing a value of the wrong type (a string with a number ...)
        raise ConfigError(f"{cls.__name__}: a parameter has the wrong type ({exc})") from None
