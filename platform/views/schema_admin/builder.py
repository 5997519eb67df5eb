"""The visual builder: one action on the posted text, run as an authoring command
(engine/schema/authoring) through the form table (`forms.FORMS`), and the editor again with
the new text, only the changed parts rewritten."""

from __future__ import annotations

from flask import request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from flowdeck.engine.schema import writing
from flowdeck.engine.schema.authoring import EditRefused
from flowdeck.engine.schema.shape import parse_document
from flowdeck.views.auth import admin_required
from flowdeck.views.i18n import say
from flowdeck.views.schema_admin.blueprint import bp
from flowdeck.views.schema_admin.documents import current, posted_text
from flowdeck.views.schema_admin.editor import editor_page, posted_state
from flowdeck.views.schema_admin.forms import FormRefused, read_action

SHOW_ONLY = ("refresh", "entity")
"""Actions that only show the editor again (check the text, show another entity)."""


@bp.post("/<app>/builder")
@admin_required
def builder(app: str) -> Response:
    """One builder action on the posted text; the editor comes back with the new text.
    A form the page does not make is refused with 400, an edit the command refuses with
    422, both with the text as it was and the reason."""
    now = current(app)
    text = posted_text()
    action = request.form.get("action", "refresh")
    if action.split(":", 1)[0] in SHOW_ONLY:
        return editor_page(posted_state(now))
    try:
        chosen = read_action(action, request.form)
        entity = request.form.get("entity") or ""
        if not entity:
            raise FormRefused(_('The form did not send "%(input)s", which "%(action)s" needs.', input="entity", action=chosen.verb))
    except FormRefused as exc:
        return editor_page(posted_state(now, error=exc.message), 400)
    document, _problems = parse_document(text)
    if not isinstance(document, dict):
        error = _("The JSON cannot be read (see the problems below); fix it before using the builder.")
        return editor_page(posted_state(now, tab="json", error=error), 422)
    try:
        changed = chosen.run(document, entity, now.document)
    except EditRefused as exc:
        return editor_page(posted_state(now, error=say(exc.message), opened=frozenset(chosen.targets[:1])), 422)
    state = posted_state(now, text=writing.rewrite(text, changed), opened=chosen.opened)
    state.notice = _("Changed in the document; nothing is applied until you review and apply it.")
    return editor_page(state)
