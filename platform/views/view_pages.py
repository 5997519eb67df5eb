"""The web side of the view type registry: for each view type of `engine.viewtypes`, its
page and its builder form. The entity's view routes (`lists.entity_index`, `lists.view`)
live here because they only dispatch: a view is shown by the page of its type.

`tests/web/test_view_pages.py` fails when a view type has no entry here, or an entry
names a builder form or template that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import request
from werkzeug.wrappers import Response as BaseResponse

from flowdeck.engine.permissions import Actor
from flowdeck.engine.schema.model import View
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.engine.viewtypes import BOARD, LIST, ViewType, view_type
from flowdeck.views import boards, listquery, lists, view_builder
from flowdeck.views.auth import login_required, require_actor
from flowdeck.views.lifecycle import entity_tables

if TYPE_CHECKING:
    from flowdeck.views.schema_admin.model import BuilderModel


@dataclass(frozen=True)
class ViewPage:
    """How one view type shows on the web.

    `render` draws the page of a view of this type (htmx requests get the block they
    swap). `builder` is the template of the type's section in the visual builder (its
    views, each editable, and the form adding one); `forms` the builder forms it posts
    (names in `schema_admin.forms.FORMS`); `read` adds a view's row to the builder model.
    `previewed` says whether the schema editor's preview draws a sample of it.
    """

    kind: ViewType
    render: Callable[[EntityTables, View, Actor], BaseResponse]
    builder: str
    forms: tuple[str, ...]
    read: Callable[[BuilderModel, str, Mapping[str, Any]], None]
    previewed: bool = False


def _list_page(et: EntityTables, view: View, actor: Actor) -> BaseResponse:
    return lists.render_list(et, view, actor, request.args.items(multi=True), request.path)


def _board_page(et: EntityTables, view: View, actor: Actor) -> BaseResponse:
    return boards.render_board(et, view, actor)


VIEW_PAGES: dict[str, ViewPage] = {
    page.kind.name: page
    for page in (
        ViewPage(LIST, _list_page, "schema_admin/builder/_lists.html", ("add_list", "set_list"), view_builder.read_list),
        ViewPage(
            BOARD, _board_page, "schema_admin/builder/_boards.html", ("add_board", "set_board"), view_builder.read_board, previewed=True
        ),
    )
}
"""Every view type's web entry, in the order of `engine.viewtypes.VIEW_TYPES`."""


def page_of(view: View) -> ViewPage:
    return VIEW_PAGES[view_type(view).name]


# -- the routes showing a view ------------------------------------------------------------


@lists.bp.get("/a/<app>/<entity>/", strict_slashes=False)
@login_required
def entity_index(app: str, entity: str) -> BaseResponse:
    """The entity's first view, or a generated list when its document defines none."""
    actor = require_actor()
    et = entity_tables(app, entity, actor)
    view = et.entity.views[0] if et.entity.views else listquery.default_view(et.entity)
    return page_of(view).render(et, view, actor)


@lists.bp.get("/a/<app>/<entity>/v/<view>")
@login_required
def view(app: str, entity: str, view: str) -> BaseResponse:
    actor = require_actor()
    et = entity_tables(app, entity, actor)
    shown = lists.schema_view(et.entity, view)
    return page_of(shown).render(et, shown, actor)
