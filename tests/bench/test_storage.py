"""The sweep's database calls: URL and driver choice, and the one retry loop that waits out an outage."""

import logging

import pytest
import sqlalchemy as sa

from promptlift.bench.storage import DatabaseRetry, database_url, engine_for, is_transient
from promptlift.errors import ConfigError, DatabaseUnavailable, MissingDependency


class FakeClock:
    """Test double: a clock that moves only when the retry loop sleeps."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def refused():
    return sa.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))


def flaky(failures):
    """A database call that fails ``failures`` times with a refused connection, then answers 42."""
    calls = []

    def call():
        calls.append(1)
        if len(calls) <= failures:
            raise refused()
        return 42
    return call, calls


def test_an_outage_shorter_than_the_limit_is_waited_out_with_bounded_backoff(caplog):
    clock = FakeClock()
    retry = DatabaseRetry("postgresql+psycopg://u:secret@db/x", 60, clock=lambda: clock.now, sleep=clock.sleep)
    call, calls = flaky(7)
    with caplog.at_level(logging.WARNING, logger="promptlift.bench.storage"):
        assert retry("claim a cell", call) == 42
    assert len(calls) == 8 and clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]  # doubling, capped at 8 s
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 8 and all("\n" not in line for line in lines)  # one line per retry, one on recovery
    assert lines[0].startswith("database unreachable during claim a cell") and "retry 1 in 0.5 s" in lines[0]
    assert lines[-1].startswith("database reachable again after 31.5 s")
    assert retry.down_since is None and retry.retries == 7
    assert all("secret" not in line for line in lines)


def test_past_the_limit_the_worker_gets_one_clear_line():
    clock = FakeClock()
    retry = DatabaseRetry("postgresql+psycopg://u:secret@db/x", 10, clock=lambda: clock.now, sleep=clock.sleep)
    call, calls = flaky(1000)
    with pytest.raises(DatabaseUnavailable) as caught:
        retry("record a result", call)
    message = str(caught.value)
    assert "\n" not in message and "secret" not in message
    assert message.startswith("the database postgresql+psycopg://u:***@db/x has been unreachable for 10 s")
    assert "db_wait_seconds: 10" in message and "connection refused" in message
    assert sum(clock.sleeps) == pytest.approx(10.0) and len(calls) == len(clock.sleeps) + 1


def test_once_does_not_retry_but_the_outage_clock_runs():
    clock = FakeClock()
    retry = DatabaseRetry("sqlite://", 10, clock=lambda: clock.now, sleep=clock.sleep)
    call, _ = flaky(1)
    with pytest.raises(sa.exc.OperationalError):
        retry("renew a lease", call, once=True)
    assert clock.sleeps == [] and retry.down_since == 0.0


def test_only_connection_errors_are_retried():
    retry = DatabaseRetry("sqlite://", 10, sleep=lambda s: pytest.fail("slept"))

    def broken():
        raise sa.exc.IntegrityError("INSERT", {}, ValueError("duplicate"))
    with pytest.raises(sa.exc.IntegrityError):
        retry("register", broken)
    assert is_transient(RuntimeError("wrapped")) is False
    wrapped = RuntimeError("optuna's StorageInternalError")
    wrapped.__cause__ = refused()
    assert is_transient(wrapped)


def test_postgresql_urls_use_psycopg_3_unless_a_driver_is_named(monkeypatch):
    from promptlift.bench import storage

    monkeypatch.setattr(storage.importlib.util, "find_spec", lambda name: None)
    assert database_url("postgresql://u@h:5/db") == "postgresql+psycopg://u@h:5/db"
    assert database_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_a_missing_driver_or_unknown_database_is_one_line():
    with pytest.raises(MissingDependency, match=r"needs the 'psycopg2' driver: pip install 'promptlift\[postgres\]'"):
        engine_for("postgresql+psycopg2://u:secret@h/db")
    with pytest.raises(ConfigError, match="names a database SQLAlchemy does not know"):
        engine_for("nosuchdb://u@h/db")
