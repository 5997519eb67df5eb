"""The audit log for admins: filter by action, person, text (target or address) and days;
export what is filtered as CSV. Read-only: no route changes or removes an entry (the table's
triggers refuse it too).

`log()` is how a view records an event the engine does not see (a CSV or bundle download).
"""

from __future__ import annotations

import csv
import datetime as dt
import io

from flask import Blueprint, g, request
from flask_babel import get_timezone
from werkzeug.wrappers import Response

from flowdeck.engine import audit, clock
from flowdeck.engine.messages import Message
from flowdeck.views.auth import admin_required
from flowdeck.views.i18n import say
from flowdeck.views.lifecycle import render
from flowdeck.views.state import engine

bp = Blueprint("audit_log", __name__, url_prefix="/admin/audit")
PER_PAGE = 50


def log(action: str, message: Message, *, target: str | None = None) -> None:
    """Record an event of this request's user (and client address), in its own transaction."""
    actor = g.get("actor")
    engine().db.run(lambda conn: audit.record(conn, action, message, actor=actor, target=target))


def _day(name: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(request.args.get(name, "").strip())
    except ValueError:
        return None


def _filters() -> tuple[audit.Filters, dict[str, str]]:
    """The filters of the query string; local days become UTC moments (the end day is whole)."""
    zone = get_timezone()
    since, until = _day("from"), _day("to")
    action = request.args.get("action", "")
    shown = {
        "action": action if action in audit.ACTIONS else "",
        "who": request.args.get("who", "").strip()[:60],
        "q": request.args.get("q", "").strip()[:100],
        "from": since.isoformat() if since else "",
        "to": until.isoformat() if until else "",
    }

    def moment(day: dt.date | None, days: int = 0) -> dt.datetime | None:
        try:
            return (dt.datetime.combine(day, dt.time(), tzinfo=zone) + dt.timedelta(days=days)).astimezone(dt.UTC) if day else None
        except OverflowError:  # the first or last day of the calendar: no bound
            return None

    filters = audit.Filters(
        action=shown["action"],
        who=shown["who"],
        text=shown["q"],
        since=moment(since),
        until=moment(until, days=1),
    )
    return filters, shown


@bp.get("/")
@admin_required
def index() -> Response:
    filters, shown = _filters()
    page = max(1, request.args.get("page", 1, type=int) or 1)
    found = engine().db.read(lambda conn: audit.search(conn, filters, page=page, per_page=PER_PAGE))
    return render("admin/audit.html", block="results", found=found, shown=shown, actions=audit.ACTIONS)


@bp.get("/export.csv")
@admin_required
def export_csv() -> Response:
    """The filtered entries as UTF-8 CSV (with a BOM, for Excel), times in UTC ISO 8601."""
    filters, _shown = _filters()
    entries = engine().db.read(lambda conn: audit.every(conn, filters))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["id", "time_utc", "action", "user_id", "user", "address", "target", "description"])
    for entry in entries:
        row = [entry.id, entry.at.isoformat(), entry.action, entry.actor_id or "", entry.actor_name or "", entry.address or ""]
        row += [entry.target or "", say(entry.message)]
        writer.writerow([_formula_safe(str(cell)) for cell in row])
    response = Response(("\ufeff" + buffer.getvalue()).encode("utf-8"), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="audit-{clock.today().isoformat()}.csv"'
    return response


def _formula_safe(text: str) -> str:
    """A cell a spreadsheet would read as a formula gets a leading apostrophe."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
