"""Follow / stop following a record (the button on the record page), and the user's choice
of whether notifications are also mailed (on the notifications page).

The button is loaded by htmx after the record page (`hx-trigger="load"`): the record page
is the busiest page there is, and who follows a record is not what it is opened for.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from flowdeck.engine import records, users, watchers
from flowdeck.views.auth import login_required, require_actor
from flowdeck.views.i18n import gettext as _
from flowdeck.views.lifecycle import entity_tables, is_htmx, render
from flowdeck.views.state import engine

bp = Blueprint("watching", __name__)


def _button(app: str, entity: str, record_id: int, state: dict[str, object]) -> Response:
    return render("records/_watch.html", app=app, entity=entity, record_id=record_id, watch=state)


@bp.route("/a/<app>/<entity>/<int:record_id>/watch", methods=["GET", "POST"])
@login_required
def watch(app: str, entity: str, record_id: int) -> Response:
    actor = require_actor()
    assert actor.user_id is not None
    et = entity_tables(app, entity, actor, "read")
    if request.method == "POST":
        following = request.form.get("follow") == "1"
        ids = engine().db.run(lambda conn: watchers.set_following(conn, et, record_id, actor=actor, following=following))
        if not is_htmx():
            return redirect(url_for("records.show", app=app, entity=entity, record_id=record_id), code=303)
        return _button(app, entity, record_id, {"following": actor.user_id in ids, "count": len(ids)})

    def read(conn: object) -> dict[str, object]:
        record = records.get_record(conn, et, record_id, actor=actor)  # type: ignore[arg-type]
        return watchers.following_state(conn, app, entity, record_id, actor.user_id, record.created_by)  # type: ignore[arg-type]

    return _button(app, entity, record_id, engine().db.read(read))


@bp.post("/account/notifications")
@login_required
def mail_choice() -> Response:
    actor = require_actor()
    assert actor.user_id is not None
    on = request.form.get("mail") == "1"
    engine().db.run(lambda conn: users.set_mail_notifications(conn, actor.user_id, on))
    flash(_("Notifications are also sent to you by mail.") if on else _("Notifications stay in the app; no mail."), "ok")
    return redirect(url_for("approvals.notification_list"), code=303)
