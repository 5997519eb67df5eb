"""Formulas that read the clock stay true as time passes.

A computed field is stored when its record is written, so `due_date < today()` would say
"not overdue" for ever about a task nobody touches. The loader marks the formulas that read
the clock (`Entity.clocked`, found from the compiled expressions); this job recomputes them:

- **When**: once a day at local midnight (the instance zone, `engine.clock`); when some
  clocked formula calls `now()`, at every full local hour instead (a formula reading the
  moment is refreshed to the hour, never to the minute: no sweep every minute).
- **Exactly once**: only the next refresh is armed, as one job keyed `clock:{moment}`
  (`timers.arm`, a unique key), and the job arms the one after it when it runs; any number of
  workers and ticks share it. After downtime the missed job runs once, at the current
  moment, and arms the next refresh after now: three missed midnights are one catch-up.
- **What**: only entities with clocked formulas, and of their records only those whose
  stored value changes are written (`migrate.formulas.recompute_entity` with `only=`),
  without a new version, `updated_at` or history: no person changed the record.
- **No events**: the refresh raises no record event, so no automation or notification runs
  because a day passed (a rule "when a task becomes overdue" would fire for every task at
  midnight, outside any person's action; reminders and schedules are the tools for that).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.engine import Connection

from flowdeck.engine import clock
from flowdeck.engine.jobs.kinds import JobContext, JobKind, register
from flowdeck.engine.messages import Mp
from flowdeck.engine.migrate.formulas import recompute_entity
from flowdeck.engine.registry import Registry, registry_for
from flowdeck.engine.schema.model import Entity
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.engine.timers import arm, stamp

JOB = "formulas.clock"


def key(moment: dt.datetime) -> str:
    return f"clock:{stamp(moment)}"


def clocked(apps: Registry) -> list[EntityTables]:
    """The entities with formulas that read the clock."""
    return [et for tables in apps.apps.values() for et in tables.entities.values() if et.entity.clocked]


def reads_now(entity: Entity) -> bool:
    """Whether a clocked formula reads the moment (`now()`), not only the day."""
    for name in entity.clocked:
        table, _, child = name.rpartition(".")
        fld = entity.get_field(table).child(child) if table else entity.get_field(name)
        if fld.formula is not None and "now()" in fld.formula.names:
            return True
    return False


def next_refresh(apps: Registry, now: dt.datetime) -> dt.datetime | None:
    """The next local midnight after `now`, or the next full local hour when a formula reads
    `now()`; None when no formula reads the clock."""
    entities = clocked(apps)
    if not entities:
        return None
    if any(reads_now(et.entity) for et in entities):
        offset = now.astimezone(clock.zone()).utcoffset() or dt.timedelta()
        local = (now + offset).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
        return local - offset
    return clock.start_of(clock.today(now) + dt.timedelta(days=1))


def arm_next(conn: Connection, apps: Registry, *, now: dt.datetime) -> int:
    """Arm the next refresh (a no-op when it is armed; each worker's periodic pass and
    `flowdeck tick` call it, and so does each refresh)."""
    moment = next_refresh(apps, now)
    if moment is None:
        return 0
    return arm(conn, JOB, [(key(moment), {"at": moment.isoformat()}, moment)])


def refresh(conn: Connection, apps: Registry, *, now: dt.datetime) -> dict[str, int]:
    """Recompute every clocked formula for `now`: the records changed per entity."""
    changed = {}
    for et in clocked(apps):
        changed[f"{et.entity.app}.{et.entity.key}"] = recompute_entity(conn, et, only=frozenset(et.entity.clocked), now=now)
    return changed


def run_refresh(conn: Connection, payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    apps = registry_for(conn)
    changed = refresh(conn, apps, now=context.now)
    arm_next(conn, apps, now=context.now)
    return {"due": payload.get("at"), "changed": changed}


register(JobKind(JOB, Mp("a kind of job", "Time-dependent formulas"), run_refresh, max_attempts=5))
