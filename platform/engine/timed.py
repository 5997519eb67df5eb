"""Time-driven transitions: the system performs a transition whose document gives `after`
once a record has waited that long in the transition's from-state ("resolved tickets close
after 7 working days without a reply").

The wait begins when the record enters the state (created in it or moved into it) and, for
a transition with `restart_on_comment`, again at each comment. Each beginning arms one job
(`transition.timed`) due when the wait ends; its key names the record, the transition, the
moment the wait began and the due moment, so arming again is a no-op. There is no sweep and
no job is ever cancelled: a job that comes due checks that the record is still in the state
and that its wait still began at the job's moment (read from the history and comments, so a
record that left and came back, or got a comment, has a newer job and the old one does
nothing). The transition is then performed through `workflow.transition_record` as the
system, with its guard, required fields and effects, in the job's transaction (which marks
the job done once, under its lease): exactly once. A refusal is kept in the job's result
and told to the app's admins once; it is not retried (entering the state again re-arms).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import events, models
from flowdeck.engine.calendars.model import CalendarError
from flowdeck.engine.durations import Duration, add_duration
from flowdeck.engine.errors import DatabaseUnavailable, FlowdeckError, NotFound, RecordInvalid
from flowdeck.engine.jobs.kinds import JobContext, JobKind, PermanentError, register
from flowdeck.engine.listening import entities
from flowdeck.engine.messages import M, Message, Mn, Mp
from flowdeck.engine.notifications import notify
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import registry_for
from flowdeck.engine.schema.model import Entity, Transition
from flowdeck.engine.storage.tables import AppTables, EntityTables
from flowdeck.engine.timers import arm

if TYPE_CHECKING:  # the registry's loader imports the listeners
    from flowdeck.engine.registry import Registry

JOB = "transition.timed"
CHUNK = 500
log = logging.getLogger(__name__)


def timed_transitions(entity: Entity | None) -> list[Transition]:
    if entity is None or entity.workflow is None:
        return []
    return [t for t in entity.workflow.transitions if t.after is not None]


def second(moment: dt.datetime) -> str:
    """A moment in a key and in the check of a job: UTC to the second, `20261211T080503Z`."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def job_key(entity: Entity, record_id: int, transition: Transition, since: dt.datetime, due: dt.datetime) -> str:
    return f"timed:{entity.app}:{entity.key}:{record_id}:{transition.key}:{second(since)}:{second(due)}"


def arm_waits(conn: Connection, entity: Entity, waits: Iterable[tuple[int, Transition, dt.datetime]]) -> int:
    """Arm one job per (record id, timed transition, moment its wait began); how many were new.
    A wait whose end the calendar cannot say (a year not loaded) is logged and not armed:
    the person's change that began it must not fail for it."""
    jobs = []
    for record_id, transition, since in waits:
        assert transition.after is not None
        try:
            due = add_duration(since, transition.after)
        except CalendarError:
            log.warning("timed transition %s of %s #%s: the calendar cannot say when the wait ends", transition.key, entity.key, record_id)
            continue
        payload = {
            "app": entity.app, "entity": entity.key, "record": record_id, "transition": transition.key,
            "state": transition.sources[0], "since": since.isoformat(), "due": due.isoformat(),
        }  # fmt: skip
        jobs.append((job_key(entity, record_id, transition, since, due), payload, due))
    return arm(conn, JOB, jobs)


def wait_began(conn: Connection, entity: Entity, record_id: int, transition: Transition, *, fallback: Any = None) -> dt.datetime | None:
    """When the record's wait for `transition` began: its last entry into a state (from the
    history; `fallback`, its creation, for a record with no such entry) or, with
    `restart_on_comment`, its last comment if that is later."""
    return waits_began(conn, entity, transition, {record_id: fallback}).get(record_id)


def _entered_state(action: str, changes: Any) -> bool:
    return action == "create" or any(isinstance(c, dict) and c.get("field") == "state" for c in changes or ())


