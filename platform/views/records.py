"""Record routes: the create and edit forms, the record page, transitions (with their
dialog), comments, delete, file downloads, and the htmx endpoints behind the forms
(reference lookup, live conditions, markdown preview).

Every route follows docs/dev/web-conventions.md: sign-in, the entity for the action (404,
403), one transaction for the write, then a page or, for htmx, a named block. The engine
decides what is valid and allowed; these routes turn requests into engine calls and engine
errors into the same form shown again, with the user's input and the messages beside the
fields they concern. Form plumbing lives in `record_forms`, the page's contents in
`record_page`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, NamedTuple

from flask import Blueprint, current_app, jsonify, redirect, request, send_file, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import format_decimal
from sqlalchemy.engine import Connection
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from flowdeck.engine import approvals, boards, comments, files, records, workflow
from flowdeck.engine.automations import trials
from flowdeck.engine.errors import Conflict, Forbidden, NotFound, RecordInvalid, TransitionRefused
from flowdeck.engine.fieldtypes import types_in
from flowdeck.engine.messages import Message
from flowdeck.engine.permissions import Actor, can, can_transition, require
from flowdeck.engine.query import lookup_query, query_records
from flowdeck.engine.schema.model import View
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.engine.viewtypes import groups_by_state
from flowdeck.forms import webforms
from flowdeck.views import record_forms, record_html
from flowdeck.views.auth import login_required, require_actor
from flowdeck.views.display import show as show_value
from flowdeck.views.errors import error_response
from flowdeck.views.field_widgets import FIELD_WIDGETS
from flowdeck.views.i18n import gettext as _
from flowdeck.views.i18n import say, say_errors, tr
from flowdeck.views.lifecycle import entity_tables, is_htmx, page_read, posted_version, registry, render
from flowdeck.views.markdown import render_markdown
from flowdeck.views.record_page import load_page
from flowdeck.views.state import engine

bp = Blueprint("records", __name__)
LOOKUP_LIMIT = 15
DEFAULT_REQUEST_MB = 100
# Widgets whose input can carry the browser's own `required` check.
NATIVE_REQUIRED = frozenset(w.edit for w in FIELD_WIDGETS.values() if w.native_required)


@bp.record_once
def _limits(state: BlueprintSetupState) -> None:
    """Bound what one request may carry: uploads in total, and form fields (line items)."""
    # Flask defines MAX_CONTENT_LENGTH as None (no limit), so setdefault would not apply.
    # Bigger configuration bundles than this go through `flowdeck import` instead.
    if not state.app.config.get("MAX_CONTENT_LENGTH"):
        state.app.config["MAX_CONTENT_LENGTH"] = DEFAULT_REQUEST_MB * 1024 * 1024
    state.app.config.setdefault("MAX_FORM_PARTS", 10_000)


@bp.app_errorhandler(RequestEntityTooLarge)
def too_large(exc: RequestEntityTooLarge) -> Response:
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    message = _("What you sent is larger than this server accepts in one request (%(size)s). Choose a smaller file.", size=file_size(limit))
    return error_response(413, message)


@bp.context_processor
def helpers() -> dict[str, Any]:
    return {
        "show_value": show_value,
        "markdown": render_markdown,
        "record_sections": record_html.sections,
        "record_timeline": record_html.timeline,
        "is_checked": webforms.is_checked,
        "file_size": file_size,
        "NATIVE_REQUIRED": NATIVE_REQUIRED,
        "NUMBER_TYPES": types_in("number"),
    }


def file_size(size: int) -> str:
    if size < 1024:
        return _("%(n)s bytes", n=size)
    if size < 1024 * 1024:
        return _("%(n)s KB", n=format_decimal(round(size / 1024, 1)))
    return _("%(n)s MB", n=format_decimal(round(size / (1024 * 1024), 1)))


# -- small helpers ------------------------------------------------------------------------


def _load(et: EntityTables, record_id: int, actor: Actor) -> records.Record:
    return engine().db.read(lambda conn: records.get_record(conn, et, record_id, actor=actor))


def _status(failed: int) -> int:
    """htmx swaps only successful answers, so a form shown again with its errors is a 200
    there; a full page says what happened (422 invalid, 409 conflict)."""
    return 200 if is_htmx() else failed


def _done(target: str) -> Response:
    """After a successful write: 303 for a form post, a client-side redirect for htmx."""
    if is_htmx():
        response = Response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, 303)  # type: ignore[return-value]


def _show_url(et: EntityTables, record_id: int) -> str:
    return url_for(".show", app=et.entity.app, entity=et.entity.key, record_id=record_id)


# -- create and edit --------------------------------------------------------------------------


class Link(NamedTuple):
    href: str
    name: str


def conflict_links(et: EntityTables, pairs: list[tuple[str, int]]) -> list[Link]:
    """Links to the records a refusal names (a rule across records): `Task #12`."""
    app = registry().app(et.entity.app).app
    links = []
    for entity_key, record_id in pairs:
        other = app.entity(entity_key)
        if other is not None:
            links.append(Link(url_for(".show", app=app.key, entity=entity_key, record_id=record_id), f"{tr(other.label)} #{record_id}"))
    return links


def _form(
    et: EntityTables,
    actor: Actor,
    record: records.Record | None,
    *,
    form: webforms.FormInput | None = None,
    errors: Mapping[str, list[Message | str]] | None = None,
    conflict: bool = False,
    conflicts: list[tuple[str, int]] | None = None,
    status: int = 200,
) -> Response:
    entity = et.entity
    errors = say_errors(errors or {})
    page = record_forms.form_page(et, actor, record, form)
    if record is None:
        action = url_for(".new", app=entity.app, entity=entity.key)
        cancel = url_for("lists.entity_index", app=entity.app, entity=entity.key)
    else:
        action = url_for(".edit", app=entity.app, entity=entity.key, record_id=record.id)
        cancel = _show_url(et, record.id)
    response = render(
        "records/form.html",
        entity=entity,
        record=record,
        page=page,
        errors=errors,
        general_errors=page.general_errors(entity, errors),
        conflicts=conflict_links(et, conflicts or []),
        conflict=conflict,
        action=action,
        cancel=cancel,
        conditions_url=url_for(".conditions", app=entity.app, entity=entity.key),
        tz=record_forms.timezone(),
    )
    response.status_code = status
    return response


@bp.route("/a/<app>/<entity>/new", methods=["GET", "POST"])
@login_required
def new(app: str, entity: str) -> Response:
    actor = require_actor()
    et = entity_tables(app, entity, actor, "create")
    if request.method == "GET":
        return _form(et, actor, None)
    form = record_forms.read_posted(et, actor, None)
    try:
        created = record_forms.write(lambda conn: records.create_record(conn, et, form.raw, actor=actor), form)
    except RecordInvalid as exc:
        return _form(et, actor, None, form=form, errors=exc.errors, conflicts=exc.records, status=_status(422))
    return _done(_show_url(et, created.id))


@bp.route("/a/<app>/<entity>/<int:record_id>/edit", methods=["GET", "POST"])
@login_required
def edit(app: str, entity: str, record_id: int) -> Response:
    actor = require_actor()
    et = entity_tables(app, entity, actor, "update")
    record = _load(et, record_id, actor)
    if request.method == "GET":
        return _form(et, actor, record)
    version = posted_version()
    form = record_forms.read_posted(et, actor, record)
    try:
        record_forms.write(lambda conn: records.update_record(conn, et, record_id, form.raw, actor=actor, expected_version=version), form)
    except RecordInvalid as exc:
        return _form(et, actor, record, form=form, errors=exc.errors, conflicts=exc.records, status=_status(422))
    except Conflict:
        # Show the record as it is now (its version too), with the user's input over it.
        return _form(et, actor, _load(et, record_id, actor), form=form, conflict=True, status=_status(409))
    return _done(_show_url(et, record_id))


@bp.post("/a/<app>/<entity>/<int:record_id>/delete")
@login_required
def delete(app: str, entity: str, record_id: int) -> Response:
    actor = require_actor()
    et = entity_tables(app, entity, actor, "delete")
    version = posted_version()
    engine().db.run(lambda conn: records.delete_record(conn, et, record_id, actor=actor, expected_version=version))
    return _done(url_for("lists.entity_index", app=app, entity=entity))


# -- the htmx helpers of forms ------------------------------------------------------------------


@bp.post("/a/<app>/<entity>/conditions")
@login_required
def conditions(app: str, entity: str) -> Response:
    """Which fields show and are required for the form's current values, judged by the
    engine's own rules for the record's state and the user's roles."""
    actor = require_actor()
    et = entity_tables(app, entity, actor, "read")
    record_id = request.form.get("_record", "").strip()
    record = None
    if record_id.isdigit():
        require(actor, et.entity, "update")
        record = _load(et, int(record_id), actor)
    else:
        require(actor, et.entity, "create")
    form = webforms.read_form(et.entity, request.form, tz=record_forms.timezone())
    values, system, access = record_forms.editing(et, actor, record, form.typed)
    states = webforms.field_states(et.entity, values, system, access)
    return jsonify({key: {"visible": s.visible, "required": s.required} for key, s in states.items()})


