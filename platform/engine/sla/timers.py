"""The warning and breach moments of running SLA cycles: one job armed at each (never a sweep
of the table), marking the cycle warned or breached exactly once.

A job's key holds the cycle, the start of its running stretch and the exact moment, so a
moment moved by a pause or a goal change arms a new job and the old one, when it comes due,
finds the cycle no longer due then and does nothing. Marking is a conditional UPDATE
(`... WHERE warned_at IS NULL AND warn_at = :moment`): of any number of workers and ticks
running the same job, one changes the row and only that one tells the automations
(`sla.warning` / `sla.breached` events, in the same transaction). A tick after downtime runs
the moments that passed, each once, and its result says what it marked. A record change
that pauses or stops a cycle past a moment before its job ran marks it there and tells the
automations the same way (`tell_marked`); the job then finds the cycle held and does nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import events, models
from flowdeck.engine.errors import NotFound
from flowdeck.engine.jobs.kinds import JobContext, JobKind, PermanentError, register
from flowdeck.engine.messages import Mp
from flowdeck.engine.registry import registry_for
from flowdeck.engine.timers import arm

JOB = "sla.timer"
C = models.sla_cycles
MARKS = {"warning": ("warn_at", "warned_at", "sla.warning"), "breach": ("due_at", "breached_at", "sla.breached")}
"""Per kind of moment: the column holding it, the column marked, the event told."""


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def job_key(cycle_id: int, what: str, running_since: dt.datetime, moment: dt.datetime) -> str:
    """The key of one moment's job: the cycle, warning or breach, its running stretch and the moment."""
    return f"sla:{cycle_id}:{what}:{_stamp(running_since)}:{_stamp(moment)}"


def arm_cycle(conn: Connection, cycle: dict[str, Any]) -> int:
    """Arm the warning (unless already warned) and breach moments of a running cycle."""
    if cycle["status"] != "running":
        return 0
    jobs = []
    for what, (column, marked, _event) in MARKS.items():
        moment = cycle.get(column)
        if moment is None or cycle.get(marked) is not None:
            continue
        key = job_key(cycle["id"], what, cycle["running_since"], moment)
        jobs.append((key, {"cycle": cycle["id"], "what": what, "at": moment.isoformat()}, moment))
    return arm(conn, JOB, jobs)


def mark(conn: Connection, payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    """The job of one moment: mark the cycle warned or breached if it is still due then."""
    try:
        cycle_id, what, at = int(payload["cycle"]), str(payload["what"]), dt.datetime.fromisoformat(str(payload["at"]))
        column, marked = MARKS[what][:2]
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentError("the payload names no SLA moment") from exc
    statement = (
        C.update()
        .where(C.c.id == cycle_id, C.c.status == "running", C.c[marked].is_(None), C.c[column] == at)
        .values({marked: at})
        .returning(C.c.app, C.c.entity, C.c.record_id, C.c.sla, C.c.cycle)
    )
    row = conn.execute(statement).first()
    if row is None:
        return {"skipped": "not_due"}
    tell_marked(conn, row._mapping, what, at)
    return {"marked": what, "cycle": cycle_id, "late_seconds": max(0, int((context.now - at).total_seconds()))}


def tell_marked(conn: Connection, cycle: Mapping[str, Any], what: str, at: dt.datetime) -> None:
    """Tell the automations that a cycle was marked warned or breached (`sla.warning` /
    `sla.breached`), in the marker's transaction: the job of the moment and the record change
    that stops or pauses a cycle past its moment both call it, so no mark is ever silent. An
    app, entity or definition that is gone has no rules left to tell."""
    try:
        entity = registry_for(conn).entity(cycle["app"], cycle["entity"]).entity
    except (KeyError, NotFound):
        return
    if all(s.key != cycle["sla"] for s in entity.slas):
        return
    data = {"sla": cycle["sla"], "cycle": cycle["cycle"], "at": at.isoformat()}
    event = events.Event(MARKS[what][2], cycle["app"], cycle["entity"], int(cycle["record_id"]), None, at, data=data, model=entity)
    events.emit(conn, event)


register(JobKind(JOB, Mp("a kind of job", "SLA warning or breach"), mark, max_attempts=5))


def open_cycles(conn: Connection, app: str, entity: str, record_id: int) -> list[dict[str, Any]]:
    """The running or paused cycles of one record, locked on PostgreSQL."""
    query = sa.select(C).where(C.c.app == app, C.c.entity == entity, C.c.record_id == record_id, C.c.status != "stopped")
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return [dict(r) for r in conn.execute(query).mappings()]
