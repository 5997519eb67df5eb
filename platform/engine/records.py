"""Creating, reading, updating and deleting records.

Every write goes the same way: check permission, parse each given value with its field
type, merge with what is stored (or the defaults), compute formulas, check the record as a
whole (required fields, conditions, field rules, references, uniqueness, the tree), write
the row with its link and line-item rows, and add one history entry with field-level
before and after. Any problem raises before anything is written; callers run these
functions inside one transaction (`Database.run`), so a failure leaves no partial write.

The state column is never written here except to set the initial state: changing it is a
workflow transition (`engine.workflow`). The checks of a whole record are in
`engine.record_checks` (their names are importable from here too).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from flowdeck.engine import approval_core, clock, events, history, rollups
from flowdeck.engine.autonumber import next_number
from flowdeck.engine.computed import compute_values
from flowdeck.engine.constraints import check_constraints, lock_related
from flowdeck.engine.effects import first_state
from flowdeck.engine.errors import Conflict, NotFound, RecordInvalid
from flowdeck.engine.fieldtypes import FIELD_TYPES, InvalidValue, is_many, resolve_date
from flowdeck.engine.jsonvalues import to_json
from flowdeck.engine.lookup_values import fill_lookups, with_lookups
from flowdeck.engine.messages import M, Message
from flowdeck.engine.permissions import Actor, FieldAccess, field_access, require
from flowdeck.engine.record_checks import RECORD_LEVEL, Errors, check_record
from flowdeck.engine.record_checks import is_blank as is_blank
from flowdeck.engine.record_checks import required_now as required_now
from flowdeck.engine.record_checks import visible as visible
from flowdeck.engine.schema.checks import SYSTEM_COLUMNS
from flowdeck.engine.schema.model import Entity, Field
from flowdeck.engine.sla.status import fill_running
from flowdeck.engine.storage.tables import EntityTables


@dataclass
class Record:
    """One record with every field's value: many-valued fields as lists of values, tables
    as lists of row dicts (with their `id`)."""

    entity: Entity
    id: int
    version: int
    state: str | None
    created_at: dt.datetime
    created_by: int | None
    updated_at: dt.datetime
    updated_by: int | None
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        value = self.values.get(self.entity.title)
        return "" if value is None else str(value)

    def system(self, me: int | None) -> dict[str, Any]:
        """The system names that formulas and conditions may read."""
        return {
            "id": self.id,
            "state": self.state,
            "me": me,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
        }


# -- reading ---------------------------------------------------------------------------


def row_to_record(et: EntityTables, row: Mapping[str, Any]) -> Record:
    entity = et.entity
    values = {f.key: row[f.key] for f in entity.stored_fields() if f.key in row}
    values.update({key: row[key] for key in et.lookups if key in row})
    return Record(
        entity=entity,
        id=row["id"],
        version=row["version"],
        state=row.get("state"),
        created_at=row["created_at"],
        created_by=row["created_by"],
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
        values=values,
    )


def load_links(
    conn: Connection, et: EntityTables, ids: Sequence[int], keys: Iterable[str] | None = None
) -> dict[str, dict[int, list[Any]]]:
    """Many-valued fields of several records: field -> record id -> values in order."""
    out: dict[str, dict[int, list[Any]]] = {}
    if not ids:
        return out
    wanted = set(keys) if keys is not None else None
    for key, link in et.links.items():
        if wanted is not None and key not in wanted:
            continue
        per_record: dict[int, list[Any]] = {rid: [] for rid in ids}
        statement = et.statement(
            ("links", key),
            lambda link=link: (
                sa.select(link.c.record_id, link.c.value)
                .where(link.c.record_id.in_(sa.bindparam("ids", expanding=True)))
                .order_by(link.c.record_id, link.c.position)
            ),
        )
        rows = conn.execute(statement, {"ids": list(ids)})
        for record_id, value in rows:
            per_record[record_id].append(value)
        out[key] = per_record
    return out


def load_children(conn: Connection, et: EntityTables, ids: Sequence[int]) -> dict[str, dict[int, list[dict[str, Any]]]]:
    out: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for key, child in et.children.items():
        per_record: dict[int, list[dict[str, Any]]] = {rid: [] for rid in ids}
        if ids:
            columns = [child.c.id, child.c.parent_id] + [child.c[f.key] for f in et.entity.get_field(key).fields]
            rows = conn.execute(
                sa.select(*columns).where(child.c.parent_id.in_(ids)).order_by(child.c.parent_id, child.c.position, child.c.id)
            ).mappings()
            for row in rows:
                item = dict(row)
                per_record[item.pop("parent_id")].append(item)
        out[key] = per_record
    return out


def _select_record(et: EntityTables, lock: bool) -> sa.Select[Any]:
    query = with_lookups(et).where(et.table.c.id == sa.bindparam("record_id"))
    return query.with_for_update(of=et.table) if lock else query


def fetch_record(conn: Connection, et: EntityTables, record_id: int, *, for_update: bool = False) -> Record:
    """The record with every value, without permission checks. Raises NotFound."""
    lock = for_update and conn.dialect.name == "postgresql"
    query = et.statement(("record", lock), lambda: _select_record(et, lock))
    row = conn.execute(query, {"record_id": record_id}).mappings().first()
    if row is None:
        raise NotFound(M("%(entity)s #%(id)s does not exist", entity=et.entity.label, id=record_id))
    record = row_to_record(et, row)
    fill_running(conn, et.entity, {record_id: record.values}, clock.now())
    for key, per_record in load_links(conn, et, [record_id]).items():
        record.values[key] = per_record[record_id]
    for key, per_record in load_children(conn, et, [record_id]).items():
        record.values[key] = per_record[record_id]
    return record


def get_record(conn: Connection, et: EntityTables, record_id: int, *, actor: Actor) -> Record:
    require(actor, et.entity, "read")
    return fetch_record(conn, et, record_id)


# -- parsing input -----------------------------------------------------------------------


def access_for(entity: Entity, state: str | None, actor: Actor) -> FieldAccess:
    return field_access(entity, state, actor.roles_for(entity.app))


def _parse_rows(fld: Field, raw: Any, errors: Errors) -> list[dict[str, Any]] | None:
    if raw is None or raw == "":
        return []
    if not isinstance(raw, list) or not all(isinstance(r, Mapping) for r in raw):
        errors.setdefault(fld.key, []).append(M("must be a list of rows"))
        return None
    rows = []
    for index, raw_row in enumerate(raw):
        row: dict[str, Any] = {}
        if raw_row.get("id") not in (None, ""):
            try:
                row["id"] = int(raw_row["id"])
            except (TypeError, ValueError):
                errors.setdefault(f"{fld.key}[{index}].id", []).append(M("must be a row id"))
        for key in raw_row:
            if key != "id" and not any(c.key == key for c in fld.fields):
                errors.setdefault(f"{fld.key}[{index}].{key}", []).append(M("is not a column of this table"))
        for child in fld.fields:
            if not child.editable:
                continue
            raw_value = raw_row.get(child.key)
            if child.key not in raw_row and "id" not in row and child.default is not None:
                raw_value = _row_default(child)
            try:
                row[child.key] = FIELD_TYPES[child.type].parse(child, raw_value)
            except InvalidValue as exc:
                errors.setdefault(f"{fld.key}[{index}].{child.key}", []).append(exc.message)
        rows.append(row)
    return rows


def _row_default(child: Field) -> Any:
    """The default of a line-item column for a new row (`today` resolved; `me` has no actor here)."""
    if child.type == "date" and isinstance(child.default, str):
        return resolve_date(child.default)
    if child.type == "datetime" and child.default == "now":
        return clock.now()
    if child.type == "user" and child.default == "me":
        return None
    return child.default


def parse_values(entity: Entity, raw: Mapping[str, Any], access: FieldAccess) -> dict[str, Any]:
    """Typed values from raw input (form strings or JSON), or RecordInvalid naming each field."""
    values, errors = _parse(entity, raw, access)
    if errors:
        raise RecordInvalid(errors)
    return values


def _parse(entity: Entity, raw: Mapping[str, Any], access: FieldAccess) -> tuple[dict[str, Any], Errors]:
    """Parse what parses and collect the rest as errors per field.

    Fields the actor may not edit (computed, auto-numbered, read-only, or locked by a field
    rule in this state) are refused, never silently dropped.
    """
    errors: Errors = {}
    values: dict[str, Any] = {}
    for key, raw_value in raw.items():
        if key == "state":
            errors.setdefault(key, []).append(M("changes only through a workflow transition"))
            continue
        if key in SYSTEM_COLUMNS:
            errors.setdefault(key, []).append(M("is set by the system"))
            continue
        fld = entity.field(key)
        if fld is None:
            errors.setdefault(key, []).append(no_field(entity, key))
            continue
        if not fld.editable:
            errors.setdefault(key, []).append(M("is read-only"))
            continue
        if key in access.read_only:
            errors.setdefault(key, []).append(M("cannot be changed in this state"))
            continue
        if fld.is_table:
            rows = _parse_rows(fld, raw_value, errors)
            if rows is not None:
                values[key] = rows
            continue
        try:
            values[key] = FIELD_TYPES[fld.type].parse(fld, raw_value)
        except InvalidValue as exc:
            errors.setdefault(key, []).append(exc.message)
    return values, errors


def no_field(entity: Entity, key: str) -> Message:
    """What is said of a key that names no field of `entity` (in input or a filter)."""
    return M("%(entity_key)s has no field “%(key)s”", entity_key=entity.label, key=key)


def default_values(entity: Entity, actor: Actor, today: dt.date) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for fld in entity.fields:
        default = fld.default
        if default is None:
            values[fld.key] = [] if (is_many(fld) or fld.is_table) else None
        elif fld.type == "user" and default == "me":
            values[fld.key] = [actor.user_id] if fld.many else actor.user_id
        elif fld.type == "date" and isinstance(default, str):
            values[fld.key] = resolve_date(default, today)
        elif fld.type == "datetime" and default == "now":
            values[fld.key] = clock.now()
        else:
            values[fld.key] = list(default) if isinstance(default, list) else default
    return values


# -- writing -------------------------------------------------------------------------------


def _write_links(conn: Connection, et: EntityTables, record_id: int, values: Mapping[str, Any], keys: Iterable[str]) -> None:
    for key in keys:
        link = et.links[key]
        conn.execute(link.delete().where(link.c.record_id == record_id))
        items = values.get(key) or []
        if items:
            conn.execute(link.insert(), [{"record_id": record_id, "value": v, "position": i} for i, v in enumerate(items)])


def _write_children(conn: Connection, et: EntityTables, record_id: int, values: dict[str, Any], keys: Iterable[str]) -> None:
    """Replace a record's line items, keeping the ids of rows that were given back."""
    for key in keys:
        child = et.children[key]
        columns = [f.key for f in et.entity.get_field(key).fields]
        rows = values.get(key) or []
        kept_ids = [r["id"] for r in rows if r.get("id")]
        existing = {r[0] for r in conn.execute(sa.select(child.c.id).where(child.c.parent_id == record_id))}
        delete = child.delete().where(child.c.parent_id == record_id)
        if kept_ids:
            delete = delete.where(child.c.id.not_in(kept_ids))
        conn.execute(delete)
        for position, row in enumerate(rows):
            data = {c: row.get(c) for c in columns}
            data["position"] = position
            if row.get("id") in existing:
                conn.execute(child.update().where((child.c.id == row["id"]) & (child.c.parent_id == record_id)).values(data))
            else:
                row.pop("id", None)
                result = conn.execute(child.insert().values(parent_id=record_id, **data))
                row["id"] = result.inserted_primary_key[0]


