"""A worker claims several due jobs per round trip (`queue.claim_many`) and runs the jobs of
`together` kinds in one transaction: when one fails, the others still run once and it alone
waits for its retry; a killed worker's batch comes back when its lease ends; a stopping
worker gives back what it did not start."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from flowdeck.engine import models
from flowdeck.engine.jobs import queue
from flowdeck.engine.jobs.kinds import JobKind, register, unregister
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.messages import M

J = models.jobs
EFFECTS = sa.table("job_effects", sa.column("job_id", sa.Integer))
NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(minutes=5)
STOP = threading.Event()


def _effect(conn, payload, context):
    conn.execute(EFFECTS.insert().values(job_id=context.job_id))
    if payload.get("stop"):
        STOP.set()
    if payload.get("fail"):
        raise RuntimeError("the far side said no")
    return {}


@pytest.fixture
def kinds(db):
    db.run(lambda conn: conn.exec_driver_sql("CREATE TABLE job_effects (job_id INTEGER NOT NULL)"))
    register(JobKind("test.together", M("Test effect"), _effect, max_attempts=3, together=True))
    register(JobKind("test.alone", M("Test effect"), _effect, max_attempts=3))
    STOP.clear()
    yield
    unregister("test.together")
    unregister("test.alone")


def _enqueue(db, kind: str, payloads: list[dict]) -> list[int]:
    return db.run(lambda conn: [queue.enqueue(conn, kind, p, run_at=NOW) for p in payloads])


def _effects(db) -> list[int]:
    return db.read(lambda conn: sorted(conn.execute(sa.select(EFFECTS.c.job_id)).scalars()))


def _jobs(db) -> dict[int, tuple[str, int]]:
    return db.read(lambda conn: {row.id: (row.status, row.attempts) for row in conn.execute(sa.select(J.c.id, J.c.status, J.c.attempts))})


def test_two_claims_of_several_share_no_job(db, kinds):
    """Do two workers claiming up to four jobs each get different ones, in run order, and a third nothing?"""
    ids = _enqueue(db, "test.alone", [{} for _ in range(6)])
    first = db.run(lambda c: queue.claim_many(c, "a", now=NOW, lease=LEASE, limit=4))
    second = db.run(lambda c: queue.claim_many(c, "b", now=NOW, lease=LEASE, limit=4))
    assert [j.id for j in first] == ids[:4] and [j.id for j in second] == ids[4:]
    assert len({j.token for j in first} | {j.token for j in second}) == 2  # one lease token per claim
    assert db.run(lambda c: queue.claim_many(c, "c", now=NOW, lease=LEASE, limit=4)) == []
    assert set(_jobs(db).values()) == {("running", 1)}


def test_a_failing_job_among_jobs_run_together_leaves_the_others_done_once(db, kinds):
    """When one of five jobs run together fails, are the other four done once and it queued for its retry, without its effect?"""
    ids = _enqueue(db, "test.together", [{}, {}, {"fail": True}, {}, {}])
    assert Runner(db, clock=lambda: NOW).run_due() == {"done": 4, "queued": 1}
    assert _effects(db) == [i for i in ids if i != ids[2]]
    jobs = _jobs(db)
    assert jobs[ids[2]] == ("queued", 1)
    assert all(jobs[i] == ("done", 1) for i in ids if i != ids[2])
    failed = db.read(lambda c: c.execute(sa.select(J.c.last_error, J.c.run_at).where(J.c.id == ids[2])).one())
    assert "the far side said no" in failed.last_error and failed.run_at > NOW


def test_a_killed_workers_batch_comes_back_after_its_lease(db, kinds):
    """When a worker claimed a batch and died, does nobody run it before the lease ends, and then each job run once?"""
    ids = _enqueue(db, "test.together", [{} for _ in range(5)])
    assert len(db.run(lambda c: queue.claim_many(c, "killed", now=NOW, lease=LEASE, limit=10))) == 5
    assert Runner(db, clock=lambda: NOW + LEASE - dt.timedelta(seconds=1)).run_due() == {}
    assert Runner(db, clock=lambda: NOW + LEASE + dt.timedelta(seconds=1)).run_due() == {"done": 5}
    assert _effects(db) == ids
    assert set(_jobs(db).values()) == {("done", 2)}


def test_a_stopping_worker_gives_back_the_jobs_it_did_not_start(db, kinds):
    """When a worker stops after the first job of its batch, are the other jobs queued again as if never claimed?"""
    ids = _enqueue(db, "test.alone", [{"stop": True}, {}, {}, {}])
    Runner(db, clock=lambda: NOW, batch=4).serve(STOP)
    jobs = _jobs(db)
    assert jobs[ids[0]] == ("done", 1)
    assert [jobs[i] for i in ids[1:]] == [("queued", 0)] * 3
    assert _effects(db) == ids[:1]
