"""The claim reads a crashed worker's job (lease run out) first, then the earliest due queued
job, each as its own index range (`queue.claim_statements`), and `next_due` the two ends:
the order a single OR-ed statement gave, kept."""

from __future__ import annotations

import datetime as dt

from flowdeck.engine import models
from flowdeck.engine.jobs import queue

J = models.jobs
NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(minutes=5)


def _job(conn, key: str, *, status: str = "queued", run_at: dt.datetime, lease_until: dt.datetime | None = None) -> int:
    return conn.execute(
        J.insert()
        .values(kind="mail.send", payload={"k": key}, status=status, run_at=run_at, attempts=1 if status == "running" else 0,
                max_attempts=5, dedupe_key=key, lease_until=lease_until, created_at=run_at)
        .returning(J.c.id)
    ).scalar_one()  # fmt: skip


def test_an_expired_lease_comes_first_then_due_jobs_by_time_and_future_ones_never(db):
    """With jobs due later, due now (out of order), running with a live lease and running
    with an expired one: are they claimed expired first, then due by run_at, and then none?"""
    ids = db.run(
        lambda c: {
            "later": _job(c, "later", run_at=NOW + dt.timedelta(hours=1)),
            "due2": _job(c, "due2", run_at=NOW - dt.timedelta(minutes=1)),
            "due1": _job(c, "due1", run_at=NOW - dt.timedelta(minutes=9)),
            "live": _job(c, "live", status="running", run_at=NOW - dt.timedelta(hours=2), lease_until=NOW + LEASE),
            "crashed": _job(c, "crashed", status="running", run_at=NOW - dt.timedelta(minutes=2), lease_until=NOW - LEASE),
        }
    )
    claimed = []
    while (job := db.run(lambda c: queue.claim(c, "w", now=NOW, lease=LEASE))) is not None:
        claimed.append(job.id)
    assert claimed == [ids["crashed"], ids["due1"], ids["due2"]]
    assert db.read(lambda c: queue.next_due(c)) == NOW + LEASE  # the leases just given end first
    db.run(lambda c: c.execute(J.delete().where(J.c.status == "running")))
    assert db.read(lambda c: queue.next_due(c)) == NOW + dt.timedelta(hours=1)
    assert db.read(lambda c: queue.next_due(c, kinds=("other.kind",))) is None