def _title_text(et: EntityTables, value: Any) -> str:
    fld = et.entity.title_field()
    if value is None:
        return ""
    if fld.type == "select":  # the one title type whose value is a key with a label
        option = fld.option(str(value))
        return tr(option.label) if option else str(value)
    return value.isoformat() if isinstance(value, dt.date) else str(value)


@bp.get("/a/<app>/<entity>/lookup")
@login_required
def lookup(app: str, entity: str) -> Response:
    """Records of the entity matching `q`, for a reference picker (newest first)."""
    actor = require_actor()
    et = entity_tables(app, entity, actor, "read")
    text = request.args.get("q", "").strip()[:100]
    query = lookup_query(et.entity, text, LOOKUP_LIMIT)
    found: list[tuple[int, str, Any]] = []
    if query is not None:
        page = engine().db.read(lambda conn: query_records(conn, et, query, actor=actor))
        title = et.entity.title
        found = [(row["id"], _title_text(et, row.get(title)), row.get("state")) for row in page.rows]
    return render("records/_lookup.html", et=et, found=found, text=text)


@bp.post("/preview/markdown")
@login_required
def preview() -> Response:
    """Sanitized HTML for markdown text (field named by `?field=`, else `text`)."""
    require_actor()
    text = request.form.get(request.args.get("field", "text"), "")
    return render("records/_preview.html", html=render_markdown(text))


