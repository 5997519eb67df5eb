"""List pages: a view's records as a sortable, filterable, paginated table, its CSV
export, and the user's personal saved views.

The URL holds the list's whole state (format in `views.listquery`). One request runs one
read transaction with a fixed number of statements whatever the page size: the count,
the page (only the shown columns), one per many-valued column, one per kind of name the
cells refer to (users, referenced titles, files), the user list for the filter bar and the
saved views. Cells are built in Python with `display.show` and joined per row, so the
template loops over rows, not cells. Sorting, paging and filtering swap only the results
block over htmx; the server answers with the canonical URL to push (`HX-Push-Url`).
The routes showing a view of any type are in `views.view_pages` (list views come here).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, Response, redirect, request, url_for
from flask_babel import format_decimal, get_timezone
from markupsafe import Markup, escape
from sqlalchemy.engine import Connection
from werkzeug.wrappers import Response as BaseResponse

from flowdeck.engine import clock, saved_views, users
from flowdeck.engine.errors import NotFound, RecordInvalid
from flowdeck.engine.fieldtypes import types_in
from flowdeck.engine.messages import M, Message
from flowdeck.engine.permissions import Actor, can, hidden_by_state, hidden_everywhere
from flowdeck.engine.query import Page, query_records, query_up_to
from flowdeck.engine.schema.model import Entity, Field, Label, View
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.views import audit_log, listbar, listquery, sla_badges
from flowdeck.views.auth import login_required, require_actor
from flowdeck.views.display import DisplayContext, badge, build_context, show
from flowdeck.views.field_widgets import FIELD_WIDGETS, widget
from flowdeck.views.home import nav_apps
from flowdeck.views.i18n import gettext as _
from flowdeck.views.i18n import lang, say_errors, tr
from flowdeck.views.lifecycle import entity_tables, is_htmx, render
from flowdeck.views.listquery import ListArgs, ListSpec
from flowdeck.views.state import engine

bp = Blueprint("lists", __name__)

EXPORT_LIMIT = 10_000
COUNT_LIMIT = 10_000
"""A list counts its matches up to here ("1–50 of 10,000+"): beyond, counting costs more
than the page (a million records on PostgreSQL), and the pages are reached by sorting
and filtering, not by paging through them."""
PER_PAGE_CHOICES = (25, 50, 100, 200)
_SENTINEL = 9_007_199_254_740_993
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^-?\d[\d,]*(\.\d+)?%?$")
_UNLINKABLE_TITLES = frozenset(name for name, w in FIELD_WIDGETS.items() if w.links)


# -- routes -------------------------------------------------------------------------------


@bp.get("/a/<app>/<entity>/export.csv")
@login_required
def export_csv(app: str, entity: str) -> BaseResponse:
    """The list exactly as shown (filters, search, sort, columns, displayed text), every
    page up to EXPORT_LIMIT rows, as UTF-8 CSV with a BOM so that Excel reads Chinese."""
    actor = require_actor()
    et = entity_tables(app, entity, actor)
    key = request.args.get("view", "")
    view = schema_view(et.entity, key) if key else listquery.default_view(et.entity)
    args, _problems = listquery.parse_args(request.args.items(multi=True))
    spec = listquery.resolve(et.entity, view, args, hidden=hidden_everywhere(et.entity, actor), tz=get_timezone())
    rows, total, ctx = engine().db.read(lambda conn: _export_rows(conn, et, spec, actor))
    columns = _columns(et.entity, spec.columns)
    body = _csv(et.entity, columns, rows, ctx, hidden_by_state(et.entity, actor))
    name = "-".join(part for part in (app, entity, view.key, clock.today().isoformat()) if part)
    response = Response(body.encode("utf-8"), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    response.headers["Cache-Control"] = "no-store"
    if total > EXPORT_LIMIT:
        response.headers["X-Flowdeck-Export-Truncated"] = f"{EXPORT_LIMIT} of {total}"
    audit_log.log(
        "records.exported",
        M("exported %(count)s records of %(entity)s as CSV", count=len(rows), entity=et.entity.label),
        target=f"{app}/{entity}",
    )
    return response


@bp.post("/a/<app>/<entity>/saved-views")
@login_required
def save_view(app: str, entity: str) -> BaseResponse:
    """Save the list's current settings as the user's own view (same name: replaced)."""
    actor = require_actor()
    et = entity_tables(app, entity, actor)
    key = request.form.get("view", "")
    view = schema_view(et.entity, key) if key else listquery.default_view(et.entity)
    pairs = parse_qsl(request.form.get("query", "")[: saved_views.MAX_QUERY], keep_blank_values=True)
    args, _problems = listquery.parse_args(pairs)
    spec = listquery.resolve(et.entity, view, args, hidden=hidden_everywhere(et.entity, actor), tz=get_timezone())
    query = listquery.to_query(replace(spec.canonical, page=1))
    name = request.form.get("name", "")
    try:
        saved = engine().db.run(lambda conn: saved_views.save_view(conn, app, entity, name, view=view.key, query=query, actor=actor))
    except RecordInvalid as exc:
        message = "; ".join(said for messages in say_errors(exc.errors).values() for said in messages)
        response = render_list(et, view, actor, pairs, _base_url(et.entity, view.key), save_error=message, save_name=name)
        response.status_code = 422
        return response
    return redirect(_saved_url(et.entity, saved), 303)


@bp.post("/a/<app>/<entity>/saved-views/<int:saved_id>/delete")
@login_required
def delete_view(app: str, entity: str, saved_id: int) -> BaseResponse:
    """Delete one of the user's own saved views (another user's id answers 404)."""
    actor = require_actor()
    et = entity_tables(app, entity, actor)
    saved = engine().db.run(lambda conn: saved_views.delete_saved_view(conn, saved_id, actor=actor))
    target = request.form.get("next", "")
    if not target.startswith("/") or target.startswith("//") or "\\" in target or target == _saved_url(et.entity, saved):
        target = _base_url(et.entity, saved.view)
    return redirect(target, 303)


# -- the list page ------------------------------------------------------------------------


def schema_view(entity: Entity, key: str) -> View:
    """The view `key` of the entity, whatever its type, or NotFound (404)."""
    found = entity.view(key)
    if found is None:
        raise NotFound(_('%(items)s have no view "%(key)s"', items=tr(entity.plural), key=key))
    return found


@dataclass(frozen=True)
class Loaded:
    page: Page
    ctx: DisplayContext
    people: list[tuple[int, str]]
    saved: list[saved_views.SavedView]
    problem: str | None = None


def _load(conn: Connection, et: EntityTables, spec: ListSpec, actor: Actor) -> Loaded:
    problem = None
    query = replace(spec.query, count_limit=COUNT_LIMIT)
    try:
        page = query_records(conn, et, query, actor=actor)
    except RecordInvalid as exc:
        problem = _problems(et.entity, exc.errors)
        page = query_records(conn, et, replace(query, filter=dict(spec.view.filter), search=None), actor=actor)
    if page.rows == [] and page.total and page.page > page.pages:
        page = query_records(conn, et, replace(query, page=page.pages), actor=actor)
    ctx = build_context(conn, et, page.rows, keys=spec.columns)
    if any(f.sla for f in et.entity.fields if f.key in spec.columns):
        ctx.slas = sla_badges.page_statuses(conn, et, [r["id"] for r in page.rows])
    people = [(u.id, u.display_name) for u in users.list_users(conn, active_only=True)]
    saved = saved_views.list_saved_views(conn, et.entity.app, et.entity.key, actor=actor)
    return Loaded(page=page, ctx=ctx, people=people, saved=saved, problem=problem)


def _problems(entity: Entity, errors: Mapping[str, Sequence[Message | str]]) -> str:
    """A refused query's problems, each after its field's label ("Due: must be a date")."""
    parts = []
    for key, said in say_errors(errors).items():
        fld = entity.field(key)
        parts.append(_("%(field)s: %(problem)s", field=tr(fld.label) if fld is not None else key, problem=", ".join(said)))
    return "; ".join(parts)


def render_list(
    et: EntityTables,
    view: View,
    actor: Actor,
    pairs: Iterable[tuple[str, str]],
    base: str,
    *,
    save_error: str | None = None,
    save_name: str = "",
) -> Response:
    """The list page (the results block alone for htmx) for the settings in `pairs`; its
    links lead to `base` (the address the list is shown at) with canonical arguments."""
    entity = et.entity
    args, problems = listquery.parse_args(pairs)
    hidden = hidden_everywhere(entity, actor)
    spec = listquery.resolve(entity, view, args, hidden=hidden, tz=get_timezone())
    loaded = engine().db.read(lambda conn: _load(conn, et, spec, actor))
    page = loaded.page
    links = listbar.Links(base, spec)
    columns = _columns(entity, spec.columns)
    people = dict(loaded.people)
    query_now = listquery.to_query(replace(spec.canonical, page=1))
    current_saved = next((s for s in loaded.saved if s.query == query_now and (s.view or "") == view.key), None)
    export_args = [("view", view.key)] if view.key else []
    context = {
        "et": et,
        "entity": entity,
        "view": view,
        "spec": spec,
        "page": page,
        "headers": _headers(entity, columns, spec, links),
        "rows": _rows_html(et, columns, page.rows, loaded.ctx, hidden_by_state(entity, actor)),
        "pager": listbar.pager(page, links),
        "messages": [*problems, *spec.messages, *([loaded.problem] if loaded.problem else [])],
        "widgets": listbar.widgets(entity, spec, loaded.people, hidden),
        "chips": listbar.chips(entity, spec, links, people),
        "all_columns": listbar.column_choices(entity, spec, hidden),
        "per_page_choices": sorted({*PER_PAGE_CHOICES, view.page_size, page.per_page}),
        "saved": loaded.saved,
        "current_saved": current_saved,
        "saved_url": lambda s: _saved_url(entity, s),
        "save_query": query_now,
        "save_error": save_error,
        "save_name": save_name,
        "export_url": url_for("lists.export_csv", app=entity.app, entity=entity.key)
        + listbar.query_suffix(export_args + listquery.to_pairs(replace(spec.canonical, page=1, per_page=None))),
        "export_capped": page.capped or page.total > EXPORT_LIMIT,
        "export_limit_text": format_decimal(EXPORT_LIMIT),
        "app_label": next((n.app.label for n in nav_apps() if n.app.key == entity.app), None),
        "reset_url": base if spec.canonical != ListArgs(page=spec.canonical.page) else None,
        "base_url": base,
        "can_create": can(actor, entity, "create"),
        "total_text": format_decimal(page.total) + ("+" if page.capped else ""),
        "searchable": bool(entity.search),
        "partial": is_htmx(),
        "current_url": links.url(),
    }
    response = render("lists/list.html", "results", **context)
    if is_htmx():
        response.headers["HX-Push-Url"] = context["current_url"]
    return response


def _base_url(entity: Entity, view_key: str | None) -> str:
    if view_key and entity.view(view_key) is not None:
        return url_for("lists.view", app=entity.app, entity=entity.key, view=view_key)
    return url_for("lists.entity_index", app=entity.app, entity=entity.key)


def _saved_url(entity: Entity, saved: saved_views.SavedView) -> str:
    return _base_url(entity, saved.view) + ("?" + saved.query if saved.query else "")


# -- columns and cells --------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    field: Field
    label: str
    numeric: bool


def _columns(entity: Entity, keys: Sequence[str]) -> list[Column]:
    out = []
    for key in keys:
        fld = listquery.column_field(entity, key)
        if fld is not None:
            out.append(Column(key, fld, listbar.column_label(entity, key), fld.value_type in listbar.NUMERIC and key != "id"))
    return out


@dataclass(frozen=True)
class Header:
    key: str
    label: str
    numeric: bool
    sort_url: str | None
    aria_sort: str | None


def _headers(entity: Entity, columns: Sequence[Column], spec: ListSpec, links: listbar.Links) -> list[Header]:
    current = spec.sort[0] if spec.sort else ""
    out = []
    for col in columns:
        aria = "ascending" if current == col.key else "descending" if current == "-" + col.key else None
        url = links.sorted_by(col.key) if listquery.sortable(entity, col.key) else None
        out.append(Header(col.key, col.label, col.numeric, url, aria))
    return out


def _rows_html(
    et: EntityTables,
    columns: Sequence[Column],
    rows: Sequence[Mapping[str, Any]],
    ctx: DisplayContext,
    hidden: Callable[[str | None], frozenset[str]],
) -> list[Markup]:
    """Each row's cells as one piece of HTML: escaped values, the title linked to the record.

    Built with plain string joins (every piece is escaped where it is made) and one cache
    per column, since a page repeats few distinct values: this is the hot loop of the page.
    """
    entity = et.entity
    template = str(escape(url_for("records.show", app=entity.app, entity=entity.key, record_id=_SENTINEL)))
    before, after = template.split(str(_SENTINEL))
    cells = [(c.key, f'<td class="{_cell_class(entity, c)}">', _cell_renderer(entity, c, ctx)) for c in columns]
    out = []
    for row in rows:
        href = f"{before}{row['id']}{after}"
        secret = hidden(row.get("state"))
        parts = []
        for key, td, cell in cells:
            parts.append(td)
            if key not in secret:
                parts.append(cell(row, href))
            parts.append("</td>")
        out.append(Markup("".join(parts)))  # noqa: S704 -- each part was escaped where it was made
    return out


def _cell_renderer(entity: Entity, col: Column, ctx: DisplayContext) -> Callable[[Mapping[str, Any], str], str]:
    key = col.key
    if key == "id":
        return lambda row, href: f'<a href="{href}">#{row["id"]}</a>'
    if key == "state":
        badges = {state: str(html) for state, html in _state_badges(entity).items()}
        return lambda row, href: badges.get(row.get("state"), "")
    fld = col.field
    if fld.sla is not None and fld.measure in sla_badges.BADGED:
        return lambda row, href: sla_badges.sla_cell(ctx.slas, row["id"], fld)
    if widget(fld.value_type).cached and not fld.is_many:
        locale, tz = lang(), str(get_timezone())
        shown = _memo(lambda value: _formatted(fld.value_type, fld.scale, fld.currency, fld.max, locale, tz, value))
    else:
        shown = _memo(lambda value: str(show(fld, value, ctx)))
    if key != entity.title:
        return lambda row, href: shown(row.get(key))
    plain = col.field.value_type in listbar.TEXTUAL or col.field.value_type in _UNLINKABLE_TITLES
    text = _memo(lambda value: str(escape(str(value)))) if plain else shown

    def title(row: Mapping[str, Any], href: str) -> str:
        return f'<a class="title" href="{href}">{text(row.get(key)) or "#" + str(row["id"])}</a>'

    return title


@lru_cache(maxsize=8192)
def _formatted(kind: str, scale: int | None, currency: str | None, bound: Any, locale: str, tz: str, value: Any) -> str:
    """A value whose look depends only on its type, the language and the time zone (dates,
    numbers, yes/no), shown once per process: Babel's formatting is the costliest part of a
    cell. `locale` and `tz` are part of the key; `show` reads them from the request."""
    stand_in = Field(key="value", type=kind, label=Label.of(None, "value"), scale=scale, currency=currency, max=bound)
    return str(show(stand_in, value, DisplayContext(app="")))


def _memo(render: Callable[[Any], str]) -> Callable[[Any], str]:
    """`render` remembered per distinct value ("" for no value)."""
    cache: dict[Any, str] = {}

    def cached(value: Any) -> str:
        if value is None or value == "" or value == []:
            return ""
        key = tuple(value) if isinstance(value, list) else value
        try:
            return cache[key]
        except KeyError:
            cache[key] = result = render(value)
            return result
        except TypeError:  # an unhashable value (e.g. line items): not worth caching
            return render(value)

    return cached


def _cell_class(entity: Entity, col: Column) -> str:
    """How a column's cells lay out: numbers right-aligned, text may wrap, the rest stays on one line."""
    if col.numeric:
        return "numcol"
    if col.key == entity.title:
        return "titlecol"
    return "wrap" if col.field.value_type in listbar.TEXTUAL and not col.field.options else "one"


