"""The apps page and the editor: the current document (or an earlier version's, or the
text posted back from the review) with the visual builder, the JSON editor and its live
checks and hints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import jsonify, render_template, request
from sqlalchemy.engine import Connection
from werkzeug.wrappers import Response

from flowdeck.engine import models, versions
from flowdeck.engine.schema.model import Label
from flowdeck.views.auth import admin_required
from flowdeck.views.lifecycle import is_htmx, registry, render
from flowdeck.views.schema_admin.blueprint import TABS, bp
from flowdeck.views.schema_admin.checking import Checked, check_text, hints_html, summary, unchecked
from flowdeck.views.schema_admin.documents import Current, base_version, current, document_text, number, posted_text, version_document
from flowdeck.views.schema_admin.model import BuilderModel, builder_model
from flowdeck.views.state import engine


@dataclass
class EditorState:
    """What the editor page shows: the app, the checked text, the version it was edited
    from, the tab and entity shown, a notice or error, and the builder items left open."""

    app: Current
    checked: Checked
    base_version: int
    tab: str = "builder"
    entity: str | None = None
    notice: str | None = None
    error: str | None = None
    opened: frozenset[str] = frozenset()
    from_version: int | None = None

    @property
    def model(self) -> BuilderModel:
        return builder_model(self.checked.document, self.entity)

    def problems_at(self, path: str) -> list[str]:
        """The problems the checks found at `path` (shown next to the builder's input for it)."""
        return self.checked.problems_at(path)


def chosen_tab(raw: str | None) -> str:
    return raw if raw in TABS else "builder"


def posted_state(
    now: Current,
    *,
    text: str | None = None,
    tab: str | None = None,
    error: str | None = None,
    opened: frozenset[str] = frozenset(),
) -> EditorState:
    """The editor for the posted text (or `text`, the posted one changed), with the posted
    version, tab and entity."""
    shown = posted_text() if text is None else text
    chosen = chosen_tab(request.form.get("tab")) if tab is None else tab
    state = EditorState(now, check_text(shown, now.key), base_version(now), chosen, request.form.get("entity") or None, opened=opened)
    state.error = error
    return state


def editor_page(state: EditorState, status: int = 200) -> Response:
    """The editor page (its editor block for htmx, which always gets 200 to swap it in)."""
    response = render("schema_admin/editor.html", block="editor", state=state, model=state.model, summary=summary(state.checked))
    response.status_code = 200 if is_htmx() else status
    return response


@bp.get("/")
@admin_required
def index() -> Response:
    def load(conn: Connection) -> list[dict[str, Any]]:
        a, v, u = models.apps, models.app_versions, models.users
        rows = conn.execute(
            sa.select(a.c.key, a.c.source, a.c.version, v.c.created_at, v.c.reason, v.c.message, u.c.display_name, u.c.username)
            .select_from(a.join(v, (v.c.app == a.c.key) & (v.c.version == a.c.version)).outerjoin(u, u.c.id == v.c.author_id))
            .order_by(a.c.key)
        ).all()
        return [{**row._mapping, "message": versions.why(row.reason, row.message)} for row in rows]

    rows = engine().db.read(load)
    installed = registry().apps
    for row in rows:
        tables = installed.get(row["key"])
        row["label"] = tables.app.label if tables is not None else Label.of(None, row["key"])
    return render("schema_admin/index.html", apps=rows)


@bp.route("/<app>/edit", methods=["GET", "POST"])
@admin_required
def edit(app: str) -> Response:
    """The editor with the current document, an earlier version's (`?version=N`), or the
    posted text (coming back from the review page)."""
    now = current(app)
    if request.method == "POST":
        return editor_page(posted_state(now))
    version = request.args.get("version", type=int)
    document = now.document if version is None else version_document(app, version)
    state = EditorState(
        now, check_text(document_text(document), app), now.version, chosen_tab(request.args.get("tab")), request.args.get("entity")
    )
    if version is not None and version != now.version:
        state.from_version = version
    return editor_page(state)


@bp.post("/<app>/check")
@admin_required
def check(app: str) -> Response:
    """Live validation: the problems of the posted text with their lines, and the hints at
    the cursor (`cursor`: a character offset)."""
    current(app)  # 404 for an unknown app
    checked = check_text(posted_text(), app)
    path, hints = hints_html(checked, number(request.form.get("cursor")))
    return jsonify(
        ok=checked.ok,
        count=len(checked.problems),
        summary=summary(checked),
        problems=checked.problems_json(),
        html=render_template("schema_admin/_problems.html", checked=checked),
        path=path,
        hints=hints,
    )


@bp.post("/<app>/hints")
@admin_required
def hints(app: str) -> Response:
    """The meta-schema's hints for the cursor's place (no validation)."""
    current(app)
    path, html = hints_html(unchecked(posted_text()), number(request.form.get("cursor")) or 0)
    return jsonify(path=path, hints=html)