# -- the record page ------------------------------------------------------------------------------


def _record_page(
    et: EntityTables,
    actor: Actor,
    record_id: int,
    *,
    block: str | None = None,
    comment_text: str = "",
    comment_errors: list[str] | None = None,
) -> Response:
    page = page_read(lambda conn: load_page(conn, et, record_id, actor))
    entity = et.entity
    return render(
        "records/show.html",
        block,
        entity=entity,
        page=page,
        record=page.record,
        ctx=page.ctx,
        state=entity.workflow.state(page.record.state) if entity.workflow and page.record.state else None,
        can_edit=can(actor, entity, "update"),
        can_delete=can(actor, entity, "delete"),
        comment_text=comment_text,
        comment_errors=comment_errors or [],
        buttons=trials.buttons(registry().app(entity.app), entity.key, actor),
    )


@bp.get("/a/<app>/<entity>/<int:record_id>")
@login_required
def show(app: str, entity: str, record_id: int) -> Response:
    actor = require_actor()
    et = entity_tables(app, entity, actor, "read")
    return _record_page(et, actor, record_id)


@bp.post("/a/<app>/<entity>/<int:record_id>/comments")
@login_required
def comment(app: str, entity: str, record_id: int) -> Response:
    actor = require_actor()
    et = entity_tables(app, entity, actor, "update")
    body = request.form.get("body", "")
    try:
        engine().db.run(lambda conn: comments.add_comment(conn, et, record_id, body, actor=actor))
    except RecordInvalid as exc:
        errors = say_errors(exc.errors)
        response = _record_page(et, actor, record_id, block="comments", comment_text=body, comment_errors=errors.get("body", []))
        response.status_code = _status(422)
        return response
    if is_htmx():
        return _record_page(et, actor, record_id, block="comments")
    return redirect(_show_url(et, record_id) + "#comments", 303)  # type: ignore[return-value]


