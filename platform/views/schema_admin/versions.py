"""An app's applied versions: the list, the differences between two, one version's
document and changes, and the review of a rollback (applied as a new version, after the
same questions as any change)."""

from __future__ import annotations

from flask import request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from flowdeck.engine import versions
from flowdeck.engine.errors import NotFound
from flowdeck.engine.messages import M
from flowdeck.engine.schema.model import Label
from flowdeck.views.auth import admin_required, require_actor
from flowdeck.views.lifecycle import registry, render
from flowdeck.views.schema_admin.blueprint import bp
from flowdeck.views.schema_admin.checking import check_text
from flowdeck.views.schema_admin.documents import current, document_text, version_document
from flowdeck.views.schema_admin.editor import EditorState, editor_page
from flowdeck.views.schema_admin.review import prepare_review, review_page
from flowdeck.views.state import engine


@bp.get("/<app>/versions")
@admin_required
def version_list(app: str) -> Response:
    now = current(app)
    listed = engine().db.read(lambda conn: versions.list_versions(conn, app))
    return render("schema_admin/versions.html", app=now, versions=list(reversed(listed)))


@bp.get("/<app>/versions/diff")
@admin_required
def version_diff(app: str) -> Response:
    now = current(app)
    listed = engine().db.read(lambda conn: versions.list_versions(conn, app))
    numbers = [v.version for v in listed]
    first = request.args.get("a", type=int)
    second = request.args.get("b", type=int)
    if first is None or second is None:
        first, second = (numbers[-2] if len(numbers) > 1 else numbers[-1]), numbers[-1]
    if first not in numbers or second not in numbers:
        raise NotFound(M('app "%(app)s" has no version %(version)s', app=app, version=first if first not in numbers else second))
    old, new = version_document(app, first), version_document(app, second)
    return render(
        "schema_admin/diff.html", app=now, versions=list(reversed(listed)), a=first, b=second, changes=versions.diff_documents(old, new)
    )


@bp.get("/<app>/versions/<int:number>")
@admin_required
def version(app: str, number: int) -> Response:
    now = current(app)
    listed = engine().db.read(lambda conn: versions.list_versions(conn, app))
    info = next((v for v in listed if v.version == number), None)
    if info is None:
        raise NotFound(M('app "%(app)s" has no version %(version)s', app=app, version=number))
    document = version_document(app, number)
    before = version_document(app, number - 1) if number > 1 else {}
    return render(
        "schema_admin/version.html",
        app=now,
        info=info,
        text=document_text(document),
        changes=versions.diff_documents(before, document),
        latest=number == now.version,
        entities=_entity_links(app) if number == now.version else [],
    )


def _entity_links(app: str) -> list[tuple[str, Label]]:
    """The app's entities (to go and see a change that was just applied)."""
    tables = registry().apps.get(app)
    return [(e.key, e.plural) for e in tables.app.entities] if tables is not None else []


@bp.get("/<app>/versions/<int:number>/rollback")
@admin_required
def rollback(app: str, number: int) -> Response:
    """The review of going back to version `number` (applied as a new version, after the
    same questions as any change)."""
    actor = require_actor()
    now = current(app)
    document = version_document(app, number)
    checked = check_text(document_text(document), app)
    if not checked.ok:
        state = EditorState(now, checked, now.version, "json", None)
        state.error = _("Version %(version)s's document has problems with this Flowdeck; fix them, then apply.", version=number)
        return editor_page(state, 422)
    return review_page(prepare_review(now, checked, actor, rollback_to=number))
