"""The job table as a queue: enqueue in the caller's transaction, claim with a lease, finish
or fail with persisted exponential backoff, retry by hand.

Claims are one short write transaction each, for up to `limit` due jobs (a worker takes ten
at a time: one round trip and one commit instead of ten): on PostgreSQL `FOR UPDATE SKIP
LOCKED` lets any number of workers claim side by side; on SQLite the write lock (`BEGIN
IMMEDIATE`) serialises them. A claim takes a fresh `lease_token`; finishing checks it, so a
worker whose lease ran out (and whose job another worker claimed again) cannot finish it too.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import clock, models

J = models.jobs
STATUSES = ("queued", "running", "done", "failed", "dead")
BACKOFF_BASE = dt.timedelta(seconds=10)
BACKOFF_MAX = dt.timedelta(hours=1)
NOTIFY_CHANNEL = "flowdeck_jobs"
ERROR_LIMIT = 4000


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    payload: dict[str, Any]
    attempt: int
    token: str
    started_at: dt.datetime


def now_utc() -> dt.datetime:
    """The runners' moment: `clock.now()`, so a clock held in a test holds `flowdeck tick` too."""
    return clock.now()


def enqueue(
    conn: Connection,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    run_at: dt.datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int | None = None,
) -> int | None:
    """Add a job in the caller's transaction (it exists only if that commits). With a
    `dedupe_key`, a second enqueue of the same key is a no-op and returns None."""
    from flowdeck.engine.jobs.kinds import KINDS

    known = KINDS.get(kind)
    if dedupe_key is not None and conn.execute(sa.select(J.c.id).where(J.c.dedupe_key == dedupe_key)).first() is not None:
        return None
    created = now_utc()
    job_id = conn.execute(
        J.insert()
        .values(
            kind=kind,
            payload=payload or {},
            status="queued",
            run_at=run_at or created,
            attempts=0,
            max_attempts=max_attempts or (known.max_attempts if known else 5),
            dedupe_key=dedupe_key,
            created_at=created,
        )
        .returning(J.c.id)
    ).scalar_one()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"NOTIFY {NOTIFY_CHANNEL}")  # delivered when the transaction commits
    return int(job_id)


def claim_statements(now: dt.datetime, kinds: tuple[str, ...] | None, limit: int = 1) -> list[Any]:
    """The claim's reads, in turn: running jobs whose lease ran out (a crashed worker's;
    few rows: only running jobs are looked at), then the earliest due queued jobs, at most
    `limit` of each. Each is one range of `ix_fd_jobs_due` (status, run_at) read in order up
    to `limit` rows, so a claim costs the same with a million jobs armed for later or ten
    thousand due (one statement with both under an OR was a bitmap of every due row, sorted,
    for each claim)."""
    expired = (J.c.status == "running") & (J.c.lease_until < now)
    queued = (J.c.status == "queued") & (J.c.run_at <= now)
    if kinds is not None:
        expired, queued = expired & J.c.kind.in_(kinds), queued & J.c.kind.in_(kinds)
    columns = (J.c.id, J.c.kind, J.c.payload, J.c.attempts)
    return [sa.select(*columns).where(where).order_by(J.c.run_at, J.c.id).limit(limit) for where in (expired, queued)]


def claim(conn: Connection, worker: str, *, now: dt.datetime, lease: dt.timedelta, kinds: tuple[str, ...] | None = None) -> Claimed | None:
    """Lease the next due job (or a running one whose lease ran out) to `worker`. Run it in
    a write transaction of its own and commit before running the job."""
    claimed = claim_many(conn, worker, now=now, lease=lease, kinds=kinds, limit=1)
    return claimed[0] if claimed else None


def claim_many(
    conn: Connection, worker: str, *, now: dt.datetime, lease: dt.timedelta, kinds: tuple[str, ...] | None = None, limit: int = 1
) -> list[Claimed]:
    """Lease up to `limit` due jobs (expired leases first, then queued ones by `run_at`) to
    `worker` in one round trip: one SELECT per kind of row (`FOR UPDATE SKIP LOCKED` on
    PostgreSQL, so workers claiming side by side take different jobs) and one UPDATE for all.
    The jobs share one fresh lease token; each keeps its own id, so finishing one still
    checks that it is this worker's. Run it in a write transaction of its own and commit
    before running the jobs: a worker killed before it finishes them leaves them `running`
    until the lease ends, when any worker claims them again."""
    rows: list[Any] = []
    for query in claim_statements(now, kinds, limit):
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows += conn.execute(query.limit(limit - len(rows))).all()
        if len(rows) >= limit:
            break
    if not rows:
        return []
    token = secrets.token_hex(16)
    conn.execute(
        J.update()
        .where(J.c.id.in_([row.id for row in rows]))
        .values(
            status="running", attempts=J.c.attempts + 1, lease_token=token, lease_until=now + lease, worker=worker[:100], started_at=now
        )
    )
    return [Claimed(row.id, row.kind, dict(row.payload or {}), row.attempts + 1, token, now) for row in rows]


