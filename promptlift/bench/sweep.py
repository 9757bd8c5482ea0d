"""The sweep worker: pull cells from one shared study until none is left.

Every cell is an Optuna trial in a study (named after the sweep) in an RDB storage: an
SQLite file under the output folder by default, or any SQLAlchemy URL (PostgreSQL, MySQL),
so any number of ``promptlift bench`` workers on any number of machines share one sweep.
Which worker runs which cell is decided by the claim table next to the study
(:mod:`promptlift.bench.claims`): a finished cell is never run again, and a killed worker's
cell is claimed again once its lease runs out (its Optuna trial is then marked FAIL).

Ctrl-C gives the running cell back (pending again, its trial FAIL with ``interrupted``), so
the study stays consistent and the next worker runs the cell from the start. Every database
call goes through one :class:`~promptlift.bench.storage.DatabaseRetry`: a database restart is
waited out (``db_wait_seconds``); past that the worker stops with a one-line error and its
cell returns to the pool when its lease runs out.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

from promptlift.bench.claims import DONE, FAILED, PENDING, RUNNING, Claim, Claims
from promptlift.bench.config import Cell, SweepConfig, grid_cells
from promptlift.bench.progress import CellBar, SweepBar
from promptlift.bench.runner import BackendPool, check_optimizers, run_cell
from promptlift.bench.search import sample_cell, sampler_for
from promptlift.bench.storage import DatabaseRetry, optuna_storage
from promptlift.bench.versions import environment
from promptlift.cache import ResponseCache
from promptlift.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

TRIAL_COLUMNS = ("baseline_val", "best_val", "baseline_test", "best_test", "lift", "metric_calls", "lm_calls",
                 "tokens", "dollars", "search_seconds", "cell_seconds")


@dataclass
class WorkSummary:
    worker: str
    ran: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)


class Sweep:
    """One worker's view of a sweep: its study, its claim table and its output folder."""

    def __init__(self, config: SweepConfig, *, worker: str | None = None, progress: bool = True) -> None:
        check_optimizers(config)
        self.config = config
        self.out = config.output_dir
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.progress = progress
        self.pool = BackendPool()
        self.out.mkdir(parents=True, exist_ok=True)
        self.baselines: ResponseCache | None = None  # the seed's scores, shared by the cells (opened by the first)
        self.db = DatabaseRetry(config.storage_url, config.db_wait_seconds)
        self.study = _retrying(self._study)
        self.claims = _retrying(lambda: Claims(config.storage_url, config.name, lease_seconds=config.lease_seconds,
                                               max_attempts=config.max_attempts, retry=self.db))
        _retrying(self._register)

    # --- set-up --------------------------------------------------------------------------
    def _study(self) -> Any:
        import optuna

        if not logging.getLogger().isEnabledFor(logging.INFO):  # optuna's per-trial lines would break the bars
            optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = optuna_storage(self.config.storage_url)
        return self.db("open the study", lambda: optuna.create_study(
            storage=storage, study_name=self.config.name, direction="maximize", load_if_exists=True,
            sampler=sampler_for(self.config, self.worker)))

    def _register(self) -> None:
        if self.config.search is None:
            added = self.claims.register((c.id, {"cell": c.to_dict()}) for c in grid_cells(self.config))
        else:
            added = self.claims.register((f"trial-{i:04d}", {}) for i in range(self.config.search.n_trials))
        if added:
            log.info("registered %d new cells in sweep %r", added, self.config.name)

    # --- the loop ------------------------------------------------------------------------
    def work(self, *, wait: bool = False, max_cells: int | None = None) -> WorkSummary:
        """Run cells until none can be claimed (``wait``: until none is pending or running anywhere)."""
        summary = WorkSummary(self.worker)
        with SweepBar(self.claims, self.config.name, enabled=self.progress) as bar:
            while max_cells is None or len(summary.ran) + len(summary.failed) < max_cells:
                done = self._cycle()
                if done is None:
                    counts = self.claims.counts()
                    if not wait or counts[PENDING] + counts[RUNNING] == 0:
                        break
                    bar.refresh()
                    time.sleep(min(5.0, self.config.lease_seconds / 4))
                    continue
                getattr(summary, done[1]).append(done[0])
                bar.refresh()
        return summary

    def _cycle(self) -> tuple[str, str] | None:
        """Claim, run and record one cell: (cell, 'ran' | 'failed' | 'lost'), or None if none is free.

        Ctrl-C gets through only while the cell itself runs; at any other moment it is held
        until the claim table and the study agree, then raised.
        """
        with _interrupts_held() as deferred:
            claim = self.claims.claim(self.worker)
            if claim is None:
                return None
            try:
                return self._attempt(claim, deferred)
            except DatabaseUnavailable as exc:
                raise DatabaseUnavailable(f"{exc}; this worker stops, and cell {claim.cell} returns to the pool "
                                          f"when its lease runs out ({self.config.lease_seconds:g} s)") from None

    def _attempt(self, claim: Claim, deferred: list[Any]) -> tuple[str, str]:
        self._fail_stale_trial(claim)
        trial, cell = self._trial(claim)
        try:
            if deferred:
                raise KeyboardInterrupt
            with _interruptible():
                row = self._execute(claim, cell)
        except KeyboardInterrupt:
            self._give_back(claim, trial)
            raise
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            self._fail(claim, trial, exc)
            return claim.cell, "failed"
        return claim.cell, self._record(claim, trial, row)

    def _execute(self, claim: Claim, cell: Cell) -> dict[str, Any]:
        run_dir = self.out / "cells" / claim.cell
        log.info("worker %s runs cell %s (attempt %d)", self.worker, claim.cell, claim.attempts)
        with _Lease(self.claims, claim.cell, self.worker, self.config.lease_seconds / 4):
            if run_dir.exists():  # an earlier attempt's partial output: start clean, so timings stay honest
                shutil.rmtree(run_dir)
            bars = [CellBar(claim.cell)] if self.progress else []
            if self.baselines is None:
                self.baselines = ResponseCache(self.out / "baselines.sqlite")
            return run_cell(cell, run_dir, self.pool, cache=self.config.cache, callbacks=bars, baselines=self.baselines)

    def _give_back(self, claim: Claim, trial: Any) -> None:
        """Ctrl-C: the cell is pending again (this attempt does not count), its trial FAIL."""
        with _interrupts_held():
            self.claims.release(claim.cell, self.worker)
            self.db("mark a trial interrupted", lambda: trial.set_user_attr("interrupted", True))
            self._tell(trial, state=_state("FAIL"))

    def _fail(self, claim: Claim, trial: Any, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"
        log.error("cell %s failed: %s", claim.cell, message, exc_info=log.isEnabledFor(logging.DEBUG))
        self.db("record an error", lambda: trial.set_user_attr("error", message[:2000]))
        self.claims.fail(claim.cell, self.worker, message)
        self._tell(trial, state=_state("FAIL"))

    def _record(self, claim: Claim, trial: Any, row: dict[str, Any]) -> str:
        row = {**row, "slot": claim.cell, "worker": self.worker, "attempts": claim.attempts, "trial": trial.number,
               "run_dir": str(self.out / "cells" / claim.cell), **environment()}
        with _interrupts_held():
            self.db("record the scores", lambda: trial.set_user_attr("row", {key: row.get(key) for key in TRIAL_COLUMNS}))
            if not self.claims.finish(claim.cell, self.worker, row):
                log.warning("cell %s: lost its claim while running (lease expired); result discarded", claim.cell)
                self._tell(trial, state=_state("FAIL"))
                return "lost"
            value = row.get(self.config.search.objective if self.config.search else self.config.objective)
            if value is None:
                self._tell(trial, state=_state("FAIL"))
            else:
                self._tell(trial, float(value))
        return "ran"

    def _tell(self, trial: Any, value: float | None = None, *, state: Any = None) -> None:
        """Finish a trial; a retry after a commit whose answer was lost finds it finished and moves on."""
        self.db("finish a trial", lambda: self.study.tell(trial, value, state=state, skip_if_finished=True))

    def _trial(self, claim: Claim) -> tuple[Any, Cell]:
        """Open this attempt's Optuna trial; a search slot is sampled here (or re-used after a dead worker)."""
        if self.config.search is None:
            trial = self.db("open a trial", self.study.ask)
            cell = Cell.from_dict(claim.spec["cell"])
        else:
            trial, cell, params = self.db("sample a cell", lambda: sample_cell(self.study, self.config,
                                                                               claim.spec.get("params")))
            claim.spec.update(cell=cell.to_dict(), params=params)
        env = environment()  # versions apart: optuna-dashboard cuts an attribute's JSON at 1,024 characters
        claimed = {"config": cell.to_dict(), "worker": self.worker, "host": env["host"], "attempt": claim.attempts}
        self.db("describe a trial", lambda: (trial.set_user_attr("cell", claim.cell),
                                             trial.set_user_attr("claim", claimed),
                                             trial.set_user_attr("versions", env["versions"])))
        self.claims.attach(claim.cell, self.worker, trial.number, claim.spec if self.config.search else None)
        return trial, cell

    def _fail_stale_trial(self, claim: Claim) -> None:
        """The Optuna trial of a worker that died holding this cell is FAIL, not RUNNING forever."""
        if claim.previous_trial is None:
            return
        trial = self.db("read a trial", lambda: self.study.get_trials(deepcopy=False)[claim.previous_trial])
        if trial.state == _state("RUNNING"):
            self._tell(claim.previous_trial, state=_state("FAIL"))

    def close(self) -> None:
        self.pool.close()
        if self.baselines is not None:
            self.baselines.close()
        self.claims.close()


def _state(name: str) -> Any:
    import optuna

    return getattr(optuna.trial.TrialState, name)


def _retrying(make: Any, tries: int = 5) -> Any:
    """Set-up steps that can collide when several workers open a fresh database at once."""
    import sqlalchemy as sa

    for attempt in range(tries):
        try:
            return make()
        except (sa.exc.OperationalError, sa.exc.IntegrityError, sa.exc.ProgrammingError) as exc:
            collided = not isinstance(exc, sa.exc.ProgrammingError) or "already exists" in str(exc)  # PostgreSQL DDL
            if attempt == tries - 1 or not collided:
                raise
            log.debug("sweep set-up collided with another worker (%s); retrying", exc)
            time.sleep(0.5 + attempt)
    raise AssertionError("unreachable")


class _Lease(threading.Thread):
    """Renews a cell's lease in the background while the cell runs."""

    def __init__(self, claims: Claims, cell: str, worker: str, interval: float) -> None:
        super().__init__(name=f"lease-{cell}", daemon=True)
        self.claims, self.cell, self.worker, self.interval = claims, cell, worker, interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        wait = self.interval
        while not self._stop_event.wait(wait):
            try:
                if not self.claims.renew(self.cell, self.worker):
                    log.warning("cell %s: lease lost (another worker may run it)", self.cell)
                    return
                wait = self.interval
            except Exception as exc:  # a locked or restarting database: try again soon, before the lease runs out
                wait = min(self.interval, 2.0)
                log.warning("cell %s: could not renew the lease (%s); again in %.0f s", self.cell,
                            str(exc).splitlines()[0][:160], wait)

    def __enter__(self) -> _Lease:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop_event.set()
        self.join()


@contextmanager
def _interrupts_held() -> Iterator[list[Any]]:
    """Defer Ctrl-C while the claim table and the study are brought into agreement.

    Yields the list of deferred interrupts; if there is one, KeyboardInterrupt is raised on leaving.
    """
    received: list[Any] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = signal.signal(signal.SIGINT, lambda *a: received.append(a))
    try:
        yield received
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt


@contextmanager
def _interruptible() -> Iterator[None]:
    """Let Ctrl-C through again (inside ``_interrupts_held``), as a KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, held)


__all__ = ["DONE", "FAILED", "Sweep", "WorkSummary"]
