"""Workflow transitions: the only way a record's state changes.

A transition is checked in this order, and the first failure explains itself: it exists;
it leaves from the record's state; the actor holds one of its roles; the values given with
it parse; its guard holds; its required fields and the target state's required fields are
filled; a comment is given where one is required. Then the state, the values and one
history entry are written together, with the record's version checked.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from flowdeck.engine import clock
from flowdeck.engine.approval_core import pending_request
from flowdeck.engine.computed import compute_values
from flowdeck.engine.effects import effect_values
from flowdeck.engine.errors import Forbidden, RecordInvalid, TransitionRefused
from flowdeck.engine.expressions import holds
from flowdeck.engine.messages import M, Message, plain
from flowdeck.engine.permissions import Actor, FieldAccess, can_transition, field_access
from flowdeck.engine.record_checks import RECORD_LEVEL
from flowdeck.engine.records import (
    Record,
    access_for,
    fetch_record,
    is_blank,
    parse_values,
    required_now,
    save_values,
    visible,
)
from flowdeck.engine.schema.label import Label
from flowdeck.engine.schema.model import Entity, Transition
from flowdeck.engine.storage.tables import EntityTables


@dataclass(frozen=True)
class Available:
    """A transition as the UI offers it: whether it can run now, and if not, why."""

    transition: Transition
    missing: tuple[str, ...] = ()
    blocked_by: Message | None = None

    @property
    def ready(self) -> bool:
        return not self.missing and self.blocked_by is None

    @property
    def needs_approval(self) -> bool:
        """Performing it asks for approval (`approvals.request_approval`) instead."""
        return self.transition.approval is not None


def guard_message(transition: Transition) -> Message:
    """Why a transition's guard stops it: the admin's own words where the document gives
    them, else the condition itself."""
    if transition.guard_message is not None:
        return plain(transition.guard_message)
    assert transition.guard is not None
    return M(
        "the condition for “%(transition)s” is not met (%(condition)s)", transition=transition.label, condition=transition.guard.source
    )


def guard_holds(transition: Transition, env: Mapping[str, Any]) -> bool:
    return holds(transition.guard, env)


def missing_fields(entity: Entity, transition: Transition, values: Mapping[str, Any], env: Mapping[str, Any], actor: Actor) -> list[str]:
    """Fields that must be filled before `transition` can run, in field order."""
    target_access = field_access(entity, transition.to, actor.roles_for(entity.app))
    wanted = set(transition.require)
    for fld in entity.fields:
        if visible(fld, env, target_access) and required_now(fld, env, target_access):
            wanted.add(fld.key)
    wanted -= {effect.field for effect in transition.effects if effect.expression is not None}  # the step fills them
    return [f.key for f in entity.fields if f.key in wanted and is_blank(values.get(f.key))]


def transition_inputs(entity: Entity, transition: Transition, missing: Iterable[str] = ()) -> list[str]:
    """The fields a transition's dialog offers, in field order: those its guard reads, its
    `require` fields, the `missing` ones and those their `required_if` reads. A computed
    field stands for the fields its formula reads (`cost <= 1000` offers days and rate), so
    the person can change what decides the guard, and the guard is checked on those values."""
    names: set[str] = set(transition.require) | set(missing) | set(guard_inputs(entity, transition))
    for key in missing:
        fld = entity.field(key)
        if fld is not None and fld.required_if is not None:
            names |= fld.required_if.names
    return _editable_inputs(entity, names)


def guard_inputs(entity: Entity, transition: Transition) -> list[str]:
    """The editable fields a transition's guard reads, directly or through computed fields:
    the fields a refusal by the guard marks."""
    return _editable_inputs(entity, transition.guard.names if transition.guard is not None else ())


def _editable_inputs(entity: Entity, names: Iterable[str]) -> list[str]:
    wanted: set[str] = set()
    todo = list(names)
    while todo:
        fld = entity.field(todo.pop())
        if fld is None or fld.key in wanted:
            continue
        wanted.add(fld.key)
        if fld.formula is not None:
            todo += fld.formula.names
    return [f.key for f in entity.fields if f.key in wanted and f.editable]


def dialog_fields(entity: Entity, record: Record, transition: Transition, actor: Actor, missing: Iterable[str] = ()) -> list[str]:
    """`transition_inputs` that this actor may fill at this step (a rule may hide or lock
    a field in the record's state; the transition's `require` lifts that)."""
    access = _step_access(entity, transition, access_for(entity, record.state, actor))
    return [k for k in transition_inputs(entity, transition, missing) if k not in access.hidden and k not in access.read_only]


def available_transitions(entity: Entity, record: Record, actor: Actor) -> list[Available]:
    """Transitions from the record's state that this actor may perform, each with what
    still stands in its way (missing fields, a guard)."""
    workflow = entity.workflow
    if workflow is None or record.state is None:
        return []
    env = {**record.system(actor.user_id), **record.values}
    out = []
    for transition in workflow.transitions_from(record.state):
        if not can_transition(actor, entity, transition):
            continue
        blocked = None if guard_holds(transition, env) else guard_message(transition)
        out.append(Available(transition, tuple(missing_fields(entity, transition, record.values, env, actor)), blocked))
    return out


def check_transition(
    conn: Connection,
    et: EntityTables,
    record: Record,
    transition: Transition,
    *,
    actor: Actor,
    values: Mapping[str, Any] | None,
    comment: str | None,
    me: int | None = None,
) -> tuple[dict[str, Any], str | None]:
    """Parse the values given with a transition and check its guard, its required fields
    and its comment; returns (parsed values, comment) or raises TransitionRefused.

    The checks see the record as the transition would write it: the posted values over the
    stored ones, with computed fields worked out again from them. `me` is whom the guard
    reads as `me` when that is not the actor: the requester, when the last approver
    completes an approved transition."""
    entity = et.entity
    access = access_for(entity, record.state, actor)
    given = parse_values(entity, values or {}, _step_access(entity, transition, access)) if values else {}
    system = record.system(actor.user_id if me is None else me)
    merged = compute_values(entity, {**copy.deepcopy(record.values), **copy.deepcopy(given)}, system)
    env = {**system, **merged}
    if not guard_holds(transition, env):
        raise TransitionRefused(guard_message(transition))
    missing = missing_fields(entity, transition, merged, env, actor)
    if missing:
        labels = [entity.get_field(k).label for k in missing]
        raise TransitionRefused(M("fill in %(fields)s to “%(transition)s”", fields=labels, transition=transition.label), missing=missing)
    comment = (comment or "").strip() or None
    if transition.comment == "required" and not comment:
        raise TransitionRefused(M("“%(transition)s” needs a comment", transition=transition.label), missing=["comment"])
    return given, comment


def find_transition(et: EntityTables, record: Record, transition_key: str, actor: Actor) -> Transition:
    """The transition, if it may start from the record's state and the actor may perform it."""
    entity = et.entity
    workflow = entity.workflow
    if workflow is None:
        raise TransitionRefused(M("%(plural)s have no workflow", plural=entity.plural))
    transition = workflow.transition(transition_key)
    if transition is None:
        keys = [t.key for t in workflow.transitions]
        raise TransitionRefused(M("there is no transition “%(key)s” (transitions: %(keys)s)", key=transition_key, keys=keys))
    if not transition.allowed_from(record.state or ""):
        sources = [state_label(entity, s) for s in transition.sources]
        here = state_label(entity, record.state)
        raise TransitionRefused(
            M(
                "“%(transition)s” cannot start from %(state)s (only from: %(sources)s)",
                transition=transition.label,
                state=here,
                sources=sources,
            )
        )
    if not can_transition(actor, entity, transition):
        if transition.roles:
            raise Forbidden(
                M("you may not perform “%(transition)s” (roles: %(roles)s)", transition=transition.label, roles=list(transition.roles))
            )
        raise Forbidden(M("you may not perform “%(transition)s”", transition=transition.label))
    return transition


