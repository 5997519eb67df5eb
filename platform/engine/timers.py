"""What the timed jobs share: arming a job for a moment (a unique key makes a second arm
of the same moment a no-op, even from two transactions at once), and `insert_once`, the
lock row of a job that must run once per occurrence or day. The applied apps as a job
handler sees them: `flowdeck.engine.registry.registry_for`.

Arming writes `INSERT ... ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`, on SQLite and
PostgreSQL alike: the job engine's own `enqueue` checks first and inserts after, which two
racing transactions can both pass. The rows returned are the count of new jobs: with
psycopg, the row count of such an INSERT is -1 whether or not a row went in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

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
    for start in range(0, len(ordered), ARM_BATCH):
        rows = [
            {"kind": kind, "payload": payload, "status": "queued", "run_at": run_at, "attempts": 0, "max_attempts": attempts,
             "dedupe_key": key, "created_at": created}
            for key, payload, run_at in ordered[start : start + ARM_BATCH]
        ]  # fmt: skip
        statement = dialect.insert(J).values(rows).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(J.c.id)
        added += len(conn.execute(statement).all())
    if added and conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"NOTIFY {NOTIFY_CHANNEL}")
    return added


def insert_once(conn: Connection, table: sa.Table, values: dict[str, Any], keys: Sequence[str]) -> bool:
    """Insert the row unless one with the same `keys` (a unique index) exists; True when
    this call inserted it. The lock of a job that must run once per occurrence or day:
    of two racing workers exactly one gets True (RETURNING, as psycopg's row count of
    such an INSERT is -1 either way)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing(index_elements=list(keys)).returning(*table.primary_key)
    return conn.execute(statement).first() is not None


def armed(conn: Connection, key: str) -> bool:
    return conn.execute(sa.select(J.c.id).where(J.c.dedupe_key == key)).first() is not None


def stamp(moment: dt.datetime) -> str:
    """A moment in a key: UTC to the minute, `20261211T0800Z`."""
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%MZ")
