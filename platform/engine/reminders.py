"""Reminders: in-app notifications (mailed too, by `engine.notifications`) a number of days
or working days before or after a record's date field, declared on the entity.

A reminder is armed as one job due at its moment when a record is created or its date
changes (`arm_record`, called by `engine.records` only for entities that have reminders).
The job's key holds the moment, so arming the same moment again is a no-op; a changed date
arms a new moment, and the old job, when it comes due, finds that the record's date no
longer gives its moment (the fingerprint) and does nothing. A record whose workflow
state is of the `done` category is not reminded of (a finished task is not due).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import clock, events, models
from flowdeck.engine.errors import NotFound
from flowdeck.engine.jobs.kinds import JobContext, JobKind, PermanentError, register
from flowdeck.engine.listening import entities
from flowdeck.engine.messages import M, Mp
from flowdeck.engine.notifications import notify
from flowdeck.engine.recurrence import shift_working_days
from flowdeck.engine.registry import registry_for
from flowdeck.engine.schema.model import Entity, Reminder
from flowdeck.engine.schema.timing import CREATOR, ROLE_PREFIX
from flowdeck.engine.timers import arm, stamp

if TYPE_CHECKING:  # the registry's loader imports this module
    from flowdeck.engine.registry import Registry

JOB = "reminder.notify"
DEFAULT_AT = dt.time(9, 0)


def fire_time(reminder: Reminder, value: Any) -> dt.datetime | None:
    """When `reminder` fires for a date (or date and time) `value`, as an aware UTC time."""
    if value is None:
        return None
    zone = clock.zone()
    if isinstance(value, dt.datetime):
        local = value.astimezone(zone) if value.tzinfo else value.replace(tzinfo=dt.UTC).astimezone(zone)
        day, at = local.date(), reminder.at or local.time().replace(second=0, microsecond=0)
    elif isinstance(value, dt.date):
        day, at = value, reminder.at or DEFAULT_AT
    else:
        return None
    day = shift_working_days(day, reminder.days) if reminder.working else day + dt.timedelta(days=reminder.days)
    return dt.datetime.combine(day, at, tzinfo=zone).astimezone(dt.UTC)


def _key(entity: Entity, record_id: int, reminder: Reminder, moment: dt.datetime) -> str:
    return f"rem:{entity.app}:{entity.key}:{record_id}:{reminder.key}:{stamp(moment)}"


def arm_record(
    conn: Connection, entity: Entity, record_id: int, values: Mapping[str, Any], *, now: dt.datetime, changed: set[str] | None = None
) -> int:
    """Arm the reminders of one record whose moment is still ahead (`changed`: only those
    whose date field changed; None: all)."""
    jobs = []
    for reminder in entity.reminders:
        if changed is not None and reminder.field not in changed:
            continue
        moment = fire_time(reminder, values.get(reminder.field))
        if moment is None or moment <= now:
            continue
        payload = {"app": entity.app, "entity": entity.key, "record": record_id, "reminder": reminder.key, "at": moment.isoformat()}
        jobs.append((_key(entity, record_id, reminder, moment), payload, moment))
    return arm(conn, JOB, jobs)


def recipients(conn: Connection, entity: Entity, reminder: Reminder, values: Mapping[str, Any], created_by: int | None) -> list[int]:
    found: list[int] = []
    roles = [r[len(ROLE_PREFIX) :] for r in reminder.to if r.startswith(ROLE_PREFIX)]
    for name in reminder.to:
        if name == CREATOR and created_by is not None:
            found.append(created_by)
        elif name != CREATOR and not name.startswith(ROLE_PREFIX):
            value = values.get(name)
            found += [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, int)]
    if roles:
        grants, users = models.role_grants, models.users
        query = (
            sa.select(grants.c.user_id)
            .join(users, users.c.id == grants.c.user_id)
            .where((grants.c.app == entity.app) & grants.c.role.in_(roles) & users.c.is_active)
            .order_by(grants.c.user_id)
        )
        found += [int(u) for u in conn.execute(query).scalars()]
    return list(dict.fromkeys(found))


def send_reminder(conn: Connection, payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    """The job of one reminder moment: notify the recipients unless the date moved."""
    from flowdeck.engine.records import fetch_record

    try:
        tables = registry_for(conn).app(str(payload["app"]))
        et = tables.entities[str(payload["entity"])]
        record_id, at = int(payload["record"]), dt.datetime.fromisoformat(str(payload["at"]))
    except (KeyError, TypeError, ValueError, NotFound) as exc:
        raise PermanentError("the payload names no reminder") from exc
    reminder = next((r for r in et.entity.reminders if r.key == payload.get("reminder")), None)
    if reminder is None:
        return {"skipped": "reminder_removed"}
    try:
        record = fetch_record(conn, et, record_id)
    except NotFound:
        return {"skipped": "record_deleted"}
    value = record.values.get(reminder.field)
    if fire_time(reminder, value) != at:
        return {"skipped": "date_changed"}
    entity = et.entity
    state = entity.workflow.state(record.state) if entity.workflow and record.state else None
    if state is not None and state.category == "done":
        return {"skipped": "record_done"}  # a finished task is not due any more
    users = recipients(conn, entity, reminder, record.values, record.created_by)
    date = value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else str(value)
    field_label = entity.get_field(reminder.field).label
    if reminder.message is not None:
        said = M("%(message)s (%(entity)s “%(title)s”, %(field)s %(date)s)", message=reminder.message, entity=entity.label,
                 title=record.title, field=field_label, date=date)  # fmt: skip
    else:
        said = M(
            "Reminder: %(entity)s “%(title)s”, %(field)s %(date)s", entity=entity.label, title=record.title, field=field_label, date=date
        )
    sent = notify(
        conn, users, kind="reminder", message=said, app=entity.app, entity=entity.key, record_id=record_id,
        dedupe=f"rem:{entity.app}:{entity.key}:{record_id}:{reminder.key}:{stamp(at)}",
    )  # fmt: skip
    return {"notified": sent}


register(JobKind(JOB, Mp("a kind of job", "Reminder"), send_reminder, max_attempts=5))


WRITES = ("record.created", "record.updated", "record.transitioned")


def interest(conn: Connection, registry: Registry) -> Iterable[tuple[str, str, str]]:
    """Writes to entities that have reminders."""
    return [(app, key, kind) for app, key, entity in entities(registry) if entity.reminders for kind in WRITES]  # type: ignore[attr-defined]


@events.listens(interest)
def arm_on_write(conn: Connection, event: events.Event) -> None:
    """The listener: a created record arms all its reminders, a changed one those whose
    date field changed (entities without reminders stop at the first check)."""
    entity = event.model
    if entity is None or not entity.reminders or event.kind not in WRITES:
        return
    changed = None if event.kind == "record.created" else set(event.changed)
    arm_record(conn, entity, event.record_id, event.after, now=event.at, changed=changed)
