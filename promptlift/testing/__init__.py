"""Contract suites and test doubles for people who write optimizers and backends.

``OptimizerContract`` and ``BackendContract`` are pytest test classes to subclass (as optuna
ships its sampler tests); ``toy_task``, ``keyword_script`` and ``scripted`` are the test doubles
they use. Importing this package imports pytest.
"""

from promptlift.testing.backends import BackendContract
from promptlift.testing.doubles import ToyEngine, keyword_script, scripted, toy_examples, toy_task
from promptlift.testing.optimizers import OptimizerContract

__all__ = ["BackendContract", "OptimizerContract", "ToyEngine", "keyword_script", "scripted", "toy_examples",
           "toy_task"]
