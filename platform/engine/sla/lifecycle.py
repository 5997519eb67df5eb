"""The SLA clocks of records, moved by what happens to them: a record-events listener that
starts, pauses, resumes, stops and reopens cycles and changes their goal, in the writer's
transaction (so a cycle changes exactly when its cause commits).

- start: the record is created matching `start` (`on: created`, created in a start state,
  `when` true), enters a start state, or a save makes `when` true; a record with an open
  cycle does not start another, one whose cycle stopped starts the next cycle number.
- pause / resume: while `pause` holds the cycle is paused (no due moment); when it stops
  holding it runs again and its moments are worked out from the time left.
- stop: a stop state entered, `when` becoming true, or a comment by someone holding one of the
  event's roles. A record that leaves its stop state (or whose stop `when` stops holding)
  without meeting `start` again resumes the same cycle with the time already used.
- goal change: a save that makes another goal the first that holds replaces the cycle's goal;
  the due moment is worked out again from the cycle's start (the time used stays). A cycle
  started under an older version of the definition keeps its goal.
Each running cycle has its warning and due moments armed as jobs (`sla/timers.py`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import events, models
from flowdeck.engine.expressions import Expression, ExpressionError
from flowdeck.engine.listening import entities
from flowdeck.engine.schema.model import Entity, Sla, SlaCondition, SlaGoal
from flowdeck.engine.sla.clocks import goal_seconds, running_moments
from flowdeck.engine.sla.status import elapsed_between
from flowdeck.engine.sla.timers import MARKS, arm_cycle, open_cycles, tell_marked

if TYPE_CHECKING:  # the registry's loader imports the listeners
    from flowdeck.engine.registry import Registry

C = models.sla_cycles
RECORD_KINDS = ("record.created", "record.updated", "record.transitioned")
STOP_EVENT_KINDS = {"comment": "comment.added"}
"""A stop `event` and the record event kind it is."""


def _holds(expression: Expression | None, env: Mapping[str, Any]) -> bool:
    """A condition that cannot be worked out does not hold."""
    if expression is None:
        return False
    try:
        return expression.test(env)
    except ExpressionError:
        return False


def choose_goal(sla: Sla, env: Mapping[str, Any]) -> SlaGoal | None:
    """The first goal whose `when` holds (None: no goal fits, no cycle)."""
    return next((g for g in sla.goals if g.when is None or _holds(g.when, env)), None)


def _calendar(goal: SlaGoal) -> str | None:
    return goal.duration.get("calendar")


def _pausing(pause: SlaCondition | None, state: str | None, env: Mapping[str, Any]) -> bool:
    return pause is not None and ((state is not None and state in pause.states) or _holds(pause.when, env))


class _Change:
    """What one record event says about one SLA: the states and values before and after."""

    def __init__(self, event: events.Event) -> None:
        self.created = event.kind == "record.created"
        self.state_before, self.state_after = event.state_before, event.state_after
        system = {"id": event.record_id, "me": event.actor_id}
        self.before = {**system, **event.before, "state": event.state_before}
        self.after = {**system, **event.after, "state": event.state_after}
        self.entered = event.state_after if self.created or event.state_after != event.state_before else None

    def becomes(self, expression: Expression | None) -> bool:
        return _holds(expression, self.after) and (self.created or not _holds(expression, self.before))

    def starts(self, sla: Sla) -> bool:
        start = sla.start
        return (self.created and start.on == "created") or (self.entered in start.states) or self.becomes(start.when)

    def stops(self, sla: Sla) -> bool:
        return (self.entered in sla.stop.states) or self.becomes(sla.stop.when)

    def reopens(self, sla: Sla) -> bool:
        stop = sla.stop
        left = self.state_before in stop.states and self.state_after not in stop.states
        return not self.created and (left or (_holds(stop.when, self.before) and not _holds(stop.when, self.after)))


def _running(cycle: dict[str, Any], now: dt.datetime, warning: int) -> dict[str, Any]:
    """The cycle running from `now`, with its moments."""
    due, warn = running_moments(cycle["goal"], cycle["calendar"], now, cycle["goal_seconds"], cycle["used_seconds"], warning)
    return {**cycle, "status": "running", "running_since": now, "due_at": due, "warn_at": warn}


def _spent(cycle: dict[str, Any], now: dt.datetime) -> int:
    """The seconds used up to `now` (the current stretch added when running)."""
    used = int(cycle["used_seconds"])
    if cycle["status"] == "running" and cycle["running_since"] is not None:
        used += elapsed_between(cycle["goal"], cycle["calendar"], cycle["running_since"], now)
    return used


def _passed(cycle: dict[str, Any], used: int, now: dt.datetime) -> dict[str, Any]:
    """The cycle with the warning and breach it has passed marked (the moments a late job
    would have marked; a goal passed while no due moment was set, at `now`)."""
    marked = dict(cycle)
    if marked["warned_at"] is None and cycle["warn_at"] is not None and cycle["warn_at"] <= now:
        marked["warned_at"] = cycle["warn_at"]
    if marked["breached_at"] is None and used >= int(cycle["goal_seconds"]):
        due = cycle["due_at"]
        marked["breached_at"] = due if due is not None and due <= now else now
    return marked


def _held(cycle: dict[str, Any], now: dt.datetime, status: str) -> dict[str, Any]:
    """The cycle paused or stopped at `now`: its time used kept, no moments, and the warning
    and breach it passed before a worker ran their jobs marked (those jobs then find it held)."""
    used = _spent(cycle, now)
    held = {**_passed(cycle, used, now), "status": status, "used_seconds": used, "running_since": None, "due_at": None, "warn_at": None}
    if status == "stopped":
        held["stopped_at"] = now
    return held


def _save(conn: Connection, cycle: dict[str, Any], before: Mapping[str, Any] | None = None) -> None:
    """Insert a new cycle, or write the columns that changed (never a mark a timer job set
    meanwhile), and arm its moments. A mark set here is told like a job's mark."""
    if cycle.get("id") is None:
        values = {k: v for k, v in cycle.items() if k != "id"}
        cycle["id"] = int(conn.execute(C.insert().values(values)).inserted_primary_key[0])
    else:
        values = {k: v for k, v in cycle.items() if k != "id" and (before is None or before.get(k) != v)}
        if values:
            conn.execute(C.update().where(C.c.id == cycle["id"]).values(values))
    for what, (_column, marked, _kind) in MARKS.items():
        if before is not None and before.get(marked) is None and cycle.get(marked) is not None:
            tell_marked(conn, cycle, what, cycle[marked])
    arm_cycle(conn, cycle)


