"""Peers as sweep cells: DSPy's optimizers, the gepa package and HF PEFT, one module each.

A peer runner gets the task, the cell's backend behind a :class:`Meter` (over the cell's
response cache), the cell and the run directory, and returns a partial row: ``test``
(required), ``val``, ``metric_calls``, ``lm_calls``, ``search_seconds``, ``search_usage``,
``candidate`` (a dict) and any extra facts. A peer's hyperparameters are the fields of its
settings dataclass (``DSPySettings``, ``GEPASettings``, ``PEFTSettings``: their defaults are
the comparison benchmarks' defaults, and a cell may set any field but ``budget``); the
metric-call budget sizes the DSPy and gepa searches, PEFT trains for ``steps``. DSPy, gepa
and peft are imported only when a peer runs. A peer's test score outside its own model
format goes through ``promptlift.run.score_outside``, like every other cell's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptlift.bench.peers.common import Meter, PeerRunner
from promptlift.errors import ConfigError

if TYPE_CHECKING:
    from promptlift.bench.config import Cell
    from promptlift.tasks.base import Task

__all__ = ["PEERS", "Meter", "PeerRunner", "is_peer", "peer_runner"]


def _dspy(method: str) -> PeerRunner:
    def run(task: Task, backend: Meter, cell: Cell, run_dir: Path) -> dict[str, Any]:
        from promptlift.bench.peers import dspy

        return dspy.cell(method, task, backend, cell)

    return run


def _gepa_package(task: Task, backend: Meter, cell: Cell, run_dir: Path) -> dict[str, Any]:
    from promptlift.bench.peers import gepa

    return gepa.cell(task, backend, cell, run_dir)


def _peft(mode: str) -> PeerRunner:
    def run(task: Task, backend: Meter, cell: Cell, run_dir: Path) -> dict[str, Any]:
        from promptlift.bench.peers import peft

        return peft.cell(mode, task, backend, cell)

    return run


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
