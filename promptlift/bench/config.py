"""Sweep configs: a YAML file parsed with pydantic, expanded into cells.

A config is a grid over tasks x optimizers (with their hyperparameters) x task models x
proposer models x budgets x seeds; every point of it is one **cell**. With a ``search``
section, Optuna's sampler picks the points instead (``n_trials`` cells)::

    name: smoke
    tasks: [{name: sentiment, sizes: [24, 8, 8]}]
    optimizers:
      - {name: fewshot, params: {k: 2}, grid: {calibrate: [null, contextual]}}
      - dspy:labeled                        # a peer is a cell like any other
    models: [{spec: "llamacpp:smollm2", options: {n_threads: 1}}]
    proposers: [null]                       # null: the task model proposes
    budgets: [16, {metric_calls: 32, seconds: 60}]
    seeds: [0, 1]

``params`` are fixed hyperparameters; ``grid`` lists values to cross; ``space`` gives Optuna
distributions for a ``search`` (``{low, high, log?, step?}`` or ``{choices: [...]}``);
``tasks``/``models``/``budgets`` restrict an optimizer to some of them (soft prompts need
``torch:``). Seeds seed the optimizers; the data split of a task is fixed (its own ``seed``
option).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from promptlift.checks import is_int
from promptlift.errors import ConfigError

Objective = Literal["best_val", "best_test", "lift"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskSpec(_Strict):
    """A built-in task name or a .jsonl/.csv path; ``options`` go to get_task/load_task.

    ``train`` keeps only the first N training examples: specs that differ only in ``train``
    share their validation and test splits and have nested training sets (a learning curve).
    """

    name: str
    sizes: tuple[int, int, int] | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None
    train: int | None = Field(None, ge=1)

    @property
    def key(self) -> str:
        return self.label or self.name


class ModelSpec(_Strict):
    """A model string (``engine:model``) with options for the backend's ``from_spec``."""

    spec: str
    options: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None

    @property
    def key(self) -> str:
        return self.label or self.spec


class ParamSpace(_Strict):
    """An Optuna distribution: ``{low, high, log, step}`` (int if both ends are) or ``{choices}``."""

    low: int | float | None = None
    high: int | float | None = None
    log: bool = False
    step: int | float | None = None
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ParamSpace:
        if (self.choices is None) == (self.low is None or self.high is None):
            raise ValueError("give either choices or both low and high")
        return self


class OptimizerSpec(_Strict):
    """An optimizer (registry name, ``module:Class``) or a peer (``dspy:mipro``, ``gepa-package``)."""

    name: str
    label: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    space: dict[str, ParamSpace] = Field(default_factory=dict)
    tasks: list[str] | None = None  # labels of the tasks it runs on (default: all)
    models: list[str] | None = None  # labels of the models it runs on (default: all)
    budgets: list[int | str] | None = None  # the budgets it runs at (as in budget_label; default: all)

    @property
    def key(self) -> str:
        return self.label or self.name

    def applies(self, task: TaskSpec, model: ModelSpec, budget: Mapping[str, Any] | None = None) -> bool:
        return ((self.tasks is None or task.key in self.tasks) and (self.models is None or model.key in self.models)
                and (budget is None or self.budgets is None or budget_label(budget) in map(str, self.budgets)))

    @model_validator(mode="after")
    def _disjoint(self) -> OptimizerSpec:
        both = (set(self.params) & set(self.grid)) | (set(self.params) & set(self.space)) | (set(self.grid) & set(self.space))
        if both:
            raise ValueError(f"parameter(s) {sorted(both)} appear in more than one of params, grid, space")
        empty = [name for name, values in self.grid.items() if not values]
        if empty:
            raise ValueError(f"grid parameter(s) {empty} have no values")
        return self

    def variants(self) -> list[tuple[str, dict[str, Any]]]:
        """(label, params) for every point of the hyperparameter grid."""
        names = list(self.grid)
        out = []
        for values in itertools.product(*(self.grid[n] for n in names)):
            chosen = dict(zip(names, values))
            suffix = ",".join(f"{n}={_short(v)}" for n, v in chosen.items())
            out.append((f"{self.key}[{suffix}]" if suffix else self.key, {**self.params, **chosen}))
        return out


class SearchSpec(_Strict):
    """An Optuna search instead of the grid: ``n_trials`` cells picked by the sampler."""

    n_trials: int = Field(gt=0)
    sampler: Literal["tpe", "random"] = "tpe"
    objective: Objective = "best_val"