def waits_began(conn: Connection, entity: Entity, transition: Transition, fallbacks: Mapping[int, Any]) -> dict[int, dt.datetime]:
    """`wait_began` of many records (record id -> its creation as the fallback), reading the
    history and comments a chunk of records per query."""
    h, c = models.history, models.comments
    found: dict[int, dt.datetime] = {}
    ids = sorted(fallbacks)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        mine = (h.c.app == entity.app) & (h.c.entity == entity.key) & h.c.record_id.in_(chunk)
        query = sa.select(h.c.record_id, h.c.at, h.c.action, h.c.changes).where(mine).order_by(h.c.record_id, h.c.id.desc())
        for record_id, at, action, changes in conn.execute(query):
            if int(record_id) not in found and _entered_state(action, changes):
                found[int(record_id)] = at
        if transition.restart_on_comment:
            said = (c.c.app == entity.app) & (c.c.entity == entity.key) & c.c.record_id.in_(chunk)
            query = sa.select(c.c.record_id, sa.func.max(c.c.id)).where(said).group_by(c.c.record_id)
            last_ids = [int(i) for _, i in conn.execute(query)]
            for record_id, at in conn.execute(sa.select(c.c.record_id, c.c.created_at).where(c.c.id.in_(last_ids))) if last_ids else ():
                began = found.get(int(record_id))
                if began is None or at > began:
                    found[int(record_id)] = at
    for record_id, fallback in fallbacks.items():
        if record_id not in found and fallback is not None:
            found[record_id] = fallback
    return found


def arm_waiting(conn: Connection, et: EntityTables, transition: Transition) -> int:
    """Arm the wait of every record now in the transition's from-state, from the moment it
    entered it (or its last comment): records that got there without an event (a plan that
    adds the transition, a bundle's imported records). How many jobs were new."""
    table = et.table
    query = sa.select(table.c.id, table.c.created_at).where(table.c.state == transition.sources[0]).order_by(table.c.id)
    began = waits_began(conn, et.entity, transition, {int(rid): created for rid, created in conn.execute(query)})
    return arm_waits(conn, et.entity, [(record_id, transition, moment) for record_id, moment in sorted(began.items())])


def arm_app(conn: Connection, tables: AppTables) -> int:
    """`arm_waiting` for every timed transition of an app."""
    return sum(arm_waiting(conn, et, t) for et in tables.entities.values() for t in timed_transitions(et.entity))


def duration_words(duration: Duration) -> Message:
    """ "7 working days on the cn calendar", as a Message."""
    num: Any = int(duration.amount) if duration.amount == duration.amount.to_integral_value() else float(duration.amount)
    words = {
        "minutes": lambda: Mn("%(num)s minute", "%(num)s minutes", num),
        "hours": lambda: Mn("%(num)s hour", "%(num)s hours", num),
        "days": lambda: Mn("%(num)s day", "%(num)s days", num),
        "working_minutes": lambda: Mn("%(num)s working minute", "%(num)s working minutes", num),
        "working_hours": lambda: Mn("%(num)s working hour", "%(num)s working hours", num),
        "working_days": lambda: Mn("%(num)s working day", "%(num)s working days", num),
    }[duration.unit]()
    if duration.calendar is None:
        return words
    return M("%(duration)s on the “%(calendar)s” calendar", duration=words, calendar=duration.calendar)


def said_by_system(entity: Entity, transition: Transition) -> Message:
    """The history entry's words for a timed transition."""
    from flowdeck.engine.workflow import state_label

    assert transition.after is not None
    return M(
        "by the system after %(duration)s in %(state)s",
        duration=duration_words(transition.after),
        state=state_label(entity, transition.sources[0]),
    )