# -- transitions -------------------------------------------------------------------------------------


def _offered(et: EntityTables, record: records.Record, actor: Actor, key: str) -> workflow.Available:
    """The transition `key` as available to this actor now; refusals say why."""
    entity = et.entity
    step = entity.workflow.transition(key) if entity.workflow else None
    if step is None:
        raise TransitionRefused(_('There is no transition "%(key)s".', key=key))
    if not can_transition(actor, entity, step):
        raise Forbidden(_("You may not “%(label)s”.", label=tr(step.label)))
    item = next((a for a in workflow.available_transitions(entity, record, actor) if a.transition.key == key), None)
    if item is None:
        raise TransitionRefused(_("“%(label)s” is not possible in this state.", label=tr(step.label)))
    return item


def _transition_page(
    et: EntityTables,
    actor: Actor,
    record: records.Record,
    item: workflow.Available,
    *,
    form: webforms.FormInput | None = None,
    errors: Mapping[str, list[str]] | None = None,
    message: str | None = None,
    conflicts: list[tuple[str, int]] | None = None,
    status: int = 200,
) -> Response:
    """What a transition needs: the dialog (htmx) or a page with the same form. `errors`
    are already in the user's language; `conflicts` the records a refusal names."""
    entity = et.entity
    step = item.transition
    offered = workflow.dialog_fields(entity, record, step, actor, item.missing)
    wanted = [k for k in dict.fromkeys([*offered, *(errors or {})]) if entity.field(k) is not None]
    page = record_forms.form_page(et, actor, record, form, only=wanted, lift=step.require)
    page.states.update({key: webforms.FieldState(True, True) for key in item.missing})
    reason = say(item.blocked_by) if item.blocked_by is not None else None
    response = render(
        "records/transition.html",
        "dialog" if is_htmx() else None,
        entity=entity,
        record=record,
        step=step,
        page=page,
        errors=dict(errors or {}),
        message=message,
        conflicts=conflict_links(et, conflicts or []),
        blocked=reason,
        comment_text=request.form.get("comment", "") if request.method == "POST" else "",
        in_dialog=is_htmx(),
        tz=record_forms.timezone(),
    )
    response.status_code = status
    return response


