"""The DSPy peer: DSPy's optimizers compiling a program on a promptlift backend.

DSPy runs on the cell's backend through ``promptlift.interop.dspy`` (our backend as a DSPy
LM). Metric calls are counted where the metric runs (a counting wrapper around the DSPy
metric), LM calls at the backend (task and prompt model together). The search is the
``compile``; the test split is then answered by DSPy's program in DSPy's own format (a call
DSPy cannot parse scores 0 and is counted), and the same instruction and demos, back as a
promptlift candidate, are also scored by promptlift (``test_in_promptlift_format``): that
isolates what DSPy's format costs. One rendered DSPy prompt with the model's raw answer is
kept as evidence of the format the model has to follow.

DSPy is imported only here, when a DSPy cell runs (``pip install 'promptlift[dspy]'``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from promptlift.answers import score_outside
from promptlift.bench.peers.common import Meter, settings

if TYPE_CHECKING:
    from pathlib import Path

    from promptlift.backends.base import Backend
    from promptlift.bench.config import Cell
    from promptlift.tasks.base import Task

log = logging.getLogger(__name__)

METHODS = ("dspy/labeled", "dspy/bootstrap_rs", "dspy/mipro")
MAX_ERRORS = 10**6  # an unparseable answer scores 0 instead of aborting DSPy's search (DSPy's own knob)
END = "[[ ## completed ## ]]"  # DSPy's end marker: generation stops there (saves time, changes nothing DSPy parses)


@dataclass(frozen=True)
class DSPySettings:
    """A DSPy search's settings: the metric-call budget it is sized by, how many training examples
    the bootstrapping optimizers see, MIPROv2's minibatch, and the task model's generation limit."""

    budget: int = 100
    bootstrap_size: int = 12
    minibatch: int = 5
    max_tokens: int = 48


SETTINGS = DSPySettings


def cell(method: str, task: Task, backend: Meter, cell: Cell, run_dir: Path) -> dict[str, Any]:
    """A sweep cell's partial row for DSPy's ``method``."""
    evidence: dict[str, Any] = {}
    row = run(method, task, backend, cell.seed, settings(DSPySettings, cell), evidence)
    return {**row, "search_seconds": row.pop("seconds"), "dspy_prompt": evidence.get(task.name, {}).get(method)}


def run(method: str, task: Task, backend: Backend, seed: int, config: DSPySettings, evidence: dict) -> dict[str, Any]:
    """Compile DSPy's ``method`` on ``backend``, then score its program on the test split.

    ``search_usage`` is the backend's usage right after the compile when ``backend`` is a Meter
    (what the search spent, before the test evaluation)."""
    import dspy

    from promptlift.interop import dspy as pl_dspy

    task_lm = pl_dspy.lm(backend, max_tokens=config.max_tokens, stop=[END])
    prompt_lm = pl_dspy.lm(backend, max_tokens=256)
    metric = pl_dspy.Metric(task)
    train, val = pl_dspy.examples(task, task.train), pl_dspy.examples(task, task.val)
    student = pl_dspy.to_dspy(task.seed, task)
    started = time.perf_counter()
    with dspy.context(lm=task_lm), _quiet_when_asked():
        program = compile_program(method, student, metric, train, val, prompt_lm, seed, config)
    seconds = time.perf_counter() - started
    search_usage = backend.usage if isinstance(backend, Meter) else None
    lm_calls = backend_calls(task_lm, prompt_lm)
    started = time.perf_counter()
    test, failures, extra_calls = program_accuracy(task, program, task_lm, evidence, method)
    test_seconds = time.perf_counter() - started
    candidate = pl_dspy.from_dspy(program, task)
    scorer = backend.inner if isinstance(backend, Meter) else backend  # off the meter: not the search's spending
    values, _ = score_outside(task, candidate, scorer, task.test)
    return {"test": test, "val": None, "metric_calls": metric.calls, "lm_calls": lm_calls, "seconds": seconds,
            "test_seconds": test_seconds, "parse_failures": failures, "test_fallback_calls": extra_calls,
            "n_demos": len(candidate.demos), "test_in_promptlift_format": sum(values) / len(values),
            "candidate": candidate.to_dict(), "search_usage": search_usage}


@contextlib.contextmanager
def _quiet_when_asked() -> Iterator[None]:
    """DSPy's own progress bars off when the sweep runs ``--no-progress`` (it sets ``TQDM_DISABLE``):
    DSPy passes ``disable=`` to tqdm explicitly, which overrides tqdm's environment variable."""
    if not os.environ.get("TQDM_DISABLE"):
        yield
        return
    import tqdm

    class Quiet(tqdm.tqdm):  # type: ignore[misc, type-arg]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**kwargs, "disable": True})

    with _patched(tqdm, "tqdm", Quiet):
        yield


