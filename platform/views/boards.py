"""Board pages: columns of cards, lazy column pages, and moving a card by dragging it.

`render_board` is called by the lists blueprint for views of type board. The engine
(`engine.boards`) reads the data and decides what a drop means; this module only parses
the request, renders, and answers the browser (`board.js`):

- a performed move answers 200 with out-of-band swaps of the two column headers (counts,
  WIP flags) and the card itself (new version);
- a refused move answers 4xx through `views.errors` (a toast with the reason); the
  browser puts the card back where it was;
- a move whose transition needs fields or a comment answers 200 with an
  `HX-Trigger: {"flowdeck:move-dialog": {"url": ...}}` naming the record page's
  transition dialog; the browser puts the card back and opens the dialog there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask import Blueprint, Response, abort, make_response, request, url_for
from flask_babel import get_timezone, ngettext
from markupsafe import Markup, escape
from sqlalchemy.engine import Connection
from werkzeug.datastructures import MultiDict

from flowdeck.engine import boards
from flowdeck.engine.boards import Board, CardFilter, ColumnData, Lane
from flowdeck.engine.errors import Conflict, NotFound
from flowdeck.engine.fieldtypes import ID_TYPES, types_in
from flowdeck.engine.permissions import Actor, can, hidden_by_state, hidden_everywhere, hidden_states
from flowdeck.engine.schema.loader import SYSTEM_FIELD_TYPES
from flowdeck.engine.schema.model import Field, Label, View
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.engine.viewtypes import BOARD, view_type
from flowdeck.views import approvals as approval_views
from flowdeck.views import listquery
from flowdeck.views.auth import login_required, require_actor
from flowdeck.views.display import DisplayContext, build_context, empty_group, show
from flowdeck.views.errors import error_response
from flowdeck.views.field_widgets import FIELD_WIDGETS
from flowdeck.views.i18n import gettext as _
from flowdeck.views.i18n import say, tr
from flowdeck.views.lifecycle import entity_tables, posted_version, render
from flowdeck.views.sla_badges import SlaMarks, page_statuses
from flowdeck.views.state import engine

bp = Blueprint("boards", __name__)

SELF_EXPLAINING = frozenset(name for name, w in FIELD_WIDGETS.items() if w.self_explaining)
"""Card values shown without their field's label (badges, names, titles)."""
ID_PLACEHOLDER = 987654321
"""Stands in for a record id when building one URL that every card then completes."""


# -- request parameters -----------------------------------------------------------------


BOARD_PARAMS = ("mine", "limit", "offset", "n")
"""Query-string names the board itself uses; every other name is a list-style filter."""


@dataclass(frozen=True)
class BoardParams:
    """The board's quick filters and size from the query string (or a move form).

    Filters use the list views' format (`views.listquery`): `q`, `priority=high`,
    `due_date__lte=today+7`, ... They narrow the cards on top of the view's own filter,
    which always applies (a board never shows what its view excludes). `mine=1` keeps
    the cards where any user field is the signed-in user; `limit=N` caps the whole board.
    """

    conditions: Mapping[str, Any] = field(default_factory=dict)
    q: str = ""
    mine: bool = False
    limit: int | None = None
    filter_query: str = ""
    messages: tuple[str, ...] = ()

    @classmethod
    def parse(cls, et: EntityTables, view: View, actor: Actor, args: MultiDict[str, str]) -> BoardParams:
        pairs = [(k, v) for k, v in args.items(multi=True) if k not in BOARD_PARAMS]
        parsed, problems = listquery.parse_args(pairs)
        parsed = replace(parsed, sort=(), cols=(), per_page=None, page=1)
        unfiltered = replace(view, filter={}, sort=())
        hidden = hidden_everywhere(et.entity, actor)
        # the engine leaves the view's own filter and sort on hidden fields out; say so
        _kept, notices = listquery.without_hidden(et.entity, view, hidden)
        spec = listquery.resolve(et.entity, unfiltered, parsed, hidden=hidden, tz=get_timezone())
        limit = _int(args.get("limit"), None)
        return cls(
            conditions=dict(spec.query.filter),
            q=spec.query.search or "",
            mine=args.get("mine") in ("1", "on", "true"),
            limit=None if limit is None else max(1, min(limit, boards.MAX_CARDS)),
            filter_query=listquery.to_query(spec.canonical),
            messages=(*notices, *problems, *spec.messages),
        )

    @property
    def cards(self) -> CardFilter:
        return CardFilter(search=self.q or None, mine=self.mine, conditions=self.conditions)

    def query(self, **extra: Any) -> str:
        """The filters (not the size) as a query string, for lazy pages and moves."""
        parts = [self.filter_query] if self.filter_query else []
        if self.mine:
            parts.append("mine=1")
        extras = {k: v for k, v in extra.items() if v is not None}
        if extras:
            parts.append(urlencode(extras))
        return "&".join(parts)


