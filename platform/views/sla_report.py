"""The SLA report page: met and breached cycles per week or month, per value of a choice or
a person field, with the share met, for a range of days. Reached from the entity's list;
only readers of the entity get it (`engine.sla_report` checks, and reads nothing of fields
hidden from them)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby

from flask import Blueprint, Response, abort, request
from flask_babel import format_date, format_percent
from markupsafe import Markup, escape
from sqlalchemy.engine import Connection

from flowdeck.engine import sla_report
from flowdeck.engine.errors import NotFound
from flowdeck.engine.permissions import Actor
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.views.auth import login_required, require_actor
from flowdeck.views.display import build_context, empty_group, show
from flowdeck.views.home import nav_apps
from flowdeck.views.i18n import gettext as _
from flowdeck.views.i18n import tr
from flowdeck.views.lifecycle import entity_tables, render
from flowdeck.views.state import engine

bp = Blueprint("sla_report", __name__)


@dataclass(frozen=True)
class Group:
    """One period of the report: its heading, its rows (value shown, counts) and its total."""

    heading: str
    rows: Sequence[tuple[Markup, sla_report.ReportRow]]
    total: sla_report.ReportRow


def _day(raw: str | None, default: dt.date) -> dt.date:
    if not raw:
        return default
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        abort(400)


def _heading(start: dt.date, period: str) -> str:
    if period == "month":
        return format_date(start, "yyyy-MM")
    return _("Week of %(day)s", day=format_date(start, "medium"))


def percent(row: sla_report.ReportRow) -> str:
    return format_percent(row.met / row.total, "#0%") if row.total else "—"


def _groups(conn: Connection, et: EntityTables, report: sla_report.Report) -> list[Group]:
    fld = et.entity.field(report.by) if report.by else None
    ctx = build_context(conn, et, [{report.by: r.value} for r in report.rows if r.value is not None], [report.by]) if fld else None
    out = []
    for start, rows in groupby(report.rows, key=lambda r: r.period):
        listed = list(rows)
        shown = []
        for row in listed:
            if fld is None or ctx is None:
                label = escape(_("All"))
            elif row.value is None:
                label = empty_group(fld)
            else:
                label = show(fld, row.value, ctx)
            shown.append((label, row))
        total = sla_report.totals(listed)
        assert total is not None
        out.append(Group(_heading(start, report.period), shown, total))
    return out


@bp.get("/a/<app>/<entity>/sla-report")
@login_required
def show_report(app: str, entity: str) -> Response:
    """The report for `?sla=&period=week|month&by=&from=&to=` (defaults: the first SLA, weeks,
    no grouping, the last 12 weeks)."""
    actor: Actor = require_actor()
    et = entity_tables(app, entity, actor)
    slas = et.entity.slas
    if not slas:
        abort(404)
    period = request.args.get("period") or "week"
    sla = request.args.get("sla") or slas[0].key
    by = request.args.get("by") or None
    first_default, last_default = sla_report.default_range(period if period in sla_report.PERIODS else "week")
    first, last = _day(request.args.get("from"), first_default), _day(request.args.get("to"), last_default)
    if last < first:
        first, last = last, first

    def read(conn: Connection) -> tuple[sla_report.Report, list[Group]]:
        report = sla_report.sla_report(conn, et, actor=actor, sla=sla, period=period, first=first, last=last, by=by)
        return report, _groups(conn, et, report)

    try:
        report, groups = engine().db.read(read)
    except NotFound:
        abort(404)
    all_rows = sla_report.totals(report.rows)
    choices = [(key, tr(et.entity.get_field(key).label)) for key in sla_report.group_fields(et)]
    return render(
        "sla/report.html",
        entity=et.entity,
        app_label=next((n.app.label for n in nav_apps() if n.app.key == app), None),
        report=report,
        groups=groups,
        overall=all_rows,
        percent=percent,
        choices=choices,
        first=first,
        last=last,
    )
