"""How actions write: values from expressions checked against their target fields when the
document is loaded, and the record services (update, create, transition) called as the
run's actor, each change logged for the run page. Every write goes through the same
services a person's click does, so checks, history and events are the same."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from flowdeck.engine import records, workflow
from flowdeck.engine.automations.base import ActionFailed, CheckContext, RunContext, jsonable
from flowdeck.engine.errors import Conflict, Forbidden, NotFound, RecordInvalid, TransitionRefused
from flowdeck.engine.expressions import ExpressionError, Scope
from flowdeck.engine.fieldtypes import types_in
from flowdeck.engine.messages import M, Message
from flowdeck.engine.phrases import said_by
from flowdeck.engine.schema.checks import Path, unknown_field
from flowdeck.engine.storage.tables import EntityTables

NOT_SETTABLE = types_in("computed", "serial")
CLEAR = ("clear", None)


def check_values(ctx: CheckContext, path: Path, spec: Any, entity: str, scope: Scope | None = None) -> dict[str, tuple[str, Any]]:
    """`{"field": "expression" | null | {"increment": n}}` for fields of `entity`: what to
    write, by field key (`("set", Expression)`, `("clear", None)`, `("increment", n)`)."""
    if not isinstance(spec, Mapping) or not spec:
        ctx.checks.problem(path, M("must be an object of field keys and values"))
        return {}
    fields = ctx.entity_fields(entity)
    out: dict[str, tuple[str, Any]] = {}
    for key, value in spec.items():
        where = (*path, key)
        if key not in fields:
            ctx.checks.problem(where, unknown_field(key, list(fields)))
            continue
        if fields[key].get("type") in NOT_SETTABLE:
            ctx.checks.problem(where, M("“%(key)s” is %(kind)s: an automation cannot set it", key=key, kind=fields[key]["type"]))
            continue
        if value is None:
            out[key] = CLEAR
        elif isinstance(value, Mapping) and set(value) == {"increment"} and isinstance(value["increment"], (int, float)):
            out[key] = ("increment", Decimal(str(value["increment"])))
        elif isinstance(value, str):
            expression = ctx.expression(where, value, scope)
            if expression is not None:
                out[key] = ("set", expression)
        else:
            ctx.checks.problem(where, M('must be an expression (text), null to clear, or {"increment": number}'))
    return out


def evaluate(values: Mapping[str, tuple[str, Any]], env: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The raw values to write; an expression that fails is the run's failure."""
    out: dict[str, Any] = {}
    for key, (how, what) in values.items():
        if how == "clear":
            out[key] = None
        elif how == "increment":
            base = current.get(key)
            out[key] = (base or 0) + what
        else:
            try:
                out[key] = what.evaluate(env)
            except ExpressionError as exc:
                raise ActionFailed(M("“%(field)s” could not be worked out: %(problem)s", field=key, problem=said_by(exc))) from None
    return out


def refused(exc: Exception) -> Message:
    """Why a record service refused an action's write, as the run's error."""
    if isinstance(exc, RecordInvalid):
        parts = [M("%(field)s: %(problem)s", field=key, problem=message) for key, messages in exc.errors.items() for message in messages]
        return M("the record was refused: %(problems)s", problems=parts)
    message = getattr(exc, "message", None)
    return message if isinstance(message, Message) else M("the change was refused: %(problem)s", problem=str(exc))


WRITE_REFUSALS = (RecordInvalid, TransitionRefused, Forbidden, NotFound, Conflict)


def log(
    run: RunContext, action: str, et: EntityTables, record_id: int, before: Mapping[str, Any], after: Mapping[str, Any], **more: Any
) -> None:
    fields = {k: {"old": jsonable(before.get(k)), "new": jsonable(after.get(k))} for k in after if before.get(k) != after.get(k)}
    run.changes.append({"action": action, "entity": et.entity.key, "record": record_id, "fields": fields, **jsonable(more)})


def update(run: RunContext, et: EntityTables, record_id: int, raw: Mapping[str, Any], action: str) -> None:
    """Write `raw` over a record as the run's actor."""
    try:
        before = records.fetch_record(run.conn, et, record_id, for_update=True)
        after = records.update_record(run.conn, et, record_id, raw, actor=run.actor, expected_version=None, now=run.now)
    except WRITE_REFUSALS as exc:
        raise ActionFailed(refused(exc)) from None
    log(run, action, et, record_id, before.values, {k: after.values.get(k) for k in raw})


def transition(run: RunContext, et: EntityTables, record_id: int, key: str, action: str) -> None:
    """Perform a transition as the run's actor, with its guards and required fields; a
    refusal is the run's failure (logged), not a crash."""
    try:
        before = records.fetch_record(run.conn, et, record_id, for_update=True)
        after = workflow.transition_record(run.conn, et, record_id, key, actor=run.actor, now=run.now, record=before)
    except WRITE_REFUSALS as exc:
        raise ActionFailed(refused(exc)) from None
    log(run, action, et, record_id, {"state": before.state}, {"state": after.state}, transition=key)


def create(run: RunContext, et: EntityTables, raw: Mapping[str, Any], action: str) -> int:
    try:
        created = records.create_record(run.conn, et, raw, actor=run.actor, now=run.now)
    except WRITE_REFUSALS as exc:
        raise ActionFailed(refused(exc)) from None
    shown = {k: created.values.get(k) for k in raw}
    if created.state is not None:
        shown["state"] = created.state
    log(run, action, et, created.id, {}, shown, created=True)
    return created.id
