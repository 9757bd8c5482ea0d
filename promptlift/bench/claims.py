"""The claim table: which worker runs which cell, under a lease, in the sweep's own database.

Optuna's trial queue cannot promise that a cell runs once: on SQLite two workers can both
pop the same waiting trial (optuna/optuna#4621). So cells are claimed here with a single
conditional ``UPDATE ... WHERE status = 'pending' OR (status = 'running' AND lease_until <
now)``: the database runs it atomically (SQLite, PostgreSQL, MySQL alike), and exactly one
worker sees ``rowcount == 1``. A live worker renews its lease every few seconds; a killed
worker's lease runs out and the next worker claims the cell again (``attempts`` counts the
claims). A cell is marked done only by the worker holding its claim, with its result row in
the same statement, so a finished cell is never run again and never recorded twice.

Leases compare wall clocks, so workers on several machines need synchronised clocks (NTP)
and a lease much longer than any clock skew.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import sqlalchemy as sa

log = logging.getLogger(__name__)

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


def engine_for(url: str) -> sa.engine.Engine:
    """An engine that waits for a locked SQLite file instead of failing at once."""
    args = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    return sa.create_engine(url, **args)


class Claims:
    def __init__(self, url: str, study: str, *, lease_seconds: float = 60.0, max_attempts: int = 3) -> None:
        self.engine = engine_for(url)
        self.study = study
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        metadata.create_all(self.engine, checkfirst=True)

    def close(self) -> None:
        self.engine.dispose()

    def _where(self, cell: str) -> Any:
        return sa.and_(cells.c.study == self.study, cells.c.cell == cell)

    # --- registering ---------------------------------------------------------------------
    def register(self, specs: Iterable[tuple[str, Mapping[str, Any]]]) -> int:
        """Add the cells not yet in the table (concurrent workers may race: duplicates are skipped)."""
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
        now = time.time()
        self._give_up_dead(now)
        claimable = sa.or_(cells.c.status == PENDING, sa.and_(cells.c.status == RUNNING, cells.c.lease_until < now))
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(cells.c.cell, cells.c.attempts, cells.c.spec, cells.c.trial_number, cells.c.status)
                .where(cells.c.study == self.study, claimable).order_by(cells.c.position)
            ).all()
        for row in rows:
            if only is not None and row.cell not in only:
                continue
            update = (
                cells.update()
                .where(self._where(row.cell), claimable, cells.c.attempts == row.attempts)
                .values(status=RUNNING, worker=worker, lease_until=now + self.lease_seconds,
                        attempts=row.attempts + 1, updated=now)
            )
            with self.engine.begin() as conn:
                won = conn.execute(update).rowcount == 1
            if won:
                stale = row.trial_number if row.status == RUNNING else None
                if stale is not None or row.status == RUNNING:
                    log.warning("cell %s: the lease of its last worker ran out; running it again", row.cell)
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

    def renew(self, cell: str, worker: str) -> bool:
        return self._mine(cell, worker, lease_until=time.time() + self.lease_seconds)

    def attach(self, cell: str, worker: str, trial_number: int, spec: Mapping[str, Any] | None = None) -> bool:
        """Record the Optuna trial of this attempt (and a search slot's sampled cell)."""
        values: dict[str, Any] = {"trial_number": trial_number}
        if spec is not None:
            values["spec"] = json.dumps(spec, sort_keys=True)
        return self._mine(cell, worker, **values)

    def finish(self, cell: str, worker: str, row: Mapping[str, Any]) -> bool:
        return self._mine(cell, worker, status=DONE, result=json.dumps(row, default=str), error=None)

    def fail(self, cell: str, worker: str, error: str) -> bool:
        return self._mine(cell, worker, status=FAILED, error=error[:4000])

    def release(self, cell: str, worker: str) -> bool:
        """Give a cell back untouched (Ctrl-C): pending again, and this attempt does not count."""
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
        with self.engine.begin() as conn:
            result = conn.execute(
                cells.update().where(cells.c.study == self.study, cells.c.status == FAILED)
                .values(status=PENDING, worker=None, lease_until=0.0, attempts=0, error=None, updated=time.time())
            )
        return result.rowcount

    # --- reading -------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(cells.c.status, sa.func.count()).where(cells.c.study == self.study).group_by(cells.c.status)
            ).all()
        counts = {PENDING: 0, RUNNING: 0, DONE: 0, FAILED: 0}
        counts.update({status: n for status, n in rows})
        return counts

    def rows(self) -> list[dict[str, Any]]:
        """Every cell: id, status, worker, attempts, trial, spec, result row and error."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(cells).where(cells.c.study == self.study).order_by(cells.c.position)).all()
        return [
            {"cell": r.cell, "status": r.status, "worker": r.worker, "attempts": r.attempts,
             "trial_number": r.trial_number, "spec": json.loads(r.spec),
             "result": json.loads(r.result) if r.result else None, "error": r.error}
            for r in rows
        ]
