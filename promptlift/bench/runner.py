"""Running one cell: build the task, the backends and the optimizer (or peer), run, make a row.

Every cell gets a fresh response cache in its run directory (``cache: cell``), so no cell's
search is answered from another's work and LM calls, tokens and wall times are honest. The
baseline is the task's seed candidate, scored on the same backend outside the budget; test
scores are measured after the search, also outside it. The baseline's scores are the same for
every cell of a task and model, so a sweep passes ``baselines``, one cache its cells share for
them: the seed is scored once per sweep instead of once per cell (it was about a fifth of a
cell's time).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from promptlift import safefile
from promptlift.answers import score_outside
from promptlift.backends.base import Backend, GradientBackend, close
from promptlift.bench.config import Cell, ModelSpec, SweepConfig, TaskSpec, budget_label
from promptlift.bench.peers import Meter, check_params, is_peer, peer_runner
from promptlift.budget import Budget
from promptlift.cache import CachedBackend, ResponseCache
from promptlift.errors import ConfigError
from promptlift.tasks.base import Task
from promptlift.types import Candidate, Example

log = logging.getLogger(__name__)


class BackendPool:
    """Backends of one worker, loaded once per model string and options."""

    def __init__(self) -> None:
        self._loaded: dict[str, Backend] = {}

    def get(self, spec: ModelSpec) -> Backend:
        from promptlift.backends.registry import load_backend

        key = spec.model_dump_json()
        if key not in self._loaded:
            log.info("loading %s", spec.spec)
            self._loaded[key] = load_backend(spec.spec, **spec.options)
        return self._loaded[key]

    def close(self) -> None:
        """Free the models now, not at interpreter exit (where llama.cpp's finaliser fails noisily)."""
        import gc

        for backend in self._loaded.values():
            close(backend)
        self._loaded.clear()
        gc.collect()


def build_task(spec: TaskSpec) -> Any:
    from promptlift.tasks import get_task, load_task

    sizes = {"sizes": tuple(spec.sizes)} if spec.sizes else {}  # a data file with a split column refuses them
    options = dict(spec.options)
    if Path(spec.name).suffix in (".jsonl", ".json", ".csv", ".tsv"):
        task = load_task(spec.name, **sizes, **options)
    else:
        metric = options.pop("metric", None)  # any task's metric can be named (macro_f1 ...)
        task = get_task(spec.name, **sizes, **options)
        task = dataclasses.replace(task, metric=metric) if metric else task
    if spec.train is not None:
        if spec.train > len(task.train):
            raise ConfigError(f"task {spec.key!r}: train={spec.train} but the training split has {len(task.train)} "
                              "examples")
        task = dataclasses.replace(task, train=task.train[: spec.train])
    return task


def build_optimizer(name: str, params: Mapping[str, Any]) -> Any:
    """A registry name or ``module:Class``; YAML lists become tuples (optimizers are frozen)."""
    from promptlift.optimizers.registry import get_optimizer

    params = {k: _tuples(v) for k, v in params.items()}
    if ":" not in name:
        return get_optimizer(name, **params)
    module_name, _, class_name = name.partition(":")
    if not all(part.isidentifier() for part in (*module_name.split("."), class_name)):
        raise ConfigError(f"Optimizer {name!r} must be a registry name or module:Class (dotted Python names).")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        raise ConfigError(f"Cannot import optimizer {name!r} (module:Class).") from None
    from promptlift.optimizers.base import Optimizer

    if not (isinstance(cls, type) and issubclass(cls, Optimizer) and dataclasses.is_dataclass(cls)):
        raise ConfigError(f"{name!r} is not an optimizer (a subclass of promptlift.optimizers.base.Optimizer).")
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(params) - fields)
    if unknown:
        raise ConfigError(f"{cls.__name__} has no parameter(s) {unknown}. Parameters: {sorted(fields)}.")
    return cls(**params)


