"""Optimizer names for the string boundary (CLI, YAML). The Python API takes objects.

Entries are imported lazily, so a name costs nothing until it is used.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from promptlift.errors import ConfigError
from promptlift.optimizers.base import Optimizer

OPTIMIZERS: dict[str, str] = {
    "auto": "promptlift.optimizers.auto:Auto",
    "fewshot": "promptlift.optimizers.fewshot:FewShot",
    "bootstrap": "promptlift.optimizers.bootstrap:BootstrapFewShot",
    "similarity": "promptlift.optimizers.similarity:SimilarityFewShot",
    "mipro": "promptlift.optimizers.mipro:JointSearch",
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
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(params) - fields)
    if unknown:
        raise ConfigError(f"{cls.__name__} has no parameter(s) {unknown}. Parameters: {sorted(fields)}.")
    return cls(**params)
