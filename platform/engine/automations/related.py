"""The actions that reach other records: `create` (a record in any entity of the app, or
one per row of a table field: a follow-up task per action item) and `update_related` (the
parent through a reference, or the records that reference this one, filtered by `where`,
given values and/or a transition: "close every incident of this problem that waits")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from flowdeck.engine import records
from flowdeck.engine.automations import writes
from flowdeck.engine.automations.base import ActionFailed, CheckContext, RunContext
from flowdeck.engine.expressions import ExpressionError, Scope
from flowdeck.engine.messages import M
from flowdeck.engine.phrases import said_by, suggestion
from flowdeck.engine.schema.checks import Path, unknown_field

MAX_RELATED = 500
"""Related records one action changes at most (more is the run's failure, not a long lock)."""


def _entity(ctx: CheckContext, path: Path, key: Any) -> str | None:
    known = list(ctx.document["entities"])
    if key not in known:
        ctx.checks.problem(path, M("unknown entity “%(key)s”%(hint)s", key=str(key), hint=suggestion(str(key), known)))
        return None
    return key


def _check_create(ctx: CheckContext, path: Path, spec: Mapping[str, Any]) -> Any:
    target = _entity(ctx, (*path, "entity"), spec.get("entity"))
    scope, for_each = ctx.scope, spec.get("for_each")
    if for_each is not None:
        table = ctx.fields.get(for_each) if isinstance(for_each, str) else None
        if table is None or table.get("type") != "table":
            tables = [k for k, f in ctx.fields.items() if f.get("type") == "table"]
            ctx.checks.problem(
                (*path, "for_each"), M("must name a table field of “%(entity)s” (tables: %(keys)s)", entity=ctx.entity, keys=tables or "-")
            )
            for_each = None
        else:
            scope = Scope(ctx.scope.names, ctx.scope.tables, {**ctx.scope.records, "row": frozenset(table.get("fields", {}))})
    if target is None:
        return None
    values = writes.check_values(ctx, (*path, "values"), spec.get("values"), target, scope)
    copies = {}
    for key, source in (spec.get("copy_rows") or {}).items():
        target_field = ctx.entity_fields(target).get(key)
        source_field = ctx.fields.get(source) if isinstance(source, str) else None
        if target_field is None or target_field.get("type") != "table":
            ctx.checks.problem((*path, "copy_rows", key), M("must be a table field of “%(entity)s”", entity=target))
        elif source_field is None or source_field.get("type") != "table":
            ctx.checks.problem(
                (*path, "copy_rows", key), M("must name a table field of “%(entity)s” (tables: %(keys)s)", entity=ctx.entity, keys=source)
            )
        else:
            copies[key] = (source, tuple(k for k in target_field.get("fields", {}) if k in source_field.get("fields", {})))
    return {"entity": target, "values": values, "for_each": for_each, "copy_rows": copies}


def _run_create(run: RunContext, settings: Any) -> None:
    et = run.tables.get(settings["entity"])
    current = run.values()
    rows = current.get(settings["for_each"]) or [] if settings["for_each"] else [None]
    for row in rows:
        env = run.env({"row": row} if row is not None else None)
        raw = writes.evaluate(settings["values"], env, {})
        for key, (source, columns) in settings["copy_rows"].items():
            raw[key] = [{c: r.get(c) for c in columns} for r in current.get(source) or []]
        writes.create(run, et, raw, "create")


def _check_related(ctx: CheckContext, path: Path, spec: Mapping[str, Any]) -> Any:
    via = spec.get("via")
    target = spec.get("entity")
    if target is None:  # the parent: `via` is a reference field of this entity
        field = ctx.fields.get(via) if isinstance(via, str) else None
        if field is None or field.get("type") != "reference" or field.get("many"):
            refs = [k for k, f in ctx.fields.items() if f.get("type") == "reference" and not f.get("many")]
            ctx.checks.problem(
                (*path, "via"),
                M("must name a single reference field of “%(entity)s” (references: %(keys)s)", entity=ctx.entity, keys=refs or "-"),
            )
            return None
        target, parent = field["to"], True
    else:
        target, parent = _entity(ctx, (*path, "entity"), target), False
        if target is None:
            return None
        field = ctx.entity_fields(target).get(via) if isinstance(via, str) else None
        if field is None or field.get("type") != "reference" or field.get("to") != ctx.entity:
            refs = [k for k, f in ctx.entity_fields(target).items() if f.get("type") == "reference" and f.get("to") == ctx.entity]
            ctx.checks.problem(
                (*path, "via"),
                M(
                    "must name a reference field of “%(entity)s” to “%(to)s” (references: %(keys)s)",
                    entity=target,
                    to=ctx.entity,
                    keys=refs or "-",
                ),
            )
            return None
    target_fields = ctx.entity_fields(target)
    names = {k for k, f in target_fields.items() if f.get("type") != "table"} | {
        "id",
        "me",
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
    }
    if "workflow" in ctx.document["entities"][target]:
        names.add("state")
    target_scope = Scope(
        frozenset(names), {}, {"old": ctx.scope.records.get("old", frozenset()), "new": ctx.scope.records.get("new", frozenset())}
    )
    where = ctx.expression((*path, "where"), spec["where"], target_scope) if "where" in spec else None
    values = writes.check_values(ctx, (*path, "set"), spec["set"], target, target_scope) if "set" in spec else {}
    transition = spec.get("transition")
    if transition is not None and transition not in ctx.transitions(target):
        known = ctx.transitions(target)
        ctx.checks.problem(
            (*path, "transition"), M("unknown transition “%(key)s”%(hint)s", key=str(transition), hint=suggestion(str(transition), known))
        )
    if "set" not in spec and transition is None:
        ctx.checks.problem(path, M("says nothing: give “set” values and/or a “transition”"))
    if via is not None and via not in ctx.fields and parent:
        ctx.checks.problem((*path, "via"), unknown_field(str(via), list(ctx.fields)))
    return {"entity": target, "via": via, "parent": parent, "where": where, "set": values, "transition": transition}


def _related_ids(run: RunContext, settings: Any) -> list[int]:
    if settings["parent"]:
        parent = run.values().get(settings["via"])
        return [int(parent)] if parent is not None else []
    if run.record is None:
        return []
    et = run.tables.get(settings["entity"])
    column = et.table.c[settings["via"]]
    found = run.conn.execute(sa.select(et.table.c.id).where(column == run.record.id).order_by(et.table.c.id).limit(MAX_RELATED + 1))
    ids = [int(r[0]) for r in found]
    if len(ids) > MAX_RELATED:
        raise ActionFailed(M("more than %(max)s related records: narrow “where”", max=MAX_RELATED))
    return ids


def _run_related(run: RunContext, settings: Any) -> None:
    et = run.tables.get(settings["entity"])
    base = run.env()
    for record_id in _related_ids(run, settings):
        related = records.fetch_record(run.conn, et, record_id, for_update=True)
        env = {**base, **related.system(base.get("me")), **related.values}
        if settings["where"] is not None:
            try:
                if not settings["where"].test(env):
                    continue
            except ExpressionError as exc:
                raise ActionFailed(M("“where” could not be worked out: %(problem)s", problem=said_by(exc))) from None
        if settings["set"]:
            writes.update(run, et, record_id, writes.evaluate(settings["set"], env, related.values), "update_related")
        if settings["transition"] is not None:
            writes.transition(run, et, record_id, settings["transition"], "update_related")
    run.reload and run.reload()


CREATE = ("create", M("create a record"), frozenset({"entity", "values", "for_each", "copy_rows"}), _check_create, _run_create)
UPDATE_RELATED = (
    "update_related",
    M("update related records"),
    frozenset({"entity", "via", "where", "set", "transition"}),
    _check_related,
    _run_related,
)