def _int(raw: str | None, default: int | None) -> int | None:
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        abort(400)


def board_view(et: EntityTables, key: str | None, actor: Actor) -> View:
    """The entity's board view named `key` as `actor` may see it, or NotFound (404)."""
    view = et.entity.view(key or "")
    if view is None or view_type(view) is not BOARD:
        raise NotFound(_('%(items)s have no board "%(key)s"', items=tr(et.entity.plural), key=key))
    return for_reader(et, view, actor)


def for_reader(et: EntityTables, view: View, actor: Actor) -> View:
    """A board never groups by a field hidden from the reader: its columns or lanes would
    tell the hidden values. Such a board is not offered to them (404); lanes by such a
    field are left out."""
    hidden = hidden_states(et.entity, actor)
    if boards.group_key(view) in hidden:
        raise NotFound(_('%(items)s have no board "%(key)s"', items=tr(et.entity.plural), key=view.key))
    return replace(view, swimlanes=None) if view.swimlanes in hidden else view


# -- what the templates need ------------------------------------------------------------


def _system_field(key: str) -> Field | None:
    kind = SYSTEM_FIELD_TYPES.get(key)
    if kind in ("user", "datetime"):
        return Field(key=key, type=kind, label=Label.of(None, key))
    return None


@dataclass
class BoardPage:
    """One board (or the columns a fragment redraws) as the templates draw it: data,
    display lookups and URLs built once per request, never per card."""

    et: EntityTables
    view: View
    board: Board
    ctx: DisplayContext
    params: BoardParams
    targets: Mapping[str | None, Sequence[str | None]]
    url: str = ""
    approvals: approval_views.CardMarks | None = None
    slas: SlaMarks | None = None
    hidden: Callable[[str | None], frozenset[str]] = lambda state: frozenset()
    """The fields hidden from the reader in a state: a card never shows them."""
    _lane_cards: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    _made: list[tuple[str, Callable[[Any], str]]] | None = None

    def __post_init__(self) -> None:
        entity = self.et.entity
        app, key = entity.app, entity.key
        self.title = entity.title
        self.href = url_for("records.show", app=app, entity=key, record_id=ID_PLACEHOLDER).replace(str(ID_PLACEHOLDER), "")
        self.move_url = url_for("boards.move", app=app, entity=key, record_id=ID_PLACEHOLDER).replace(str(ID_PLACEHOLDER), "{id}")
        self.fields = [(k, entity.field(k) or _system_field(k)) for k in self.view.card if k != entity.title]
        self.can_move = any(self.targets.values())
        self.lanes = self.board.lanes
        self._index = {c.token: i for i, c in enumerate(boards.board_columns(self.et, self.view, with_none=True))}
        if self.lanes is not None:
            self._split_lanes()

    def ci(self, data: ColumnData) -> int:
        """The column's position on the board: the same in the page and in fragments."""
        return self._index[data.column.token]

    def cards_html(self, cards: Sequence[Mapping[str, Any]], oob: bool = False) -> Markup:
        """The cards as list items, built in Python: a board holds hundreds of them, so
        the template loops over cells, not cards. The markup is minimal (page weight):
        drag handles and "Move to" buttons are added by board.js where moves are allowed.
        Each card field has its own renderer, made once per page (`_renderers`)."""
        href = str(escape(self.href))
        swap = ' hx-swap-oob="true"' if oob else ""
        title_key = self.title
        renderers = self._renderers()
        marks = self.approvals
        out = []
        for card in cards:
            record_id = int(card["id"])
            title = card.get(title_key)
            text = escape(title) if title is not None and title != "" else f"#{record_id}"
            secret = self.hidden(card.get("state"))
            values = " ".join([html for html in (render(card.get(key)) for key, render in renderers if key not in secret) if html])
            more = f"<p>{values}</p>" if values else ""
            if marks is not None:
                more += marks.html(record_id)
            if self.slas is not None:
                more += self.slas.html(record_id)
            out.append(f'<li id="k{record_id}" data-v="{int(card["version"])}"{swap}><a href="{href}{record_id}">{text}</a>{more}</li>')
        return Markup("".join(out))  # noqa: S704 -- every part above is escaped or an integer

    def _renderers(self) -> list[tuple[str, Callable[[Any], str]]]:
        """Per card field, a function from a value to its escaped HTML ("" for none). Values
        repeat a lot on a board (a few options, a few people), so each distinct one is
        rendered once per page."""
        if self._made is None:
            self._made = [(key, self._renderer(key, fld)) for key, fld in self.fields]
        return self._made

    def _renderer(self, key: str, fld: Field | None) -> Callable[[Any], str]:
        memo: dict[Any, str] = {}

        def render(value: Any) -> str:
            if value is None or value == "" or value == []:
                return ""
            memo_key = tuple(value) if isinstance(value, list) else value
            html = memo.get(memo_key)
            if html is None:
                html = memo[memo_key] = str(self._value(key, fld, value))
            return html

        return render

    def card_values(self, row: Mapping[str, Any]) -> str:
        """The card's field values as escaped HTML, empty ones left out."""
        return " ".join([html for html in (render(row.get(key)) for key, render in self._renderers()) if html])

    def _value(self, key: str, fld: Field | None, value: Any) -> Markup:
        if key == "state":
            return self._state(value)
        if key == "id":
            return escape(f"#{value}")
        if fld is None:
            return escape(str(value))
        if fld.value_type == "boolean":
            # a card flags what is true ("Blocked"); "Blocked: No" on every card is noise
            return Markup('<span class="flag">{}</span>').format(tr(fld.label)) if value else Markup("")
        html = show(fld, value, self.ctx)
        if html and fld.value_type not in SELF_EXPLAINING and not fld.options:
            return Markup('<span class="kv"><span class="k">{}</span> {}</span>').format(tr(fld.label), html)
        return html

    def _state(self, value: str | None) -> Markup:
        workflow = self.et.entity.workflow
        state = workflow.state(value or "") if workflow else None
        return Markup('<span class="badge">{}</span>').format(tr(state.label) if state else value or "")

    def movable(self, value: str | None) -> bool:
        return bool(self.targets.get(value))

    def to_attr(self, value: str | None) -> str:
        return " ".join(boards.NONE_TOKEN if v is None else v for v in self.targets.get(value, ()))

    # lanes

    def _split_lanes(self) -> None:
        assert self.view.swimlanes is not None
        key = self.view.swimlanes
        tokens = {lane.value: lane.token for lane in self.lanes or ()}
        for column in self.board.columns:
            for card in column.cards:
                token = tokens.get(card.get(key), boards.NONE_TOKEN)
                self._lane_cards.setdefault((token, column.column.token), []).append(card)
        fld = self.et.entity.get_field(key)
        if fld.value_type in types_in("user", "reference") and self.lanes:
            self.lanes.sort(key=lambda lane: (lane.value is None, str(self.lane_label(lane)).lower()))

    def lane_cards(self, lane: Lane, data: ColumnData) -> list[dict[str, Any]]:
        return self._lane_cards.get((lane.token, data.column.token), [])

    def lane_label(self, lane: Lane) -> Markup:
        assert self.view.swimlanes is not None
        fld = self.et.entity.get_field(self.view.swimlanes)
        if lane.value is None:
            return empty_group(fld)
        if fld.value_type == "user":
            return escape(self.ctx.users.get(lane.value, f"#{lane.value}"))
        if fld.value_type == "reference" and fld.to:
            return escape(self.ctx.refs.get((fld.to, lane.value), f"#{lane.value}"))
        return show(fld, lane.value, self.ctx)

    def cell_id(self, ci: int, lane: Lane | None) -> str:
        return f"c{ci}" if lane is None else f"c{ci}-{lane.token}"

    # columns

    def column_url(self, data: ColumnData, offset: int, n: int | None = None) -> str:
        entity = self.et.entity
        base = url_for("boards.column", app=entity.app, entity=entity.key, view=self.view.key, value=data.column.token)
        return f"{base}?{self.params.query(offset=offset, n=n)}"

    def wip_text(self, data: ColumnData) -> str:
        limit = data.column.wip
        if limit is None:
            return ""
        text = _("limit %(max)d, enforced", max=limit.max) if limit.enforce == "block" else _("limit %(max)d", max=limit.max)
        if data.scope_count != data.count:
            text += " · " + _("%(n)d in the column", n=data.scope_count)
        return text

    def wip_flag(self, data: ColumnData) -> str:
        status = data.wip
        if status == "over":
            return _("over its limit")
        if status == "full":
            return _("full")
        if status == "at":
            return _("at its limit")
        return ""