def check_optimizers(config: SweepConfig) -> None:
    """Every optimizer of the sweep builds (name and fixed parameters) before a cell runs: a typo
    fails the sweep at once instead of each of its cells. Peers check their parameters' names."""
    for spec in config.optimizers:
        for label, params in (spec.variants() if config.search is None else [(spec.key, spec.params)]):
            try:
                if is_peer(spec.name):
                    check_params(spec.name, params)
                else:
                    build_optimizer(spec.name, params)
            except ConfigError as exc:
                raise ConfigError(f"optimizer {label!r}: {exc}") from None


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def score(task: Task, candidate: Candidate, backend: Backend, examples: Iterable[Example]) -> float:
    """Mean score of a candidate on examples, outside any budget."""
    values, _ = score_outside(task, candidate, backend, list(examples))
    return sum(values) / len(values)


def test_columns(task: Task, candidate: Candidate, backend: Backend, prefix: str) -> dict[str, Any]:
    """``<prefix>_test`` (the mean), ``<prefix>_test_scores`` (per example, in the test split's order,
    for paired comparisons) and ``<prefix>_prompt_tokens`` (mean prompt tokens per test query, all
    samples of a voting candidate counted)."""
    if not task.test:
        return {f"{prefix}_test": None}
    values, completions = score_outside(task, candidate, backend, task.test)
    return {f"{prefix}_test": sum(values) / len(values), f"{prefix}_test_scores": values,
            f"{prefix}_prompt_tokens": sum(c.usage.prompt_tokens for c in completions) / len(completions)}


def model_parameters(backend: Backend) -> int | None:
    """The parameter count of an in-process model (the ladder's cost model needs it), else None."""
    return sum(p.numel() for p in backend.model.parameters()) if isinstance(backend, GradientBackend) else None


def training_columns(best: Any) -> dict[str, Any]:
    """What the best trial's training cost (trained rungs record it in the trial's info)."""
    return {name: best.info.get(name) for name in ("train_seconds", "train_tokens", "trainable_parameters")}