def _start(conn: Connection, entity: Entity, sla: Sla, record_id: int, change: _Change, now: dt.datetime) -> None:
    goal = choose_goal(sla, change.after)
    if goal is None:
        return
    latest = conn.execute(
        sa.select(sa.func.max(C.c.cycle)).where(C.c.app == entity.app, C.c.entity == entity.key, C.c.record_id == record_id,
                                                C.c.sla == sla.key)
    ).scalar()  # fmt: skip
    cycle: dict[str, Any] = {
        "id": None, "app": entity.app, "entity": entity.key, "record_id": record_id, "sla": sla.key, "cycle": (latest or 0) + 1,
        "version": sla.version, "goal": dict(goal.duration), "goal_seconds": goal_seconds(goal.duration, now),
        "calendar": _calendar(goal), "status": "paused", "started_at": now, "running_since": None, "used_seconds": 0,
        "due_at": None, "warn_at": None, "warned_at": None, "breached_at": None, "stopped_at": None,
    }  # fmt: skip
    if not _pausing(sla.pause, change.state_after, change.after):
        cycle = _running(cycle, now, sla.warning)
    _save(conn, cycle)


def _goal_changed(cycle: dict[str, Any], sla: Sla, change: _Change) -> SlaGoal | None:
    """The new goal of an open cycle of the current version, when another goal now holds."""
    if cycle["version"] != sla.version:
        return None
    goal = choose_goal(sla, change.after)
    return goal if goal is not None and dict(goal.duration) != cycle["goal"] else None


