"""What the record forms need besides the routes: posted data with its uploads stored, the
values and conditions a form stands for, names for the values it shows, and the page.

Used by `views.records` for the create and edit forms and the transition dialog, which
reuses the same widgets for the fields a transition asks for.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from flask import current_app, request
from flask_babel import get_timezone
from markupsafe import Markup, escape
from sqlalchemy.engine import Connection
from werkzeug.datastructures import FileStorage, MultiDict

from flowdeck.engine import clock, files, records, users
from flowdeck.engine.computed import compute_values
from flowdeck.engine.errors import RecordInvalid
from flowdeck.engine.fieldtypes import ID_TYPES
from flowdeck.engine.messages import Message
from flowdeck.engine.permissions import Actor, FieldAccess
from flowdeck.engine.schema.model import Entity, Field
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.forms import webforms
from flowdeck.views.display import DisplayContext, build_context
from flowdeck.views.field_widgets import FIELD_WIDGETS
from flowdeck.views.i18n import gettext as _
from flowdeck.views.i18n import tr
from flowdeck.views.state import engine

T = TypeVar("T")


def timezone() -> str:
    """The instance's time zone name: datetimes are entered and shown in it."""
    return str(get_timezone())


def files_dir() -> Path:
    return Path(current_app.config["FLOWDECK_FILES_DIR"])


def write(work: Callable[[Connection], T], form: webforms.FormInput) -> T:
    """Run an engine write in one transaction. Problems found before it (uploads refused,
    values that do not parse) are reported together with the engine's, and nothing is
    written while any remain."""

    def run(conn: Connection) -> T:
        try:
            result = work(conn)
        except RecordInvalid as exc:
            raise RecordInvalid(form.problems(exc.errors), exc.records) from None
        if form.errors or form.refused:
            raise RecordInvalid(form.problems())
        return result

    return engine().db.run(run)


def error_label(entity: Entity, key: str) -> str:
    """A field's label for an error key (`items[0].qty` -> "Items 1 · Qty")."""
    head, _sep, rest = key.partition("[")
    fld = entity.field(head)
    if fld is None:
        return "" if key == records.RECORD_LEVEL else key
    if not rest:
        return tr(fld.label)
    index, _sep, child = rest.partition("].")
    column = next((c for c in fld.fields if c.key == child), None)
    row = int(index) + 1 if index.isdigit() else index
    return f"{tr(fld.label)} {row} · {tr(column.label) if column else child}"


# -- posted data and uploads ------------------------------------------------------------------


def _store_upload(fld: Field, upload: FileStorage, actor: Actor) -> int:
    """Keep one uploaded file (own transaction, so a form that fails still has it)."""
    name = files.check_name(fld, upload.filename or "")
    sha, size = files.save_blob(files_dir(), upload.stream, files.max_bytes(fld))
    return engine().db.run(lambda conn: files.add_file(conn, filename=name, size=size, sha256=sha, actor_id=actor.user_id))


def read_posted(et: EntityTables, actor: Actor, record: records.Record | None) -> webforms.FormInput:
    """The posted form as raw values, with uploads stored and their ids in place."""
    data: MultiDict[str, str] = request.form.copy()
    refused: dict[str, list[Message | str]] = {}
    for name, upload in request.files.items(multi=True):
        if not upload.filename:
            continue
        fld = webforms.upload_field(et.entity, name)
        if fld is None:
            refused.setdefault(name, []).append(_("does not take files"))
            continue
        try:
            file_id = _store_upload(fld, upload, actor)
        except files.FileRefused as exc:
            refused.setdefault(name, []).append(exc.message)
            continue
        if fld.many:
            data.add(name, str(file_id))
        else:
            data.setlist(name, [str(file_id)])
    form = webforms.read_form(et.entity, data, tz=timezone(), input_errors=refused)
    _check_file_ids(et, actor, record, form)
    return form


def attachment_ids(entity: Entity, values: Mapping[str, Any]) -> dict[str, set[int]]:
    """File ids per error key, from typed or raw values (unparseable ids are skipped)."""
    found: dict[str, set[int]] = {}

    def add(key: str, value: Any) -> None:
        for item in value if isinstance(value, list) else [value]:
            if str(item).strip().isdigit():
                found.setdefault(key, set()).add(int(str(item).strip()))

    for fld in entity.fields:
        if fld.type == "attachment":
            add(fld.key, values.get(fld.key))
        elif fld.is_table:
            for index, row in enumerate(values.get(fld.key) or []):
                for child in fld.fields:
                    if child.type == "attachment":
                        add(f"{fld.key}[{index}].{child.key}", row.get(child.key))
    return found


def _check_file_ids(et: EntityTables, actor: Actor, record: records.Record | None, form: webforms.FormInput) -> None:
    """A form may keep the files its record holds and attach files its user uploaded, never
    someone else's file by id (that would let the user download it)."""
    posted = attachment_ids(et.entity, form.raw)
    if not posted:
        return
    held = set().union(*attachment_ids(et.entity, record.values).values()) if record else set()
    wanted = set().union(*posted.values()) - held
    foreign = engine().db.read(lambda conn: files.not_uploaded_by(conn, wanted, actor.user_id)) if wanted else set()
    for key, ids in posted.items():
        for file_id in sorted(ids & foreign):
            form.refuse(key, _("cannot use file %(id)s: it is not a file you uploaded", id=file_id))