def run_cell(cell: Cell, run_dir: Path, pool: BackendPool, *, cache: str = "cell", callbacks: Sequence[Any] = (),
             baselines: ResponseCache | None = None) -> dict[str, Any]:
    """Run one cell in ``run_dir``; returns its row (the cell's config and what it measured).

    ``baselines``: a cache for the seed candidate's scores only, shared across cells.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    task = build_task(cell.task)
    backend = pool.get(cell.model)
    proposer = pool.get(cell.proposer) if cell.proposer else None
    responses = _cache(cache, run_dir)
    seed_scorer = CachedBackend(backend, baselines) if baselines is not None else backend
    try:
        if is_peer(cell.optimizer):
            measured = _run_peer(cell, task, backend, seed_scorer, responses, run_dir)
        else:
            measured = _run_promptlift(cell, task, backend, seed_scorer, proposer, responses, run_dir, callbacks)
    finally:
        if responses is not None and cache == "cell":
            responses.close()
    row = {**config_columns(cell), **measured, "cell_seconds": time.perf_counter() - started}
    if row.get("best_test") is not None and row.get("baseline_test") is not None:
        row["lift"] = row["best_test"] - row["baseline_test"]
    return row


def _cache(mode: str, run_dir: Path) -> ResponseCache | None:
    if mode == "none":
        return None
    return ResponseCache(run_dir / "responses.sqlite") if mode == "cell" else ResponseCache.default()


def config_columns(cell: Cell) -> dict[str, Any]:
    return {
        "cell": cell.id, "task": cell.task.key, "optimizer": cell.label, "optimizer_name": cell.optimizer,
        "params": dict(cell.params), "model": cell.model.key,
        "proposer": cell.proposer.key if cell.proposer else None,
        "budget": budget_label(cell.budget), "budget_metric_calls": cell.budget.get("metric_calls"),
        "seed": cell.seed, "peer": is_peer(cell.optimizer),
    }


def _run_promptlift(cell: Cell, task: Task, backend: Backend, seed_scorer: Backend, proposer: Backend | None,
                    responses: ResponseCache | None, run_dir: Path, callbacks: Sequence[Any]) -> dict[str, Any]:
    optimizer = build_optimizer(cell.optimizer, cell.params)
    result = optimizer.optimize(
        task, backend, budget=Budget.from_dict(cell.budget), seed=cell.seed, proposer=proposer, run_dir=run_dir,
        callbacks=callbacks, cache=responses, evaluate_test=False,
    )
    scorer = CachedBackend(backend, responses) if responses is not None else backend
    baseline = test_columns(task, task.seed, seed_scorer, "baseline")
    best = baseline if result.best_candidate == task.seed else test_columns(task, result.best_candidate, scorer, "best")
    tests = {**baseline, **{k.replace("baseline", "best", 1): v for k, v in best.items()}}
    baseline_test, best_test = tests["baseline_test"], tests["best_test"]
    result = dataclasses.replace(result, best_test=best_test, baseline_test=baseline_test)
    result.to_json(run_dir / "result.json")  # the run log wrote it before the test scores existed
    usage = result.usage
    return {
        "baseline_val": result.baseline.mean, "best_val": result.best.mean,
        "baseline_test": baseline_test, "best_test": best_test,
        "metric_calls": result.metric_calls, "lm_calls": usage.calls, "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens, "tokens": usage.tokens, "dollars": usage.dollars,
        "cache_hits": result.cache_hits, "search_seconds": result.wall_seconds, "trials": len(result.trials),
        "stopped_by": result.stopped_by, "backend": result.backend,
        "instruction": result.best_candidate.instruction, "n_demos": len(result.best_candidate.demos),
        **{k: v for k, v in tests.items() if k not in ("baseline_test", "best_test")},
        **training_columns(result.best), "model_parameters": model_parameters(backend),
    }


def _run_peer(cell: Cell, task: Task, backend: Backend, seed_scorer: Backend, responses: ResponseCache | None,
              run_dir: Path) -> dict[str, Any]:
    meter = Meter(backend, responses)
    measured = peer_runner(cell.optimizer)(task, meter, cell, run_dir)
    spent = measured.pop("search_usage", None) or meter.usage  # the search's calls, not the test evaluation
    baseline_val = score(task, task.seed, seed_scorer, task.val)
    baseline_test = score(task, task.seed, seed_scorer, task.test) if task.test else None
    candidate = measured.pop("candidate", None)
    for name, value in (("best_candidate", candidate), ("dspy_prompt", measured.pop("dspy_prompt", None))):
        if value is not None:  # evidence for the run directory, too big for a row
            safefile.write_text(run_dir / f"{name}.json", json.dumps(value, indent=1, ensure_ascii=False, default=str))
    facts = {f"peer.{k}": v for k, v in measured.items() if k not in PEER_COLUMNS and not isinstance(v, (dict, list))}
    lm_calls = measured.pop("lm_calls", spent.calls)
    counted = lm_calls is not None  # None: the peer does not call the model (PEFT trains it directly)
    return {
        "baseline_val": baseline_val, "best_val": measured.pop("val", None),
        "baseline_test": baseline_test, "best_test": measured.pop("test"),
        "metric_calls": measured.pop("metric_calls", None), "lm_calls": lm_calls,
        "prompt_tokens": spent.prompt_tokens if counted else None,
        "completion_tokens": spent.completion_tokens if counted else None,
        "tokens": spent.tokens if counted else None, "dollars": spent.dollars if counted else None,
        "search_seconds": measured.pop("search_seconds", None), "backend": backend.id,
        "instruction": (candidate or {}).get("instruction"), "n_demos": measured.get("n_demos"), **facts,
    }


PEER_COLUMNS = ("val", "test", "metric_calls", "lm_calls", "search_seconds", "n_demos")