def _move(conn: Connection, sla: Sla, cycle: dict[str, Any], change: _Change, now: dt.datetime) -> None:
    """An open cycle on a save: stop, change goal, pause or resume."""
    if change.stops(sla):
        _save(conn, _held(cycle, now, "stopped"), cycle)
        return
    updated = dict(cycle)
    goal = _goal_changed(cycle, sla, change)
    if goal is not None:
        used = _spent(cycle, now)
        seconds = goal_seconds(goal.duration, cycle["started_at"])
        updated.update(goal=dict(goal.duration), goal_seconds=seconds, calendar=_calendar(goal), used_seconds=used,
                       running_since=now if cycle["status"] == "running" else None)  # fmt: skip
    pausing = _pausing(sla.pause, change.state_after, change.after)
    if pausing and updated["status"] == "running":
        updated = _held(updated, now, "paused")
    elif not pausing and (updated["status"] == "paused" or goal is not None):
        updated = _running({**updated, "used_seconds": _spent(updated, now)}, now, sla.warning)
    elif updated["status"] == "paused":  # a smaller goal while paused: passed now
        updated = _passed(updated, int(updated["used_seconds"]), now)
    if updated != cycle:
        _save(conn, updated, cycle)


def _reopen(conn: Connection, sla: Sla, cycle: dict[str, Any], change: _Change, now: dt.datetime) -> None:
    """A stopped cycle taken up again with the time it had used."""
    reopened = {**cycle, "status": "paused", "stopped_at": None}
    if not _pausing(sla.pause, change.state_after, change.after):
        reopened = _running(reopened, now, sla.warning)
    _save(conn, reopened, cycle)


def _current(conn: Connection, entity: Entity, record_id: int) -> dict[str, dict[str, Any]]:
    """The current cycle of each SLA of a record (locked on PostgreSQL, so a timer job
    marking one waits for this change and then sees its moments)."""
    query = sa.select(C).where(C.c.app == entity.app, C.c.entity == entity.key, C.c.record_id == record_id).order_by(C.c.cycle)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {row["sla"]: dict(row) for row in conn.execute(query).mappings()}


def on_record(conn: Connection, entity: Entity, event: events.Event) -> None:
    change, now = _Change(event), event.at
    current = {} if change.created else _current(conn, entity, event.record_id)
    for sla in entity.slas:
        cycle = current.get(sla.key)
        if cycle is not None and cycle["status"] != "stopped":
            _move(conn, sla, cycle, change, now)
        elif cycle is not None and change.reopens(sla) and not change.starts(sla):
            _reopen(conn, sla, cycle, change, now)
        elif change.starts(sla) and not change.stops(sla):
            _start(conn, entity, sla, event.record_id, change, now)


def _holds_role(conn: Connection, app: str, user_id: int | None, roles: tuple[str, ...]) -> bool:
    if not roles:
        return True
    if user_id is None:
        return False
    grants = models.role_grants
    query = sa.select(grants.c.user_id).where(grants.c.user_id == user_id, grants.c.app == app, grants.c.role.in_(roles)).limit(1)
    return conn.execute(query).first() is not None


def on_stop_event(conn: Connection, entity: Entity, event: events.Event) -> None:
    """A stop event (the first comment by an agent): stops the open cycles it names."""
    wanted = [s for s in entity.slas if s.stop.event is not None and STOP_EVENT_KINDS.get(s.stop.event) == event.kind]
    if not wanted:
        return
    cycles = {c["sla"]: c for c in open_cycles(conn, entity.app, entity.key, event.record_id)}
    for sla in wanted:
        cycle = cycles.get(sla.key)
        if cycle is not None and _holds_role(conn, entity.app, event.actor_id, sla.stop.roles):
            _save(conn, _held(cycle, event.at, "stopped"), cycle)


def interest(conn: Connection, registry: Registry) -> list[tuple[str, str, str]]:
    """Every event of entities that have SLAs."""
    return [(app, key, kind) for app, key, entity in entities(registry) if getattr(entity, "slas", ()) for kind in events.KINDS]


@events.listens(interest)
def follow(conn: Connection, event: events.Event) -> None:
    """The listener (entities without SLAs stop at the first check). A deleted record's
    cycles go with it."""
    entity = event.model
    if entity is None or not getattr(entity, "slas", ()):
        return
    if event.kind in RECORD_KINDS:
        on_record(conn, entity, event)
    elif event.kind == "record.deleted":
        conn.execute(C.delete().where(C.c.app == entity.app, C.c.entity == entity.key, C.c.record_id == event.record_id))
    elif event.kind in STOP_EVENT_KINDS.values():
        on_stop_event(conn, entity, event)
