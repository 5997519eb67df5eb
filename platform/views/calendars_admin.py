"""Business calendars for admins: the instance's calendars, their working windows, the
official days of a year beside the admin's own (company days off, extra working days, an
ICS import), the default calendar, and the engine's warning when next year's official days
are missing. Every change goes through `engine/calendars/storage` and the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, abort, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from flowdeck.engine import audit, clock
from flowdeck.engine.calendars import book, ics, official, storage
from flowdeck.engine.calendars.model import Calendar, CalendarError, windows_text
from flowdeck.engine.messages import M, Message
from flowdeck.views.auth import admin_required, require_actor
from flowdeck.views.i18n import gettext as _
from flowdeck.views.i18n import say
from flowdeck.views.lifecycle import render
from flowdeck.views.state import engine

bp = Blueprint("calendars_admin", __name__, url_prefix="/admin/calendars")


def _book() -> book.CalendarBook:
    return engine().db.read(storage.load_book)


def _calendar(key: str) -> Calendar:
    found = _book().calendars.get(key)
    if found is None:
        abort(404)
    return found


def _weekday_names() -> list[str]:
    return [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday")]


def _settings(key: str) -> storage.CalendarSettings:
    form = request.form
    source = form.get("source") or None
    return storage.settings_from_form(
        key,
        {"en": form.get("name_en", ""), "zh": form.get("name_zh", "")},
        form.get("zone", "").strip(),
        [form.get(f"week{i}", "") for i in range(7)],
        source,
    )


def _change(key: str, what: Message, work: Any) -> bool:
    """Run one change and its audit entry in one transaction; a refusal is flashed."""
    actor = require_actor()

    def run(conn: Any) -> None:
        work(conn)
        audit.record(conn, "calendar.changed", what, actor=actor, target=f"calendar:{key}")

    try:
        engine().db.run(run)
    except CalendarError as exc:
        flash(say(exc.message), "error")
        return False
    return True


def _back(key: str, year: int | None = None) -> Response:
    return redirect(url_for("calendars_admin.show", key=key, year=year), code=303)


@bp.get("/")
@admin_required
def index() -> Response:
    current = _book()
    today = clock.today()
    rows = [(cal, book.missing_years(cal, today)) for _key, cal in sorted(current.calendars.items())]
    return render(
        "admin/calendars.html",
        rows=rows,
        default_key=current.default_key,
        warnings=book.warnings(current, today),
        weekdays=_weekday_names(),
        sources=official.SOURCES,
        form={},
    )


@bp.post("/")
@admin_required
def create() -> Response:
    key = request.form.get("key", "").strip()
    try:
        settings = _settings(key)
    except CalendarError as exc:
        flash(say(exc.message), "error")
        return redirect(url_for("calendars_admin.index"), code=303)
    if _change(key, M("calendar “%(calendar)s” created", calendar=key), lambda conn: storage.create_calendar(conn, settings)):
        flash(_("Calendar %(key)s created.", key=key), "ok")
        return _back(key)
    return redirect(url_for("calendars_admin.index"), code=303)


def _year_days(cal: Calendar, year: int) -> list[Any]:
    return [rule for day, rule in sorted(cal.days.items()) if day.year == year]


@bp.get("/<key>")
@admin_required
def show(key: str) -> Response:
    current = _book()
    cal = current.calendars.get(key)
    if cal is None:
        abort(404)
    today = clock.today()
    year = request.args.get("year", type=int) or today.year
    if not 1900 <= year <= 2200:
        abort(404)
    warnings = book.warnings(book.CalendarBook({key: cal}, key), today)
    return render(
        "admin/calendar.html",
        cal=cal,
        is_default=current.default_key == key,
        year=year,
        days=_year_days(cal, year),
        year_loaded=year in cal.official_years,
        warnings=warnings,
        weekdays=_weekday_names(),
        week_texts=[windows_text(day) for day in cal.week],
        sources=official.SOURCES,
        builtin=key == book.BUILTIN_KEY,
    )


@bp.post("/<key>/settings")
@admin_required
def settings(key: str) -> Response:
    _calendar(key)
    try:
        settings = _settings(key)
    except CalendarError as exc:
        flash(say(exc.message), "error")
        return _back(key)
    if _change(key, M("calendar “%(calendar)s” changed", calendar=key), lambda conn: storage.update_calendar(conn, settings)):
        flash(_("Calendar saved."), "ok")
    return _back(key)


@bp.post("/<key>/default")
@admin_required
def make_default(key: str) -> Response:
    _calendar(key)
    if _change(key, M("calendar “%(calendar)s” made the default", calendar=key), lambda conn: storage.make_default(conn, key)):
        flash(_("Expressions that name no calendar now use %(key)s.", key=key), "ok")
    return _back(key)


@bp.post("/<key>/delete")
@admin_required
def delete(key: str) -> Response:
    _calendar(key)
    if _change(key, M("calendar “%(calendar)s” deleted", calendar=key), lambda conn: storage.delete_calendar(conn, key)):
        flash(_("Calendar %(key)s deleted.", key=key), "ok")
        return redirect(url_for("calendars_admin.index"), code=303)
    return _back(key)


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        return None


@bp.post("/<key>/days")
@admin_required
def add_day(key: str) -> Response:
    _calendar(key)
    day = _date(request.form.get("day", ""))
    if day is None:
        flash(_("Enter the day as YYYY-MM-DD."), "error")
        return _back(key)
    working = request.form.get("kind") == "working"
    edit = storage.DayEdit(day, working, request.form.get("label", ""))
    what = M("day %(day)s set on calendar “%(calendar)s”", day=day.isoformat(), calendar=key)
    if _change(key, what, lambda conn: storage.set_days(conn, key, [edit])):
        flash(_("%(day)s saved.", day=day.isoformat()), "ok")
    return _back(key, day.year)


@bp.post("/<key>/days/<day>/remove")
@admin_required
def remove_day(key: str, day: str) -> Response:
    _calendar(key)
    found = _date(day)
    if found is None:
        abort(404)
    what = M("day %(day)s removed from calendar “%(calendar)s”", day=found.isoformat(), calendar=key)
    if _change(key, what, lambda conn: storage.remove_day(conn, key, found)):
        flash(_("%(day)s follows the official days and the week again.", day=found.isoformat()), "ok")
    return _back(key, found.year)


@bp.post("/<key>/ics")
@admin_required
def import_ics(key: str) -> Response:
    cal = _calendar(key)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose an ICS file."), "error")
        return _back(key)
    try:
        found = ics.read_ics(upload.read(ics.MAX_BYTES + 1), cal.zone, all_working=request.form.get("kind") == "working")
    except CalendarError as exc:
        flash(say(exc.message), "error")
        return _back(key)
    what = M("%(count)s days imported from an ICS file into calendar “%(calendar)s”", count=len(found.days), calendar=key)
    if _change(key, what, lambda conn: storage.set_days(conn, key, found.days)):
        flash(_("%(count)s days imported.", count=len(found.days)), "ok")
        if found.recurring_skipped:
            flash(_("%(count)s recurring events were not imported: enter those days one by one.", count=found.recurring_skipped), "warn")
    return _back(key, found.days[0].day.year)


@bp.post("/<key>/years")
@admin_required
def complete_year(key: str) -> Response:
    _calendar(key)
    year = request.form.get("year", type=int)
    if year is None:
        abort(400)
    complete = request.form.get("complete") != "0"
    what = M("year %(year)s of calendar “%(calendar)s” marked complete", year=str(year), calendar=key)
    if _change(key, what, lambda conn: storage.mark_year_complete(conn, key, year, complete)):
        flash(_("Saved."), "ok")
    return _back(key, year)
