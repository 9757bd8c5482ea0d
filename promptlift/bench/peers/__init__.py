"""Peers as sweep cells: DSPy's optimizers, the gepa package and HF PEFT, one module each.

A peer runner gets the task, the cell's backend behind a :class:`Meter` (over the cell's
response cache), the cell and the run directory, and returns a partial row: ``test``
(required), ``val``, ``metric_calls``, ``lm_calls``, ``search_seconds``, ``search_usage``,
``candidate`` (a dict) and any extra facts. A peer's hyperparameters are the fields of its
settings dataclass (``DSPySettings``, ``GEPASettings``, ``PEFTSettings``: their defaults are
the comparison benchmarks' defaults, and a cell may set any field but ``budget``); the
metric-call budget sizes the DSPy and gepa searches, PEFT trains for ``steps``. DSPy, gepa
and peft are imported only when a peer runs. A peer's test score outside its own model
format goes through ``promptlift.answers.score_outside``, like every other cell's.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any, Mapping

from promptlift.bench.peers.common import Meter, PeerRunner, check
from promptlift.errors import ConfigError

__all__ = ["PEERS", "Meter", "PeerRunner", "check_params", "is_peer", "peer_runner"]


PEERS: dict[str, tuple[str, str]] = {  # name: (module in this package, the variant its ``cell`` runs)
    "dspy:labeled": ("dspy", "dspy/labeled"),
    "dspy:bootstrap_rs": ("dspy", "dspy/bootstrap_rs"),
    "dspy:mipro": ("dspy", "dspy/mipro"),
    "gepa-package": ("gepa", "package"),
    "peft:prompt_tuning": ("peft", "prompt"),
    "peft:prefix_tuning": ("peft", "prefix"),
}


def is_peer(name: str) -> bool:
    return name in PEERS


def _module(name: str) -> tuple[Any, str]:
    try:
        module, variant = PEERS[name]
    except KeyError:
        raise ConfigError(f"Unknown peer {name!r}. Peers: {', '.join(PEERS)}.") from None
    return importlib.import_module(f"{__name__}.{module}"), variant


def peer_runner(name: str) -> PeerRunner:
    """The runner of a peer cell (its module's ``cell`` for the peer's variant)."""
    module, variant = _module(name)
    return functools.partial(module.cell, variant)


def check_params(name: str, params: Mapping[str, Any]) -> None:
    """A peer's parameters checked against its settings before any cell runs (its library is not imported)."""
    module, _ = _module(name)
    check(module.SETTINGS, name, params)
