"""The claim table: which worker runs which cell, under a lease, in the sweep's own database.

Optuna's trial queue cannot promise that a cell runs once: on SQLite two workers can both
pop the same waiting trial (optuna/optuna#4621). So cells are claimed here. A claim is one
transaction: select the first claimable cell (pending, or running under an expired lease)
and mark it running, guarded by a conditional ``UPDATE ... WHERE <still claimable> AND
attempts = <as read>`` of which exactly one worker sees ``rowcount == 1``. On PostgreSQL
(and MySQL 8) the select is ``SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1``: concurrent
claimers lock different rows instead of racing for the same one, so the guard never loses;
SQLite ignores ``FOR UPDATE`` and the guard alone decides (the loser tries the next cell).
A live worker renews its lease every few seconds; a killed worker's lease runs out and the
next worker claims the cell again (``attempts`` counts the claims). A cell is marked done
only by the worker holding its claim, with its result row in the same statement, so a
finished cell is never run again and never recorded twice.

Leases compare wall clocks, so workers on several machines need synchronised clocks (NTP)
and a lease much longer than any clock skew. Every call can go through a
:class:`~promptlift.bench.storage.DatabaseRetry` (a server restart is retried, not fatal);
``finish`` and ``fail`` are idempotent under it: if the connection dropped after the commit,
the retry finds the cell already marked by this worker.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, TypeVar

import sqlalchemy as sa

from promptlift.bench.storage import DatabaseRetry, engine_for

log = logging.getLogger(__name__)

T = TypeVar("T")

TABLE = "promptlift_bench_cells"
PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"

metadata = sa.MetaData()
cells = sa.Table(
    TABLE, metadata,
    sa.Column("study", sa.String(256), primary_key=True),
    sa.Column("cell", sa.String(256), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("spec", sa.Text, nullable=False),  # the cell as JSON ("{}" for a search slot not yet sampled)
    sa.Column("status", sa.String(16), nullable=False, default=PENDING),
    sa.Column("worker", sa.String(256)),
    sa.Column("lease_until", sa.Float, nullable=False, default=0.0),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("trial_number", sa.Integer),
    sa.Column("result", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("updated", sa.Float, nullable=False, default=0.0),
)


@dataclass(frozen=True)
class Claim:
    cell: str
    spec: dict[str, Any]
    attempts: int  # including this one
    previous_trial: int | None  # the Optuna trial of a dead worker's attempt, if any


class Claims:
    def __init__(self, url: str, study: str, *, lease_seconds: float = 60.0, max_attempts: int = 3,
                 retry: DatabaseRetry | None = None) -> None:
        self.engine = engine_for(url)
        self.study = study
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.retry = retry
        self._retried("create the claim table", lambda: metadata.create_all(self.engine, checkfirst=True))

    def _retried(self, what: str, call: Callable[[], T], *, once: bool = False) -> T:
        return call() if self.retry is None else self.retry(what, call, once=once)

    def close(self) -> None:
        self.engine.dispose()

    def _where(self, cell: str) -> Any:
        return sa.and_(cells.c.study == self.study, cells.c.cell == cell)

    # --- registering ---------------------------------------------------------------------
    def register(self, specs: Iterable[tuple[str, Mapping[str, Any]]]) -> int:
        """Add the cells not yet in the table (concurrent workers may race: duplicates are skipped)."""
        specs = list(specs)
        return self._retried("register the cells", lambda: self._register(specs))

    def _register(self, specs: list[tuple[str, Mapping[str, Any]]]) -> int:
        with self.engine.connect() as conn:
            known = set(conn.scalars(sa.select(cells.c.cell).where(cells.c.study == self.study)))
            position = conn.scalar(sa.select(sa.func.count()).select_from(cells).where(cells.c.study == self.study)) or 0
        added = 0
        for cell, spec in specs:
            if cell in known:
                continue
            try:
                with self.engine.begin() as conn:
                    conn.execute(cells.insert().values(
                        study=self.study, cell=cell, position=position, spec=json.dumps(spec, sort_keys=True),
                        status=PENDING, lease_until=0.0, attempts=0, updated=time.time()))
                added, position = added + 1, position + 1
            except sa.exc.IntegrityError:
                log.debug("cell %s was registered by another worker", cell)
        return added

    # --- claiming ------------------------------------------------------------------------
    def claim(self, worker: str, *, only: set[str] | None = None) -> Claim | None:
        """Take the first claimable cell (pending, or running under an expired lease), or None."""
        return self._retried("claim a cell", lambda: self._claim(worker, only))

    def _claim(self, worker: str, only: set[str] | None) -> Claim | None:
        now = time.time()
        self._give_up_dead(now)
        claimable = sa.or_(cells.c.status == PENDING, sa.and_(cells.c.status == RUNNING, cells.c.lease_until < now))
        query = (sa.select(cells.c.cell, cells.c.attempts, cells.c.spec, cells.c.trial_number, cells.c.status)
                 .where(cells.c.study == self.study, claimable).order_by(cells.c.position).limit(1)
                 .with_for_update(skip_locked=True))  # SQLite: no row locks, the guarded update decides
        if only is not None:
            query = query.where(cells.c.cell.in_(sorted(only)))
        with self.engine.connect() as conn:
            rounds = conn.scalar(sa.select(sa.func.count()).select_from(cells).where(cells.c.study == self.study))
        for _ in range(rounds or 0):  # each lost round is a cell another worker took: at most one per cell
            with self.engine.begin() as conn:
                row = conn.execute(query).first()
                if row is None:
                    return None
                won = conn.execute(
                    cells.update().where(self._where(row.cell), claimable, cells.c.attempts == row.attempts)
                    .values(status=RUNNING, worker=worker, lease_until=now + self.lease_seconds,
                            attempts=row.attempts + 1, updated=now)
                ).rowcount == 1
            if won:
                if row.status == RUNNING:
                    log.warning("cell %s: the lease of its last worker ran out; running it again", row.cell)
                stale = row.trial_number if row.status == RUNNING else None
                return Claim(row.cell, json.loads(row.spec), row.attempts + 1, stale)
        return None

    def _give_up_dead(self, now: float) -> None:
        """A cell whose workers died ``max_attempts`` times is failed, not claimed again."""
        with self.engine.begin() as conn:
            conn.execute(
                cells.update()
                .where(cells.c.study == self.study, cells.c.status == RUNNING, cells.c.lease_until < now,
                       cells.c.attempts >= self.max_attempts)
                .values(status=FAILED, error=f"its worker stopped answering {self.max_attempts} times", updated=now)
            )

    def _mine(self, cell: str, worker: str, **values: Any) -> bool:
        """Update a cell only while ``worker`` holds its claim; False if the claim was lost."""
        with self.engine.begin() as conn:
            result = conn.execute(
                cells.update()
                .where(self._where(cell), cells.c.worker == worker, cells.c.status == RUNNING)
                .values(updated=time.time(), **values)
            )
        return result.rowcount == 1

    def _marked(self, cell: str, worker: str, status: str) -> bool:
        """Whether ``worker`` already left ``cell`` in ``status`` (a retried call whose first try committed)."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(cells.c.status, cells.c.worker).where(self._where(cell))).first()
        return row is not None and (row.status, row.worker) == (status, worker)

    def renew(self, cell: str, worker: str) -> bool:
        """Extend the lease: one try (the lease thread tries again soon), the outage clock still runs."""
        def renew() -> bool:
            return self._mine(cell, worker, lease_until=time.time() + self.lease_seconds)
        return self._retried("renew a lease", renew, once=True)

    def attach(self, cell: str, worker: str, trial_number: int, spec: Mapping[str, Any] | None = None) -> bool:
        """Record the Optuna trial of this attempt (and a search slot's sampled cell)."""
        values: dict[str, Any] = {"trial_number": trial_number}
        if spec is not None:
            values["spec"] = json.dumps(spec, sort_keys=True)
        return self._retried("attach a trial", lambda: self._mine(cell, worker, **values))

    def finish(self, cell: str, worker: str, row: Mapping[str, Any]) -> bool:
        result = json.dumps(row, default=str)
        return self._retried("record a result", lambda: self._mine(cell, worker, status=DONE, result=result, error=None)
                             or self._marked(cell, worker, DONE))

    def fail(self, cell: str, worker: str, error: str) -> bool:
        return self._retried("record a failure", lambda: self._mine(cell, worker, status=FAILED, error=error[:4000])
                             or self._marked(cell, worker, FAILED))

    def release(self, cell: str, worker: str) -> bool:
        """Give a cell back untouched (Ctrl-C): pending again, and this attempt does not count."""
        return self._retried("release a cell", lambda: self._release(cell, worker))

    def _release(self, cell: str, worker: str) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(
                cells.update()
                .where(self._where(cell), cells.c.worker == worker, cells.c.status == RUNNING)
                .values(status=PENDING, worker=None, lease_until=0.0, attempts=cells.c.attempts - 1,
                        updated=time.time())
            )
        return result.rowcount == 1

    def retry_failed(self) -> int:
        """Make every failed cell pending again (``promptlift bench --retry-failed``)."""
        update = (cells.update().where(cells.c.study == self.study, cells.c.status == FAILED)
                  .values(status=PENDING, worker=None, lease_until=0.0, attempts=0, error=None, updated=time.time()))
        return self._retried("retry failed cells", lambda: self._execute(update))

    def _execute(self, statement: Any) -> int:
        with self.engine.begin() as conn:
            return conn.execute(statement).rowcount

    # --- reading -------------------------------------------------------------------------
    def _all(self, query: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(query).all())

    def counts(self) -> dict[str, int]:
        rows = self._retried("count cells", lambda: self._all(
            sa.select(cells.c.status, sa.func.count()).where(cells.c.study == self.study).group_by(cells.c.status)))
        counts = {PENDING: 0, RUNNING: 0, DONE: 0, FAILED: 0}
        counts.update({status: n for status, n in rows})
        return counts

    def rows(self) -> list[dict[str, Any]]:
        """Every cell: id, status, worker, attempts, trial, spec, result row and error."""
        rows = self._retried("read cells", lambda: self._all(
            sa.select(cells).where(cells.c.study == self.study).order_by(cells.c.position)))
        return [
            {"cell": r.cell, "status": r.status, "worker": r.worker, "attempts": r.attempts,
             "trial_number": r.trial_number, "spec": json.loads(r.spec),
             "result": json.loads(r.result) if r.result else None, "error": r.error}
            for r in rows
        ]
