"""The prompting-to-training ladder as a sweep: every rung x training-set size x seed is a cell.

A **rung** is a method on the way from prompting to training; each is an optimizer (or the
seed prompt itself, ``zero_shot``, which every cell scores as its baseline). The ladder runs
on the bench machinery (claims, resume, several workers, one storage), on one engine for all
rungs (``torch:smollm2`` by default), so the comparison is fair: same tokenization, same
choice scoring, same validation and test examples. Training sets are nested across sizes
(``TaskSpec.train``: the first N of one shuffled training split), and validation and test are
the same at every size.

The defaults below are sized for a 2-core CPU: a cell takes one to a few minutes on
SmolLM2-135M. Training rungs run 48 steps of 8 examples, validating every 16.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

from promptlift.bench.config import SweepConfig, parse_config
from promptlift.errors import ConfigError

Family = Literal["prompting", "training"]
Needs = Literal["choices", "generation", None]

TRAINING = {"steps": 48, "eval_every": 16, "batch_size": 8, "patience": None}


@dataclass(frozen=True)
class Rung:
    """A method of the ladder: an optimizer with fixed hyperparameters.

    ``needs``: "choices" (classification tasks only), "generation", or None (any task).
    ``flops_per_train_token``: the training cost model (6 x params for a backward pass through
    the whole model, which every gradient rung takes, LoRA included; 2 x params for the forward
    passes of a probe). ``twin``: the rung this one is compared with directly.
    """

    name: str
    optimizer: str
    params: dict[str, Any] = field(default_factory=dict)
    family: Family = "prompting"
    needs: Needs = None
    flops_per_train_token: int = 0
    twin: str | None = None
    about: str = ""


RUNGS: tuple[Rung, ...] = (
    Rung("zero_shot", "", about="the task's seed prompt (every cell's baseline; no cell of its own)"),
    Rung("fewshot", "fewshot", {"formats": ["chat", "plain"], "verbalizers": "auto", "calibrate": "contextual"},
         needs="choices", about="the few-shot family at its strongest measured setting: demos, format, "
                                "label words and calibration searched together"),
    Rung("fewshot", "fewshot", {"k": 4}, needs="generation", about="random labelled demo sets (generation tasks)"),
    Rung("prompt_search", "mipro", {}, about="JointSearch: Optuna TPE over instructions x demos x formats"),
    Rung("bootstrap", "bootstrap", {"calibrate": "auto"}, twin="rft",
         about="demos from the model's own accepted answers (rft's prompting twin)"),
    Rung("best_of_n", "best_of_n", {"n": [5]}, needs="generation", about="majority of 5 sampled answers"),
    Rung("soft_prompt", "soft_prompt", {"n_tokens": 8, "lr": 0.03, **TRAINING}, "training",
         flops_per_train_token=6, about="8 virtual tokens (prompt tuning, text init)"),
    Rung("prefix", "soft_prompt", {"kind": "prefix", "n_tokens": 8, "lr": 0.03, **TRAINING}, "training",
         flops_per_train_token=6, about="8-token KV prefixes (prefix tuning, text init)"),
    Rung("linear_probe", "linear_probe", {}, "training", needs="choices", flops_per_train_token=2,
         about="logistic regression on a hidden layer chosen on validation"),
    Rung("lora", "lora", {"rank": 8, "lr": 2e-3, **TRAINING}, "training", flops_per_train_token=6,
         about="LoRA rank 8 on every attention and MLP projection (PEFT)"),
    Rung("finetune", "finetune", {"lr": 2e-5, **TRAINING}, "training", flops_per_train_token=6,
         about="every weight, AdamW"),
    Rung("rft", "rft", {"rank": 8, "lr": 2e-3, "rounds": 2, "samples": 4, "steps": 24, "eval_every": 12,
                        "batch_size": 8, "patience": None}, "training", flops_per_train_token=6, twin="bootstrap",
         about="rejection-sampling fine-tuning: 2 rounds of 4 samples per input, LoRA on the accepted"),
)

RUNG_NAMES = tuple(dict.fromkeys(r.name for r in RUNGS))
DEFAULT_SIZES = (16, 64, 256)


def rungs_for(classification: bool, names: Sequence[str] | None = None) -> list[Rung]:
    """The rungs that apply to a classification (or generation) task, optionally only ``names``."""
    unknown = sorted(set(names or ()) - set(RUNG_NAMES))
    if unknown:
        raise ConfigError(f"unknown rung(s) {unknown}; rungs: {', '.join(RUNG_NAMES)}")
    kind = "choices" if classification else "generation"
    return [r for r in RUNGS if (names is None or r.name in names) and r.needs in (None, kind)]


def ladder_config(tasks: Sequence[str], *, train_sizes: Sequence[int] = DEFAULT_SIZES, rungs: Sequence[str] | None = None,
                  seeds: Sequence[int] = (0, 1, 2), model: str = "torch:smollm2", val: int = 50, test: int = 200,
                  budget: int = 300, name: str = "ladder", output: str | None = None,
                  storage: str | None = None) -> SweepConfig:
    """The sweep config of a ladder: each task at each training size x each applicable rung x seed."""
    if not tasks:
        raise ConfigError("a ladder needs at least one task")
    sizes = sorted(set(train_sizes))
    if not sizes or sizes[0] < 1:
        raise ConfigError(f"--train-sizes must be positive integers. Got {list(train_sizes)}.")
    task_specs: list[dict[str, Any]] = []
    optimizers: dict[int, dict[str, Any]] = {}
    for task in tasks:
        classification = is_classification(task)
        for n in sizes:
            task_specs.append(_task_spec(task, n, sizes[-1], val, test))
        for r in rungs_for(classification, rungs):
            if r.optimizer:
                spec = optimizers.setdefault(id(r), {"name": r.optimizer, "label": r.name, "params": r.params,
                                                 "tasks": [], "needs": r.needs})
                spec["tasks"] += [f"{task_key(task)}@{n}" for n in sizes]
    if not optimizers:
        raise ConfigError(f"no rung of {list(rungs or RUNG_NAMES)} applies to {list(tasks)}")
    data = {
        "name": name, "description": f"prompting-to-training ladder: {', '.join(tasks)} at {sizes} training examples",
        "tasks": task_specs, "optimizers": _unique_labels(list(optimizers.values())),
        "models": [{"spec": model}], "budgets": [budget], "seeds": list(seeds),
        **({"output": output} if output else {}), **({"storage": storage} if storage else {}),
    }
    return parse_config(data, source="ladder")


def _task_spec(task: str, n: int, largest: int, val: int, test: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": task, "label": f"{task_key(task)}@{n}", "train": n}
    if not _is_file(task):
        spec["sizes"] = [largest, val, test]  # the same val and test at every size; train nested
    return spec


def _unique_labels(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two optimizers for one rung (fewshot on classification and on generation tasks) get distinct
    labels (``fewshot:choices``, ``fewshot:generation``); :func:`rung_of` reads the rung back."""
    labels = [spec["label"] for spec in specs]
    for spec in specs:
        needs = spec.pop("needs")
        if labels.count(spec["label"]) > 1:
            spec["label"] = f"{spec['label']}:{needs}"
    return specs


def task_key(task: str) -> str:
    """How the report names a task: a built-in's name, a data file's stem (the label is ``KEY@SIZE``)."""
    return Path(task).stem if _is_file(task) else task


def _is_file(task: str) -> bool:
    return Path(task).suffix in (".jsonl", ".json", ".csv", ".tsv")


def is_classification(task: str) -> bool:
    """Whether a built-in task or data file scores choices (loads it: data files infer their labels)."""
    from promptlift.tasks import get_task, load_task

    loaded = load_task(task) if _is_file(task) else get_task(task, sizes=(1, 1, 1))
    return bool(loaded.choices)


def rung_of(label: str) -> str:
    """The rung name of a cell's optimizer label (``fewshot:bootstrap`` -> ``fewshot``)."""
    return label.split(":", 1)[0]
