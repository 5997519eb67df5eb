"""What a plan says about schedules and reminders: each one added, changed or removed, as
notes (they change no table; applying the document re-arms the schedules, `engine.apps`).
A schedule's note names its next occurrence, so the admin sees when it will first run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from flowdeck.engine import clock
from flowdeck.engine.messages import M, Message
from flowdeck.engine.migrate.plan import Step
from flowdeck.engine.schema.model import App


def _noop(conn: Any) -> None:
    """A note's step: the change is the document itself."""


def _by_key(items: Any) -> dict[str, Any]:
    return {item["key"]: item for item in items or () if isinstance(item, Mapping) and "key" in item}


def _next(app: App, key: str, now: dt.datetime) -> str:
    schedule = app.schedule(key)
    moment = schedule.recurrence.next_after(now) if schedule is not None else None
    if moment is None:
        return "-"
    return moment.astimezone(clock.zone()).strftime("%Y-%m-%d %H:%M")


def timing_notes(old_document: Mapping[str, Any] | None, new: App, *, now: dt.datetime | None = None) -> list[Step]:
    now = now or clock.now()
    old_document = old_document or {}
    notes: list[Message] = []
    before, after = _by_key(old_document.get("schedules")), _by_key(new.document.get("schedules"))
    for key, spec in after.items():
        if key not in before:
            notes.append(M("Add schedule “%(key)s” (first occurrence %(next)s)", key=key, next=_next(new, key, now)))
        elif before[key] != spec:
            notes.append(M("Change schedule “%(key)s” (next occurrence %(next)s)", key=key, next=_next(new, key, now)))
    notes += [M("Remove schedule “%(key)s” (its armed occurrence will do nothing)", key=key) for key in before if key not in after]
    old_entities = old_document.get("entities") or {}
    for entity_key, spec in (new.document.get("entities") or {}).items():
        was = _by_key((old_entities.get(entity_key) or {}).get("reminders"))
        now_ = _by_key(spec.get("reminders"))
        for key, reminder in now_.items():
            if key not in was:
                notes.append(
                    M(
                        "Add reminder “%(key)s” to %(entity)s (armed for records created or re-dated from now on)",
                        key=key,
                        entity=entity_key,
                    )
                )
            elif was[key] != reminder:
                notes.append(M("Change reminder “%(key)s” of %(entity)s (for dates set from now on)", key=key, entity=entity_key))
        notes += [M("Remove reminder “%(key)s” from %(entity)s", key=key, entity=entity_key) for key in was if key not in now_]
    return [Step(note, _noop, kind="note") for note in notes]
