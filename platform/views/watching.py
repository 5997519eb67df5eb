"""Follow / stop following a record (the button on the record page), and the user's choice
of how notifications are mailed (on the notifications page): immediately, in a daily digest
at their time, or not at all, with quiet hours and their time zone (`engine/mailprefs.py`).

The button is loaded by htmx after the record page (`hx-trigger="load"`): the record page
is the busiest page there is, and who follows a record is not what it is opened for.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from flowdeck.engine import mailprefs, records, watchers
from flowdeck.engine.errors import RecordInvalid
from flowdeck.engine.mailprefs import MailPrefs
from flowdeck.views.auth import login_required, require_actor
from flowdeck.views.i18n import gettext as _
from flowdeck.views.i18n import say
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


def _time_or_wrong(text: str | None) -> int:
    """A typed time; -1 (refused by `check` as no time of day) when it is empty or not one."""
    found = mailprefs.parse_time(text)
    return -1 if found is None else found


def _choice(form: Any) -> MailPrefs:
    """The form's choice; an unreadable time stays out of range so `check` names it."""
    delivery = form.get("delivery") or ("immediate" if form.get("mail") == "1" else "off")
    quiet = form.get("quiet") == "1"
    digest_at = mailprefs.parse_time(form.get("digest_at"))
    return MailPrefs(
        delivery=delivery,
        digest_at=mailprefs.DEFAULT_DIGEST_AT if digest_at is None and delivery != "digest" else (-1 if digest_at is None else digest_at),
        quiet_from=_time_or_wrong(form.get("quiet_from")) if quiet else None,
        quiet_to=_time_or_wrong(form.get("quiet_to")) if quiet else None,
        quiet_weekends=form.get("quiet_weekends") == "1",
        time_zone=(form.get("time_zone") or "").strip() or None,
    )


def _saved(delivery: str) -> str:
    if delivery == "digest":
        return _("You get one mail a day with your unread notifications.")
    if delivery == "off":
        return _("Notifications stay in the app; no mail.")
    return _("Notifications are also sent to you by mail.")


@bp.post("/account/notifications")
@login_required
def mail_choice() -> Response:
    """Save how and when the user's notification mail goes (immediately, a daily digest, off;
    quiet hours; time zone); a refused choice comes back on the page beside its fields."""
    actor = require_actor()
    assert actor.user_id is not None
    choice = _choice(request.form)
    try:
        engine().db.run(lambda conn: mailprefs.save(conn, actor.user_id, choice))
    except RecordInvalid as exc:
        from flowdeck.views.approvals import notifications_page

        errors = {key: [say(m) for m in messages] for key, messages in exc.errors.items()}
        return notifications_page(actor.user_id, choice, errors, status=400, quiet_on=request.form.get("quiet") == "1")
    flash(_saved(choice.delivery), "ok")
    return redirect(url_for("approvals.notification_list"), code=303)
