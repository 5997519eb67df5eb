"""What the timed jobs share: arming a job for a moment (a unique key makes a second arm
of the same moment a no-op, even from two transactions at once), and `insert_once`, the
lock row of a job that must run once per occurrence or day. The applied apps as a job
handler sees them: `flowdeck.engine.registry.registry_for`.

Arming writes `INSERT ... ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`, on SQLite and
PostgreSQL alike: the job engine's own `enqueue` checks first and inserts after, which two
racing transactions can both pass. The statement is compiled once and given the rows, which
SQLAlchemy sends as multi-row batches (compiling a VALUES list of 500 rows each time cost
more than the insert itself). The rows returned are the count of new jobs: with
psycopg, the row count of such an INSERT is -1 whether or not a row went in.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from flowdeck.engine import models
from flowdeck.engine.jobs.kinds import KINDS
from flowdeck.engine.jobs.queue import NOTIFY_CHANNEL, now_utc

J = models.jobs
ARM_BATCH = 500


def arm(conn: Connection, kind: str, jobs: Sequence[tuple[str, dict[str, Any], dt.datetime]], *, max_attempts: int | None = None) -> int:
    """Queue one job per (dedupe key, payload, run at) whose key is not queued yet; how many were new."""
    if not jobs:
        return 0
    known = KINDS.get(kind)
    attempts = max_attempts or (known.max_attempts if known else 5)
    created = now_utc()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    added = 0
    ordered = sorted(jobs, key=lambda job: job[0])  # one order for every writer: no deadlock between two armers
    statement = dialect.insert(J).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(J.c.id)
    for start in range(0, len(ordered), ARM_BATCH):
        rows = [
            {"kind": kind, "payload": payload, "status": "queued", "run_at": run_at, "attempts": 0, "max_attempts": attempts,
             "dedupe_key": key, "created_at": created}
            for key, payload, run_at in ordered[start : start + ARM_BATCH]
        ]  # fmt: skip
        added += len(conn.execute(statement, rows).all())
    if added and conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"NOTIFY {NOTIFY_CHANNEL}")
    return added


BULK_BATCH = 20_000


def arm_bulk(conn: Connection, kind: str, jobs: Sequence[tuple[str, dict[str, Any], dt.datetime]]) -> int:
    """`arm` for tens of thousands of jobs at once (a calendar change moving every open due
    time): on PostgreSQL one `INSERT ... SELECT FROM json_to_recordset(:rows) ... ON CONFLICT
    DO NOTHING` per 20,000 jobs, the rows sent as one JSON text (one `json.dumps` of the batch:
    adapting three Python lists of 20,000 values, datetimes above all, and a list of one JSON
    string per payload cost five times the client time), the new rows counted by the server
    (`WITH ins AS (... RETURNING 1) SELECT count(*)`: no row per job comes back); on SQLite
    one prepared INSERT run over the rows by the driver (its row count is the new jobs).
    Same keys, same rows, same count as `arm`, the rows inserted in key order like `arm`."""
    if conn.dialect.name != "postgresql":
        return _arm_executemany(conn, kind, jobs)
    known = KINDS.get(kind)
    ordered = sorted(jobs, key=lambda job: job[0])
    statement = sa.text(
        f"WITH ins AS (INSERT INTO {J.name} (kind, payload, status, run_at, attempts, max_attempts, dedupe_key, created_at)"
        " SELECT :kind, t.p, 'queued', t.r, 0, :attempts, t.k, :created"
        " FROM json_to_recordset(CAST(:rows AS json)) AS t(k text, p json, r timestamptz)"
        " ORDER BY t.k ON CONFLICT (dedupe_key) DO NOTHING RETURNING 1) SELECT count(*) FROM ins"
    )
    added, created = 0, now_utc()
    attempts = known.max_attempts if known else 5
    for start in range(0, len(ordered), BULK_BATCH):
        rows = json.dumps([{"k": k, "p": p, "r": _iso(r)} for k, p, r in ordered[start : start + BULK_BATCH]])
        added += int(conn.execute(statement, {"kind": kind, "attempts": attempts, "created": created, "rows": rows}).scalar_one())
    if added:
        conn.exec_driver_sql(f"NOTIFY {NOTIFY_CHANNEL}")
    return added


def _iso(moment: dt.datetime) -> str:
    """A moment as JSON text for PostgreSQL's timestamptz (a naive one is UTC)."""
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)).isoformat()


