"""The record page's contents, read in one transaction: the record, its history as a
timeline of field-level changes, comments with their mentions, attached files, the
transitions offered to this user and a pending approval request.

Every value goes through `display.show` (escaped, with names looked up once per page);
fields a rule hides from this user are left out of the page and of its history.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from sqlalchemy.engine import Connection

from flowdeck.engine import approvals, comments, computed, files, history, records, workflow
from flowdeck.engine.fieldtypes import FIELD_TYPES, ID_TYPES, InvalidValue
from flowdeck.engine.messages import Message
from flowdeck.engine.permissions import Actor, can
from flowdeck.engine.schema.model import Entity, Field, Label, Transition
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.forms import webforms
from flowdeck.views import approvals as approval_views
from flowdeck.views.display import DisplayContext, badge, show
from flowdeck.views.i18n import gettext as _
from flowdeck.views.i18n import say, tr
from flowdeck.views.markdown import render_comment
from flowdeck.views.record_forms import attachment_ids, error_label, names_for
from flowdeck.views.sla_badges import page_statuses
from flowdeck.views.sla_panel import SlaRow, record_slas


@dataclass
class Change:
    label: str
    old: Markup
    new: Markup


@dataclass
class Event:
    """One history entry as the timeline shows it."""

    at: dt.datetime
    actor: str
    action: str
    transition: str | None
    comment: str | None
    changes: list[Change]
    message: Message | None = None
    """What the system said (`history.Entry.message`), worded in the reader's language."""


@dataclass
class Offer:
    """A transition as the record page offers it: through a dialog when it needs fields or
    a comment; disabled, with the reason beside it, when it cannot run now."""

    transition: Transition
    dialog: bool
    reason: str | None
    approval: bool = False
    """Performing it asks for approval (`Available.needs_approval`): "Request approval"."""
    fixable: bool = False
    """Its guard does not hold now, but reads fields the dialog offers: it opens the dialog
    (with the reason) instead of being disabled."""


@dataclass
class Note:
    id: int
    author: str
    at: dt.datetime
    body: Markup


@dataclass
class Pending:
    """An approval request waiting on this record."""

    request: approvals.RequestRow
    transition: Label
    step: Label | None
    requester: str
    can_decide: bool
    can_withdraw: bool


@dataclass
class RecordPage:
    record: records.Record
    ctx: DisplayContext
    sections: list[webforms.FormSection]
    offers: list[Offer]
    events: list[Event]
    notes: list[Note]
    attachments: list[tuple[str, files.StoredFile]]
    pending: Pending | None
    approvals: approval_views.Panel | None = None
    formula_problems: Mapping[str, Message] = field(default_factory=dict)
    """Why a computed field shows no value (its formula failed or gave the wrong kind)."""
    slas: Sequence[SlaRow] = ()
    """The SLA panel's rows (`views.sla_panel`)."""


# -- history -----------------------------------------------------------------------------------------


def _from_json(fld: Field, value: Any) -> Any:
    """A history value (JSON) as the typed value `display.show` expects; text if it no
    longer fits the field (the definition may have changed since)."""
    if value is None or value == [] or fld.is_table:
        return value
    kind = FIELD_TYPES[fld.value_type]
    try:
        if isinstance(value, list):
            return [kind.coerce(fld, v) for v in value]
        return kind.coerce(fld, value)
    except (InvalidValue, ValueError, TypeError, ArithmeticError):
        return str(value)


Typed = list[tuple[Field | None, str, Any, Any]]


def _field_now(entity: Entity, key: str, renamed: Mapping[str, str]) -> Field | None:
    """The field a history entry's key names today: the field itself, or the field renamed
    from it (`was`, in this document or an earlier one), so entries written before a rename
    show the current label and follow the renamed field's rules."""
    return entity.field(key) or next((f for f in entity.fields if f.was == key), None) or entity.field(renamed.get(key, ""))


def _renames(conn: Connection, entity: Entity, entries: list[history.Entry]) -> dict[str, str]:
    """Earlier renames, read from the app's versions only when an entry names a key that
    is neither a field nor a field's `was`."""
    known = {f.key for f in entity.fields} | {f.was for f in entity.fields if f.was} | {"state"}
    if all(change.get("field", "") in known for entry in entries for change in entry.changes or []):
        return {}
    return history.renamed_keys(conn, entity.app, entity.key)


def _typed_changes(entity: Entity, entry: history.Entry, renamed: Mapping[str, str]) -> Typed:
    out: Typed = []
    for change in entry.changes or []:
        key = change.get("field", "")
        fld = _field_now(entity, key, renamed)
        if fld is None:
            out.append((None, key, change.get("old"), change.get("new")))
        else:
            out.append((fld, fld.key, _from_json(fld, change.get("old")), _from_json(fld, change.get("new"))))
    return out


def _ids_only(fld: Field | None, value: Any) -> bool:
    """Values that name users, records or files (history may hold text for values that no
    longer fit their field, which must not reach an id lookup)."""
    if fld is None or fld.type not in ID_TYPES or value in (None, []):
        return False
    items = value if isinstance(value, list) else [value]
    return all(isinstance(i, int) and not isinstance(i, bool) for i in items)


def _state_badge(entity: Entity, key: Any) -> Markup:
    if key is None or entity.workflow is None:
        return Markup("")
    state = entity.workflow.state(str(key))
    return badge(tr(state.label), state.color) if state else badge(str(key), None)


def _plain(value: Any) -> Markup:
    return Markup.escape("" if value is None else str(value))


