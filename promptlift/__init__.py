"""promptlift: find the best prompt for a task, on any model.

    import promptlift as pl
    task = pl.get_task("sentiment")
    backend = pl.load_backend("llamacpp:smollm2")
    result = pl.Auto().optimize(task, backend, budget=400)   # chooses the search; or pl.FewShot(k=4), ...
    print(result.best_test, result.baseline_test)
"""

from promptlift.backends import (
    Backend,
    Capabilities,
    LiteLLMBackend,
    OpenAIBackend,
    ScriptedBackend,
    TorchBackend,
    load_backend,
)
from promptlift.budget import Budget
from promptlift.cache import ResponseCache
from promptlift.callbacks import Callback, ProgressBar
from promptlift.errors import PromptliftError
from promptlift.optimizers import FewShot, Optimizer, get_optimizer
from promptlift.optimizers.auto import Auto
from promptlift.optimizers.best_of_n import BestOfN
from promptlift.optimizers.bootstrap import BootstrapFewShot
from promptlift.optimizers.finetune import FineTuning, LoRA
from promptlift.optimizers.genetic import GeneticSearch
from promptlift.optimizers.gepa import GEPA
from promptlift.optimizers.joint import JointSearch
from promptlift.optimizers.plan import Plan
from promptlift.optimizers.probe import LinearProbe
from promptlift.optimizers.rft import RejectionSamplingFineTuning
from promptlift.optimizers.similarity import SimilarityFewShot
from promptlift.optimizers.soft_prompt import SoftPromptTuning
from promptlift.result import Result, Trial
from promptlift.run import Run
from promptlift.tasks import Task, get_task, load_task, task_from_dataframe
from promptlift.tracking import MLflowCallback
from promptlift.types import Candidate, Completion, Example, Message, Request, Score, Usage

__version__ = "0.1.0"

__all__ = [
    "Auto",
    "MLflowCallback",
    "RejectionSamplingFineTuning",
    "LinearProbe",
    "LoRA",
    "FineTuning",
    "BestOfN",
    "Backend",
    "BootstrapFewShot",
    "Budget",
    "Candidate",
    "Callback",
    "Capabilities",
    "Completion",
    "Example",
    "FewShot",
    "GEPA",
    "GeneticSearch",
    "JointSearch",
    "LiteLLMBackend",
    "Message",
    "OpenAIBackend",
    "Optimizer",
    "Plan",
    "ProgressBar",
    "PromptliftError",
    "Request",
    "ResponseCache",
    "Result",
    "Run",
    "Score",
    "ScriptedBackend",
    "SimilarityFewShot",
    "SoftPromptTuning",
    "Task",
    "TorchBackend",
    "Trial",
    "Usage",
    "__version__",
    "get_optimizer",
    "get_task",
    "load_backend",
    "load_task",
    "task_from_dataframe",
]
