"""Cheap sweep configs for the tests: a toy JSONL task on the test-only ``benchtest`` engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from promptlift.optimizers.fewshot import FewShot
from promptlift.testing.doubles import toy_examples

ROOT = Path(__file__).resolve().parents[2]


def toy_task_file(directory: Path) -> Path:
    path = directory / "toy.jsonl"
    rows = [{"id": e.id, "review": e.inputs["review"], "sentiment": e.output} for e in toy_examples(40)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def toy_config(directory: Path, **overrides: Any) -> Path:
    """A grid of 2 optimizers x 2 budgets x 3 seeds = 12 cells on the scripted double."""
    config = {
        "name": "toy",
        "output": str(directory / "out"),
        "tasks": [{"name": str(toy_task_file(directory)), "label": "toy", "options": {"output_field": "sentiment", "choices": ["positive", "negative"]}}],
        "optimizers": [{"name": "fewshot", "params": {"k": 2}}, {"name": "fewshot", "label": "fewshot-k4", "params": {"k": 4}}],
        "models": [{"spec": "benchtest:toy", "label": "toy"}],
        "budgets": [12, 24],
        "seeds": [0, 1, 2],
        "lease_seconds": 30,
        **overrides,
    }
    path = directory / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_worker(config: Path, *args: str, env: dict[str, str] | None = None, log: Path | None = None) -> subprocess.Popen:
    """A ``promptlift bench`` worker process with the test engine registered."""
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 (closed when the process ends)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.bench.worker", str(config), "--no-progress", *args],
        cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT,
    )


def wait_for(predicate: Any, timeout: float = 120.0, what: str = "condition") -> Any:
    """Poll ``predicate`` (errors count as not yet: the workers may still be creating the database)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:  # noqa: BLE001
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass(frozen=True)
class BrokenSearch(FewShot):
    """Test double: an optimizer that builds but whose search raises (a cell that fails when run)."""

    def _search(self, run):
        raise RuntimeError("no_such: this search always fails")


def cell_rows(url: str, study: str = "toy") -> list[dict[str, Any]]:
    """The claim table's rows of a sweep, read as any worker would."""
    from promptlift.bench.claims import Claims

    table = Claims(url, study)
    try:
        return table.rows()
    finally:
        table.close()


def study_trials(url: str, study: str = "toy") -> list[Any]:
    """The sweep's trials through Optuna's own API (what optuna-dashboard reads)."""
    import optuna

    from promptlift.bench.storage import optuna_storage

    return optuna.load_study(study_name=study, storage=optuna_storage(url)).get_trials(deepcopy=False)


def completions(trials: list[Any]) -> dict[str, int]:
    """COMPLETE trials per cell: 1 everywhere means no cell was recorded twice."""
    out: dict[str, int] = {}
    for trial in trials:
        if trial.state.name == "COMPLETE":
            out[trial.user_attrs["cell"]] = out.get(trial.user_attrs["cell"], 0) + 1
    return out
