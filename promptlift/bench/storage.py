"""The sweep's database: its URL, its engines, and riding out an outage.

A sweep lives in one SQLAlchemy database: an SQLite file for one machine, PostgreSQL (or
MySQL) for workers on several. ``postgresql://`` URLs are served by psycopg 3
(``pip install 'promptlift[postgres]'``); a URL naming its driver (``postgresql+psycopg2://``)
is used as written.

A database server can restart under a running sweep. Every call a worker makes to the
database goes through one :class:`DatabaseRetry`: a connection error (SQLAlchemy's
``OperationalError``/``InterfaceError``, Optuna's ``StorageInternalError`` around them) is
retried with exponential backoff, ``first_delay * 2**n`` capped at ``max_delay``, one log line
per retry, until the database has been unreachable for ``limit`` seconds; then the worker
gives up with :class:`~promptlift.errors.DatabaseUnavailable`, a one-line message. The cell it
held goes back to the pool when its lease runs out (nobody can release it while the database
is away). Measured on PostgreSQL 15 stopped for 30 s under three workers
(``benchmarks/multihost.py``): see ``benchmarks/results/multihost.md``.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from typing import Any, Callable, TypeVar

import sqlalchemy as sa

from promptlift.errors import ConfigError, DatabaseUnavailable, MissingDependency

log = logging.getLogger(__name__)

T = TypeVar("T")


def database_url(url: str) -> str:
    """``postgresql://`` with no driver named: psycopg 3 (SQLAlchemy's own default is psycopg2)."""
    if url.startswith(("postgresql://", "postgres://")) and importlib.util.find_spec("psycopg2") is None:
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def engine_for(url: str) -> sa.engine.Engine:
    """An engine that waits for a locked SQLite file, or checks a pooled server connection before use."""
    url = database_url(url)
    args = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    return _with_driver(url, lambda: sa.create_engine(url, **args))


def optuna_storage(url: str) -> Any:
    """Optuna's RDB storage on the same URL (same driver choice, same SQLite lock wait)."""
    import optuna

    url = database_url(url)
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    return _with_driver(url, lambda: optuna.storages.RDBStorage(url, engine_kwargs=kwargs))


def _with_driver(url: str, make: Callable[[], T]) -> T:
    """``make()``; a missing driver or an unknown database kind is a one-line error."""
    try:
        return make()
    except ModuleNotFoundError as exc:
        raise MissingDependency(f"the storage {redacted(url)} needs the {exc.name!r} driver: "
                                "pip install 'promptlift[postgres]'") from None
    except sa.exc.NoSuchModuleError:
        raise ConfigError(f"the storage {redacted(url)} names a database SQLAlchemy does not know "
                          "(sqlite:///PATH or postgresql://USER@HOST/DB)") from None


def redacted(url: str) -> str:
    """A storage URL without its password (never written to a file or a log)."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<storage>"


def is_transient(exc: BaseException | None) -> bool:
    """A lost or refused connection (or SQLite's lock timeout, a deadlock): worth trying again."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)):
            return True
        if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class DatabaseRetry:
    """The one retry loop of a worker's database calls (thread-safe; clock and sleep injectable).

    ``limit``: seconds the database may stay unreachable, counted from the first failed call
    after the last successful one, before :class:`DatabaseUnavailable` is raised.
    """

    def __init__(self, url: str, limit: float, *, first_delay: float = 0.5, max_delay: float = 8.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.where = redacted(url)
        self.limit, self.first_delay, self.max_delay = limit, first_delay, max_delay
        self.clock, self.sleep = clock, sleep
        self.down_since: float | None = None
        self.retries = 0  # in this worker's life, for its summary
        self._lock = threading.Lock()

    def __call__(self, what: str, call: Callable[[], T], *, once: bool = False) -> T:
        """``call()``, retried while the database is unreachable (``once``: no retry, the clock still runs)."""
        attempt = 0
        while True:
            try:
                value = call()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                delay = self._failed(what, exc, attempt, once)
                self.sleep(delay)
                attempt += 1
                continue
            self._reached()
            return value

    def _failed(self, what: str, exc: BaseException, attempt: int, once: bool) -> float:
        now = self.clock()
        with self._lock:
            self.down_since = now if self.down_since is None else self.down_since
            down = now - self.down_since
        if once:
            raise exc
        if down >= self.limit:
            raise DatabaseUnavailable(
                f"the database {self.where} has been unreachable for {down:.0f} s "
                f"(db_wait_seconds: {self.limit:g}); last error: {_first_line(exc)}") from None
        delay = min(self.first_delay * 2 ** attempt, self.max_delay, max(self.limit - down, 0.05))
        with self._lock:
            self.retries += 1
        log.warning("database unreachable during %s (%s); retry %d in %.1f s, down %.0f s of %g s allowed",
                    what, _first_line(exc), attempt + 1, delay, down, self.limit)
        return delay

    def _reached(self) -> None:
        if self.down_since is None:
            return
        with self._lock:
            since, self.down_since = self.down_since, None
        if since is not None:
            log.warning("database reachable again after %.1f s", self.clock() - since)


def _first_line(exc: BaseException) -> str:
    """The driver's own error (what went wrong at the wire), not a wrapper's, on one short line."""
    while exc.__cause__ is not None and exc.__cause__ is not exc:
        exc = exc.__cause__
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}"[:200]
