"""The trigger registry: one entry per way an automation can start, owning its document
check (the keys it takes beside `on`), the record events it listens to, its matching and its
name on admin pages. Nothing else names a trigger.

`events` lists the event kinds (engine/events.py) an entry can match: the listener indexes
rules by them once per registry, so an event no rule listens to costs a dictionary lookup.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flowdeck.engine.automations.base import CheckContext
from flowdeck.engine.events import Event
from flowdeck.engine.expressions import Expression
from flowdeck.engine.messages import M, Message
from flowdeck.engine.phrases import suggestion
from flowdeck.engine.recurrence import Recurrence
from flowdeck.engine.schema.checks import Path, unknown_field
from flowdeck.engine.schema.label import Label
from flowdeck.engine.schema.timing import record_scope

Check = Callable[[CheckContext, Path, Mapping[str, Any]], Any]
Match = Callable[[Any, Event], bool]

OUTCOMES = ("approved", "rejected")


def choices(keys: list[str]) -> Message:
    """What there is to choose from, after an unknown name."""
    return M("(choices: %(keys)s)", keys=list(keys))


@dataclass(frozen=True)
class TriggerType:
    name: str
    label: Message
    events: tuple[str, ...]
    keys: frozenset[str] = frozenset()
    check: Check = lambda ctx, path, spec: None
    matches: Match = lambda settings, event: True
    pressed: bool = False
    """A button a person presses on the record page (no record event starts it)."""


def _transitions(ctx: CheckContext, path: Path, spec: Mapping[str, Any]) -> frozenset[str] | None:
    if "transitions" not in spec:
        return None
    known = ctx.transitions(ctx.entity)
    names = spec["transitions"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        ctx.checks.problem((*path, "transitions"), M("must be a list of transition keys"))
        return None
    for index, name in enumerate(names):
        if name not in known:
            said = M("unknown transition “%(key)s”%(hint)s %(listing)s", key=name, hint=suggestion(name, known), listing=choices(known))
            ctx.checks.problem((*path, "transitions", index), said)
    return frozenset(names)


def _in_transitions(settings: frozenset[str] | None, event: Event) -> bool:
    wanted = settings
    return wanted is None or (event.transition or event.data.get("transition")) in wanted


def _fields(ctx: CheckContext, path: Path, spec: Mapping[str, Any]) -> frozenset[str] | None:
    names = spec.get("fields")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        ctx.checks.problem((*path, "fields"), M("must be a list of field keys"))
        return None
    known = [*ctx.fields, "state"]
    for index, name in enumerate(names):
        if name not in known:
            ctx.checks.problem((*path, "fields", index), unknown_field(name, known))
    return frozenset(names)


def _outcome(ctx: CheckContext, path: Path, spec: Mapping[str, Any]) -> dict[str, Any]:
    outcome = spec.get("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        ctx.checks.problem((*path, "outcome"), M("must be one of %(choices)s", choices=list(OUTCOMES)))
    return {"outcome": outcome, "transitions": _transitions(ctx, path, spec)}


def _decided(settings: Mapping[str, Any], event: Event) -> bool:
    outcome = settings["outcome"]
    return (outcome is None or event.data.get("outcome") == outcome) and _in_transitions(settings["transitions"], event)


def _button(ctx: CheckContext, path: Path, spec: Mapping[str, Any]) -> dict[str, Any]:
    roles = spec.get("roles")
    if roles is not None:
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            ctx.checks.problem((*path, "roles"), M("must be a list of role keys"))
            roles = None
        else:
            ctx.checks.roles((*path, "roles"), roles)
    label = spec.get("label")
    if label is not None and not (isinstance(label, str) or (isinstance(label, dict) and all(isinstance(v, str) for v in label.values()))):
        ctx.checks.problem((*path, "label"), M('must be a text or {"en": ..., "zh": ...}'))
        label = None
    return {"roles": tuple(roles) if roles is not None else None, "label": Label.of(label) if label is not None else None}


def _slas(ctx: CheckContext, path: Path, spec: Mapping[str, Any]) -> frozenset[str] | None:
    """The SLAs of the rule's entity a warning or breach trigger narrows to (None: every one)."""
    if "slas" not in spec:
        return None
    known = [s.get("key") for s in ctx.document["entities"].get(ctx.entity, {}).get("slas", []) if isinstance(s, Mapping)]
    names = spec["slas"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        ctx.checks.problem((*path, "slas"), M("must be a list of SLA keys"))
        return None
    for index, name in enumerate(names):
        if name not in known:
            said = M("unknown SLA “%(key)s”%(hint)s %(listing)s", key=name, hint=suggestion(name, known), listing=choices(known))
            ctx.checks.problem((*path, "slas", index), said)
    return frozenset(names)


def _in_slas(settings: frozenset[str] | None, event: Event) -> bool:
    return settings is None or event.data.get("sla") in settings


AT_MOST = 500


@dataclass(frozen=True)
class Every:
    """A scheduled trigger's settings: when (`recurrence`), for which records (`where`, at
    most `at_most` of them) and how it catches up after downtime (as a schedule's `once`)."""

    recurrence: Recurrence
    where: Expression | None
    at_most: int = AT_MOST
    catch_up: str = "once"
    catch_up_window: dt.timedelta = dt.timedelta(days=7)


def _every(ctx: CheckContext, path: Path, spec: Mapping[str, Any]) -> Every | None:
    """The recurrence is read as a schedule's `repeat` is; `where` sees the entity's records."""
    if not isinstance(spec.get("every"), Mapping):
        ctx.checks.problem((*path, "every"), M('must say when: {"preset": "every_working_day", "at": "09:00"} or {"rrule": ...}'))
        return None
    recurrence = ctx.checks.recurrence(path, spec, "every")
    entity = ctx.document["entities"].get(ctx.entity, {})
    scope = record_scope(ctx.fields, has_workflow="workflow" in entity)
    where = ctx.expression((*path, "where"), spec["where"], scope) if "where" in spec else None
    if recurrence is None:
        return None
    return Every(recurrence, where, int(spec.get("at_most", AT_MOST)))


TRIGGERS: dict[str, TriggerType] = {}


def register(trigger: TriggerType) -> TriggerType:
    TRIGGERS[trigger.name] = trigger
    return trigger


for _entry in (
    TriggerType("created", M("record created"), ("record.created",)),
    TriggerType("updated", M("record updated (a stored value changed)"), ("record.updated", "record.transitioned")),
    TriggerType("deleted", M("record deleted"), ("record.deleted",)),
    TriggerType(
        "field_changed",
        M("field changed"),
        ("record.updated", "record.transitioned"),
        frozenset({"fields"}),
        _fields,
        lambda settings, event: settings is not None and bool(settings & event.changed),
    ),
    TriggerType(
        "transition", M("transition performed"), ("record.transitioned",), frozenset({"transitions"}), _transitions, _in_transitions
    ),
    TriggerType(
        "approval_requested", M("approval requested"), ("approval.requested",), frozenset({"transitions"}), _transitions, _in_transitions
    ),
    TriggerType(
        "approval_decided", M("approval decided"), ("approval.decided",), frozenset({"outcome", "transitions"}), _outcome, _decided
    ),
    TriggerType(
        "approval_step_decided",
        M("approval step decided"),
        ("approval.step_decided",),
        frozenset({"outcome", "transitions"}),
        _outcome,
        _decided,
    ),
    TriggerType("comment_added", M("comment added"), ("comment.added",)),
    TriggerType("sla_warning", M("SLA warning (its warning threshold reached)"), ("sla.warning",), frozenset({"slas"}), _slas, _in_slas),
    TriggerType("sla_breached", M("SLA breached (its goal passed)"), ("sla.breached",), frozenset({"slas"}), _slas, _in_slas),
    TriggerType("button", M("button on the record page"), (), frozenset({"roles", "label"}), _button, lambda s, e: False, pressed=True),
    TriggerType(
        "scheduled",
        M("on a schedule (for the records that match)"),
        (),
        frozenset({"every", "on_non_working_day", "where", "at_most"}),
        _every,
        lambda s, e: False,
    ),
):
    register(_entry)


def check_trigger(ctx: CheckContext, path: Path, spec: Mapping[str, Any]) -> tuple[str, Any] | None:
    """The trigger's name and settings, or None (with the problem noted) when it is unknown."""
    name = spec.get("on")
    entry = TRIGGERS.get(name) if isinstance(name, str) else None
    if entry is None:
        names = list(TRIGGERS)
        ctx.checks.problem(
            (*path, "on"),
            M("unknown trigger “%(key)s”%(hint)s %(listing)s", key=str(name), hint=suggestion(str(name), names), listing=choices(names)),
        )
        return None
    for key in spec:
        if key != "on" and key not in entry.keys:
            allowed = sorted(entry.keys)
            ctx.checks.problem(
                (*path, key),
                M(
                    "“%(key)s” is not a setting of the trigger “%(trigger)s” (settings: %(keys)s)",
                    key=key,
                    trigger=name,
                    keys=allowed or "-",
                ),
            )
    return name, entry.check(ctx, path, spec)
