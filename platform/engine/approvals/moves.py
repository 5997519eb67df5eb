"""Open approval steps' time limits and escalation stages moved after a business calendar
changed (`calendar_changes.py` runs this in the `calendars.recompute` job).

A step whose `time_limit` or a stage's `after` counts working time on a changed calendar
(or on the default, when it names none) gets its due time and stage moments worked out
again from its opening with the calendars as they are now. The opening is in the stage
jobs' payload (`opened`); jobs armed before it was kept there were armed in the opening's
transaction, so their `created_at` stands for it (milliseconds later: moments within a
second count as unmoved).

Exactly once, in the job's one transaction (its writes commit with its `done` mark):
- the open steps' request rows are read locked (FOR UPDATE on PostgreSQL, as a decision and
  a stage job take them; SQLite's job transaction holds the write lock), then their stage
  jobs (current keys: `stage_key` of the step's due time), locked too on PostgreSQL so no
  runner claims one in between;
- a queued stage job is moved in place: new run_at, payload and key (the key names the new
  due time), so nothing old is left to run;
- a stage job being run when the job looks (claimed, its transaction not committed) is left
  alone: it finds the due time changed when it gets the request lock and does nothing, and
  a new job is armed at the new moment;
- a stage already run (done, failed, dead, or purged) is not armed again;
- the step row gets the new due time (what the approval panel and the inbox show).
A new key already taken by another job (an earlier opening of the step due in the same
minute) is left as it is: that job stands for the stage, as it did when the step opened.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import models
from flowdeck.engine.approval_core import PENDING, R, S
from flowdeck.engine.approval_timers import STAGE_JOB, stage_key
from flowdeck.engine.calendars.book import CalendarBook
from flowdeck.engine.calendars.model import CalendarError
from flowdeck.engine.durations import Duration, add_duration
from flowdeck.engine.jobs.queue import NOTIFY_CHANNEL
from flowdeck.engine.registry import Registry
from flowdeck.engine.schema.model import ApprovalStep
from flowdeck.engine.sla.recompute import affected
from flowdeck.engine.timers import arm, stamp

J = models.jobs
CHUNK = 1000
SECOND = dt.timedelta(seconds=1)
Where = tuple[str, str, str, str]
"""(app, entity, transition, step key)."""


@dataclass(frozen=True)
class _Moved:
    steps: list[tuple[int, dt.datetime]]
    renamed: list[tuple[int, str, dict[str, Any], dt.datetime]]
    new_jobs: list[tuple[str, dict[str, Any], dt.datetime]]


def _counts(duration: Duration, cals: CalendarBook, keys: Collection[str], default_changed: bool) -> bool:
    return duration.working and affected(duration.calendar, cals, keys, default_changed)


def affected_steps(reg: Registry, cals: CalendarBook, keys: Collection[str], default_changed: bool) -> dict[Where, ApprovalStep]:
    """The step definitions whose limit or a stage counts working time on a changed calendar."""
    found: dict[Where, ApprovalStep] = {}
    for app, tables in reg.apps.items():
        for entity_key, et in tables.entities.items():
            workflow = et.entity.workflow
            for transition in workflow.transitions if workflow is not None else ():
                for step in transition.approval.steps if transition.approval is not None else ():
                    limit = step.time_limit
                    if limit is None:
                        continue
                    durations = [limit, *(stage.after for stage in step.escalation)]
                    if any(_counts(d, cals, keys, default_changed) for d in durations):
                        found[(app, entity_key, transition.key, step.key)] = step
    return found


def _open_steps(conn: Connection, wanted: Collection[Where]) -> list[Any]:
    """The pending steps of pending requests of those definitions, their requests locked."""
    groups: dict[tuple[str, str, str], set[str]] = {}
    for app, entity, transition, step in wanted:
        groups.setdefault((app, entity, transition), set()).add(step)
    which = sa.or_(
        *(
            (R.c.app == app) & (R.c.entity == entity) & (R.c.transition == transition) & S.c.key.in_(sorted(steps))
            for (app, entity, transition), steps in sorted(groups.items())
        )
    )
    query = (
        sa.select(S.c.id, S.c.key, S.c.due_at, R.c.app, R.c.entity, R.c.transition)
        .join(R, R.c.id == S.c.request_id)
        .where((S.c.status == PENDING) & (R.c.status == PENDING) & S.c.due_at.is_not(None) & which)
        .order_by(R.c.id, S.c.id)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=R)  # a decision or a stage job on these requests waits
    return conn.execute(query).all()


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _jobs_by_key(conn: Connection, keys: list[str], *, lock: bool) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for part in _chunks(sorted(keys)):
        query = sa.select(J.c.id, J.c.dedupe_key, J.c.status, J.c.payload, J.c.created_at, J.c.run_at).where(J.c.dedupe_key.in_(part))
        if lock and conn.dialect.name == "postgresql":
            query = query.order_by(J.c.dedupe_key).with_for_update()  # no runner claims a stage job in between
        found.update({row.dedupe_key: row for row in conn.execute(query)})
    return found


def _opening(jobs: list[Any]) -> dt.datetime:
    for job in jobs:
        opened = (job.payload or {}).get("opened")
        if opened:
            return dt.datetime.fromisoformat(opened)
    return min(job.created_at for job in jobs)


def _plan(conn: Connection, steps: list[Any], definitions: dict[Where, ApprovalStep], cals: CalendarBook, keys: Collection[str],
          default_changed: bool) -> tuple[_Moved, int]:  # fmt: skip
    """What moves: step due times, queued jobs renamed, new jobs for stages being run."""
    current = {row.id: [stage_key(row.id, index, row.due_at) for index in range(len(definitions[_where(row)].escalation))] for row in steps}
    jobs = _jobs_by_key(conn, [key for found in current.values() for key in found], lock=True)
    moved = _Moved([], [], [])
    unknown = 0
    for row in steps:
        step = definitions[_where(row)]
        mine = {index: jobs[key] for index, key in enumerate(current[row.id]) if key in jobs}
        if not mine:
            continue  # opened before the document gave it these stages, or every stage run long ago
        opened = _opening(list(mine.values()))
        limit = step.time_limit
        assert limit is not None
        try:
            due = add_duration(opened, limit) if _counts(limit, cals, keys, default_changed) else row.due_at
            moments = {index: add_duration(opened, step.escalation[index].after) for index in mine}
        except CalendarError:
            unknown += 1
            continue
        due_moved = abs(due - row.due_at) >= SECOND
        if due_moved:
            moved.steps.append((row.id, due))
        for index, job in mine.items():
            payload = {"step": row.id, "stage": index, "due": stamp(due), "opened": opened.isoformat()}
            target = stage_key(row.id, index, due)
            if job.status == "queued" and (due_moved or abs(job.run_at - moments[index]) >= SECOND):
                moved.renamed.append((job.id, target, payload, moments[index]))
            elif job.status == "running" and due_moved:
                moved.new_jobs.append((target, payload, moments[index]))
    return moved, unknown


def _where(row: Any) -> Where:
    return (row.app, row.entity, row.transition, row.key)


def _write_steps(conn: Connection, steps: list[tuple[int, dt.datetime]]) -> None:
    if conn.dialect.name == "postgresql":
        for start in range(0, len(steps), CHUNK):
            part = steps[start : start + CHUNK]
            conn.execute(
                sa.text(
                    f"UPDATE {S.name} AS s SET due_at = t.d FROM unnest(CAST(:ids AS bigint[]), CAST(:dues AS timestamptz[])) AS t(i, d)"
                    " WHERE s.id = t.i"
                ),
                {"ids": [i for i, _ in part], "dues": [d for _, d in part]},
            )
    elif steps:
        statement = S.update().where(S.c.id == sa.bindparam("b_id")).values(due_at=sa.bindparam("b_due"))
        conn.execute(statement, [{"b_id": i, "b_due": d} for i, d in steps])


def _rename(conn: Connection, renamed: list[tuple[int, str, dict[str, Any], dt.datetime]]) -> int:
    """Move queued stage jobs in place; a new key another job already has is left alone."""
    taken = {key: job.id for key, job in _jobs_by_key(conn, [key for _, key, _, _ in renamed], lock=False).items()}
    rows = [r for r in renamed if taken.get(r[1], r[0]) == r[0]]  # its own key (the due time stayed) is no conflict
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        count = 0
        for start in range(0, len(rows), CHUNK):
            part = rows[start : start + CHUNK]
            count += len(
                conn.execute(
                    sa.text(
                        f"UPDATE {J.name} AS j SET dedupe_key = t.k, payload = CAST(t.p AS json), run_at = t.r"
                        " FROM unnest(CAST(:ids AS bigint[]), CAST(:keys AS text[]), CAST(:payloads AS text[]),"
                        " CAST(:runs AS timestamptz[])) AS t(i, k, p, r) WHERE j.id = t.i AND j.status = 'queued' RETURNING j.id"
                    ),
                    {
                        "ids": [r[0] for r in part],
                        "keys": [r[1] for r in part],
                        "payloads": [json.dumps(r[2]) for r in part],
                        "runs": [r[3] for r in part],
                    },
                ).all()
            )
        conn.exec_driver_sql(f"NOTIFY {NOTIFY_CHANNEL}")
        return count
    statement = (
        J.update()
        .where((J.c.id == sa.bindparam("b_id")) & (J.c.status == "queued"))
        .values(dedupe_key=sa.bindparam("b_key"), payload=sa.bindparam("b_payload"), run_at=sa.bindparam("b_run"))
    )
    conn.execute(statement, [{"b_id": i, "b_key": k, "b_payload": p, "b_run": r} for i, k, p, r in rows])
    return len(rows)


def move_stages(conn: Connection, reg: Registry, cals: CalendarBook, keys: Collection[str], default_changed: bool) -> dict[str, int]:
    """Move the due times and stage jobs of open steps counting working time on the changed
    calendars. Returns counts: steps read, steps whose due time moved, stage jobs moved in
    place, new jobs (stages being run when the job looked), unknown (moments the calendar
    cannot say, left as they were)."""
    definitions = affected_steps(reg, cals, keys, default_changed)
    if not definitions:
        return {"read": 0, "moved": 0, "jobs_moved": 0, "jobs": 0, "unknown": 0}
    steps = _open_steps(conn, definitions)
    moved, unknown = _plan(conn, steps, definitions, cals, keys, default_changed)
    _write_steps(conn, moved.steps)
    renamed = _rename(conn, moved.renamed)
    added = arm(conn, STAGE_JOB, moved.new_jobs)
    return {"read": len(steps), "moved": len(moved.steps), "jobs_moved": renamed, "jobs": added, "unknown": unknown}
