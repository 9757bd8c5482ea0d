"""Optimizers: the base class and the built-in search strategies."""

from promptlift.optimizers.base import Optimizer
from promptlift.optimizers.fewshot import FewShot
from promptlift.optimizers.registry import OPTIMIZERS, get_optimizer

__all__ = ["OPTIMIZERS", "FewShot", "Optimizer", "get_optimizer"]