class SweepConfig(_Strict):
    name: str
    description: str = ""
    output: str | None = None
    storage: str | None = None
    tasks: list[TaskSpec] = Field(min_length=1)
    optimizers: list[OptimizerSpec] = Field(min_length=1)
    models: list[ModelSpec] = Field(min_length=1)
    proposers: list[ModelSpec | None] = Field(default_factory=lambda: [None], min_length=1)  # type: ignore[arg-type]
    budgets: list[dict[str, float | int]] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    search: SearchSpec | None = None
    objective: Objective = "best_test"
    cache: Literal["cell", "shared", "none"] = "cell"
    lease_seconds: float = Field(60.0, gt=0)
    max_attempts: int = Field(3, ge=1)
    db_wait_seconds: float = Field(300.0, gt=0)  # how long a worker waits out an unreachable database

    @field_validator("tasks", "optimizers", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        return [{"name": x} if isinstance(x, str) else x for x in value] if isinstance(value, list) else value

    @field_validator("models", "proposers", mode="before")
    @classmethod
    def _specs(cls, value: Any) -> Any:
        return [{"spec": x} if isinstance(x, str) else x for x in value] if isinstance(value, list) else value

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value):
            raise ValueError("use letters, digits, '_', '.', '-' (it names the study and the output folder)")
        return value

    @field_validator("budgets", mode="before")
    @classmethod
    def _budgets(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        return [{"metric_calls": b} if is_int(b) else b for b in value]

    @field_validator("budgets")
    @classmethod
    def _budget_limits(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from promptlift.budget import Budget

        known = set(Budget.__dataclass_fields__)
        for budget in value:
            unknown = sorted(set(budget) - known)
            if unknown:
                raise ValueError(f"unknown budget limit(s) {unknown}; limits: {sorted(known)}")
            Budget.from_dict(budget)  # non-positive limits fail here
        return value

    @model_validator(mode="after")
    def _unique_labels(self) -> SweepConfig:
        for axis, keys in (("tasks", [t.key for t in self.tasks]), ("optimizers", [o.key for o in self.optimizers]),
                           ("models", [m.key for m in self.models])):
            if len(set(keys)) != len(keys):
                raise ValueError(f"{axis} have duplicate labels {keys}: give each a distinct 'label'")
        return self

    @model_validator(mode="after")
    def _known_restrictions(self) -> SweepConfig:
        tasks, models = {t.key for t in self.tasks}, {m.key for m in self.models}
        for spec in self.optimizers:
            budgets = {budget_label(b) for b in self.budgets}
            unknown = (sorted(set(spec.tasks or ()) - tasks) + sorted(set(spec.models or ()) - models)
                       + sorted(set(map(str, spec.budgets or ())) - budgets))
            if unknown:
                raise ValueError(f"optimizer {spec.key!r} names unknown task, model or budget label(s) {unknown}")
        return self

    @property
    def output_dir(self) -> Path:
        return Path(self.output or f"runs/bench/{self.name}")

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(self.output_dir / 'sweep.db').resolve()}"


_UNSET_TASK_FIELDS = {"train"}  # fields added after sweeps were stored: left out while unset, so cell ids stay


@dataclass(frozen=True)
class Cell:
    """One point of a sweep: everything needed to run it, JSON-able, with a stable id."""

    task: TaskSpec
    optimizer: str
    label: str
    params: Mapping[str, Any]
    model: ModelSpec
    proposer: ModelSpec | None
    budget: Mapping[str, float | int]
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task.model_dump(exclude=_UNSET_TASK_FIELDS if self.task.train is None else None),
            "optimizer": self.optimizer, "label": self.label,
            "params": dict(self.params), "model": self.model.model_dump(),
            "proposer": self.proposer.model_dump() if self.proposer else None,
            "budget": dict(self.budget), "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cell:
        return cls(
            task=TaskSpec(**data["task"]), optimizer=data["optimizer"], label=data["label"],
            params=data["params"], model=ModelSpec(**data["model"]),
            proposer=ModelSpec(**data["proposer"]) if data.get("proposer") else None,
            budget=data["budget"], seed=data["seed"],
        )

    @property
    def id(self) -> str:
        """A readable, stable, filesystem-safe name: task-optimizer-model-budget-seed-hash."""
        digest = hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:8]
        parts = (self.task.key, self.label, self.model.key.split(":")[-1], budget_label(self.budget), f"s{self.seed}")
        slug = re.sub(r"[^A-Za-z0-9_.=,+-]+", "_", "-".join(parts)).strip("_")
        return f"{slug[:80]}-{digest}"


def budget_label(budget: Mapping[str, Any]) -> str:
    if set(budget) == {"metric_calls"}:
        return str(budget["metric_calls"])
    return ",".join(f"{k}={_short(v)}" for k, v in sorted(budget.items()))


def _short(value: Any) -> str:
    return json.dumps(value, separators=(",", ":")) if not isinstance(value, str) else value


def grid_cells(config: SweepConfig) -> list[Cell]:
    """Every cell of the grid, in a stable order (seeds innermost, so a partial sweep covers all methods)."""
    cells = []
    for task, model, proposer, budget in itertools.product(config.tasks, config.models, config.proposers, config.budgets):
        for seed in config.seeds:
            for spec in (o for o in config.optimizers if o.applies(task, model, budget)):
                for label, params in spec.variants():
                    cells.append(Cell(task, spec.name, label, params, model, proposer, budget, seed))
    return cells


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> SweepConfig:
    """Read a YAML config; ``overrides`` replace top-level keys (e.g. from ``--set seeds=[0]``)."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the sweep config: {' '.join(str(exc).split())[:200]}") from None
    except RecursionError:
        raise ConfigError(f"{path}: cannot read the sweep config: nested too deeply") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a sweep config must be a YAML mapping")
    return parse_config({**data, **(overrides or {})}, source=str(path))


def parse_config(data: Mapping[str, Any], *, source: str = "config") -> SweepConfig:
    try:
        return SweepConfig(**data)
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{source}: {problems}") from None


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``KEY=YAML`` pairs (``seeds=[0]``, ``output=/tmp/x``) into a mapping."""
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r} must look like KEY=VALUE (the value is YAML)")
        out[key.strip()] = yaml.safe_load(value)
    return out
