"""Events into automation runs, in the writer's transaction: for each rule indexed under the
event's app, entity and kind whose trigger matches and whose condition holds, one run row
and its `automation.run` job, so the run exists exactly when the change committed.

The guard rails are decided here, before any work is queued: a rule's own changes do not
start it again; a chain of automations deeper than `MAX_DEPTH` is logged `loop_stopped`; a
paused rule, or one over its runs per minute, is logged `skipped`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import events, models, records
from flowdeck.engine.automations import runs
from flowdeck.engine.automations.base import jsonable
from flowdeck.engine.automations.index import index_for, interest
from flowdeck.engine.automations.triggers import TRIGGERS
from flowdeck.engine.errors import NotFound
from flowdeck.engine.expressions import CHANGED_KEY, ExpressionError
from flowdeck.engine.jobs import queue
from flowdeck.engine.messages import M, Message
from flowdeck.engine.registry import Registry, registry_for
from flowdeck.engine.schema.model import Automation

MAX_DEPTH = 5
R = models.automation_runs
S = models.automation_state
RATE_WINDOW = dt.timedelta(minutes=1)


def _values(conn: Connection, registry: Registry, event: events.Event) -> tuple[Mapping[str, Any], Mapping[str, Any], dict[str, Any]]:
    """old, new and the system names for the condition. Approval and comment events carry
    no values: the record is read as it is now (old and new alike)."""
    if event.kind.startswith("record."):
        new = event.after if event.kind != "record.deleted" else event.before
        system = {"id": event.record_id, "state": event.state_after or event.state_before, "me": event.actor_id}
        return event.before, new, system
    try:
        record = records.fetch_record(conn, registry.entity(event.app, event.entity), event.record_id)
    except NotFound:
        return {}, {}, {"id": event.record_id, "me": event.actor_id}
    return record.values, record.values, record.system(event.actor_id)


def holds(rule: Automation, old: Mapping[str, Any], new: Mapping[str, Any], system: Mapping[str, Any], changed: frozenset[str]) -> bool:
    """Whether the rule's condition holds; one that cannot be worked out does not."""
    if rule.condition is None:
        return True
    newer = {**new, "state": system.get("state"), "id": system.get("id")}
    env = {**system, **new, "old": {**old}, "new": newer, CHANGED_KEY: changed}
    try:
        return rule.condition.test(env)
    except ExpressionError:
        return False


def _state(conn: Connection, app: str, rule: str) -> Any:
    return conn.execute(sa.select(S.c.paused, S.c.failures).where((S.c.app == app) & (S.c.rule == rule))).first()


def _recent(conn: Connection, app: str, rule: str, now: dt.datetime) -> int:
    query = sa.select(sa.func.count()).where(
        (R.c.app == app) & (R.c.rule == rule) & (R.c.created_at > now - RATE_WINDOW) & R.c.status.in_(("queued", "done", "failed"))
    )
    return int(conn.execute(query).scalar() or 0)


def log_run(
    conn: Connection, rule: Automation, app: str, event: events.Event, *, depth: int, status: str, error: Message | None = None
) -> int:
    now = queue.now_utc()
    inputs = {
        "kind": event.kind,
        "changed": sorted(event.changed),
        "before": jsonable(dict(event.before)),
        "after": jsonable(dict(event.after)),
        "transition": event.transition,
        "data": jsonable(dict(event.data)),
    }
    if event.cause is not None:
        inputs["cause"] = {"kind": event.cause.kind, "key": event.cause.key, "run": event.cause.run_id, "depth": event.cause.depth}
    done = status != "queued"
    return int(
        conn.execute(
            R.insert()
            .values(
                app=app, rule=rule.key, entity=rule.entity, record_id=event.record_id, event=event.kind, status=status, depth=depth,
                actor_id=event.actor_id, inputs=inputs, error=error.to_json() if error else None, attempt=0, created_at=now,
                finished_at=now if done else None, duration_ms=0 if done else None,
            )
            .returning(R.c.id)
        ).scalar_one()
    )  # fmt: skip


def queue_run(conn: Connection, rule: Automation, app: str, event: events.Event, depth: int) -> int:
    """Guard rails, then the run row and its job (or a logged skipped / loop_stopped run)."""
    if depth > MAX_DEPTH:
        return log_run(
            conn,
            rule,
            app,
            event,
            depth=depth,
            status="loop_stopped",
            error=M("the chain of automations reached %(max)s levels: stopped", max=MAX_DEPTH),
        )
    state = _state(conn, app, rule.key)
    if state is not None and state.paused:
        return log_run(
            conn,
            rule,
            app,
            event,
            depth=depth,
            status="skipped",
            error=M("the rule is paused after failing %(count)s times in a row", count=state.failures),
        )
    if _recent(conn, app, rule.key, queue.now_utc()) >= rule.rate_limit:
        return log_run(
            conn,
            rule,
            app,
            event,
            depth=depth,
            status="skipped",
            error=M("over the rate limit of %(max)s runs a minute", max=rule.rate_limit),
        )
    run_id = log_run(conn, rule, app, event, depth=depth, status="queued")
    job_id = queue.enqueue(conn, runs.JOB_KIND, {"run": run_id})
    conn.execute(R.update().where(R.c.id == run_id).values(job_id=job_id))
    return run_id


@events.listens(interest)
def on_event(conn: Connection, event: events.Event) -> None:
    """Queue a run for every rule this event starts."""
    registry = registry_for(conn)
    rules = index_for(registry).get((event.app, event.entity, event.kind))
    if not rules:
        return
    cause = event.cause if event.cause is not None and event.cause.kind == "automation" else None
    values = None
    for rule in rules:
        if cause is not None and cause.key == rule.key:
            continue  # a rule's own changes do not start it again
        if not TRIGGERS[rule.trigger].matches(rule.trigger_settings, event):
            continue
        if values is None:
            values = _values(conn, registry, event)
        if not holds(rule, *values, event.changed):
            continue
        queue_run(conn, rule, event.app, event, cause.depth + 1 if cause is not None else 1)
