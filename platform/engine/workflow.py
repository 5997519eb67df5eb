"""Workflow transitions: the only way a record's state changes.

A transition is checked in this order, and the first failure explains itself: it exists;
it leaves from the record's state; the actor holds one of its roles; the values given with
it parse; its guard holds; its required fields and the target state's required fields are
filled; a comment is given where one is required. Then the state, the values and one
history entry are written together, with the record's version checked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from flowdeck.engine.approval_core import pending_request
from flowdeck.engine.errors import Forbidden, RecordInvalid, TransitionRefused
from flowdeck.engine.expressions import ExpressionError
from flowdeck.engine.permissions import Actor, FieldAccess, can_transition, field_access
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
from flowdeck.engine.schema.model import Entity, Transition
from flowdeck.engine.storage.tables import EntityTables


@dataclass(frozen=True)
class Available:
    """A transition as the UI offers it: whether it can run now, and if not, why."""

    transition: Transition
    missing: tuple[str, ...] = ()
    blocked_by: str | None = None

    @property
    def ready(self) -> bool:
        return not self.missing and self.blocked_by is None

    @property
    def needs_approval(self) -> bool:
        """Performing it asks for approval (`approvals.request_approval`) instead."""
        return self.transition.approval is not None


def _guard_message(transition: Transition, lang: str = "en") -> str:
    if transition.guard_message is not None:
        return transition.guard_message.get(lang)
    assert transition.guard is not None
    return f"the condition for “{transition.label.get(lang)}” is not met ({transition.guard.source})"


def guard_holds(transition: Transition, env: Mapping[str, Any]) -> bool:
    if transition.guard is None:
        return True
    try:
        return bool(transition.guard.evaluate(env))
    except ExpressionError:
        return False


def missing_fields(entity: Entity, transition: Transition, values: Mapping[str, Any], env: Mapping[str, Any], actor: Actor) -> list[str]:
    """Fields that must be filled before `transition` can run, in field order."""
    target_access = field_access(entity, transition.to, actor.roles_for(entity.app))
    wanted = set(transition.require)
    for fld in entity.fields:
        if visible(fld, env, target_access) and required_now(fld, env, target_access):
            wanted.add(fld.key)
    return [f.key for f in entity.fields if f.key in wanted and is_blank(values.get(f.key))]


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
        blocked = None if guard_holds(transition, env) else _guard_message(transition)
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
) -> tuple[dict[str, Any], str | None]:
    """Parse the values given with a transition and check its guard, its required fields
    and its comment; returns (parsed values, comment) or raises TransitionRefused."""
    entity = et.entity
    access = access_for(entity, record.state, actor)
    given = parse_values(entity, values or {}, _step_access(entity, transition, access)) if values else {}
    merged = {**record.values, **given}
    env = {**record.system(actor.user_id), **merged}
    if not guard_holds(transition, env):
        raise TransitionRefused(_guard_message(transition))
    missing = missing_fields(entity, transition, merged, env, actor)
    if missing:
        labels = ", ".join(entity.get_field(k).label.get("en") for k in missing)
        raise TransitionRefused(f"fill in {labels} to “{transition.label.get('en')}”", missing=missing)
    comment = (comment or "").strip() or None
    if transition.comment == "required" and not comment:
        raise TransitionRefused(f"“{transition.label.get('en')}” needs a comment", missing=["comment"])
    return given, comment


def find_transition(et: EntityTables, record: Record, transition_key: str, actor: Actor) -> Transition:
    """The transition, if it may start from the record's state and the actor may perform it."""
    entity = et.entity
    workflow = entity.workflow
    if workflow is None:
        raise TransitionRefused(f"{entity.plural.get('en')} have no workflow")
    transition = workflow.transition(transition_key)
    if transition is None:
        raise TransitionRefused(
            f'there is no transition "{transition_key}" (transitions: {", ".join(t.key for t in workflow.transitions)})'
        )
    if not transition.allowed_from(record.state or ""):
        here = workflow.state(record.state or "")
        here_label = here.label.get("en") if here else record.state
        sources = ", ".join(s for s in transition.sources)
        raise TransitionRefused(f"“{transition.label.get('en')}” cannot start from {here_label} (only from: {sources})")
    if not can_transition(actor, entity, transition):
        roles = ", ".join(transition.roles or ())
        raise Forbidden(f"you may not perform “{transition.label.get('en')}”" + (f" (roles: {roles})" if roles else ""))
    return transition


def refuse_if_pending(conn: Connection, et: EntityTables, record: Record) -> None:
    if pending_request(conn, et.entity.app, et.entity.key, record.id) is not None:
        raise TransitionRefused("an approval request is pending for this record; it must be decided or withdrawn first")


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
) -> Record:
    """Write a checked transition: state, values and one history entry, version checked."""
    entity = et.entity
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
        raise TransitionRefused(
            "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.errors.items()), missing=[k for k in exc.errors if entity.field(k) is not None]
        ) from exc


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
        raise TransitionRefused(f"“{transition.label.get('en')}” needs approval; request it instead")
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
        now=now or dt.datetime.now(dt.UTC),
    )


def _step_access(entity: Entity, transition: Transition, access: FieldAccess) -> FieldAccess:
    """Fields a transition requires may be filled at that step even when the current
    state's rules lock them (that is what the step is for)."""
    return FieldAccess(access.hidden - set(transition.require), access.read_only - set(transition.require), access.required)