def _events(entity: Entity, entries: list[history.Entry], typed: list[Typed], ctx: DisplayContext, hidden: frozenset[str]) -> list[Event]:
    events = []
    for entry, changes in zip(entries, typed, strict=True):
        shown = []
        for fld, key, old, new in changes:
            if key in hidden:
                continue
            if key == "state":
                shown.append(Change(_("State"), _state_badge(entity, old), _state_badge(entity, new)))
            elif fld is None:
                shown.append(Change(key, _plain(old), _plain(new)))
            else:
                shown.append(Change(tr(fld.label), show(fld, old, ctx), show(fld, new, ctx)))
        step = entity.workflow.transition(entry.transition) if entity.workflow and entry.transition else None
        who = ctx.users.get(entry.actor_id, _("System")) if entry.actor_id else _("System")
        events.append(Event(entry.at, who, entry.action, tr(step.label) if step else entry.transition, entry.comment, shown, entry.message))
    return list(reversed(events))


# -- transitions and approvals -------------------------------------------------------------------------


def _offers(entity: Entity, record: records.Record, actor: Actor, pending: Pending | None) -> list[Offer]:
    offers = []
    for item in workflow.available_transitions(entity, record, actor):
        step = item.transition
        reason = None
        if pending is not None:
            reason = _("Waiting for the approval of “%(step)s”.", step=tr(pending.transition))
        elif item.blocked_by is not None:
            reason = say(item.blocked_by)
        inputs = workflow.dialog_fields(entity, record, step, actor, item.missing)
        fixable = pending is None and item.blocked_by is not None and bool(inputs)
        dialog = bool(item.missing) or step.comment != "none" or item.needs_approval or fixable
        offers.append(Offer(step, dialog, reason, item.needs_approval, fixable))
    return offers


def _pending(conn: Connection, entity: Entity, request: approvals.RequestRow, actor: Actor, ctx: DisplayContext) -> Pending | None:
    step = entity.workflow.transition(request.transition) if entity.workflow else None
    if step is None or step.approval is None:
        return None
    current = next((s for view in approvals.timeline(conn, entity.app, entity.key, request.record_id) if view.request.id == request.id
                    for s in view.steps if s.status == "pending"), None)  # fmt: skip
    step_def = step.approval.step(current.key) if current else None
    requester = ctx.users.get(request.requester_id or 0, _("System"))
    return Pending(
        request=request,
        transition=step.label,
        step=step_def.label if step_def else None,
        requester=requester,
        can_decide=approvals.my_pending_task(conn, request.id, actor.user_id),
        can_withdraw=actor.user_id == request.requester_id or actor.is_admin,
    )


# -- the page ----------------------------------------------------------------------------------------------


def _file_list(entity: Entity, record: records.Record, stored: Mapping[int, files.StoredFile]) -> list[tuple[str, files.StoredFile]]:
    out = []
    for key, ids in attachment_ids(entity, record.values).items():
        out += [(error_label(entity, key), stored[i]) for i in sorted(ids) if i in stored]
    return out


def _has_approvals(entity: Entity) -> bool:
    return entity.workflow is not None and any(t.approval is not None for t in entity.workflow.transitions)


def load_page(conn: Connection, et: EntityTables, record_id: int, actor: Actor) -> RecordPage:
    """Everything the record page shows; raises NotFound or Forbidden (read permission)."""
    entity = et.entity
    record = records.get_record(conn, et, record_id, actor=actor)
    entries = history.list_entries(conn, entity.app, entity.key, record_id)
    notes = comments.list_comments(conn, entity.app, entity.key, record_id)
    # Only an entity with an approval flow can have a request open (no statement otherwise).
    request = approvals.open_request_for(conn, entity.app, entity.key, record_id) if _has_approvals(entity) else None
    renamed = _renames(conn, entity, entries)
    typed = [_typed_changes(entity, e, renamed) for e in entries]
    people: list[Mapping[str, Any]] = [record.values, {"created_by": record.created_by, "updated_by": record.updated_by}]
    people += [{"created_by": e.actor_id} for e in entries] + [{"created_by": c.author_id} for c in notes]
    people += [{"created_by": request.requester_id}] if request else []
    people += [{key: v} for changes in typed for fld, key, old, new in changes for v in (old, new) if _ids_only(fld, v)]
    ctx = names_for(conn, et, people)
    ctx.slas = page_statuses(conn, et, [record_id])
    slas = record_slas(conn, et, record_id, ctx.slas.get(record_id, ()))
    mentioned = comments.users_named(conn, [c.body for c in notes])
    stored = files.describe_files(conn, set().union(*attachment_ids(entity, record.values).values()))
    pending = _pending(conn, entity, request, actor, ctx) if request else None

    access = records.access_for(entity, record.state, actor)
    env = {**record.system(actor.user_id), **record.values}
    # The title is the page's heading; every other field the user may see, by section.
    sections = [
        webforms.FormSection(s.label, tuple(f for f in s.fields if f.key != entity.title and records.visible(f, env, access)))
        for s in webforms.sections(entity)
    ]
    return RecordPage(
        record=record,
        ctx=ctx,
        sections=[s for s in sections if s.fields],
        offers=_offers(entity, record, actor, pending) if can(actor, entity, "update") else [],
        events=_events(entity, entries, typed, ctx, access.hidden),
        notes=[Note(c.id, ctx.users.get(c.author_id or 0, _("System")), c.created_at, render_comment(c.body, mentioned)) for c in notes],
        attachments=_file_list(entity, record, stored),
        pending=pending,
        approvals=approval_views.record_panel(conn, et, record, actor),
        # `me` as when the values were computed: the last writer
        formula_problems=computed.formula_problems(entity, record.values, record.system(record.updated_by)),
        slas=slas,
    )