def perform(conn: Connection, payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    """The job of one wait: perform the transition if the record still waits since the
    job's moment and the wait is over; re-arm when the duration or calendar moved its end."""
    from flowdeck.engine.records import fetch_record
    from flowdeck.engine.workflow import transition_record

    try:
        et = registry_for(conn).app(str(payload["app"])).entities[str(payload["entity"])]
        record_id, key, state = int(payload["record"]), str(payload["transition"]), str(payload["state"])
        since = dt.datetime.fromisoformat(str(payload["since"]))
    except (KeyError, TypeError, ValueError, NotFound) as exc:
        raise PermanentError("the payload names no timed transition") from exc
    entity = et.entity
    transition = entity.workflow.transition(key) if entity.workflow is not None else None
    if transition is None or transition.after is None or transition.sources != (state,):
        return {"skipped": "transition_removed"}
    try:
        record = fetch_record(conn, et, record_id, for_update=True)
    except NotFound:
        return {"skipped": "record_deleted"}
    if record.state != state:
        return {"skipped": "left_state"}
    began = wait_began(conn, entity, record_id, transition, fallback=record.created_at)
    if began is None or second(began) != second(since):
        return {"skipped": "wait_restarted"}
    due = add_duration(since, transition.after)
    if due > context.now:
        arm_waits(conn, entity, [(record_id, transition, since)])
        return {"rearmed": due.isoformat()}
    cause = events.Cause("timed", key, message=said_by_system(entity, transition))
    try:
        with conn.begin_nested(), events.caused_by(cause):
            after = transition_record(conn, et, record_id, key, actor=Actor.system(), now=context.now, record=record)
    except DatabaseUnavailable:
        raise
    except FlowdeckError as exc:
        return _refused(conn, entity, record_id, transition, since, exc)
    return {"transitioned": key, "record": record_id, "state": after.state}


def _refused(
    conn: Connection, entity: Entity, record_id: int, transition: Transition, since: dt.datetime, exc: FlowdeckError
) -> dict[str, Any]:
    """A guard, a required field or a rule stopped the system: logged in the job's result and
    told to the app's admins, once per wait (the notification's key names it)."""
    from flowdeck.engine.webhooks.outgoing import app_admins
    from flowdeck.engine.workflow import field_problems

    why = getattr(exc, "message", None)
    if isinstance(exc, RecordInvalid):  # its `message` is English text: said field by field instead
        why = field_problems(entity, exc.errors)
    elif not isinstance(why, Message):
        why = M("the change was refused: %(problem)s", problem=str(exc))
    log.info("timed transition %s of %s #%s refused: %s", transition.key, entity.key, record_id, why)
    notify(
        conn,
        app_admins(conn, entity.app),
        kind="timed_transition_refused",
        message=M(
            "The system could not perform “%(transition)s” on %(entity)s #%(id)s after %(duration)s: %(reason)s",
            transition=transition.label,
            entity=entity.label,
            id=record_id,
            duration=duration_words(transition.after),
            reason=why,
        ),
        app=entity.app,
        entity=entity.key,
        record_id=record_id,
        dedupe=f"timed-refused:{entity.app}:{entity.key}:{record_id}:{transition.key}:{second(since)}",
    )
    return {"refused": why.to_json()}


register(JobKind(JOB, Mp("a kind of job", "Timed transition"), perform, max_attempts=5))


def _state_of(conn: Connection, app: str, entity: str, record_id: int) -> str | None:
    table = registry_for(conn).app(app).entities[entity].table
    return conn.execute(sa.select(table.c.state).where(table.c.id == record_id)).scalar()


ARMING = ("record.created", "record.transitioned", "comment.added")


def interest(conn: Connection, registry: Registry) -> list[tuple[str, str, str]]:
    """Entering states and comments of entities that have timed transitions."""
    return [(app, key, kind) for app, key, entity in entities(registry) if timed_transitions(entity) for kind in ARMING]  # type: ignore[arg-type]


@events.listens(interest)
def arm_on_event(conn: Connection, event: events.Event) -> None:
    """The listener: entering a state begins the wait of the timed transitions leaving it;
    a comment begins it again for those with `restart_on_comment`."""
    timed = timed_transitions(event.model)
    if not timed:
        return
    if event.kind in ("record.created", "record.transitioned"):
        if event.state_after is None or (event.kind == "record.transitioned" and event.state_after == event.state_before):
            return
        state, chosen = event.state_after, timed
    elif event.kind == "comment.added":
        chosen = [t for t in timed if t.restart_on_comment]
        if not chosen:
            return
        state = _state_of(conn, event.app, event.entity, event.record_id)
    else:
        return
    waits = [(event.record_id, t, event.at) for t in chosen if t.sources == (state,)]
    if waits:
        arm_waits(conn, event.model, waits)