def _arm_executemany(conn: Connection, kind: str, jobs: Sequence[tuple[str, dict[str, Any], dt.datetime]]) -> int:
    known = KINDS.get(kind)
    attempts, created = (known.max_attempts if known else 5), now_utc()
    statement = sqlite.insert(J).on_conflict_do_nothing(index_elements=["dedupe_key"])
    rows = [
        {"kind": kind, "payload": payload, "status": "queued", "run_at": run_at, "attempts": 0, "max_attempts": attempts,
         "dedupe_key": key, "created_at": created}
        for key, payload, run_at in sorted(jobs, key=lambda job: job[0])
    ]  # fmt: skip
    return max(0, conn.execute(statement, rows).rowcount) if rows else 0


_INSERT_ONCE: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], Any] = {}
_ARMED = sa.select(J.c.id).where(J.c.dedupe_key == sa.bindparam("key"))


def insert_once(conn: Connection, table: sa.Table, values: dict[str, Any], keys: Sequence[str]) -> bool:
    """Insert the row unless one with the same `keys` (a unique index) exists; True when
    this call inserted it. The lock of a job that must run once per occurrence or day:
    of two racing workers exactly one gets True (RETURNING, as psycopg's row count of
    such an INSERT is -1 either way). The statement is built once per table, dialect and
    set of columns, and given the values as parameters (built per call, it cost more
    than the insert)."""
    cached = (conn.dialect.name, table.name, tuple(keys), tuple(values))
    statement = _INSERT_ONCE.get(cached)
    if statement is None:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(table).values({column: sa.bindparam(column, type_=table.c[column].type) for column in values})
        statement = _INSERT_ONCE[cached] = insert.on_conflict_do_nothing(index_elements=list(keys)).returning(*table.primary_key)
    return conn.execute(statement, values).first() is not None


def armed(conn: Connection, key: str) -> bool:
    return conn.execute(_ARMED, {"key": key}).first() is not None


def stamp(moment: dt.datetime) -> str:
    """A moment in a key: UTC to the minute, `20261211T0800Z`."""
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%MZ")


SKIP_GRACE = dt.timedelta(hours=1)
CATCH_UP_LIMIT = 10_000
"""At most this many missed occurrences are armed at once (`catch_up: all`)."""
Job = tuple[str, dict[str, Any], dt.datetime]


class Cadence(Protocol):
    """What arms a recurring job: a schedule, or a scheduled automation's trigger."""

    @property
    def recurrence(self) -> Any: ...
    @property
    def catch_up(self) -> str: ...
    @property
    def catch_up_window(self) -> dt.timedelta: ...


@dataclass(frozen=True)
class Decision:
    run: bool
    reason: str = ""


def follow_ups(
    conn: Connection, kind: str, job: Callable[[dt.datetime], Job], cadence: Cadence, at: dt.datetime, now: dt.datetime
) -> tuple[Decision, int]:
    """Arm what comes after the occurrence `at` (the missed ones the catch-up policy runs,
    and the next one ahead) and say whether `at` itself runs. Shared by schedules and
    scheduled automations, so both catch up after downtime the same way: `all` runs every
    missed occurrence within `catch_up_window`, `once` only the newest, `skip` none that is
    more than `SKIP_GRACE` late."""
    recurrence = cadence.recurrence
    following = recurrence.next_after(at)
    late = now - at
    jobs = []
    missed = following is not None and following <= now
    if missed and not armed(conn, job(following)[0]):
        due = recurrence.between(at, now, CATCH_UP_LIMIT)
        if cadence.catch_up == "all":
            jobs += [job(m) for m in due if now - m <= cadence.catch_up_window]
        elif due and now - due[-1] <= cadence.catch_up_window:
            jobs.append(job(due[-1]))
        ahead = recurrence.next_after(now)
        if ahead is not None:
            jobs.append(job(ahead))
    elif following is not None and not missed:
        jobs.append(job(following))
    added = arm(conn, kind, jobs)
    if late > cadence.catch_up_window:
        return Decision(False, "outside_window"), added
    if cadence.catch_up != "all" and missed:
        return Decision(False, "newer_occurrence_due"), added
    if cadence.catch_up == "skip" and late > SKIP_GRACE:
        return Decision(False, "late"), added
    return Decision(True), added
