"""Chat channels for site admins: the WeCom, DingTalk and Feishu group bots notifications
can be posted to, each with its delivery log and a test message. Saving, posting and the
log go through `engine/channels`; the bot's address and secret never leave this page
unmasked once saved."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from flowdeck.engine.channels import store
from flowdeck.engine.channels.platforms import PLATFORMS
from flowdeck.engine.errors import RecordInvalid
from flowdeck.engine.messages import M
from flowdeck.views.auth import admin_required
from flowdeck.views.i18n import gettext as _
from flowdeck.views.i18n import say_errors
from flowdeck.views.lifecycle import render
from flowdeck.views.state import engine

bp = Blueprint("chat_admin", __name__, url_prefix="/admin/chat")
BLANK = {"key": "", "platform": "wecom", "url": "", "language": "zh", "per_minute": "20", "enabled": True}


def _form() -> dict[str, Any]:
    return {
        "key": request.form.get("key", "").strip(),
        "platform": request.form.get("platform", ""),
        "url": request.form.get("url", "").strip(),
        "language": request.form.get("language", ""),
        "per_minute": request.form.get("per_minute", "").strip(),
        "enabled": bool(request.form.get("enabled")),
    }


def _save(form: dict[str, Any], channel: store.Channel | None) -> int:
    """Save the posted form; an empty address or secret keeps the channel's stored one
    (neither is ever sent back to the browser)."""
    url = form["url"] or (channel.url if channel is not None else "")
    channel_id = channel.id if channel is not None else None
    per_minute = int(form["per_minute"]) if form["per_minute"].isdigit() else None
    hosts = current_app.config.get("FLOWDECK_CHAT_HOSTS") or ()
    return engine().db.run(
        lambda conn: store.save_channel(
            conn, key=form["key"], platform=form["platform"], url=url, secret=request.form.get("secret") or None,
            language=form["language"], per_minute=per_minute, enabled=form["enabled"], extra_hosts=hosts, channel_id=channel_id,
        )
    )  # fmt: skip


def _page(template: str, status: int = 200, **context: Any) -> Response:
    response = render(template, platforms=PLATFORMS, statuses=store.STATUSES, **context)
    response.status_code = status
    return response


@bp.route("/", methods=["GET", "POST"])
@admin_required
def index() -> Response:
    channels = engine().db.read(store.list_channels)
    if request.method == "GET":
        return _page("admin/chat_channels.html", channels=channels, form=BLANK, errors={})
    form = _form()
    try:
        channel_id = _save(form, None)
    except RecordInvalid as exc:
        return _page("admin/chat_channels.html", 422, channels=channels, form=form, errors=say_errors(exc.errors))
    flash(_("Channel “%(key)s” saved.", key=form["key"]), "ok")
    return redirect(url_for("chat_admin.show", channel_id=channel_id), code=303)


def _channel(channel_id: int) -> store.Channel:
    channel = engine().db.read(lambda conn: store.get_channel(conn, channel_id))
    if channel is None:
        abort(404)
    return channel


@bp.route("/<int:channel_id>", methods=["GET", "POST"])
@admin_required
def show(channel_id: int) -> Response:
    channel = _channel(channel_id)
    log = engine().db.read(lambda conn: store.deliveries(conn, channel_id))
    form = {"key": channel.key, "platform": channel.platform, "url": "", "language": channel.language}
    form.update(per_minute=str(channel.per_minute), enabled=channel.enabled)
    if request.method == "GET":
        return _page("admin/chat_channel.html", channel=channel, log=log, form=form, errors={})
    form = _form()
    try:
        _save(form, channel)
    except RecordInvalid as exc:
        return _page("admin/chat_channel.html", 422, channel=channel, log=log, form=form, errors=say_errors(exc.errors))
    flash(_("Channel “%(key)s” saved.", key=form["key"]), "ok")
    return redirect(url_for("chat_admin.show", channel_id=channel_id), code=303)


@bp.post("/<int:channel_id>/test")
@admin_required
def send_test(channel_id: int) -> Response:
    channel = _channel(channel_id)
    message = M("Test message from Flowdeck to the channel “%(key)s”", key=channel.key)
    engine().db.run(lambda conn: store.post(conn, channel.key, message, link=url_for("chat_admin.show", channel_id=channel_id)))
    flash(_("A test message is queued; its delivery shows below in a moment."), "ok")
    return redirect(url_for("chat_admin.show", channel_id=channel_id), code=303)


@bp.post("/<int:channel_id>/delete")
@admin_required
def delete(channel_id: int) -> Response:
    channel = _channel(channel_id)
    engine().db.run(lambda conn: store.delete_channel(conn, channel_id))
    flash(_("Channel “%(key)s” deleted.", key=channel.key), "ok")
    return redirect(url_for("chat_admin.index"), code=303)
