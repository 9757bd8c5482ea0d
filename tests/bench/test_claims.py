"""The claim table: one holder per cell, leases that run out, Ctrl-C gives cells back (each test on
SQLite and on a real PostgreSQL server, where claims take row locks with SKIP LOCKED)."""

import threading
import types

import pytest

from promptlift.bench import claims as claims_module
from promptlift.bench.claims import DONE, FAILED, PENDING, RUNNING, Claims


@pytest.fixture
def clock(monkeypatch):
    """The claim table's wall clock, moved by hand (no sleeping, no timing assumptions)."""
    now = [1000.0]
    monkeypatch.setattr(claims_module, "time", types.SimpleNamespace(time=lambda: now[0]))
    return now


def claims(url, **kwargs):
    return Claims(url, "s", **kwargs)


def test_each_cell_goes_to_one_worker_even_under_contention(storage_url):
    claims(storage_url).register((f"c{i}", {"i": i}) for i in range(24))
    taken: dict[str, list[str]] = {}

    def worker(name: str) -> None:
        table = claims(storage_url)
        while (claim := table.claim(name)) is not None:
            taken.setdefault(claim.cell, []).append(name)
            assert table.finish(claim.cell, name, {"by": name})
        table.close()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == sorted(f"c{i}" for i in range(24))
    assert all(len(workers) == 1 for workers in taken.values())
    table = claims(storage_url)
    assert table.counts() == {PENDING: 0, RUNNING: 0, DONE: 24, FAILED: 0}
    assert table.claim("late") is None  # a finished cell is never handed out again
    assert all(r["attempts"] == 1 and r["result"]["by"] == taken[r["cell"]][0] for r in table.rows())


def test_registering_twice_keeps_one_row_per_cell(storage_url):
    a, b = claims(storage_url), claims(storage_url)
    assert a.register([("x", {}), ("y", {})]) == 2
    assert b.register([("y", {}), ("z", {})]) == 1
    assert [r["cell"] for r in a.rows()] == ["x", "y", "z"]


def test_a_dead_workers_cell_is_claimed_again_after_its_lease(storage_url, clock):
    table = claims(storage_url, lease_seconds=30)
    table.register([("x", {"v": 1})])
    first = table.claim("dead")
    table.attach("x", "dead", trial_number=7)
    assert first.attempts == 1 and first.previous_trial is None
    clock[0] += 29
    assert table.claim("alive") is None  # the lease still holds
    clock[0] += 2
    second = table.claim("alive")
    assert second.cell == "x" and second.attempts == 2 and second.previous_trial == 7
    assert not table.finish("x", "dead", {"late": True})  # the dead worker lost its claim
    assert table.finish("x", "alive", {"ok": True})
    assert table.rows()[0]["result"] == {"ok": True}


def test_a_renewed_lease_keeps_the_cell(storage_url, clock):
    table = claims(storage_url, lease_seconds=30)
    table.register([("x", {})])
    table.claim("w")
    for _ in range(4):
        clock[0] += 20
        assert table.renew("x", "w")
    assert table.claim("other") is None
    clock[0] += 31
    assert table.claim("other").attempts == 2


def test_release_makes_the_cell_pending_without_using_an_attempt(storage_url):
    table = claims(storage_url)
    table.register([("x", {})])
    assert table.claim("w").attempts == 1
    assert table.release("x", "w")
    row = table.rows()[0]
    assert row["status"] == PENDING and row["attempts"] == 0 and row["worker"] is None
    assert table.claim("v").attempts == 1


def test_a_cell_whose_workers_keep_dying_is_failed(storage_url, clock):
    table = claims(storage_url, lease_seconds=10, max_attempts=2)
    table.register([("x", {})])
    table.claim("a")
    clock[0] += 11
    table.claim("b")
    clock[0] += 11
    assert table.claim("c") is None
    row = table.rows()[0]
    assert row["status"] == FAILED and "2 times" in row["error"]
    assert table.retry_failed() == 1 and table.claim("d").attempts == 1


def test_only_the_holder_can_finish_or_fail(storage_url):
    table = claims(storage_url)
    table.register([("x", {})])
    table.claim("w")
    assert not table.finish("x", "intruder", {})
    assert not table.fail("x", "intruder", "no")
    assert table.fail("x", "w", "boom")
    assert table.rows()[0]["status"] == FAILED and table.claim("w") is None


@pytest.mark.integration
def test_on_postgresql_a_claim_skips_a_row_another_claimer_has_locked(pg_url):
    """SKIP LOCKED: a claimer never waits for (or races) one that holds the first cell's row lock."""
    import sqlalchemy as sa

    table = claims(pg_url)
    table.register([("x", {}), ("y", {})])
    taken = []
    with table.engine.connect() as holder, holder.begin():  # another worker mid-claim on "x"
        holder.execute(sa.select(claims_module.cells).where(claims_module.cells.c.cell == "x").with_for_update())
        thread = threading.Thread(target=lambda: taken.append(table.claim("w")))
        thread.start()
        thread.join(timeout=60)  # a hang guard, not a timing check: without SKIP LOCKED it blocks forever
        assert not thread.is_alive()
    assert taken[0].cell == "y"
    assert table.claim("v").cell == "x"  # once the lock is gone, "x" is claimable again
