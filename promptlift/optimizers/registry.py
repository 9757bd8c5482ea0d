"""Optimizer names for the string boundary (CLI, YAML). The Python API takes objects."""

from __future__ import annotations

import dataclasses
from typing import Any

from promptlift.errors import ConfigError
from promptlift.optimizers.base import Optimizer
from promptlift.optimizers.fewshot import FewShot

OPTIMIZERS: dict[str, type[Optimizer]] = {
    "fewshot": FewShot,
}


def get_optimizer(name: str, **params: Any) -> Optimizer:
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise ConfigError(f"Unknown optimizer {name!r}. Available: {', '.join(sorted(OPTIMIZERS))}.") from None
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(params) - fields)
    if unknown:
        raise ConfigError(f"{cls.__name__} has no parameter(s) {unknown}. Parameters: {sorted(fields)}.")
    return cls(**params)
