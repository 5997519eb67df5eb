"""An app's outgoing webhooks for its admins: the endpoints (new, edit, turn on and off,
rotate the secret, delete), the delivery log with filters, one delivery with what was sent
and answered, and Replay. Secrets are shown once, in the answer to the POST that made them
(never in a redirect's session), masked everywhere after.

URLs (blueprint `webhooks_admin`, prefix `/admin/apps/<app>/webhooks`):

    GET       /                          the app's endpoints and incoming hooks
    GET, POST /new                       a new endpoint (its secret shown once)
    GET, POST /<id>                      edit an endpoint
    POST      /<id>/rotate | enable | disable | delete
    GET       /deliveries                the log (?webhook=&status=&event=&page=)
    GET       /deliveries/<id>           one delivery
    POST      /deliveries/<id>/replay    send its stored body again
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from flowdeck.engine import clock, events
from flowdeck.engine.errors import NotFound
from flowdeck.engine.storage.tables import AppTables
from flowdeck.engine.webhooks import endpoints, incoming, listing, outgoing
from flowdeck.engine.webhooks.addresses import AddressPolicy
from flowdeck.views.auth import admin_required, require_actor
from flowdeck.views.i18n import gettext as _
from flowdeck.views.i18n import say_errors
from flowdeck.views.lifecycle import form_page, registry, render
from flowdeck.views.state import engine

bp = Blueprint("webhooks_admin", __name__, url_prefix="/admin/apps/<app>/webhooks")
PER_PAGE = 50


def app_tables(app: str) -> AppTables:
    """The installed app, or 404 (every route of an app's webhooks starts here)."""
    tables = registry().apps.get(app)
    if tables is None:
        abort(404)
    return tables


def policy() -> AddressPolicy:
    return AddressPolicy.from_settings(current_app.config)


def _form() -> dict[str, Any]:
    return {
        "url": request.form.get("url", ""),
        "description": request.form.get("description", ""),
        "kinds": request.form.getlist("events"),
        "entities": request.form.getlist("entities"),
    }


def _page(tables: AppTables, template: str, **context: Any) -> Response:
    return render(template, app=tables.app, entities=tables.entities, kinds=events.KINDS, **context)


@bp.get("/")
@admin_required
def index(app: str) -> Response:
    tables = app_tables(app)

    def load(conn: Any) -> tuple[Any, Any]:
        return endpoints.list_endpoints(conn, app), incoming.list_hooks(conn, app)

    found, hooks = engine().db.read(load)
    return _page(tables, "admin/webhooks.html", endpoints=found, hooks=hooks)


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def new(app: str) -> Response:
    tables = app_tables(app)
    form = {"url": "", "description": "", "kinds": list(events.KINDS)[:4], "entities": []}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = _form()
        try:
            endpoint_id, secret = engine().db.run(
                lambda conn: endpoints.create_endpoint(
                    conn, app, url=form["url"], description=form["description"], kinds=form["kinds"], entities=form["entities"],
                    known_entities=tables.entities, policy=policy(), actor_id=require_actor().user_id, now=clock.now(),
                )
            )  # fmt: skip
        except endpoints.EndpointInvalid as exc:
            errors = say_errors(exc.errors)
        else:
            endpoint = engine().db.read(lambda conn: endpoints.get_endpoint(conn, app, endpoint_id))
            return _page(tables, "admin/webhook_secret.html", endpoint=endpoint, secret=secret)
    return form_page(_page(tables, "admin/webhook_form.html", form=form, errors=errors, endpoint=None), errors)


def _endpoint(app: str, endpoint_id: int) -> endpoints.Endpoint:
    try:
        return engine().db.read(lambda conn: endpoints.get_endpoint(conn, app, endpoint_id))
    except NotFound:
        abort(404)


@bp.route("/<int:endpoint_id>", methods=["GET", "POST"])
@admin_required
def edit(app: str, endpoint_id: int) -> Response:
    tables = app_tables(app)
    endpoint = _endpoint(app, endpoint_id)
    form = {"url": endpoint.url, "description": endpoint.description, "kinds": endpoint.events, "entities": endpoint.entities}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = _form()
        try:
            engine().db.run(
                lambda conn: endpoints.update_endpoint(
                    conn, app, endpoint_id, url=form["url"], description=form["description"], kinds=form["kinds"],
                    entities=form["entities"], known_entities=tables.entities, policy=policy(), now=clock.now(),
                )
            )  # fmt: skip
        except endpoints.EndpointInvalid as exc:
            errors = say_errors(exc.errors)
        else:
            flash(_("The webhook is saved."), "ok")
            return redirect(url_for("webhooks_admin.edit", app=app, endpoint_id=endpoint_id), code=303)
    return form_page(_page(tables, "admin/webhook_form.html", form=form, errors=errors, endpoint=endpoint), errors)


@bp.post("/<int:endpoint_id>/rotate")
@admin_required
def rotate(app: str, endpoint_id: int) -> Response:
    tables = app_tables(app)
    _endpoint(app, endpoint_id)
    secret = engine().db.run(lambda conn: endpoints.rotate_secret(conn, app, endpoint_id, now=clock.now()))
    return _page(tables, "admin/webhook_secret.html", endpoint=_endpoint(app, endpoint_id), secret=secret)


@bp.post("/<int:endpoint_id>/<any(enable, disable):switch>")
@admin_required
def turn(app: str, endpoint_id: int, switch: str) -> Response:
    app_tables(app)
    _endpoint(app, endpoint_id)
    engine().db.run(lambda conn: endpoints.set_enabled(conn, app, endpoint_id, switch == "enable", now=clock.now()))
    flash(_("The webhook is on.") if switch == "enable" else _("The webhook is off."), "ok")
    return redirect(url_for("webhooks_admin.edit", app=app, endpoint_id=endpoint_id), code=303)


@bp.post("/<int:endpoint_id>/delete")
@admin_required
def delete(app: str, endpoint_id: int) -> Response:
    app_tables(app)
    _endpoint(app, endpoint_id)
    engine().db.run(lambda conn: endpoints.delete_endpoint(conn, app, endpoint_id))
    flash(_("The webhook and its deliveries are deleted."), "ok")
    return redirect(url_for("webhooks_admin.index", app=app), code=303)


@bp.get("/deliveries")
@admin_required
def deliveries(app: str) -> Response:
    tables = app_tables(app)
    status = request.args.get("status", "")
    event = request.args.get("event", "")
    endpoint_id = request.args.get("webhook", type=int)
    shown = {
        "status": status if status in listing.STATUS_NAMES else "",
        "event": event if event in events.KINDS else "",
        "webhook": endpoint_id or "",
    }
    page = max(1, request.args.get("page", 1, type=int) or 1)

    def load(conn: Any) -> tuple[Any, Any]:
        found = listing.search(
            conn, app, endpoint_id=endpoint_id, status=shown["status"], event_type=shown["event"], page=page, per_page=PER_PAGE
        )
        return found, endpoints.list_endpoints(conn, app)

    found, known = engine().db.read(load)
    return _page(
        tables, "admin/webhook_deliveries.html", block="results", found=found, shown=shown, statuses=listing.STATUS_NAMES, endpoints=known
    )


@bp.get("/deliveries/<int:delivery_id>")
@admin_required
def delivery(app: str, delivery_id: int) -> Response:
    tables = app_tables(app)
    row = engine().db.read(lambda conn: listing.get(conn, app, delivery_id))
    if row is None:
        abort(404)
    return _page(tables, "admin/webhook_delivery.html", delivery=row, statuses=listing.STATUS_NAMES)


@bp.post("/deliveries/<int:delivery_id>/replay")
@admin_required
def replay(app: str, delivery_id: int) -> Response:
    app_tables(app)
    again = engine().db.run(lambda conn: outgoing.replay(conn, app, delivery_id))
    if again is None:
        abort(404)
    flash(_("Delivery #%(id)s is queued: the same body, with the same webhook-id.", id=again), "ok")
    return redirect(url_for("webhooks_admin.delivery", app=app, delivery_id=again), code=303)
