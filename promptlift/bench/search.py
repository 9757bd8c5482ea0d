"""The ``search`` mode: Optuna's sampler picks each cell from the config's space.

Every axis (optimizer, task, model, proposer, budget, seed) is a categorical parameter (an
optimizer restricted to some tasks or models gets its own ``<label>.task``/``.model``); an
optimizer's ``grid`` values are categorical and its ``space`` entries are int/float
distributions, named ``<optimizer label>.<parameter>`` (conditional on that optimizer).
A slot whose worker died is sampled again with its stored parameters fixed, so it reruns
the same cell.
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping, Sequence

from promptlift.bench.config import Cell, OptimizerSpec, ParamSpace, SweepConfig, budget_label


def sampler_for(config: SweepConfig, worker: str) -> Any:
    """The search's sampler, seeded per worker (equal seeds would make workers propose alike)."""
    import optuna

    seed = int(hashlib.sha256(worker.encode()).hexdigest()[:8], 16)
    if config.search is not None and config.search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def sample_cell(study: Any, config: SweepConfig, fixed: Mapping[str, Any] | None) -> tuple[Any, Cell, dict[str, Any]]:
    """Ask the study for a trial and build its cell; ``fixed`` parameters are re-used as they were."""
    import optuna

    base = study.sampler
    if fixed:
        study.sampler = optuna.samplers.PartialFixedSampler(dict(fixed), base)
    try:
        trial = study.ask()
    finally:
        study.sampler = base
    cell = _cell(trial, config)
    return trial, cell, dict(trial.params)


def _cell(trial: Any, config: SweepConfig) -> Cell:
    spec: OptimizerSpec = _pick(trial, "optimizer", config.optimizers, [o.key for o in config.optimizers])
    tasks = [t for t in config.tasks if spec.tasks is None or t.key in spec.tasks]
    task = _pick(trial, "task" if len(tasks) == len(config.tasks) else f"{spec.key}.task", tasks, [t.key for t in tasks])
    models = [m for m in config.models if spec.applies(task, m)]
    model = _pick(trial, "model" if len(models) == len(config.models) else f"{spec.key}.model", models,
                  [m.key for m in models])
    params, chosen = dict(spec.params), {}
    for name, values in spec.grid.items():
        chosen[name] = params[name] = values[trial.suggest_categorical(f"{spec.key}.{name}", list(range(len(values))))]
    for name, space in spec.space.items():
        chosen[name] = params[name] = _suggest(trial, f"{spec.key}.{name}", space)
    proposer = _pick(trial, "proposer", config.proposers, [p.key if p else "task model" for p in config.proposers])
    budget = _pick(trial, "budget", config.budgets, [budget_label(b) for b in config.budgets])
    seed = trial.suggest_categorical("seed", list(config.seeds))
    suffix = ",".join(f"{k}={_fmt(v)}" for k, v in chosen.items())
    label = f"{spec.key}[{suffix}]" if suffix else spec.key
    return Cell(task, spec.name, label, params, model, proposer, budget, seed)


def _pick(trial: Any, name: str, options: Sequence[Any], keys: list[str]) -> Any:
    return options[keys.index(trial.suggest_categorical(name, keys))]


def _suggest(trial: Any, name: str, space: ParamSpace) -> Any:
    if space.choices is not None:
        return space.choices[trial.suggest_categorical(name, list(range(len(space.choices))))]
    low, high = space.low, space.high
    if isinstance(low, int) and isinstance(high, int) and isinstance(space.step or 1, int):
        return trial.suggest_int(name, int(low), int(high), step=int(space.step or 1), log=space.log)
    return trial.suggest_float(name, low, high, step=space.step, log=space.log)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