@bp.route("/a/<app>/<entity>/<int:record_id>/transition", methods=["GET", "POST"])
@login_required
def transition(app: str, entity: str, record_id: int) -> Response:
    """GET: the dialog asking for what a transition needs. POST: perform it, or for a
    transition with an approval flow, ask for that approval."""
    actor = require_actor()
    et = entity_tables(app, entity, actor, "update")
    key = request.values.get("transition", "").strip()
    if request.method == "GET":
        record = _load(et, record_id, actor)
        return _transition_page(et, actor, record, _offered(et, record, actor, key))
    require(actor, et.entity, "read")
    version = posted_version()
    from_state = request.form.get("from_state", "").strip()
    # The record is read once, in the write's transaction (locked there on PostgreSQL);
    # only a form that may carry files needs it before (files it already holds may stay).
    held = _load(et, record_id, actor) if any(f.type == "attachment" for f in et.entity.fields) else None
    form = record_forms.read_posted(et, actor, held)
    comment_text = request.form.get("comment")
    step = et.entity.workflow.transition(key) if et.entity.workflow else None
    board = _board_of(et, request.form.get("board", ""))

    def perform(conn: Connection) -> Any:
        record = records.fetch_record(conn, et, record_id, for_update=True)
        if from_state and from_state != record.state:
            message = _("This record moved to another state in the meantime. Reload it and try again.")
            raise Conflict(message, current_version=record.version)
        values = form.raw or None
        if board is not None and step is not None:
            # A board move that went through this dialog: the hard WIP limit again, in
            # the same transaction as the transition (or the approval request).
            boards.check_wip(conn, et, board, step.to, actor)
        if step is not None and step.approval is not None:
            return approvals.request_approval(
                conn, et, record_id, key, actor=actor, values=values, comment=comment_text, expected_version=version, record=record
            )
        return workflow.transition_record(
            conn, et, record_id, key, actor=actor, values=values, comment=comment_text, expected_version=version, record=record
        )

    try:
        record_forms.write(perform, form)
    except (TransitionRefused, RecordInvalid) as exc:
        # Shown with the record as it is now (the write changed nothing).
        return _refused(et, actor, _load(et, record_id, actor), key, form, exc)
    return _done(_show_url(et, record_id))


def _board_of(et: EntityTables, key: str) -> View | None:
    """The state board (`board=<view key>`) a move came from, else None."""
    view = et.entity.view(key.strip()) if key.strip() else None
    return view if groups_by_state(view) else None


def _refused(et: EntityTables, actor: Actor, record: records.Record, key: str, form: webforms.FormInput, exc: Exception) -> Response:
    """A transition that could not run, shown with what it needs (or why it cannot run)."""
    item = _offered(et, record, actor, key)
    step = item.transition
    if isinstance(exc, RecordInvalid):
        errors = say_errors(exc.errors)
        message = _("Please correct the marked fields.")
    else:
        assert isinstance(exc, TransitionRefused)
        offered = workflow.dialog_fields(et.entity, record, step, actor, exc.missing)
        errors = {k: [_("is required")] for k in exc.missing if k in offered or k == "comment"}
        if step.guard is not None and not exc.missing and exc.message == workflow.guard_message(step):
            decides = _("decides whether “%(label)s” can run", label=tr(step.label))
            errors = {k: [decides] for k in workflow.guard_inputs(et.entity, step) if k in offered}
            message = say(exc.message)
        elif any(k in offered for k in exc.missing):
            message = _("Fill in the marked fields to “%(label)s”.", label=tr(step.label))
        elif exc.missing == ["comment"]:
            message = _("“%(label)s” needs a comment.", label=tr(step.label))
        elif item.blocked_by is not None:
            message = say(item.blocked_by)
        else:
            message = say(exc.message)
    conflicts = exc.records if isinstance(exc, (RecordInvalid, TransitionRefused)) else []
    return _transition_page(et, actor, record, item, form=form, errors=errors, message=message, conflicts=conflicts, status=_status(422))


# -- files -----------------------------------------------------------------------------------


@bp.get("/files/<int:file_id>")
@login_required
def download(file_id: int) -> Response:
    """A stored file, for someone who may read a record holding it (or who uploaded it and
    has not attached it yet). Anyone else gets the same 404 as for a file that does not
    exist. Always a download, never shown inline."""
    actor = require_actor()
    apps = list(registry().apps.values())
    stored = engine().db.read(lambda conn: files.readable_file(conn, apps, file_id, actor))
    path = files.blob_path(record_forms.files_dir(), stored.sha256)
    if not path.is_file():
        raise NotFound(_("There is no file %(id)s.", id=file_id))
    response = send_file(path, mimetype=stored.content_type, as_attachment=True, download_name=stored.filename, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-cache"
    return response
