"""Every registered optimizer runs the shipped contract suite (promptlift.testing.OptimizerContract)."""

from __future__ import annotations

import importlib
import pkgutil

import tests.optimizers as package
from promptlift.optimizers.registry import OPTIMIZERS, optimizer_class
from promptlift.testing import OptimizerContract


def _contract_classes() -> list[type]:
    for module in pkgutil.iter_modules(package.__path__):
        if module.name.startswith("test_") and not module.name.endswith("_integration"):
            importlib.import_module(f"{package.__name__}.{module.name}")
    found, todo = [], list(OptimizerContract.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return found


def test_every_registered_optimizer_has_a_contract_test():
    covered = {type(cls().make()) for cls in _contract_classes()}
    missing = sorted(name for name in OPTIMIZERS if optimizer_class(name) not in covered)
    assert not missing, f"optimizers without an OptimizerContract test class: {missing}"
