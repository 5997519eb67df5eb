"""The preview: the create form and a board of one entity, drawn from the posted (unapplied)
text with sample values. Nothing is read from or written to the entity's table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from flask import g, request
from flask_babel import gettext as _
from markupsafe import Markup
from werkzeug.wrappers import Response

from flowdeck.engine import boards as board_engine
from flowdeck.engine import clock, records, users
from flowdeck.engine.computed import compute_values
from flowdeck.engine.fieldtypes import types_in
from flowdeck.engine.permissions import Actor
from flowdeck.engine.schema.loader import load_app
from flowdeck.engine.schema.model import App, Entity, Field, View
from flowdeck.engine.storage.tables import EntityTables, build_app_tables
from flowdeck.forms import webforms
from flowdeck.views.auth import admin_required, require_actor
from flowdeck.views.boards import BoardPage, BoardParams
from flowdeck.views.display import DisplayContext
from flowdeck.views.field_widgets import FIELD_WIDGETS, widget
from flowdeck.views.i18n import lang
from flowdeck.views.lifecycle import render
from flowdeck.views.record_forms import FormPage, timezone
from flowdeck.views.schema_admin.blueprint import bp
from flowdeck.views.schema_admin.checking import check_text, summary
from flowdeck.views.schema_admin.documents import current, posted_text
from flowdeck.views.state import engine
from flowdeck.views.view_pages import page_of


def sample_value(fld: Field, actor: Actor, title: str | None = None) -> Any:
    """A plausible value for a preview card (None for kinds a sample cannot show)."""
    kind = fld.value_type
    value: Any = None
    if title is not None:
        value = title
    elif kind in types_in("choice") and fld.options:
        value = fld.options[0].key
    elif kind == "user":
        value = actor.user_id
    elif (sample := widget(kind).sample) is not None:
        value = sample()
    if value is not None and fld.is_many:
        value = [value]
    return value


PREVIEW_LANES = 3
"""At most this many swimlanes in a preview (the first values of the lane field)."""


@dataclass
class PreviewLane:
    """A swimlane of a preview: one sample value of the lane field, its cards by column."""

    label: str
    cells: dict[str | None, list[dict[str, Any]]]

    @property
    def count(self) -> int:
        return sum(len(cards) for cards in self.cells.values())


@dataclass
class PreviewBoard:
    """A board drawn from an unapplied document: its columns, one sample card each (one
    per lane in each column when the view has swimlanes)."""

    page: BoardPage
    view: View
    lanes: list[PreviewLane] | None = None

    @property
    def lane_name(self) -> str:
        """The label of the field the lanes are by."""
        fld = self.page.et.entity.field(self.view.swimlanes or "")
        return fld.label.get(lang()) if fld is not None else self.view.swimlanes or ""

    def cards(self, column: board_engine.ColumnData) -> list[Markup]:
        return [self.card(card) for card in column.cards]

    def lane_cards(self, lane: PreviewLane, column: board_engine.ColumnData) -> list[Markup]:
        return [self.card(card) for card in lane.cells.get(column.column.value, [])]

    def card(self, card: Mapping[str, Any]) -> Markup:
        title = card.get(self.page.title) or ""
        values = self.page.card_values(card)  # escaped HTML, built by the board page
        more = Markup("<p>{}</p>").format(Markup(values)) if values else Markup("")  # noqa: S704
        return Markup('<span class="title">{}</span>{}').format(title, more)


def sample_lanes(app_model: App | None, entity: Entity, view: View, actor: Actor) -> list[tuple[Any, str]]:
    """The lanes a preview draws: (value, label) for the first values of the lane field (its
    options, yes and no, the admin, a sample record of the entity it links to)."""
    fld = entity.field(view.swimlanes or "")
    if fld is None:
        return []
    if fld.value_type == "select":
        return [(o.key, o.label.get(lang())) for o in fld.options[:PREVIEW_LANES]]
    if fld.value_type == "boolean":
        return [(True, _("Yes")), (False, _("No"))]
    if fld.value_type == "user":
        name = g.user.display_name if g.get("user") is not None else actor.username
        return [(actor.user_id, name)]
    if fld.value_type == "reference":
        target = app_model.entity(fld.to or "") if app_model is not None else None
        return [(None, _("Sample %(what)s", what=target.label.get(lang()) if target is not None else fld.to))]
    return []


def preview_board(et: EntityTables, view: View, actor: Actor, app_model: App | None = None) -> PreviewBoard:
    entity = et.entity
    title = _("Sample %(what)s", what=entity.label.get(lang()))
    lanes = sample_lanes(app_model, entity, view, actor) if view.swimlanes else []
    shown_lanes = [PreviewLane(label, {}) for _value, label in lanes]
    columns = []
    for column in board_engine.board_columns(et, view, with_none=False):
        cards = []
        for lane_value, _label in lanes or [(None, "")]:
            card: dict[str, Any] = {"id": 0, "version": 1, "state": None}
            for key in [*view.card, entity.title]:
                fld = entity.field(key)
                if key == "state":
                    card["state"] = column.value if view.group_by == "state" else (entity.workflow.initial if entity.workflow else None)
                elif fld is not None:
                    card[key] = sample_value(fld, actor, title if key == entity.title else None)
            if view.group_by and view.group_by != "state":
                card[view.group_by] = column.value
            if lanes and view.swimlanes:
                card[view.swimlanes] = lane_value  # a reference lane's cards link to no record: no value to show
            cards.append(card)
        for lane, card in zip(shown_lanes, cards, strict=False):
            lane.cells[column.value] = [card]
        columns.append(board_engine.ColumnData(column, len(cards), len(cards), cards))
    board = board_engine.Board(columns=columns)
    name = g.user.display_name if g.get("user") is not None else actor.username
    ctx = DisplayContext(app=entity.app, users={actor.user_id: name} if actor.user_id is not None else {})
    page = BoardPage(et, replace_swimlanes(view), board, ctx, BoardParams(), {}, approvals=None)
    return PreviewBoard(page, view, shown_lanes or None)


def replace_swimlanes(view: View) -> View:
    """The board page draws the columns; the preview draws its sample lanes itself."""
    return replace(view, swimlanes=None)


def preview_form(et: EntityTables, actor: Actor) -> FormPage:
    """The create form as a new record shows it, without touching the database."""
    entity = et.entity
    now = clock.now()
    state = entity.workflow.initial if entity.workflow else None
    typed = records.default_values(entity, actor, clock.today(now))
    system = {"id": None, "state": state, "me": actor.user_id, "created_at": now, "created_by": actor.user_id}
    system.update(updated_at=now, updated_by=actor.user_id)
    compute_values(entity, typed, system)
    access = records.access_for(entity, state, actor)
    values = webforms.input_values(entity, typed, tz=timezone())
    states = webforms.field_states(entity, typed, system, access)
    people = engine().db.read(lambda conn: users.list_users(conn, active_only=True))
    return FormPage(webforms.form_sections(entity, access, FIELD_WIDGETS), values, typed, states, DisplayContext(app=entity.app), people)


@bp.post("/<app>/preview")
@admin_required
def preview(app: str) -> Response:
    """The create form and a board of one entity, drawn from the posted (unapplied) text.
    Nothing is written; the board shows one sample card per column."""
    actor = require_actor()
    now = current(app)
    checked = check_text(posted_text(), app)
    context: dict[str, Any] = {"state_app": now, "checked": checked, "summary": summary(checked)}
    if checked.ok and checked.document is not None:
        loaded = load_app(checked.document)
        tables = build_app_tables(loaded)
        entity = loaded.entity(request.form.get("entity") or "") or loaded.entities[0]
        et = tables.entities[entity.key]
        boards_ = [v for v in entity.views if page_of(v).previewed]
        chosen = next((v for v in boards_ if v.key == request.form.get("view")), boards_[0] if boards_ else None)
        context.update(
            app_model=loaded,
            entity=entity,
            page=preview_form(et, actor),
            errors={},
            board=preview_board(et, chosen, actor, loaded) if chosen is not None else None,
            board_views=boards_,
        )
    return render("schema_admin/preview.html", block="preview", **context)
