"""Checking `schedules` (recurring records) and entities' `reminders` when a document is
loaded: rules that parse, entities and fields that exist, values that fit their fields and
recipients that name user fields or roles, each problem at its JSON path."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from flowdeck.engine.expressions import Expression, Scope
from flowdeck.engine.fieldtypes import types_in
from flowdeck.engine.messages import M
from flowdeck.engine.recurrence import DEFAULT_START, Recurrence, parse_at, parse_duration, rule_problem
from flowdeck.engine.schema.checks import Path, unknown_field
from flowdeck.engine.schema.effects import NOT_SETTABLE, EffectChecks
from flowdeck.engine.schema.model import Field, Label, Reminder, Schedule, ScheduleCreate, humanize

DATE_TYPES = types_in("date")
ROLE_PREFIX = "role:"
CREATOR = "created_by"


def record_scope(fields: Mapping[str, Any], *, has_workflow: bool) -> Scope:
    """What a `for_each` record's expressions may read: its stored fields and system columns."""
    names = {k for k, f in fields.items() if f.get("type") != "table"}
    names |= {"id", "created_at", "created_by", "updated_at", "updated_by"}
    if has_workflow:
        names.add("state")
    return Scope(names=frozenset(names))


class TimingChecks(EffectChecks):
    def schedules(self, specs: Sequence[Mapping[str, Any]], typed: Mapping[str, Mapping[str, Field]]) -> tuple[Schedule, ...]:
        """`typed` holds every entity's built fields (to check that a value fits its field)."""
        schedules: list[Schedule] = []
        seen: set[str] = set()
        for index, spec in enumerate(specs):
            path: Path = ("schedules", index)
            if spec["key"] in seen:
                self.problem((*path, "key"), M("the schedule “%(key)s” is declared twice", key=spec["key"]))
            seen.add(spec["key"])
            create = self._create((*path, "create"), spec["create"], typed)
            recurrence = self.recurrence(path, spec)
            window = dt.timedelta(days=7)
            if "catch_up_window" in spec:
                try:
                    window = parse_duration(spec["catch_up_window"])
                except ValueError:
                    self.problem((*path, "catch_up_window"), M("is not a duration such as P7D, PT12H or P1DT6H"))
            if create is not None and recurrence is not None:
                label = Label.of(spec.get("label"), humanize(spec["key"]))
                schedules.append(Schedule(spec["key"], label, create, recurrence, spec.get("catch_up", "once"), window))
        return tuple(schedules)

    def _create(self, path: Path, spec: Mapping[str, Any], typed: Mapping[str, Mapping[str, Field]]) -> ScheduleCreate | None:
        entities: Mapping[str, Any] = self.doc["entities"]
        target = spec["entity"]
        ok = True
        if target not in entities:
            self.problem((*path, "entity"), M("unknown entity “%(key)s”", key=target))
            return None
        scope = Scope(names=frozenset())
        where: Expression | None = None
        source = spec.get("for_each")
        if source is not None:
            if source["entity"] not in entities:
                self.problem((*path, "for_each", "entity"), M("unknown entity “%(key)s”", key=source["entity"]))
                return None
            other = entities[source["entity"]]
            scope = record_scope(other["fields"], has_workflow="workflow" in other)
            where = self.expression((*path, "for_each", "where"), source.get("where"), scope)
            ok = ok and (where is not None or "where" not in source)
        fields = entities[target]["fields"]
        values: dict[str, Expression] = {}
        for key, text in spec.get("values", {}).items():
            vpath = (*path, "values", key)
            if key not in fields:
                self.problem(vpath, unknown_field(key, list(fields)))
                ok = False
                continue
            if fields[key].get("type") in NOT_SETTABLE:
                self.problem(vpath, M("“%(key)s” is %(kind)s: a schedule cannot set it", key=key, kind=fields[key].get("type")))
                ok = False
                continue
            expression = self.expression(vpath, text, scope)
            if expression is None:
                ok = False
                continue
            built = typed.get(target, {}).get(key)
            if built is not None:
                self.fits(vpath, expression, built)
            values[key] = expression
        if not ok:
            return None
        return ScheduleCreate(target, values, source["entity"] if source else None, where)

    def recurrence(self, path: Path, spec: Mapping[str, Any], key: str = "repeat") -> Recurrence | None:
        """The recurrence `spec[key]` gives (a schedule's `repeat`, a scheduled trigger's
        `every`), with `on_non_working_day` beside it; None (the problem noted) if unusable."""
        repeat = spec[key]
        rpath = (*path, key)
        shift = spec.get("on_non_working_day", "run")
        if ("rrule" in repeat) == ("preset" in repeat):
            self.problem(rpath, M("give either “rrule” or “preset”"))
            return None
        at = parse_at(repeat.get("at", "09:00"))
        if "preset" in repeat:
            if "on_non_working_day" in spec:
                self.problem((*path, "on_non_working_day"), M("a preset already falls on working days: leave this out"))
            return Recurrence(preset=repeat["preset"], at=at)
        if "at" in repeat:
            self.problem((*rpath, "at"), M("an RRULE gives its times with BYHOUR and BYMINUTE"))
        problem = rule_problem(repeat["rrule"])
        if problem is not None:
            self.problem((*rpath, "rrule"), M("is not a usable recurrence rule: %(problem)s", problem=problem))
            return None
        starts = dt.date.fromisoformat(repeat["starts"]) if "starts" in repeat else DEFAULT_START
        return Recurrence(rrule=repeat["rrule"], starts=starts, shift=shift)

    def reminders(self, path: Path, specs: Sequence[Mapping[str, Any]], fields: Mapping[str, Any]) -> tuple[Reminder, ...]:
        reminders: list[Reminder] = []
        seen: set[str] = set()
        for index, spec in enumerate(specs):
            rpath = (*path, index)
            if spec["key"] in seen:
                self.problem((*rpath, "key"), M("the reminder “%(key)s” is declared twice", key=spec["key"]))
            seen.add(spec["key"])
            side = "before" if "before" in spec else "after"
            if ("before" in spec) == ("after" in spec):
                self.problem(rpath, M("give either “before” or “after”"))
                continue
            when = spec[side]
            ok = True
            if when["field"] not in fields:
                self.problem((*rpath, side, "field"), unknown_field(when["field"], list(fields)))
                ok = False
            elif fields[when["field"]].get("type") not in DATE_TYPES:
                self.problem((*rpath, side, "field"), M("“%(key)s” is not a date field", key=when["field"]))
                ok = False
            for position, recipient in enumerate(spec["to"]):
                ok = self._recipient((*rpath, "to", position), recipient, fields) and ok
            if not ok:
                continue
            days = int(when.get("days", 0))
            at = parse_at(when["at"]) if "at" in when else None
            message = Label.of(spec["message"]) if "message" in spec else None
            reminders.append(
                Reminder(
                    spec["key"],
                    when["field"],
                    -days if side == "before" else days,
                    bool(when.get("working")),
                    at,
                    tuple(spec["to"]),
                    message,
                )
            )
        return tuple(reminders)

    def _recipient(self, path: Path, recipient: str, fields: Mapping[str, Any]) -> bool:
        if recipient.startswith(ROLE_PREFIX):
            if recipient[len(ROLE_PREFIX) :] not in self.role_keys:
                self.unknown_role(path, recipient[len(ROLE_PREFIX) :])
                return False
            return True
        if recipient == CREATOR:
            return True
        if recipient not in fields or fields[recipient].get("type") != "user":
            self.problem(path, M("“%(key)s” is not a user field of this entity, “created_by” or “role:…”", key=recipient))
            return False
        return True
