"""Running a queued automation run: the `automation.run` job kind.

The handler runs in the transaction that marks its job done, so the run's changes, its row
(done or failed, with what it changed) and the job commit once or not at all: a worker
killed mid-run leaves a lease that runs out, and the next worker runs it from the start.
The actions run inside a savepoint under `events.caused_by`, so their own events carry the
run (its rule, id and depth) and a failing action undoes every action of the run, while
the run row still records the failure. Five failures in a row pause the rule and tell the
site admins."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from flowdeck.engine import events, models, notifications, records, users
from flowdeck.engine.automations.actions import ACTIONS
from flowdeck.engine.automations.base import ActionFailed, RunContext, jsonable
from flowdeck.engine.errors import FlowdeckError, NotFound
from flowdeck.engine.expressions import ExpressionError
from flowdeck.engine.jobs import queue
from flowdeck.engine.jobs.kinds import JobContext, JobKind, register
from flowdeck.engine.messages import M, Message
from flowdeck.engine.permissions import Actor
from flowdeck.engine.phrases import said_by
from flowdeck.engine.registry import registry_for
from flowdeck.engine.schema.model import Automation
from flowdeck.engine.storage.tables import AppTables

JOB_KIND = "automation.run"
PAUSE_AFTER = 5
STATUSES = ("queued", "done", "failed", "skipped", "loop_stopped")
R = models.automation_runs
S = models.automation_state


def run_context(conn: Connection, tables: AppTables, rule: Automation, row: Any, now: dt.datetime, *, dry: bool = False) -> RunContext:
    """The context a run's actions share: the record locked as it is now (None when gone)."""
    et = tables.get(rule.entity)
    try:
        record = records.fetch_record(conn, et, row.record_id, for_update=True) if row.record_id is not None else None
    except NotFound:
        record = None
    actor = Actor.system()
    if rule.run_as == "actor" and row.actor_id is not None:
        actor = users.actor_for(conn, row.actor_id)
    inputs = row.inputs or {}
    run = RunContext(
        conn=conn, tables=tables, et=et, record=record, old=inputs.get("before") or {}, changed=frozenset(inputs.get("changed") or ()),
        actor=actor, event_actor=row.actor_id, now=now, rule_key=rule.key, run_id=row.id, rule_label=rule.label, dry=dry,
    )  # fmt: skip

    def reload() -> None:
        if run.record is not None:
            run.record = records.fetch_record(conn, et, run.record.id)

    run.reload = reload
    return run


def perform(run: RunContext, rule: Automation, depth: int) -> Message | None:
    """Run the rule's actions in a savepoint: None when all worked, else why not (and
    nothing they did is kept). Database failures are raised for the job to be retried."""
    savepoint = run.conn.begin_nested()
    try:
        with events.caused_by(events.Cause("automation", rule.key, run.run_id, depth)):
            for action in rule.actions:
                ACTIONS[action.type].run(run, action.settings)
    except DBAPIError:
        savepoint.rollback()
        raise
    except ActionFailed as exc:
        savepoint.rollback()
        return exc.message
    except ExpressionError as exc:
        savepoint.rollback()
        return said_by(exc)
    except FlowdeckError as exc:
        savepoint.rollback()
        message = getattr(exc, "message", None)
        return message if isinstance(message, Message) else M("the change was refused: %(problem)s", problem=str(exc))
    savepoint.commit()
    return None


def _failures(conn: Connection, app: str, rule: Automation, failed: bool, now: dt.datetime) -> None:
    """Count failures in a row; the fifth pauses the rule and tells the site admins."""
    key = (S.c.app == app) & (S.c.rule == rule.key)
    row = conn.execute(sa.select(S.c.failures, S.c.paused).where(key)).first()
    if row is None:
        if not failed:
            return
        conn.execute(S.insert().values(app=app, rule=rule.key, failures=0, paused=False, cursor={}))
        count = 0
    else:
        count = row.failures
    if not failed:
        if count:
            conn.execute(S.update().where(key).values(failures=0))
        return
    count += 1
    pause = count >= PAUSE_AFTER and not (row is not None and row.paused)
    conn.execute(S.update().where(key).values(failures=count, **({"paused": True, "paused_at": now} if pause else {})))
    if pause:
        admins = [r[0] for r in conn.execute(sa.select(models.users.c.id).where(models.users.c.is_admin & models.users.c.is_active))]
        said = M("Automation “%(rule)s” of %(app)s failed %(count)s times in a row and is paused", rule=rule.label, app=app, count=count)
        notifications.notify(
            conn, admins, kind="automation", message=said, app=app, dedupe=f"automation-paused:{app}:{rule.key}:{now.isoformat()}"
        )


def execute(conn: Connection, run_id: int, now: dt.datetime, *, attempt: int = 1) -> str:
    """Run one queued run (locked); its new status."""
    query = sa.select(R).where(R.c.id == run_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None or row.status != "queued":
        return row.status if row is not None else "gone"
    started = time.monotonic()
    tables = registry_for(conn).apps.get(row.app)
    rule = tables.app.automation(row.rule) if tables is not None else None
    state = conn.execute(sa.select(S.c.paused).where((S.c.app == row.app) & (S.c.rule == row.rule))).first()
    error: Message | None = None
    changes: dict[str, Any] = {}
    if rule is None or not rule.enabled:
        status, error = "skipped", M("the rule is no longer in the app, or is disabled")
    elif state is not None and state.paused:
        status, error = "skipped", M("the rule is paused")
    else:
        run = run_context(conn, tables, rule, row, now)
        error = perform(run, rule, row.depth)
        status = "failed" if error is not None else "done"
        changes = {"changes": run.changes, "sent": run.sent} if error is None else {}
        _failures(conn, row.app, rule, error is not None, now)
    conn.execute(
        R.update()
        .where(R.c.id == run_id)
        .values(
            status=status, changes=jsonable(changes) if changes else None, error=error.to_json() if error else None, attempt=attempt,
            finished_at=now, duration_ms=int((time.monotonic() - started) * 1000),
        )
    )  # fmt: skip
    return status


def run_job(conn: Connection, payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    return {"status": execute(conn, int(payload["run"]), context.now, attempt=context.attempt)}


register(JobKind(JOB_KIND, M("automation run"), run_job, max_attempts=5))


def requeue(conn: Connection, run_id: int) -> bool:
    """Run a finished run again (the admin's Retry of a failed one, Replay of a done or
    skipped one): queued with a new job, on the record as it is now."""
    row = conn.execute(sa.select(R.c.status, R.c.attempt).where(R.c.id == run_id)).first()
    if row is None or row.status == "queued":
        return False
    job_id = queue.enqueue(conn, JOB_KIND, {"run": run_id})
    conn.execute(R.update().where(R.c.id == run_id).values(status="queued", job_id=job_id, error=None, finished_at=None, duration_ms=None))
    return True


def resume(conn: Connection, app: str, rule: str) -> None:
    """Unpause a rule (its failures in a row start again from zero)."""
    conn.execute(S.update().where((S.c.app == app) & (S.c.rule == rule)).values(paused=False, paused_at=None, failures=0))


def rule_state(conn: Connection, app: str, rule: str) -> Any:
    return conn.execute(sa.select(S).where((S.c.app == app) & (S.c.rule == rule))).first()