def state_label(entity: Entity, key: str | None) -> Label:
    """A state's label (its key, for a state the workflow no longer has)."""
    state = entity.workflow.state(key or "") if entity.workflow is not None else None
    return state.label if state is not None else Label.of(key or "")


def refuse_if_pending(conn: Connection, et: EntityTables, record: Record) -> None:
    if pending_request(conn, et.entity.app, et.entity.key, record.id) is not None:
        raise TransitionRefused(M("an approval request is pending for this record; it must be decided or withdrawn first"))


def apply_transition(
    conn: Connection,
    et: EntityTables,
    record: Record,
    transition: Transition,
    given: Mapping[str, Any],
    *,
    actor: Actor,
    comment: str | None,
    expected_version: int | None,
    now: dt.datetime,
    me: int | None = None,
) -> Record:
    """Write a checked transition: state, values, what its effects set and one history
    entry, version checked. `me` is whom the effects read as `me` when that is not the
    actor (the requester of an approved transition, as for its guard)."""
    entity = et.entity
    system = record.system(actor.user_id if me is None else me)
    given = {**given, **effect_values(entity, transition, {**record.values, **given}, system, now)}
    try:
        return save_values(
            conn,
            et,
            record,
            given,
            actor=actor,
            expected_version=expected_version,
            access=access_for(entity, transition.to, actor),
            now=now,
            new_state=transition.to,
            action="transition",
            transition=transition.key,
            comment=comment,
        )
    except RecordInvalid as exc:
        missing = [k for k in exc.errors if entity.field(k) is not None]
        raise TransitionRefused(field_problems(entity, exc.errors), missing=missing, records=exc.records) from exc