@contextlib.contextmanager
def _patched(owner: Any, name: str, value: Any) -> Iterator[None]:
    saved = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, saved)


def compile_program(method: str, student: Any, metric: Any, train: list, val: list, prompt_lm: Any, seed: int,
                    config: DSPySettings) -> Any:
    """DSPy's optimizer, sized so its metric calls stay near the budget (measured, not assumed).

    The bootstrapping optimizers get ``bootstrap_size`` training examples, like promptlift's:
    on a model that gets most answers wrong DSPy's bootstrapping would otherwise scan the
    whole training split, spending several times the budget.
    """
    import dspy

    if method == "dspy/labeled":
        return dspy.LabeledFewShot(k=4).compile(student, trainset=_shuffled(train, seed))
    if method == "dspy/bootstrap_rs":
        # (candidates + 3) validation passes, plus bootstrapping passes of a few examples each
        n = max(0, (config.budget - 3 * len(val)) // (len(val) + 10))
        optimizer = dspy.BootstrapFewShotWithRandomSearch(
            metric=metric, max_bootstrapped_demos=4, max_labeled_demos=4, num_candidate_programs=n, num_threads=1,
            max_errors=MAX_ERRORS)
        return optimizer.compile(student, trainset=_shuffled(train, seed)[: config.bootstrap_size], valset=val)
    if method == "dspy/mipro":
        # the default program's full evaluation, bootstrapping, then trials with a full evaluation every 5
        trials = max(1, (config.budget - 2 * len(val) - config.bootstrap_size) // (config.minibatch + len(val) // 5))
        optimizer = dspy.MIPROv2(metric=metric, prompt_model=prompt_lm, auto=None, num_candidates=4,
                                 max_bootstrapped_demos=4, max_labeled_demos=4, num_threads=1, seed=seed, verbose=False,
                                 max_errors=MAX_ERRORS)
        return optimizer.compile(student, trainset=_shuffled(train, seed)[: config.bootstrap_size], valset=val,
                                 num_trials=trials, minibatch_size=config.minibatch,
                                 minibatch_full_eval_steps=5)
    raise ValueError(f"unknown DSPy method {method!r}; methods: {', '.join(METHODS)}")


def program_accuracy(task: Task, program: Any, task_lm: Any, evidence: dict, method: str) -> tuple[float, int, int]:
    """Test accuracy of a DSPy program; a call DSPy cannot parse scores 0 and is counted."""
    import dspy

    from promptlift.interop import dspy as pl_dspy

    metric, failures = pl_dspy.Metric(task), 0
    before = task_lm.backend_engine.calls
    scores = []
    with dspy.context(lm=task_lm):
        for example in pl_dspy.examples(task, task.test):
            try:
                prediction = program(**example.inputs())
            except Exception as exc:  # AdapterParseError and the like: the model broke the format
                failures += 1
                prediction = None
                log.debug("DSPy could not parse an answer: %s", exc)
            scores.append(metric(example, prediction))
    if method not in evidence.get(task.name, {}) and task_lm.history:
        entry = task_lm.history[-1]
        evidence.setdefault(task.name, {})[method] = {"messages": entry.get("messages"), "outputs": entry.get("outputs")}
    extra = task_lm.backend_engine.calls - before - len(task.test)  # ChatAdapter -> JSONAdapter retries
    return sum(scores) / len(scores), failures, extra


def backend_calls(*lms: Any) -> int:
    return sum(lm.backend_engine.calls for lm in lms)


def _shuffled(items: list, seed: int) -> list:
    items = list(items)
    random.Random(seed).shuffle(items)
    return items
