"""Schedules: records created on a recurrence (`schedules` in the app document), each
occurrence exactly once however many workers and ticks run.

Only the next occurrence is armed, as a job due at its moment (`engine.timers.arm`, keyed
`sched:{app}:{schedule}:{moment}`): applying a document arms every schedule's next one, and
each occurrence, when it runs, arms the one after (no sweep over records or schedules).
The occurrence's job then takes the lock: a row in `fd_schedule_runs`, unique per (app,
schedule, occurrence), written in the job's transaction together with the records it
creates. A second job for the same occurrence finds the row and does nothing.

A failure rolls everything back and the job engine retries it with its backoff; the last
attempt records the run as "needs attention", tells the site admins, and still arms the
next occurrence: a schedule never stops by itself. "Run now" is a job of its own with a key
of its own (`manual:{job id}`), so it never takes the place of a coming occurrence.

Catch-up after downtime (`catch_up`): `all` runs every missed occurrence within
`catch_up_window`; `once` runs only the newest; `skip` runs none that is more than
`SKIP_GRACE` late. Skipped occurrences are recorded as such.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import models
from flowdeck.engine.automations import scheduled
from flowdeck.engine.expressions import CLOCK_KEY
from flowdeck.engine.jobs.kinds import JobContext, JobKind, PermanentError, register
from flowdeck.engine.jobs.queue import enqueue
from flowdeck.engine.messages import M, Mp
from flowdeck.engine.notifications import notify
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Registry, registry_for
from flowdeck.engine.schema.model import App, Schedule
from flowdeck.engine.storage.tables import AppTables
from flowdeck.engine.timers import arm, follow_ups, insert_once, stamp

JOB = "schedule.occurrence"
MAX_ATTEMPTS = 5
R = models.schedule_runs


def occurrence_key(app: str, schedule: str, moment: dt.datetime) -> str:
    return f"sched:{app}:{schedule}:{stamp(moment)}"


def _job(app: str, schedule: str, moment: dt.datetime) -> tuple[str, dict[str, Any], dt.datetime]:
    payload = {"app": app, "schedule": schedule, "at": moment.isoformat()}
    return occurrence_key(app, schedule, moment), payload, moment


def arm_app(conn: Connection, app: App, *, now: dt.datetime) -> int:
    """Arm each schedule's and scheduled automation's next occurrence after `now` (idempotent: applying a document,
    each worker's periodic pass and `flowdeck tick` call it)."""
    jobs = []
    for schedule in app.schedules:
        moment = schedule.recurrence.next_after(now)
        if moment is not None:
            jobs.append(_job(app.key, schedule.key, moment))
    return arm(conn, JOB, jobs) + scheduled.arm_rules(conn, app, now=now)


def arm_all(conn: Connection, apps: Registry, *, now: dt.datetime) -> int:
    return sum(arm_app(conn, tables.app, now=now) for tables in apps.apps.values() if tables.app.schedules or tables.app.automations)


def run_now(conn: Connection, app: App, schedule: Schedule, *, actor: Actor, now: dt.datetime) -> int:
    """Queue a manual run (the admin's button): one attempt, due now, its own key."""
    payload = {"app": app.key, "schedule": schedule.key, "manual": True, "actor": actor.user_id}
    job_id = enqueue(conn, JOB, payload, run_at=now, max_attempts=1)
    assert job_id is not None  # no dedupe key: always added
    return job_id


def _lock(conn: Connection, values: dict[str, Any]) -> bool:
    """Insert the run row; False when this occurrence already has one (ran or skipped)."""
    return insert_once(conn, R, values, ("app", "schedule", "occurrence"))


def create_records(conn: Connection, tables: AppTables, schedule: Schedule, *, at: dt.datetime, now: dt.datetime) -> int:
    """Create the occurrence's records (in the caller's transaction); how many. Expressions
    see the occurrence's moment as `now()` and `today()`, so a late run writes its own week."""
    from flowdeck.engine.records import create_record

    create = schedule.create
    target = tables.entities[create.entity]
    actor = Actor.system()
    sources: list[dict[str, Any]] = [{}]
    if create.for_each is not None:
        source = tables.entities[create.for_each]
        sources = [dict(row) for row in conn.execute(sa.select(source.table).order_by(source.table.c.id)).mappings()]
    created = 0
    for row in sources:
        env = {**row, CLOCK_KEY: at}
        if create.where is not None and not create.where.test(env):
            continue
        values = {key: expression.evaluate(env) for key, expression in create.values.items()}
        create_record(conn, target, values, actor=actor, now=now)
        created += 1
    return created


def run_occurrence(conn: Connection, payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    """The job of one occurrence (or one manual run)."""
    app_key, key = payload.get("app"), payload.get("schedule")
    if not isinstance(app_key, str) or not isinstance(key, str):
        raise PermanentError("the payload names no schedule")
    tables = registry_for(conn).apps.get(app_key)
    schedule = tables.app.schedule(key) if tables is not None else None
    if tables is None or schedule is None:
        return {"skipped": "schedule_removed"}
    now = context.now
    manual = bool(payload.get("manual"))
    run = {"app": app_key, "schedule": key, "job_id": context.job_id, "finished_at": now}
    if manual:
        at = now
        run.update(occurrence=f"manual:{context.job_id}", occurrence_at=None, actor_id=payload.get("actor"))
        armed_count = 0
    else:
        at = dt.datetime.fromisoformat(str(payload.get("at")))
        if not schedule.recurrence.is_occurrence(at):
            return {"skipped": "not_an_occurrence_any_more"}
        decision, armed_count = follow_ups(conn, JOB, lambda m: _job(app_key, key, m), schedule, at, now)
        run.update(occurrence=stamp(at), occurrence_at=at)
        if not decision.run:
            if not _lock(conn, {**run, "status": "skipped", "records_created": 0, "error": decision.reason}):
                return {"skipped": "already_ran"}
            return {"skipped": decision.reason, "armed": armed_count}
    if not _lock(conn, {**run, "status": "running", "records_created": 0}):
        return {"skipped": "already_ran"}
    last = context.attempt >= (1 if manual else MAX_ATTEMPTS)
    try:
        # Only the last attempt keeps the run row when the records fail (a savepoint to go
        # back to); an earlier one is rolled back whole, so it needs none.
        with conn.begin_nested() if last else contextlib.nullcontext():
            created = create_records(conn, tables, schedule, at=at, now=now)
    except Exception as exc:
        if not last:
            raise  # rolled back whole (the run row too); the job engine retries after its backoff
        error = f"{type(exc).__name__}: {exc}"[:2000]
        _finish(conn, run, "needs_attention", 0, error)
        said = M(
            "Schedule “%(schedule)s” of %(app)s needs attention: %(error)s", schedule=schedule.label, app=tables.app.label, error=error
        )
        notify(
            conn,
            scheduled.site_admins(conn),
            kind="schedule_failed",
            message=said,
            app=app_key,
            dedupe=f"schedule:{app_key}:{run['occurrence']}",
        )
        return {"needs_attention": True, "error": error, "armed": armed_count}
    _finish(conn, run, "done", created, None)
    return {"created": created, "armed": armed_count}


_FINISH = R.update().where(
    (R.c.app == sa.bindparam("b_app")) & (R.c.schedule == sa.bindparam("b_schedule")) & (R.c.occurrence == sa.bindparam("b_occurrence"))
)


def _finish(conn: Connection, run: dict[str, Any], status: str, created: int, error: str | None) -> None:
    conn.execute(
        _FINISH,
        {"b_app": run["app"], "b_schedule": run["schedule"], "b_occurrence": run["occurrence"],
         "status": status, "records_created": created, "error": error, "finished_at": run["finished_at"]},
    )  # fmt: skip


register(JobKind(JOB, Mp("a kind of job", "Schedule occurrence"), run_occurrence, max_attempts=MAX_ATTEMPTS, together=True))
