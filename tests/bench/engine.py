"""A test-only model engine for sweep tests (a test double, not a model).

``benchtest:NAME`` answers with ``promptlift.testing.doubles.keyword_script`` (``benchtest:dspy``: with the
DSPy harness's scripted double, which also speaks DSPy's output format). Options: ``delay`` seconds
per batch; ``gate``: a file that must exist before the first answer (lets a test start two
workers and release them together). With ``BENCHTEST_HANG`` set in the environment the
backend never answers (a worker to kill mid-cell); with ``BENCHTEST_HANG_AFTER=N`` it answers N
batches, then hangs, touching the file ``BENCHTEST_HANG_MARKER`` (if set) so a test knows when.
``BENCHTEST_DELAY`` replaces the ``delay`` option (one config, slow workers and a fast reference).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Sequence

from promptlift.testing.doubles import scripted


class SlowScripted:
    def __init__(self, name: str, delay: float, gate: str | None) -> None:
        self.inner = scripted(name)
        self.id = self.inner.id
        self.capabilities = self.inner.capabilities
        self.delay = float(os.environ.get("BENCHTEST_DELAY", delay))
        self.gate = Path(gate) if gate else None
        self.answered = 0

    def complete(self, requests: Sequence[Any]) -> list[Any]:
        if self.answered >= int(os.environ.get("BENCHTEST_HANG_AFTER", "-1")) >= 0:
            marker = os.environ.get("BENCHTEST_HANG_MARKER")
            if marker:
                Path(marker).touch()
            deadline = time.monotonic() + 300  # the test kills this worker long before; never hang forever
            while time.monotonic() < deadline:
                time.sleep(0.05)
            raise RuntimeError("test double: hung for 300 s and nobody killed this worker")
        while os.environ.get("BENCHTEST_HANG") or (self.gate is not None and not self.gate.exists()):
            time.sleep(0.05)
        time.sleep(self.delay)
        self.answered += 1
        return self.inner.complete(requests)


class BenchEngine:
    @classmethod
    def from_spec(cls, model: str, *, delay: float = 0.0, gate: str | None = None) -> Any:
        if model == "dspy":  # the shipped DSPy double: it also answers in DSPy's format
            from promptlift.testing.doubles import dspy_double

            return dspy_double()
        return SlowScripted(model, delay, gate)


def register() -> None:
    """Add the engine (in this process only) and skip each run's own plot (slow, not under test)."""
    from promptlift.backends import registry
    from promptlift.result import Result

    registry.ENGINES["benchtest"] = "tests.bench.engine:BenchEngine"
    Result.plot = lambda self, path=None: None
