"""The review of a change and applying it: the migration plan in plain words with counts
from the data, its questions and the differences from the current version; then one call
to the engine that applies it (or rolls back) in one transaction, with the answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy.engine import Connection
from werkzeug.wrappers import Response

from flowdeck.engine import apps, versions
from flowdeck.engine.errors import ChoicesNeeded, MigrationRefused, SchemaInvalid
from flowdeck.engine.messages import M, Message
from flowdeck.engine.permissions import Actor
from flowdeck.engine.schema import writing
from flowdeck.engine.storage.plan import Plan
from flowdeck.views.auth import admin_required, require_actor
from flowdeck.views.lifecycle import render
from flowdeck.views.schema_admin.blueprint import bp
from flowdeck.views.schema_admin.checking import Checked
from flowdeck.views.schema_admin.documents import Current, base_version, current, number, version_document
from flowdeck.views.schema_admin.editor import editor_page, posted_state
from flowdeck.views.state import engine

CHOICE = "choice:"
"""The prefix of the inputs that answer a plan's questions (`choice:<question id>`)."""
MAX_MESSAGE = 500


def posted_choices(prefix: str = CHOICE) -> dict[str, str]:
    return {name[len(prefix) :]: value for name, value in request.form.items() if name.startswith(prefix) and value}


def plan_for(document: Mapping[str, Any], choices: Mapping[str, str], actor: Actor) -> tuple[Plan, bool, dict[str, str]]:
    """The migration plan with the answers that belong to its questions (others dropped)."""

    def work(conn: Connection) -> tuple[Plan, bool, dict[str, str]]:
        _app, plan, _source, _version, unchanged = apps.plan_change(conn, document, None, actor=actor)
        asked = {q.id for q in plan.questions}
        answers = {k: v for k, v in choices.items() if k in asked}
        if answers:
            _app, plan, _source, _version, unchanged = apps.plan_change(conn, document, answers, actor=actor)
        return plan, unchanged, answers

    return engine().db.read(work)


@dataclass
class Review:
    app: Current
    text: str
    document: dict[str, Any]
    base_version: int
    plan: Plan
    unchanged: bool
    changes: list[versions.Change]
    choices: dict[str, str]
    message: str = ""
    rollback_to: int | None = None
    error: str | None = None
    errors: list[Message | str] = field(default_factory=list)
    """What stopped the apply: the engine's messages, worded by the page."""
    warning: str | None = None

    @property
    def reason(self) -> Message | str | None:
        """Why the version is applied: a rollback's reason (the system's), else the admin's words."""
        if self.rollback_to is not None:
            return M("rollback to v%(version)s", version=self.rollback_to)
        return self.message or None

    @property
    def open_questions(self) -> int:
        return len([q for q in self.plan.questions if q.id not in self.choices])


def review_page(review: Review, status: int = 200) -> Response:
    response = render("schema_admin/review.html", review=review)
    response.status_code = status
    return response


def prepare_review(now: Current, checked: Checked, actor: Actor, *, rollback_to: int | None = None) -> Review:
    """The review of the checked (valid) text against the current version, with the answers posted."""
    assert checked.document is not None
    choices = posted_choices()
    plan, unchanged, answers = plan_for(checked.document, choices, actor)
    base = base_version(now)
    message = request.form.get("message", "").strip()[:MAX_MESSAGE] if rollback_to is None else ""
    review = Review(
        now, checked.text, checked.document, base, plan, unchanged, versions.diff_documents(now.document, checked.document), answers
    )
    review.message, review.rollback_to = message, rollback_to
    if base != now.version:
        review.warning = _(
            "Version %(version)s was applied since you started editing version %(base)s. The differences below are against "
            "version %(version)s: applying your document undoes what that version changed unless your document has it too.",
            version=now.version,
            base=base,
        )
    return review


@bp.post("/<app>/review")
@admin_required
def review(app: str) -> Response:
    """The migration plan in plain words with counts from the data, its questions, and the
    differences from the current version. Nothing is written."""
    actor = require_actor()
    now = current(app)
    state = posted_state(now, tab="json")
    if not state.checked.ok:
        state.error = _("The document has problems; fix them before reviewing the change.")
        return editor_page(state, 422)
    return review_page(prepare_review(now, state.checked, actor, rollback_to=number(request.form.get("rollback_to"))))


@bp.post("/<app>/apply")
@admin_required
def apply(app: str) -> Response:
    """Apply the posted document with the answers (or roll back, for a rollback review)."""
    actor = require_actor()
    now = current(app)
    state = posted_state(now, tab="json")
    checked = state.checked
    if not checked.ok or checked.document is None:
        state.error = _("The document has problems; fix them before applying it.")
        return editor_page(state, 422)
    rollback_to = number(request.form.get("rollback_to"))
    review = prepare_review(now, checked, actor, rollback_to=rollback_to)
    if review.warning is not None:
        # Seen on this page now: the next Apply is based on the current version.
        review.base_version = now.version
        review.error = _("Nothing was applied: look at the differences again, then apply.")
        return review_page(review, 409)
    if review.plan.refusals:
        review.error = _("Nothing was applied: the change cannot be made as it is.")
        return review_page(review, 422)
    if review.open_questions:
        review.error = ngettext(
            "Nothing was applied: %(num)d question has no answer yet. Answer every question, then apply.",
            "Nothing was applied: %(num)d questions have no answer yet. Answer every question, then apply.",
            review.open_questions,
        )
        return review_page(review, 422)
    db = engine().db
    try:
        if rollback_to is not None and writing.same(checked.document, version_document(app, rollback_to)):
            result = versions.rollback(db, app, rollback_to, actor=actor, choices=review.choices)
        else:
            result = apps.apply_document(db, checked.document, actor=actor, message=review.reason, choices=review.choices)
    except ChoicesNeeded as exc:
        review.error = _("Nothing was applied: answer every question, then apply.")
        review.errors = [q.describe() for q in exc.questions]
        return review_page(review, 422)
    except MigrationRefused as exc:
        review.error = _("Nothing was applied: the change cannot be made as it is.")
        review.errors = list(exc.reasons)
        return review_page(review, 422)
    except SchemaInvalid as exc:
        review.error = _("Nothing was applied: the document has problems.")
        review.errors = [p.with_path() for p in exc.problems]
        return review_page(review, 422)
    if not result.applied:
        flash(_("Nothing to apply: the document is the same as version %(version)s.", version=now.version), "info")
        return redirect(url_for(".edit", app=app), code=303)
    flash(_("Applied as version %(version)s.", version=result.version), "ok")
    return redirect(url_for(".version", app=app, number=result.version), code=303)