# -- what a form stands for ---------------------------------------------------------------------------


def editing(
    et: EntityTables, actor: Actor, record: records.Record | None, typed: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], FieldAccess]:
    """The values a form stands for (stored or default values with the typed input over
    them, formulas recomputed), the system names conditions see, and the field access."""
    entity = et.entity
    now = clock.now()
    if record is None:
        state = entity.workflow.initial if entity.workflow else None
        base = records.default_values(entity, actor, clock.today(now))
        system = {"id": None, "state": state, "me": actor.user_id, "created_at": now, "created_by": actor.user_id}
        system.update(updated_at=now, updated_by=actor.user_id)
    else:
        state = record.state
        base = copy.deepcopy(record.values)
        system = record.system(actor.user_id)
    values = {**base, **copy.deepcopy(dict(typed))}
    compute_values(entity, values, system)
    return values, system, records.access_for(entity, state, actor)


def names_for(conn: Connection, et: EntityTables, rows: Iterable[Mapping[str, Any]]) -> DisplayContext:
    """Names for the values in `rows` and in their line items, one query per kind."""
    entity = et.entity
    rows = list(rows)
    ctx = build_context(conn, et, rows, [f.key for f in entity.fields] + ["created_by", "updated_by"])
    for fld in entity.fields:
        if not fld.is_table or not any(c.type in ID_TYPES for c in fld.fields):
            continue
        items = [item for row in rows for item in (row.get(fld.key) or []) if isinstance(item, Mapping)]
        if items:
            # The line item's columns looked up as if they were the entity's own fields.
            columns = EntityTables(replace(entity, fields=fld.fields, sections=(), computed_order=()), et.table)
            inner = build_context(conn, columns, items)
            ctx.users.update(inner.users)
            ctx.refs.update(inner.refs)
            ctx.files.update(inner.files)
    return ctx


@dataclass
class FormPage:
    """Everything a form's widgets need: sections of widgets, the input values as strings,
    the typed values (read-only fields), each field's state, names and the people."""

    sections: list[webforms.WidgetSection]
    values: dict[str, Any]
    typed: dict[str, Any]
    states: dict[str, webforms.FieldState]
    ctx: DisplayContext
    people: list[users.UserInfo]

    def user_options(self, value: Any) -> Markup:
        """The `<option>`s of a single-user select: active people, and the chosen one if no
        longer active (as fields/edit/user.html lists them), built in Python with each name
        escaped (`Markup.format` per option cost a tenth of a form page)."""
        chosen = str(value) if value is not None else ""
        inactive = " · " + escape(_("inactive"))
        out = []
        listed = [p for p in self.people if p.is_active] + [p for p in self.people if not p.is_active and str(p.id) == chosen]
        for person in listed:
            selected = " selected" if str(person.id) == chosen else ""
            note = inactive if not person.is_active else ""
            name, username = escape(person.display_name), escape(person.username)
            out.append(f'\n  <option value="{int(person.id)}"{selected}>{name} (@{username}){note}</option>')
        return Markup("".join(out))  # noqa: S704 -- every value above is escaped or an int

    def general_errors(self, entity: Entity, errors: Mapping[str, list[str]]) -> list[tuple[str, list[str]]]:
        """Errors with no input of their own on the form: shown at the top with their label."""
        placed = {w.key for s in self.sections for w in s.widgets if w.template != "readonly"}
        return [(error_label(entity, key), messages) for key, messages in errors.items() if key.partition("[")[0] not in placed]


def form_page(
    et: EntityTables,
    actor: Actor,
    record: records.Record | None,
    form: webforms.FormInput | None,
    *,
    only: Iterable[str] | None = None,
    lift: Iterable[str] = (),
) -> FormPage:
    """The form for a new record or `record`, showing `form`'s input when one was posted.
    `only` limits it to some fields; `lift` names fields a transition may fill even where
    a rule locks them now."""
    entity = et.entity
    typed, system, access = editing(et, actor, record, form.typed if form else {})
    lifted = set(lift)
    access = FieldAccess(access.hidden - lifted, access.read_only - lifted, access.required)
    values = webforms.input_values(entity, record.values if record else typed, tz=timezone())
    if form is not None:
        values.update(form.shown)
        webforms.fill_computed_cells(entity, values, typed, tz=timezone())
    states = webforms.field_states(entity, typed, system, access)

    def load(conn: Connection) -> tuple[DisplayContext, list[users.UserInfo]]:
        return names_for(conn, et, [typed]), users.list_users(conn)

    ctx, people = engine().db.read(load)
    return FormPage(webforms.form_sections(entity, access, FIELD_WIDGETS, only), values, typed, states, ctx, people)
