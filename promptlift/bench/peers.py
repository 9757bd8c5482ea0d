"""Peers as sweep cells: DSPy's optimizers, the gepa package and PEFT, through the harness
functions of the peer benchmark scripts in ``benchmarks/`` (imported, not rewritten).

A peer runner gets the task, the backend (metered, over the cell's response cache), the cell
and the run directory, and returns a partial row: ``test`` (required), ``val``,
``metric_calls``, ``lm_calls``, ``search_seconds``, ``candidate`` (a dict) and any extra
facts. Peer hyperparameters are the harness's own command-line settings (its defaults unless
the cell sets them; ``DSPY_PARAMS`` ... name the ones a cell may set); the metric-call budget
sizes the DSPy and gepa searches, PEFT trains for ``steps``. The scripts live in the repository, not in the
installed package: set ``PROMPTLIFT_BENCHMARKS`` to their folder when running elsewhere.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any, Callable

from promptlift.errors import ConfigError, MissingDependency

PeerRunner = Callable[[Any, Any, Any, Path], dict[str, Any]]


def benchmarks_dir() -> Path:
    return Path(os.environ.get("PROMPTLIFT_BENCHMARKS") or Path(__file__).resolve().parents[2] / "benchmarks")


def load_script(name: str) -> Any:
    """A benchmark script as a module (loaded once per process)."""
    key = f"promptlift_bench_peer_{name}"
    if key in sys.modules:
        return sys.modules[key]
    path = benchmarks_dir() / f"{name}.py"
    if not path.is_file():
        raise MissingDependency(f"peer cells need the harness {path}; set PROMPTLIFT_BENCHMARKS to the benchmarks folder")
    spec = importlib.util.spec_from_file_location(key, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[key] = module
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except BaseException:
        del sys.modules[key]
        raise
    return module


# --- DSPy (benchmarks/fewshot_vs_dspy.py) --------------------------------------------------
DSPY_PARAMS = ("bootstrap_size", "minibatch", "max_tokens")


def _dspy(method: str) -> PeerRunner:
    def run(task: Any, backend: Any, cell: Any, run_dir: Path) -> dict[str, Any]:
        harness = load_script("fewshot_vs_dspy")
        args = _args(harness, cell, DSPY_PARAMS, budget=_metric_calls(cell))
        evidence: dict[str, Any] = {}
        compiled = _after(harness, "compile_dspy", lambda: backend.usage)
        try:
            row = harness.run_dspy(method, task, backend, cell.seed, args, evidence)
        finally:
            compiled.restore()
        seconds = row.pop("seconds")
        return {**row, "search_seconds": seconds, "search_usage": compiled.value,
                "dspy_prompt": evidence.get(task.name, {}).get(method)}

    return run


# --- the gepa package (benchmarks/gepa_vs_gepa.py) -------------------------------------------
GEPA_PARAMS = ("minibatch", "temperature", "proposal_tokens", "no_merge")


def _gepa_package(task: Any, backend: Any, cell: Any, run_dir: Path) -> dict[str, Any]:
    from promptlift.bench.runner import score

    harness = load_script("gepa_vs_gepa")
    args = _args(harness, cell, GEPA_PARAMS, budget=_metric_calls(cell))
    best, row = harness.run_gepa_package(task, backend, cell.seed, args, run_dir)
    test = score(task, best, unwrapped(backend, levels=1), task.test) if task.test else None
    seconds = row.pop("wall_seconds")
    return {**row, "test": test, "search_seconds": seconds, "candidate": best.to_dict()}


# --- HF PEFT (benchmarks/soft_prompt_vs_peft.py) -------------------------------------------
PEFT_PARAMS = ("n_tokens", "init", "lr", "steps", "batch_size")


def _peft(mode: str) -> PeerRunner:
    def run(task: Any, backend: Any, cell: Any, run_dir: Path) -> dict[str, Any]:
        harness = load_script("soft_prompt_vs_peft")
        args = _args(harness, cell, PEFT_PARAMS)
        row = harness.peft_run(task, unwrapped(backend), args, mode, cell.seed)
        seconds = row.pop("seconds")
        return {**row, "search_seconds": seconds, "metric_calls": None, "lm_calls": None}

    return run


def _args(harness: Any, cell: Any, names: tuple[str, ...], **fixed: Any) -> argparse.Namespace:
    """The harness's own command-line defaults, with the cell's parameters (and budget) over them."""
    unknown = set(cell.params) - set(names)
    if unknown:
        raise ConfigError(f"{cell.optimizer} has no parameter(s) {sorted(unknown)}. Parameters: {sorted(names)}.")
    args = harness.parse([])
    vars(args).update({**cell.params, **fixed})
    return args


def _metric_calls(cell: Any) -> int:
    budget = cell.budget.get("metric_calls")
    if budget is None:
        raise ConfigError(f"{cell.optimizer} needs a metric_calls budget (it sizes the peer's search from it)")
    return int(budget)


def unwrapped(backend: Any, levels: int | None = None) -> Any:
    """The backend under meters and caches (``levels``: how many wrappers to take off)."""
    while hasattr(backend, "inner") and (levels is None or levels > 0):
        backend, levels = backend.inner, None if levels is None else levels - 1
    return backend


class _after:
    """Wrap ``module.name`` to take ``probe()`` when it returns (the search's usage, before the
    harness goes on to its test evaluation). Only our private copy of the script is touched."""

    def __init__(self, module: Any, name: str, probe: Callable[[], Any]) -> None:
        self.module, self.name, self.value = module, name, None
        self.original = original = getattr(module, name)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            out = original(*args, **kwargs)
            self.value = probe()
            return out

        setattr(module, name, wrapped)

    def restore(self) -> None:
        setattr(self.module, self.name, self.original)


PEERS: dict[str, PeerRunner] = {
    "dspy:labeled": _dspy("dspy/labeled"),
    "dspy:bootstrap_rs": _dspy("dspy/bootstrap_rs"),
    "dspy:mipro": _dspy("dspy/mipro"),
    "gepa-package": _gepa_package,
    "peft:prompt_tuning": _peft("prompt"),
    "peft:prefix_tuning": _peft("prefix"),
}


def is_peer(name: str) -> bool:
    return name in PEERS


def peer_runner(name: str) -> PeerRunner:
    try:
        return PEERS[name]
    except KeyError:
        raise ConfigError(f"Unknown peer {name!r}. Peers: {', '.join(PEERS)}.") from None
