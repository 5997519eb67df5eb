"""The admin's test run and the record page's buttons.

A test run answers "what would this rule do to this record" without doing it: whether its
condition holds on the record as it is now (as if every field had just changed), then its
actions run for real inside a savepoint that is always rolled back, so the diff and the
messages are exactly what a run would make, and nothing stays (no record change, no
notification, no run row, no job).

A button (`"trigger": {"on": "button"}`) queues a run like an event does, for the roles the
trigger names."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from flowdeck.engine import clock, events, records
from flowdeck.engine.automations import runs
from flowdeck.engine.automations.base import jsonable
from flowdeck.engine.automations.listener import holds, queue_run
from flowdeck.engine.automations.triggers import TRIGGERS
from flowdeck.engine.errors import Forbidden, NotFound
from flowdeck.engine.messages import M, Message
from flowdeck.engine.permissions import Actor, can
from flowdeck.engine.schema.model import Automation
from flowdeck.engine.storage.tables import AppTables


@dataclass
class Trial:
    matches: bool
    changes: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    error: Message | None = None


class _Rollback(Exception):
    pass


@dataclass(frozen=True)
class _Row:
    """A run row as `runs.run_context` reads it, for a run that is never written."""

    id: None
    record_id: int
    actor_id: int | None
    inputs: dict[str, Any]


def test_run(
    conn: Connection, tables: AppTables, rule: Automation, record_id: int, *, actor: Actor, now: dt.datetime | None = None
) -> Trial:
    """What `rule` would do to the record now; writes nothing."""
    now = now or clock.now()
    et = tables.get(rule.entity)
    record = records.fetch_record(conn, et, record_id)
    changed = frozenset(record.values) | {"state"}
    matches = holds(rule, record.values, record.values, record.system(actor.user_id), changed)
    trial = Trial(matches)
    savepoint = conn.begin_nested()
    try:
        row = _Row(None, record_id, actor.user_id, {"before": jsonable(record.values), "changed": sorted(changed)})
        run = runs.run_context(conn, tables, rule, row, now, dry=True)
        trial.error = runs.perform(run, rule, 1)
        trial.changes, trial.sent = run.changes, run.sent
    finally:
        savepoint.rollback()
    return trial


def buttons(app: AppTables, entity: str, actor: Actor) -> list[Automation]:
    """The buttons of `entity`'s record page the actor may press."""
    return [
        r for r in app.app.automations if r.entity == entity and r.enabled and TRIGGERS[r.trigger].pressed and _may_press(app, r, actor)
    ]


def _may_press(app: AppTables, rule: Automation, actor: Actor) -> bool:
    roles = rule.trigger_settings["roles"] if rule.trigger_settings else None
    if not can(actor, app.get(rule.entity).entity, "read"):
        return False
    return actor.is_admin or roles is None or bool(actor.roles_for(app.app.key) & set(roles))


def press(conn: Connection, app: AppTables, rule_key: str, record_id: int, *, actor: Actor) -> int:
    """Queue a run of a button rule on a record; its run id. Forbidden for other roles."""
    rule = app.app.automation(rule_key)
    if rule is None or not rule.enabled or not TRIGGERS[rule.trigger].pressed:
        raise NotFound(M("there is no button “%(key)s”", key=rule_key))
    if not _may_press(app, rule, actor):
        raise Forbidden(M("you may not press “%(button)s”", button=rule.label))
    et = app.get(rule.entity)
    record = records.fetch_record(conn, et, record_id)
    now = clock.now()
    event = events.Event("button", app.app.key, rule.entity, record_id, actor.user_id, now, record.values, record.values)
    if not holds(rule, record.values, record.values, record.system(actor.user_id), frozenset()):
        raise Forbidden(M("“%(button)s” does not apply to this record now", button=rule.label))
    return queue_run(conn, rule, app.app.key, event, 1)