def _looked_up(et: EntityTables, key: str) -> bool:
    """Values whose display needs a lookup (names of users, titles of records, files)."""
    fld = et.entity.field(key)
    kind = fld.value_type if fld is not None else SYSTEM_FIELD_TYPES.get(key)
    return kind in ID_TYPES


def _distinct_values(board: Board, keys: Sequence[str], lane_key: str | None) -> dict[str, list[Any]]:
    """One row holding every distinct value of each card field (and the lanes): names
    are looked up per distinct value, and the display context needs no more than that."""
    values: dict[str, dict[Any, None]] = {key: {} for key in keys}
    for card in board.cards:
        for key in keys:
            value = card.get(key)
            if isinstance(value, list):
                values[key].update(dict.fromkeys(value))
            elif value is not None:
                values[key][value] = None
    if lane_key is not None:
        for lane in board.lanes or ():
            if lane.value is not None:
                values[lane_key][lane.value] = None
    return {key: list(found) for key, found in values.items()}


def _build_page(conn: Connection, et: EntityTables, view: View, board: Board, params: BoardParams, actor: Actor, url: str) -> BoardPage:
    """Look up names for all cards and lanes in one go, then wrap it all for the templates."""
    keys = [key for key in boards.card_keys(et, view) if _looked_up(et, key)]
    lane_key = view.swimlanes if view.swimlanes in keys else None
    ctx = build_context(conn, et, [_distinct_values(board, keys, lane_key)], keys)
    marks = approval_views.card_marks(conn, et, view.key, [card["id"] for card in board.cards], actor)
    targets = boards.move_targets(actor, et, view)
    slas = SlaMarks(page_statuses(conn, et, [card["id"] for card in board.cards])) if et.entity.slas else None
    hidden = hidden_by_state(et.entity, actor)
    return BoardPage(et, view, board, ctx, params, targets, url=url, approvals=marks, slas=slas, hidden=hidden)