def release(conn: Connection, jobs: list[Claimed]) -> int:
    """Give claimed jobs that were never started back to the queue at once (a stopping
    worker's rest of a batch), as if never claimed; how many were still this worker's."""
    released = 0
    for job in jobs:
        changed = conn.execute(
            J.update().where(_mine(job)).values(status="queued", attempts=J.c.attempts - 1, lease_token=None, lease_until=None, worker=None)
        )
        released += changed.rowcount or 0
    return released


class LeaseLost(Exception):
    """The job is no longer this worker's (its lease ran out and it was claimed again, or an
    admin changed it): whatever the handler did is rolled back."""


def _mine(job: Claimed) -> Any:
    return (J.c.id == job.id) & (J.c.lease_token == job.token) & (J.c.status == "running")


def _elapsed_ms(job: Claimed, now: dt.datetime) -> int:
    return max(0, int((now - job.started_at).total_seconds() * 1000))


_FINISH = J.update().where((J.c.id == sa.bindparam("b_id")) & (J.c.lease_token == sa.bindparam("b_token")) & (J.c.status == "running"))
"""`finish`'s UPDATE, built once: the columns set are the parameters given."""


def finish(conn: Connection, job: Claimed, result: dict[str, Any] | None, *, now: dt.datetime) -> None:
    """Mark the job done, in the transaction of the handler's own changes."""
    done = conn.execute(
        _FINISH,
        {"b_id": job.id, "b_token": job.token, "status": "done", "result": result, "lease_token": None, "lease_until": None,
         "finished_at": now, "duration_ms": _elapsed_ms(job, now)},
    )  # fmt: skip
    if done.rowcount != 1:
        raise LeaseLost(job.id)


def backoff(attempt: int) -> dt.timedelta:
    """10 s, 20 s, 40 s ... at most an hour: after the `attempt`-th failure."""
    return min(BACKOFF_MAX, BACKOFF_BASE * (2 ** max(0, attempt - 1)))


def fail(conn: Connection, job: Claimed, error: str, *, now: dt.datetime, permanent: bool = False) -> str:
    """Record a failed attempt: queued again after the backoff, or `dead` when the attempts
    are used up, or `failed` for a permanent error. Returns the new status ("" when the job
    was not this worker's any more)."""
    row = conn.execute(sa.select(J.c.max_attempts).where(_mine(job))).first()
    if row is None:
        return ""
    status = "failed" if permanent else ("dead" if job.attempt >= row.max_attempts else "queued")
    values: dict[str, Any] = {"status": status, "last_error": error[:ERROR_LIMIT], "lease_token": None, "lease_until": None}
    if status == "queued":
        values["run_at"] = now + backoff(job.attempt)
    else:
        values.update(finished_at=now, duration_ms=_elapsed_ms(job, now))
    conn.execute(J.update().where(_mine(job)).values(**values))
    return status


def retry(conn: Connection, job_id: int, *, now: dt.datetime | None = None) -> bool:
    """Queue a failed or dead job again now, with a fresh set of attempts (the admin's
    Retry). A done job is replayed the same way. Returns whether it was queued."""
    changed = conn.execute(
        J.update()
        .where((J.c.id == job_id) & J.c.status.in_(("failed", "dead", "done")))
        .values(status="queued", run_at=now or now_utc(), attempts=0, lease_token=None, lease_until=None, finished_at=None)
    )
    if changed.rowcount and conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"NOTIFY {NOTIFY_CHANNEL}")
    return bool(changed.rowcount)


def next_due_statements(kinds: tuple[str, ...] | None) -> list[tuple[str, Any]]:
    """The two reads of `next_due`, named: each is one end of `ix_fd_jobs_due` (status, run_at)
    or a range of the few running jobs, so an idle worker's look costs the same with a million
    jobs armed for later (one `MIN` over both statuses read every queued job)."""
    queued = sa.select(sa.func.min(J.c.run_at)).where(J.c.status == "queued")
    running = sa.select(sa.func.min(J.c.lease_until)).where(J.c.status == "running")
    if kinds is not None:
        queued, running = queued.where(J.c.kind.in_(kinds)), running.where(J.c.kind.in_(kinds))
    return [("next_queued", queued), ("next_lease_end", running)]


def next_due(conn: Connection, *, kinds: tuple[str, ...] | None = None) -> dt.datetime | None:
    """When the next queued job is due (or a running lease ends): how long a worker may sleep."""
    found = [value for _, statement in next_due_statements(kinds) if (value := conn.execute(statement).scalar()) is not None]
    return min(found) if found else None


def purge(conn: Connection, *, before: dt.datetime) -> int:
    """Forget jobs that ended well before `before` (failed and dead ones stay for the admin)."""
    return conn.execute(J.delete().where((J.c.status == "done") & (J.c.finished_at < before))).rowcount or 0
