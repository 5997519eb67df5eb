"""Checking a record as a whole before anything is written: required fields (with their
conditions and the field rules of the state), line-item row counts, references, users and
files that exist, unique values and the tree. Every problem is collected, per field key,
so one refusal names them all (`RecordInvalid`)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import models
from flowdeck.engine.errors import RecordInvalid
from flowdeck.engine.expressions import holds
from flowdeck.engine.fieldtypes import ID_TYPES
from flowdeck.engine.messages import M, Message
from flowdeck.engine.permissions import FieldAccess
from flowdeck.engine.schema.model import Field
from flowdeck.engine.storage.tables import EntityTables, table_name

RECORD_LEVEL = "_record"
Errors = dict[str, list[Message | str]]
"""Problems per field key (`RecordInvalid.errors`); `_record` for the record as a whole."""


def is_blank(value: Any) -> bool:
    return value is None or value == "" or value == []


def visible(fld: Field, env: Mapping[str, Any], access: FieldAccess) -> bool:
    if fld.key in access.hidden:
        return False
    return fld.show_if is None or holds(fld.show_if, env)


def required_now(fld: Field, env: Mapping[str, Any], access: FieldAccess) -> bool:
    if fld.is_computed or fld.lookup is not None or fld.type == "autonumber":
        return False
    if fld.required or fld.key in access.required:
        return True
    return fld.required_if is not None and holds(fld.required_if, env)


def check_record(
    conn: Connection,
    et: EntityTables,
    values: Mapping[str, Any],
    system: Mapping[str, Any],
    access: FieldAccess,
    *,
    record_id: int | None,
    changed: set[str],
    known: Mapping[str, list[Message | str]] | None = None,
) -> None:
    """Raise RecordInvalid with every problem of the record as a whole, together with the
    `known` parse errors (fields that failed to parse are not checked again)."""
    entity = et.entity
    errors: Errors = {k: list(v) for k, v in (known or {}).items()}
    env = {**system, **values}
    for fld in entity.fields:
        value = values.get(fld.key)
        shown = visible(fld, env, access)
        if fld.key in errors:
            continue
        if shown and required_now(fld, env, access) and is_blank(value):
            errors.setdefault(fld.key, []).append(M("is required"))
        if fld.is_table:
            rows = value or []
            if shown and fld.min_rows and len(rows) < fld.min_rows:
                errors.setdefault(fld.key, []).append(M("needs at least %(rows)s rows", rows=fld.min_rows))
            if fld.max_rows and len(rows) > fld.max_rows:
                errors.setdefault(fld.key, []).append(M("allows at most %(rows)s rows", rows=fld.max_rows))
            for index, row in enumerate(rows):
                row_env = {**row, "me": system.get("me")}
                for child in fld.fields:
                    where = f"{fld.key}[{index}].{child.key}"
                    if (
                        where not in errors
                        and child.editable
                        and required_now(child, row_env, FieldAccess())
                        and is_blank(row.get(child.key))
                    ):
                        errors.setdefault(where, []).append(M("is required"))
    _check_targets(conn, et, values, changed, errors)
    _check_row_targets(conn, et, values, changed, errors)
    _check_unique(conn, et, values, record_id, changed, errors)
    if entity.tree and record_id is not None and entity.tree in changed:
        _check_tree(conn, et, record_id, values.get(entity.tree), errors)
    if errors:
        raise RecordInvalid(errors)


def _targets(fld: Field, et: EntityTables) -> sa.Table:
    if fld.type == "user":
        return models.users
    if fld.type == "attachment":
        return models.attachments
    assert fld.to is not None
    return et.table.metadata.tables[table_name(et.entity.app, fld.to)]


def _select_targets(fld: Field, et: EntityTables, *, active_only: bool = True) -> sa.Select[Any]:
    target = _targets(fld, et)
    query = sa.select(target.c.id).where(target.c.id.in_(sa.bindparam("ids", expanding=True)))
    return query.where(target.c.is_active.is_(True)) if fld.type == "user" and active_only else query


def _check_targets(conn: Connection, et: EntityTables, values: Mapping[str, Any], changed: set[str], errors: Errors) -> None:
    """References, users and files must exist (and users be active) when they are set."""
    for fld in et.entity.fields:
        if fld.type not in ID_TYPES or fld.key not in changed:
            continue
        value = values.get(fld.key)
        ids = [v for v in (value if isinstance(value, list) else [value]) if v is not None]
        if not ids:
            continue
        query = et.statement(("targets", fld.key), lambda fld=fld: _select_targets(fld, et))
        found = {row[0] for row in conn.execute(query, {"ids": ids})}
        missing = [i for i in ids if i not in found]
        if missing:
            errors.setdefault(fld.key, []).append(_missing_targets(fld, missing))


def _check_row_targets(conn: Connection, et: EntityTables, values: Mapping[str, Any], changed: set[str], errors: Errors) -> None:
    """Users, references and files in line items must exist, as the database insists. A
    user who has left may stay on rows written before: only their existence is checked."""
    for fld in et.entity.fields:
        if not fld.is_table or fld.key not in changed:
            continue
        rows = values.get(fld.key) or []
        for child in fld.fields:
            if child.type not in ID_TYPES:
                continue
            ids = sorted({row[child.key] for row in rows if isinstance(row.get(child.key), int)})
            if not ids:
                continue
            query = et.statement(("row targets", fld.key, child.key), partial(_select_targets, child, et, active_only=False))
            found = {row[0] for row in conn.execute(query, {"ids": ids})}
            for index, row in enumerate(rows):
                where = f"{fld.key}[{index}].{child.key}"
                if isinstance(row.get(child.key), int) and row[child.key] not in found and where not in errors:
                    errors[where] = [_missing_targets(child, [row[child.key]], active=False)]


def _missing_targets(fld: Field, ids: list[int], *, active: bool = True) -> Message:
    if fld.type == "user":
        return M("no active user with id %(ids)s", ids=ids) if active else M("no user with id %(ids)s", ids=ids)
    if fld.type == "attachment":
        return M("no file with id %(ids)s", ids=ids)
    return M("no %(entity_key)s record with id %(ids)s", entity_key=fld.to, ids=ids)


def _check_unique(
    conn: Connection, et: EntityTables, values: Mapping[str, Any], record_id: int | None, changed: set[str], errors: Errors
) -> None:
    for fld in et.entity.stored_fields():
        if not fld.unique or fld.key not in changed or values.get(fld.key) is None:
            continue
        column = et.table.c[fld.key]
        query = sa.select(et.table.c.id).where(column == values[fld.key]).limit(1)
        if record_id is not None:
            query = query.where(et.table.c.id != record_id)
        if conn.execute(query).first() is not None:
            errors.setdefault(fld.key, []).append(M("is already used by another record"))


def _check_tree(conn: Connection, et: EntityTables, record_id: int, parent: int | None, errors: Errors) -> None:
    tree = et.entity.tree
    assert tree is not None
    seen = {record_id}
    column = et.table.c[tree]
    while parent is not None:
        if parent in seen:
            errors.setdefault(tree, []).append(M("would make a record its own ancestor"))
            return
        seen.add(parent)
        parent = conn.execute(sa.select(column).where(et.table.c.id == parent)).scalar()
        if len(seen) > 1000:
            errors.setdefault(tree, []).append(M("the hierarchy is deeper than 1000 levels"))
            return
