"""The sweep tests' PostgreSQL: one real server for the session, a fresh database per test."""

from __future__ import annotations

import uuid

import pytest

from tests.bench.pgserver import PostgresServer, PostgresUnavailable


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server on 127.0.0.1 that the suite starts itself and stops at the end."""
    try:
        server = PostgresServer()
        server.start()
    except PostgresUnavailable as exc:  # an integration test: with PROMPTLIFT_REQUIRE_REAL=1 this fails
        pytest.skip(f"no PostgreSQL server: {exc}")
    yield server
    server.close()


@pytest.fixture
def pg_url(postgres):
    """A new, empty database on the session's server (its SQLAlchemy URL)."""
    return postgres.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def storage_url(request, tmp_path):
    """The same test on an SQLite file and on a PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sweep.db'}"
    return request.getfixturevalue("pg_url")