def transition_record(
    conn: Connection,
    et: EntityTables,
    record_id: int,
    transition_key: str,
    *,
    actor: Actor,
    values: Mapping[str, Any] | None = None,
    comment: str | None = None,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
    record: Record | None = None,
) -> Record:
    """Perform a transition; raises TransitionRefused (with `missing` fields) when it may not
    run now, Forbidden when the actor may not perform it, Conflict on a stale version.
    Transitions with an approval block go through `approvals.request_approval` instead.
    `record`: the record as the caller fetched it `for_update` in this transaction (it
    is not read again)."""
    if record is None or record.id != record_id:
        record = fetch_record(conn, et, record_id, for_update=True)
    transition = find_transition(et, record, transition_key, actor)
    refuse_if_pending(conn, et, record)
    if transition.approval:
        raise TransitionRefused(M("“%(transition)s” needs approval; request it instead", transition=transition.label))
    given, comment = check_transition(conn, et, record, transition, actor=actor, values=values, comment=comment)
    return apply_transition(
        conn,
        et,
        record,
        transition,
        given,
        actor=actor,
        comment=comment,
        expected_version=expected_version,
        now=now or clock.now(),
    )


def _step_access(entity: Entity, transition: Transition, access: FieldAccess) -> FieldAccess:
    """Fields a transition requires may be filled at that step even when the current
    state's rules lock them (that is what the step is for)."""
    return FieldAccess(access.hidden - set(transition.require), access.read_only - set(transition.require), access.required)


def field_problems(entity: Entity, errors: Mapping[str, list[Message | str]]) -> Message:
    """`RecordInvalid.errors` said as one message, each field by its label: "Estimate: must
    be a number; Due date: is required" (a field's problems joined the reader's way).
    Problems of the whole record (a rule across records) are said without a label."""
    parts = [
        M("%(field)s: %(problem)s", field=_error_label(entity, key), problem=list(problems))
        if key != RECORD_LEVEL
        else Message("%(text)s", {"text": list(problems)})  # as `plain`, for a list of messages
        for key, problems in errors.items()
    ]
    said = parts[-1]
    for part in reversed(parts[:-1]):
        said = M("%(first)s; %(rest)s", first=part, rest=said)
    return said


def _error_label(entity: Entity, key: str) -> Label | str:
    fld = entity.field(key)
    return fld.label if fld is not None else key
