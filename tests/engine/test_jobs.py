"""The job engine on a real database: jobs exist only if their cause commits, run once
under racing workers, back off and die after their attempts, survive a lost lease, and a
handler's changes commit with the job's completion or not at all. The clock is moved by hand."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from flowdeck.engine import models
from flowdeck.engine.jobs import queue
from flowdeck.engine.jobs.kinds import JobKind, PermanentError, register, unregister
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.messages import M
from tests.support.clock import Clock

J = models.jobs
EFFECTS = sa.table("job_effects", sa.column("job_id", sa.Integer), sa.column("n", sa.Integer))


def _record_effect(conn, payload, context):
    conn.execute(EFFECTS.insert().values(job_id=context.job_id, n=payload.get("n", 0)))
    if payload.get("fail"):
        raise RuntimeError("the far side said no")
    if payload.get("permanent"):
        raise PermanentError("nothing to do this with")
    return {"n": payload.get("n", 0)}


@pytest.fixture
def effects(db):
    db.run(lambda conn: conn.exec_driver_sql("CREATE TABLE job_effects (job_id INTEGER NOT NULL, n INTEGER NOT NULL)"))
    register(JobKind("test.effect", M("Test effect"), _record_effect, max_attempts=3))
    yield
    unregister("test.effect")


def _effects(db) -> list[int]:
    return db.read(lambda conn: [row[0] for row in conn.execute(sa.select(EFFECTS.c.job_id).order_by(EFFECTS.c.job_id))])


def _job(db, job_id):
    return db.read(lambda conn: conn.execute(sa.select(J).where(J.c.id == job_id)).one())


def _enqueue(db, n=1, **payload):
    return db.run(lambda conn: [queue.enqueue(conn, "test.effect", {"n": i, **payload}) for i in range(n)])


def test_a_job_exists_only_if_its_cause_commits(db, effects):
    """Is a job enqueued in a transaction that rolls back gone with it?"""

    def work(conn):
        queue.enqueue(conn, "test.effect", {"n": 1})
        raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        db.run(work)
    assert db.read(lambda conn: conn.execute(sa.select(sa.func.count()).select_from(J)).scalar()) == 0


def test_a_job_runs_and_keeps_its_result_and_duration(db, effects):
    clock = Clock()
    [job_id] = _enqueue(db)
    runner = Runner(db, clock=clock)
    assert runner.run_one() == "done"
    row = _job(db, job_id)
    assert (row.status, row.attempts, row.result, row.duration_ms is not None) == ("done", 1, {"n": 0}, True)
    assert _effects(db) == [job_id]
    assert runner.run_one() is None


def test_a_dedupe_key_enqueues_once(db, effects):
    first = db.run(lambda conn: queue.enqueue(conn, "test.effect", {}, dedupe_key="once"))
    second = db.run(lambda conn: queue.enqueue(conn, "test.effect", {}, dedupe_key="once"))
    assert first is not None and second is None


def test_failures_back_off_then_the_job_dies_and_an_admin_retries_it(db, effects):
    """Is a failing job retried after 10 s, then 20 s, and dead after its 3 attempts, its
    changes rolled back each time and the last error kept; does Retry queue it again?"""
    clock = Clock()
    [job_id] = _enqueue(db, fail=True)
    runner = Runner(db, clock=clock)
    assert runner.run_one() == "queued"
    row = _job(db, job_id)
    assert row.run_at == clock.start + dt.timedelta(seconds=10) and "the far side said no" in row.last_error
    assert runner.run_one() is None  # not due yet
    clock.move(seconds=10)
    assert runner.run_one() == "queued"
    assert _job(db, job_id).run_at == clock.now + dt.timedelta(seconds=20)
    clock.move(seconds=20)
    assert runner.run_one() == "dead"
    assert _job(db, job_id).status == "dead" and _effects(db) == []
    assert db.run(lambda conn: queue.retry(conn, job_id, now=clock.now))
    assert (_job(db, job_id).status, _job(db, job_id).attempts) == ("queued", 0)


def test_a_permanent_error_fails_at_once(db, effects):
    [job_id] = _enqueue(db, permanent=True)
    assert Runner(db, clock=Clock()).run_one() == "failed"
    assert _job(db, job_id).attempts == 1 and _effects(db) == []


def test_an_unknown_kind_fails_without_retrying(db):
    job_id = db.run(lambda conn: queue.enqueue(conn, "gone.kind", {}))
    assert Runner(db, clock=Clock()).run_one() == "failed"
    assert "gone.kind" in _job(db, job_id).last_error


def test_a_worker_that_lost_its_lease_cannot_finish_and_its_changes_roll_back(db, effects):
    """A worker claims a job and stalls past its lease; another claims and runs it. When the
    first one finishes, is its work rolled back, so the job's effect happens once?"""
    clock = Clock()
    [job_id] = _enqueue(db)
    slow = db.run(lambda conn: queue.claim(conn, "slow", now=clock.now, lease=dt.timedelta(minutes=5)))
    assert slow is not None and Runner(db, clock=clock).run_one() is None  # leased: not due
    clock.move(minutes=6)
    assert Runner(db, clock=clock, name="fast").run_one() == "done"

    def late_finish(conn):
        _record_effect(conn, slow.payload, type("C", (), {"job_id": slow.id})())
        queue.finish(conn, slow, {}, now=clock.now)

    with pytest.raises(queue.LeaseLost):
        db.run(late_finish)
    assert _effects(db) == [job_id] and _job(db, job_id).attempts == 2


def test_racing_workers_and_a_tick_run_each_job_once(db, effects):
    """Two worker threads and a `tick` pass drain 300 jobs: does each run exactly once?"""
    ids = _enqueue(db, 300)
    outcomes: list[dict[str, int]] = []

    def drain(name: str) -> None:
        outcomes.append(Runner(db, name=name).run_due())

    threads = [threading.Thread(target=drain, args=(name,)) for name in ("worker-1", "worker-2", "tick")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _effects(db) == sorted(ids)
    assert sum(o.get("done", 0) for o in outcomes) == 300
    statuses = db.read(lambda conn: {row[0] for row in conn.execute(sa.select(J.c.status))})
    assert statuses == {"done"}


def test_next_due_tells_an_idle_worker_how_long_to_sleep(db, effects):
    clock = Clock()
    db.run(lambda conn: queue.enqueue(conn, "test.effect", {}, run_at=clock.start + dt.timedelta(seconds=3)))
    assert Runner(db, clock=clock).seconds_to_next() == pytest.approx(3.0)
    clock.move(seconds=4)
    assert Runner(db, clock=clock).seconds_to_next() == 0.0


def test_purge_forgets_old_done_jobs_but_keeps_dead_ones(db, effects):
    clock = Clock()
    _enqueue(db, 2)
    [dead] = _enqueue(db, fail=True)
    db.run(lambda conn: conn.execute(J.update().where(J.c.id == dead).values(max_attempts=1)))
    Runner(db, clock=clock).run_due()
    assert db.run(lambda conn: queue.purge(conn, before=clock.now + dt.timedelta(days=8))) == 2
    assert db.read(lambda conn: conn.execute(sa.select(J.c.id, J.c.status)).all()) == [(dead, "dead")]