def _comparable(fld: Field, value: Any) -> Any:
    if fld.is_table:
        return [{k: to_json(fld.child(k), v) for k, v in row.items() if k != "id"} for row in value or []]
    return to_json(fld, value if value != [] else None) if not is_many(fld) else to_json(fld, value or [])


def diff(entity: Entity, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[history.Change]:
    """Field-level changes between two value sets, in field order, as JSON-safe values."""
    changes = []
    for fld in entity.fields:
        if fld.is_live_lookup:  # not the record's own value: it changes with the referenced record
            continue
        old, new = _comparable(fld, before.get(fld.key)), _comparable(fld, after.get(fld.key))
        if old != new and not (old in (None, []) and new in (None, [])):
            changes.append(history.Change(fld.key, old, new))
    return changes


def _integrity_error(entity: Entity, exc: IntegrityError) -> RecordInvalid:
    message = str(exc.orig).lower()
    for fld in entity.stored_fields():
        if fld.unique and fld.key in message:
            return RecordInvalid({fld.key: [M("is already used by another record")]})
    return RecordInvalid({RECORD_LEVEL: [M("conflicts with existing data (a referenced record or user may have been removed)")]})


def create_record(
    conn: Connection,
    et: EntityTables,
    raw: Mapping[str, Any],
    *,
    actor: Actor,
    now: dt.datetime | None = None,
) -> Record:
    entity = et.entity
    require(actor, entity, "create")
    now = now or clock.now()
    state = entity.workflow.initial if entity.workflow else None
    access = access_for(entity, state, actor)
    given, errors = _parse(entity, raw, access)
    values = default_values(entity, actor, clock.today(now))
    values.update(given)
    values.update(rollups.empty_values(entity))
    system = {
        "id": None,
        "state": state,
        "me": actor.user_id,
        "created_at": now,
        "created_by": actor.user_id,
        "updated_at": now,
        "updated_by": actor.user_id,
    }
    fill_lookups(conn, et, values, None)
    compute_values(entity, values, system, log_problems=True)
    routed = first_state(entity, values, system)
    if routed != state:  # an `on_create` route: the record is checked with its state's rules
        state = system["state"] = routed
        access = access_for(entity, state, actor)
        compute_values(entity, values, system, log_problems=True)
    check_record(conn, et, values, system, access, record_id=None, changed={f.key for f in entity.fields}, known=errors)
    check_constraints(conn, et, values, system, record_id=None, changed={f.key for f in entity.fields})
    for fld in entity.fields:
        if fld.type == "autonumber" and fld.format:
            values[fld.key] = next_number(conn, entity.app, entity.key, fld.key, fld.format, clock.today(now))
    row = {f.key: values.get(f.key) for f in entity.stored_fields()}
    row.update(version=1, created_at=now, created_by=actor.user_id, updated_at=now, updated_by=actor.user_id)
    if state is not None:
        row["state"] = state
    try:
        with conn.begin_nested():
            # The row as parameters of a plain INSERT: its compiled form is reused (no new
            # statement built and hashed per record).
            record_id = int(conn.execute(et.statement("insert", et.table.insert), row).inserted_primary_key[0])
    except IntegrityError as exc:
        raise _integrity_error(entity, exc) from None
    _write_links(conn, et, record_id, values, et.links)
    _write_children(conn, et, record_id, values, et.children)
    lock_related(conn, entity, None, values)
    changes = diff(entity, {}, values)
    if state is not None:
        changes.insert(0, history.Change("state", None, state))
    history.add_entry(
        conn, app=entity.app, entity=entity.key, record_id=record_id, actor_id=actor.user_id, action="create", changes=changes, at=now
    )
    values.update(rollups.after_write(conn, et, record_id, None, values, None))
    events.record_written(
        conn, "record.created", app=entity.app, entity=entity.key, record_id=record_id, actor_id=actor.user_id, at=now, before={},
        after=values, changed={c.field for c in changes}, state_before=None, state_after=state, model=entity,
    )  # fmt: skip
    return Record(entity, record_id, 1, state, now, actor.user_id, now, actor.user_id, values)


def _update_versioned(et: EntityTables) -> sa.Update:
    """UPDATE of the row at a version: the columns set are the parameters given."""
    table = et.table
    return table.update().where((table.c.id == sa.bindparam("b__id")) & (table.c.version == sa.bindparam("b__version")))


def save_values(
    conn: Connection,
    et: EntityTables,
    record: Record,
    given: Mapping[str, Any],
    *,
    actor: Actor,
    expected_version: int | None,
    access: FieldAccess,
    now: dt.datetime,
    new_state: str | None = None,
    action: str = "update",
    transition: str | None = None,
    comment: str | None = None,
    known: Mapping[str, list[Message | str]] | None = None,
    before_write: Callable[[set[str]], None] | None = None,
) -> Record:
    """Write `given` (already parsed) over `record`: the shared tail of update and transition.
    `before_write` sees the changed field keys and may refuse them by raising."""
    entity = et.entity
    if expected_version is not None and expected_version != record.version:
        stale = M(
            "%(entity)s #%(id)s was changed by someone else (your version %(mine)s, now %(now)s)",
            entity=entity.label,
            id=record.id,
            mine=expected_version,
            now=record.version,
        )
        raise Conflict(stale, current_version=record.version)
    values = {k: (list(v) if isinstance(v, list) else v) for k, v in record.values.items()}
    values.update(given)
    state = new_state or record.state
    system = {**record.system(actor.user_id), "state": state, "updated_at": now, "updated_by": actor.user_id}
    fill_lookups(conn, et, values, record.values)
    compute_values(entity, values, system, log_problems=True)
    changes = diff(entity, record.values, values)
    changed = {c.field for c in changes}
    check_record(conn, et, values, system, access, record_id=record.id, changed=changed, known=known)
    if not changes and new_state is None and not comment:
        return record
    moved = new_state is not None and new_state != record.state
    check_constraints(conn, et, values, system, record_id=record.id, changed=changed, transition=transition, state_changed=moved)
    if before_write is not None:
        before_write(changed)
    row = {key: values.get(key) for key in changed if key in et.table.c}
    row.update(version=record.version + 1, updated_at=now, updated_by=actor.user_id)
    if new_state is not None:
        row["state"] = new_state
    statement = et.statement("update", lambda: _update_versioned(et))
    try:
        with conn.begin_nested():
            result = conn.execute(statement, {**row, "b__id": record.id, "b__version": record.version})
    except IntegrityError as exc:
        raise _integrity_error(entity, exc) from None
    if result.rowcount != 1:
        raise Conflict(M("%(entity)s #%(id)s was changed by someone else; reload it and try again", entity=entity.label, id=record.id))
    _write_links(conn, et, record.id, values, [k for k in et.links if k in changed])
    _write_children(conn, et, record.id, values, [k for k in et.children if k in changed])
    lock_related(conn, entity, record.values, values)
    if new_state is not None and new_state != record.state:
        changes.insert(0, history.Change("state", record.state, new_state))
    history.add_entry(
        conn,
        app=entity.app,
        entity=entity.key,
        record_id=record.id,
        actor_id=actor.user_id,
        action=action,
        changes=changes,
        transition=transition,
        comment=comment,
        at=now,
    )
    moved = changed | ({"state"} if new_state is not None and new_state != record.state else set())
    values.update(rollups.after_write(conn, et, record.id, record.values, values, moved))
    kind = "record.transitioned" if new_state is not None else "record.updated"
    events.record_written(
        conn, kind, app=entity.app, entity=entity.key, record_id=record.id, actor_id=actor.user_id, at=now, before=record.values,
        after=values, changed={c.field for c in changes}, state_before=record.state, state_after=state, transition=transition, model=entity,
    )  # fmt: skip
    return Record(entity, record.id, record.version + 1, state, record.created_at, record.created_by, now, actor.user_id, values)


def update_record(
    conn: Connection,
    et: EntityTables,
    record_id: int,
    raw: Mapping[str, Any],
    *,
    actor: Actor,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> Record:
    """Change field values. `expected_version` is the version the user edited; a newer
    stored version raises Conflict and nothing is written (None skips the check)."""
    require(actor, et.entity, "update")
    now = now or clock.now()
    record = fetch_record(conn, et, record_id, for_update=True)
    access = access_for(et.entity, record.state, actor)
    given, errors = _parse(et.entity, raw, access)
    pending = approval_core.pending_request(conn, et.entity.app, et.entity.key, record_id, lock=True)
    if pending is None:
        return save_values(conn, et, record, given, actor=actor, expected_version=expected_version, access=access, now=now, known=errors)
    return _update_while_pending(
        conn, et, record, given, pending, actor=actor, expected_version=expected_version, access=access, now=now, known=errors
    )


def _update_while_pending(
    conn: Connection,
    et: EntityTables,
    record: Record,
    given: Mapping[str, Any],
    pending: approval_core.PendingRequest,
    *,
    actor: Actor,
    expected_version: int | None,
    access: FieldAccess,
    now: dt.datetime,
    known: Mapping[str, list[Message | str]],
) -> Record:
    """An edit while approval is pending: frozen fields are refused, or (on_edit: reset)
    the round starts again on the new values, so no approval counts for values it did not see."""
    assert et.entity.workflow is not None
    transition = et.entity.workflow.transition(pending.transition)
    assert transition is not None and transition.approval is not None
    approval = transition.approval
    frozen = approval_core.frozen_fields(et.entity, approval)
    touched: list[str] = []

    def check(changed: set[str]) -> None:
        touched.extend(sorted(changed & frozen))
        if touched and approval.on_edit == "refuse":
            raise RecordInvalid({key: [M("cannot change while approval is pending (withdraw the request first)")] for key in touched})

    saved = save_values(
        conn, et, record, given, actor=actor, expected_version=expected_version, access=access, now=now, known=known, before_write=check
    )
    if touched:
        ctx = approval_core.RoundContext(
            app=et.entity.app, entity=et.entity, transition=transition, approval=approval, record_id=saved.id,
            title=saved.title or f"#{saved.id}", values=saved.values, requester=pending.requester_id,
        )  # fmt: skip
        approval_core.reset_round(conn, ctx, pending, state=saved.state, version=saved.version, actor_id=actor.user_id, now=now)
    return saved


def delete_record(conn: Connection, et: EntityTables, record_id: int, *, actor: Actor, expected_version: int | None = None) -> None:
    require(actor, et.entity, "delete")
    record = fetch_record(conn, et, record_id, for_update=True)
    pending = approval_core.pending_request(conn, et.entity.app, et.entity.key, record_id, lock=True)
    if pending is not None:
        approval_core.close_round(conn, pending.id, approval_core.CANCELLED, clock.now())
    if expected_version is not None and expected_version != record.version:
        raise Conflict(
            M("%(entity)s #%(id)s was changed by someone else", entity=et.entity.label, id=record_id), current_version=record.version
        )
    conn.execute(et.table.delete().where(et.table.c.id == record_id))
    lock_related(conn, et.entity, record.values, None)
    rollups.after_write(conn, et, record_id, record.values, None, None)
    snapshot = diff(et.entity, record.values, {})
    history.add_entry(
        conn, app=et.entity.app, entity=et.entity.key, record_id=record_id, actor_id=actor.user_id, action="delete", changes=snapshot
    )
    events.record_written(
        conn, "record.deleted", app=et.entity.app, entity=et.entity.key, record_id=record_id, actor_id=actor.user_id,
        at=clock.now(),before=record.values, after={}, changed=(), state_before=record.state, state_after=None, model=et.entity,
    )  # fmt: skip