def _state_badges(entity: Entity) -> dict[str | None, Markup]:
    if entity.workflow is None:
        return {}
    return {s.key: badge(tr(s.label), s.color) for s in entity.workflow.states}


def _text_renderer(entity: Entity, col: Column, ctx: DisplayContext) -> Callable[[Any], str]:
    """A column's cells as the text the page shows (for the CSV), formula-safe, per value once."""

    def text(value: Any) -> str:
        if col.key == "state" and entity.workflow is not None:
            state = entity.workflow.state(value)
            return tr(state.label) if state is not None else str(value)
        if col.key == "id":
            return str(value)
        if isinstance(value, list) and col.field.value_type in types_in("choice"):
            return ", ".join(show(col.field, [v], ctx).striptags() for v in value)
        if col.field.value_type in listbar.TEXTUAL and col.field.value_type != "markdown" and not col.field.options:
            return str(value)
        return show(col.field, value, ctx).striptags()

    return _memo(lambda value: safe_cell(text(value)))


def safe_cell(text: str) -> str:
    """Neutralise spreadsheet formulas: text starting with = + - @ (or tab, CR) gets a
    leading apostrophe, except plain numbers such as -12.5, which cannot run anything."""
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


# -- CSV ----------------------------------------------------------------------------------


def _export_rows(conn: Connection, et: EntityTables, spec: ListSpec, actor: Actor) -> tuple[list[dict[str, Any]], int, DisplayContext]:
    rows, total = query_up_to(conn, et, spec.query, EXPORT_LIMIT, actor=actor)
    return rows, total, build_context(conn, et, rows, keys=spec.columns)


def _csv(
    entity: Entity,
    columns: Sequence[Column],
    rows: Sequence[Mapping[str, Any]],
    ctx: DisplayContext,
    hidden: Callable[[str | None], frozenset[str]],
) -> str:
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(c.label) for c in columns])
    cells = [(c.key, _text_renderer(entity, c, ctx)) for c in columns]
    for row in rows:
        secret = hidden(row.get("state"))
        writer.writerow(["" if key in secret else text(row.get(key)) for key, text in cells])
    return buffer.getvalue()
