"""The start page, the navigation, "My work" and the search across all records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, g, render_template, request
from markupsafe import Markup
from werkzeug.wrappers import Response

from flowdeck.engine import approvals
from flowdeck.engine.permissions import Actor, can, can_transition
from flowdeck.engine.query import Query, query_records
from flowdeck.engine.schema.model import App, Entity, View
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.views.auth import login_required, require_actor
from flowdeck.views.i18n import lang
from flowdeck.views.lifecycle import registry, render
from flowdeck.views.state import engine

bp = Blueprint("home", __name__)
SEARCH_LIMIT = 10
MY_WORK_LIMIT = 25


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


def _user_fields(entity: Entity) -> list[str]:
    return [f.key for f in entity.fields if f.type == "user"]


def _open_states(entity: Entity) -> list[str] | None:
    if entity.workflow is None:
        return None
    return list(entity.workflow.states_in({"todo", "doing"}))


def _my_states(entity: Entity, actor: Actor) -> list[str]:
    """States from which this actor can move a record on."""
    assert entity.workflow is not None
    return [s.key for s in entity.workflow.states if any(can_transition(actor, entity, t) for t in entity.workflow.transitions_from(s.key))]


@dataclass
class WorkList:
    et: EntityTables
    rows: list[dict[str, Any]]
    total: int


def _merged(pages: list[Any]) -> tuple[list[dict[str, Any]], int]:
    """Rows of several queries on one entity (one per user field), each record once, newest first."""
    rows: dict[int, dict[str, Any]] = {}
    for page in pages:
        for row in page.rows:
            rows.setdefault(row["id"], row)
    ordered = sorted(rows.values(), key=lambda r: r["updated_at"], reverse=True)[:MY_WORK_LIMIT]
    return ordered, max([len(rows), *(p.total for p in pages)])


def _work(actor: Actor) -> dict[str, list[WorkList]]:
    """Per entity: records waiting on me (approvals first, then open records assigned to me
    that I can move on), open records assigned to me (any user field), and what I created."""
    sections: dict[str, list[WorkList]] = {"waiting": [], "assigned": [], "created": []}
    db = engine().db
    assert actor.user_id is not None
    user_id = actor.user_id

    def run(conn: sa.Connection) -> None:
        approvals_by_entity: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for item in approvals.waiting_for(conn, user_id):
            row = item.request
            approvals_by_entity.setdefault((row.app, row.entity), []).append(
                {"id": row.record_id, "state": row.from_state, "snapshot": row.snapshot, "approval": True}
            )
        for et in readable_entities(actor):
            entity = et.entity
            open_states = _open_states(entity)
            base: dict[str, Any] = {"state": open_states} if open_states is not None else {}
            columns = [entity.title, "updated_at"]
            sort = ["-updated_at"]
            waiting_rows = [
                {**r, entity.title: r["snapshot"].get(entity.title)} for r in approvals_by_entity.get((entity.app, entity.key), [])
            ]
            assigned_pages, waiting_pages = [], []
            movable = _my_states(entity, actor) if entity.workflow is not None else []
            if open_states is not None:
                movable = [s for s in movable if s in open_states]
            for user_field in _user_fields(entity):
                query = Query(filter={**base, user_field: "$me"}, sort=sort, per_page=MY_WORK_LIMIT, columns=columns)
                assigned_pages.append(query_records(conn, et, query, actor=actor))
                if movable:
                    query = Query(filter={user_field: "$me", "state": movable}, sort=sort, per_page=MY_WORK_LIMIT, columns=columns)
                    waiting_pages.append(query_records(conn, et, query, actor=actor))
            rows, total = _merged(assigned_pages)
            if total:
                sections["assigned"].append(WorkList(et, rows, total))
            rows, total = _merged(waiting_pages)
            seen = {r["id"] for r in waiting_rows}
            waiting_rows += [r for r in rows if r["id"] not in seen]
            if waiting_rows:
                sections["waiting"].append(WorkList(et, waiting_rows[:MY_WORK_LIMIT], len(waiting_rows)))
            created = query_records(
                conn, et, Query(filter={**base, "created_by": "$me"}, sort=sort, per_page=MY_WORK_LIMIT, columns=columns), actor=actor
            )
            if created.total:
                sections["created"].append(WorkList(et, created.rows, created.total))

    db.read(run)
    return sections


@bp.get("/my")
@login_required
def my_work() -> Response:
    actor = require_actor()
    return render("my_work.html", sections=_work(actor))


@bp.get("/search")
@login_required
def search() -> Response:
    actor = require_actor()
    text = request.args.get("q", "").strip()[:200]
    results: list[WorkList] = []
    if text:

        def run(conn: sa.Connection) -> None:
            for et in readable_entities(actor):
                if not et.entity.search:
                    continue
                page = query_records(
                    conn, et, Query(search=text, sort=["-updated_at"], per_page=SEARCH_LIMIT, columns=[et.entity.title]), actor=actor
                )
                if page.total:
                    results.append(WorkList(et, page.rows, page.total))

        engine().db.read(run)
    return render("search.html", q=text, results=results)
