"""Schedules: records created on a recurrence (`schedules` in the app document), each
occurrence exactly once however many workers and ticks run.

Only the next occurrence is armed, as a job due at its moment (`engine.timers.arm`, keyed
`sched:{app}:{schedule}:{moment}`): applying a document arms every schedule's next one, and
each occurrence, when it runs, arms the one after (no sweep over records or schedules).
The occurrence's job then takes the lock: a row in `fd_schedule_runs`, unique per (app,
schedule, occurrence), written in the job's transaction together with the records it
creates. A second job for the same occurrence finds the row and does nothing.

A record the occurrence cannot create because the data refuses it is skipped, and the others
are created: a `RecordInvalid` from `create_record` (a required value missing, a value that
does not fit, a unique field taken, or a cross-record rule such as "one status report per
project and week", `ConstraintBroken`). Each record is created in a savepoint of its own, so
a refused one leaves nothing behind; the run is `done` with the records created and the
skipped ones counted, their reasons kept as messages (`run_note`). Trying again would be
refused again, so a refusal is never retried, even when every record is refused.

Anything else fails the occurrence: an expression that cannot be evaluated (the schedule
itself is wrong), a database error, a bug. A failure rolls everything back and the job
engine retries it with its backoff; the last attempt records the run as "needs attention"
with a readable message, tells the site admins, and still arms the next occurrence: a
schedule never stops by itself.

Speed: occurrences run together, several in one transaction (`JobContext.together`), and
then no savepoint is taken per record; a refusal there fails the batch, which the job
engine runs again one job at a time, where each record has its savepoint. The common case
(nothing refused) pays for no savepoint. "Run now" is a job of its own with a key
of its own (`manual:{job id}`), so it never takes the place of a coming occurrence.

Catch-up after downtime (`catch_up`): `all` runs every missed occurrence within
`catch_up_window`; `once` runs only the newest; `skip` runs none that is more than
`SKIP_GRACE` late. Skipped occurrences are recorded as such.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import models
from flowdeck.engine.automations import scheduled
from flowdeck.engine.errors import FlowdeckError, RecordInvalid, ValueRefused
from flowdeck.engine.expressions import CLOCK_KEY
from flowdeck.engine.jobs.kinds import JobContext, JobKind, PermanentError, register
from flowdeck.engine.jobs.queue import enqueue
from flowdeck.engine.messages import M, Message, Mp, plain
from flowdeck.engine.notifications import notify
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Registry, registry_for
from flowdeck.engine.schema.model import App, Schedule
from flowdeck.engine.storage.tables import AppTables
from flowdeck.engine.timers import arm, follow_ups, insert_once, stamp

JOB = "schedule.occurrence"
MAX_ATTEMPTS = 5
R = models.schedule_runs
REASONS_KEPT = 20
"""Reasons of skipped records stored per run (the count is always whole)."""
log = logging.getLogger("flowdeck.schedules")


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


@dataclass
class Created:
    """What an occurrence created: how many records, and why each skipped one was refused."""

    count: int = 0
    skipped: list[Message] = field(default_factory=list)


def create_records(
    conn: Connection, tables: AppTables, schedule: Schedule, *, at: dt.datetime, now: dt.datetime, guarded: bool = True
) -> Created:
    """Create the occurrence's records (in the caller's transaction). Expressions see the
    occurrence's moment as `now()` and `today()`, so a late run writes its own week.

    `guarded`: each record in a savepoint, a refused one skipped. Unguarded (the job shares
    its transaction with others) a refusal is raised: the batch then runs again, this job
    alone and guarded."""
    from flowdeck.engine.records import create_record
    from flowdeck.engine.workflow import field_problems

    create = schedule.create
    target = tables.entities[create.entity]
    actor = Actor.system()
    sources: list[dict[str, Any]] = [{}]
    source = None
    if create.for_each is not None:
        source = tables.entities[create.for_each]
        sources = [dict(row) for row in conn.execute(sa.select(source.table).order_by(source.table.c.id)).mappings()]
    created = Created()
    for row in sources:
        env = {**row, CLOCK_KEY: at}
        if create.where is not None and not create.where.test(env):
            continue
        values = {key: expression.evaluate(env) for key, expression in create.values.items()}
        if not guarded:
            create_record(conn, target, values, actor=actor, now=now)
            created.count += 1
            continue
        try:
            with conn.begin_nested():
                create_record(conn, target, values, actor=actor, now=now)
        except RecordInvalid as exc:
            reason = field_problems(target.entity, exc.errors)
            if source is not None:
                reason = M("%(entity)s #%(id)s: %(reason)s", entity=source.entity.label, id=row.get("id"), reason=reason)
            created.skipped.append(reason)
            continue
        created.count += 1
    return created


def failure(exc: BaseException) -> Message:
    """What a failed occurrence says to the admin: the engine's own message when the error
    carries one, else the error's first line (the log has the traceback)."""
    if isinstance(exc, (FlowdeckError, ValueRefused)) and exc.message:
        return exc.message if isinstance(exc.message, Message) else plain(exc.message)
    detail = (str(exc).strip().splitlines() or [""])[0][:500]
    return M("an unexpected error: %(detail)s", detail=detail)


def run_note(*, error: Message | None = None, skipped: list[Message] | None = None) -> str | None:
    """The `error` column of a run as JSON: the failure's message, and the skipped records'
    count and (the first `REASONS_KEPT`) reasons; None when there is nothing to say."""
    data: dict[str, Any] = {}
    if error is not None:
        data["error"] = error.to_json()
    if skipped:
        data["skipped"] = len(skipped)
        data["reasons"] = [reason.to_json() for reason in skipped[:REASONS_KEPT]]
    return json.dumps(data, ensure_ascii=False) if data else None


@dataclass(frozen=True)
class RunNote:
    """A run's `error` column read back: the failure (a plain `str` for rows written before
    notes were JSON, and for skipped occurrences' reason keys), the skipped records."""

    error: Message | str | None = None
    skipped: int = 0
    reasons: tuple[Message, ...] = ()


def read_note(text: str | None) -> RunNote:
    if not text:
        return RunNote()
    if text.startswith("{"):
        try:
            data = json.loads(text)
            error = Message.from_json(data["error"]) if data.get("error") else None
            return RunNote(error, int(data.get("skipped", 0)), tuple(Message.from_json(r) for r in data.get("reasons", ())))
        except (ValueError, KeyError, TypeError):
            pass
    return RunNote(text)


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
            created = create_records(conn, tables, schedule, at=at, now=now, guarded=not context.together)
    except Exception as exc:
        if not last or (context.together and isinstance(exc, RecordInvalid)):
            raise  # rolled back whole (the run row too): retried after the backoff, or (a refusal) run again alone
        log.exception("schedule %s:%s, occurrence %s failed", app_key, key, run["occurrence"])
        error = failure(exc)
        _finish(conn, run, "needs_attention", 0, run_note(error=error))
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
        return {"needs_attention": True, "error": str(error), "armed": armed_count}
    _finish(conn, run, "done", created.count, run_note(skipped=created.skipped))
    return {"created": created.count, "skipped": len(created.skipped), "armed": armed_count}


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