# -- routes -----------------------------------------------------------------------------


def render_board(et: EntityTables, view: View, actor: Actor) -> Response:
    """The board page (the `board` block alone for htmx requests, e.g. the quick filters).

    `?limit=N` caps the cards on the whole board, split over the open columns; without
    it each column shows the view's page size. Columns page in more on scroll."""
    view = for_reader(et, view, actor)
    params = BoardParams.parse(et, view, actor, request.args)

    def read(conn: Connection) -> BoardPage:
        board = boards.load_board(conn, et, view, actor=actor, cards=params.cards, limit=params.limit)
        return _build_page(conn, et, view, board, params, actor, request.path)

    page = engine().db.read(read)
    return render("boards/board.html", block="board", page=page, can_create=can(actor, et.entity, "create"))


@bp.get("/a/<app>/<entity>/v/<view>/column/<value>")
@login_required
def column(app: str, entity: str, view: str, value: str) -> Response:
    """More cards of one column (`offset`), appended to its cells by out-of-band swaps;
    `offset=0` replaces the column (a folded column opened, a refresh after a move)."""
    actor = require_actor()
    et = entity_tables(app, entity, actor, "read")
    board_def = board_view(et, view, actor)
    target = boards.find_column(et, board_def, value)
    if target is None:
        raise NotFound(_('the board has no column "%(value)s"', value=value))
    params = BoardParams.parse(et, board_def, actor, request.args)
    offset = max(0, _int(request.args.get("offset"), 0) or 0)
    count = _int(request.args.get("n"), None) or board_def.page_size

    def read(conn: Connection) -> BoardPage:
        data, lanes = boards.load_column(
            conn, et, board_def, target, actor=actor, cards=params.cards, offset=offset, limit=min(max(1, count), boards.MAX_CARDS)
        )
        return _build_page(conn, et, board_def, Board(columns=[data], lanes=lanes, filtered=params.cards.active), params, actor, "")

    page = engine().db.read(read)
    return render("boards/column.html", page=page, col=page.board.columns[0], replace=offset == 0)


