"""The start page, the navigation, "My work" and the search across all records (what
they hold is worked out by `engine.worklists`)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Flask, g, render_template, request
from markupsafe import Markup
from werkzeug.wrappers import Response

from flowdeck.engine import worklists
from flowdeck.engine.permissions import Actor, can
from flowdeck.engine.schema.model import App, Entity, View
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.views.auth import login_required, require_actor
from flowdeck.views.i18n import lang
from flowdeck.views.lifecycle import registry, render
from flowdeck.views.state import engine

bp = Blueprint("home", __name__)


@dataclass(frozen=True)
class NavApp:
    app: App
    entities: list[tuple[Entity, tuple[View, ...]]]


def nav_apps() -> list[NavApp]:
    """The apps, entities and views the signed-in user may read (cached per request)."""
    cached = g.get("_nav")
    if cached is not None:
        return cached
    actor = g.get("actor")
    items: list[NavApp] = []
    if actor is not None:
        for tables in registry().apps.values():
            if not actor.in_app(tables.app.key):
                continue
            entities = [(et.entity, et.entity.views) for et in tables.entities.values() if can(actor, et.entity, "read")]
            if entities:
                items.append(NavApp(tables.app, entities))
    g._nav = items
    return items


SIDEBARS_KEPT = 512
"""Rendered sidebars kept per registry (role sets × languages × current pages)."""


def sidebar() -> Markup:
    """The sidebar's HTML (`_sidebar.html`), rendered once per schema generation, set of
    roles, language and current app/entity/view, then reused: it is the same on every page
    of a view for everyone holding the same roles."""
    actor = g.get("actor")
    if actor is None:
        return Markup("")
    reg = registry()
    args = request.view_args or {}
    roles = tuple(sorted((app, tuple(sorted(held))) for app, held in actor.roles.items()))
    key = ("sidebar", actor.is_admin, roles, lang(), request.script_root, args.get("app"), args.get("entity"), args.get("view"))
    found = reg.memo.get(key)
    if found is None:
        if len(reg.memo) > SIDEBARS_KEPT:
            reg.memo.clear()
        found = reg.memo[key] = Markup(render_template("_sidebar.html"))  # noqa: S704 -- a rendered (escaped) template
    return found  # type: ignore[return-value]


def init_app(app: Flask) -> None:
    app.jinja_env.globals["nav_apps"] = nav_apps
    app.jinja_env.globals["sidebar"] = sidebar


def readable_entities(actor: Actor) -> list[EntityTables]:
    return [et for tables in registry().apps.values() for et in tables.entities.values() if can(actor, et.entity, "read")]


@bp.get("/")
@login_required
def index() -> Response:
    return render("home.html", apps=nav_apps())


@bp.get("/my")
@login_required
def my_work() -> Response:
    actor = require_actor()
    sections = engine().db.read(lambda conn: worklists.my_work(conn, readable_entities(actor), actor))
    return render("my_work.html", sections=sections)


@bp.get("/search")
@login_required
def search() -> Response:
    actor = require_actor()
    text = request.args.get("q", "").strip()[:200]
    results: list[worklists.WorkList] = []
    if text:
        results = engine().db.read(lambda conn: worklists.search_all(conn, readable_entities(actor), actor, text))
    return render("search.html", q=text, results=results)