@bp.post("/a/<app>/<entity>/<int:record_id>/move")
@login_required
def move(app: str, entity: str, record_id: int) -> Response:
    """Drop a card on another column: form fields `view`, `to` (column), `version`, and
    `query`, the board's filters (so the counts sent back match what the user sees)."""
    actor = require_actor()
    et = entity_tables(app, entity, actor, "update")
    view = board_view(et, request.form.get("view"), actor)
    token = request.form.get("to", "")
    if boards.find_column(et, view, token) is None:
        raise NotFound(_('the board has no column "%(value)s"', value=token))
    target = None if token == boards.NONE_TOKEN else token
    version = posted_version()
    params = BoardParams.parse(et, view, actor, MultiDict(parse_qsl(request.form.get("query", "")[:4000], keep_blank_values=True)))

    def work(conn: Connection) -> BoardPage:
        moved = boards.move_card(conn, et, view, record_id, target, actor=actor, expected_version=version)
        return _moved_page(conn, et, view, moved, params, actor)

    try:
        page = engine().db.run(work)
    except boards.MoveNeedsInput as exc:
        url = url_for("records.transition", app=app, entity=entity, record_id=record_id, transition=exc.transition, board=view.key)
        response = make_response("", 200)
        response.headers["HX-Trigger"] = json.dumps({"flowdeck:move-dialog": {"url": url, "message": say(exc.message)}})
        return response
    except boards.MoveRefused as exc:
        return error_response(422, refusal_text(exc))
    except boards.MoveForbidden as exc:
        return error_response(403, refusal_text(exc))
    except Conflict:
        return error_response(409, _("This card was changed by someone else; the board now shows it as it is."))
    return render("boards/moved.html", page=page)


def refusal_text(exc: boards.MoveRefused | boards.MoveForbidden) -> str:
    """Why a drop was refused, in the user's language: the board's own words for the
    refusals it explains, else the engine's message."""
    details = exc.details
    if exc.reason == "no_transition":
        return _("There is no step from %(source)s to %(target)s.", source=tr(details["source"]), target=tr(details["target"]))
    if exc.reason == "forbidden":
        return _("You may not move this card from %(source)s to %(target)s.", source=tr(details["source"]), target=tr(details["target"]))
    if exc.reason == "wip":
        return ngettext(
            "%(column)s is at its limit of %(num)d card.",
            "%(column)s is at its limit of %(num)d cards.",
            details["max"],
            column=tr(details["column"]),
        )
    return say(exc.message)


def _moved_page(conn: Connection, et: EntityTables, view: View, moved: boards.Moved, params: BoardParams, actor: Actor) -> BoardPage:
    """The two columns' fresh counts and the moved card, for out-of-band swaps."""
    where = boards.board_where(et, view, actor, params.cards)
    touched = [c for c in boards.board_columns(et, view, with_none=True) if c.value in (moved.source, moved.target)]
    values = [c.value for c in touched]
    counts, capped = boards.capped_counts(conn, et, view, where, values)
    scope = counts if not params.cards.active else boards.capped_counts(conn, et, view, boards.scope_where(et, view, actor), values)[0]
    card = boards.load_cards(conn, et, view, moved.target, et.table.c.id == moved.record.id, limit=1)
    boards.attach_links(conn, et, view, card)
    data = [
        ColumnData(c, counts.get(c.value, 0), scope.get(c.value, 0), card if c.value == moved.target else [], capped=c.value in capped)
        for c in touched
    ]
    return _build_page(conn, et, view, Board(columns=data, filtered=params.cards.active), params, actor, "")
