"""Calendars in the database (`fd_calendars`, `fd_calendar_days`): loading the book, and
the admin's changes. Every change bumps the schema generation so each process reloads the
book with the apps (`registry.load_registry`), and is refused whole when anything is wrong.

The built-in `cn` needs no row: while it has none, it is Monday to Friday 09:00-12:00 and
13:30-18:00 in Asia/Shanghai with the data package's days. Saving it writes its row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import models
from flowdeck.engine.calendars import official
from flowdeck.engine.calendars.book import BUILTIN_KEY, CalendarBook, builtin_calendar
from flowdeck.engine.calendars.functions import CALENDAR_FUNCTIONS
from flowdeck.engine.calendars.model import (
    KEY_PATTERN,
    STANDARD_WEEK,
    WEEKDAYS,
    Calendar,
    CalendarError,
    DayRule,
    Window,
    parse_windows,
    windows_text,
    zone_of,
)
from flowdeck.engine.jobs.queue import enqueue
from flowdeck.engine.messages import M
from flowdeck.engine.schema.label import Label
from flowdeck.engine.system import bump_schema_generation

MAX_LABEL = 200
RECOMPUTE_JOB = "calendars.recompute"
"""The job that moves due times after a change (`engine/calendar_changes.py` runs it)."""
ORIGINS = ("admin", "ics")


@dataclass(frozen=True)
class CalendarSettings:
    """What an admin edits on a calendar (the days are edited one by one)."""

    key: str
    name: Label
    zone_name: str
    week: tuple[tuple[Window, ...], ...]
    source: str | None = None


def _changed(conn: Connection, keys: Iterable[str], *, default: bool = False) -> None:
    """A change that moves working time: every process reloads the book (schema generation),
    and one `calendars.recompute` job, in this transaction, moves the open due times on the
    calendars `keys` (and on the default, for what names no calendar, when `default`)."""
    generation = bump_schema_generation(conn)
    payload = {"calendars": sorted(set(keys)), "default": default}
    enqueue(conn, RECOMPUTE_JOB, payload, dedupe_key=f"{RECOMPUTE_JOB}:{generation}")


def _week_json(week: tuple[tuple[Window, ...], ...]) -> list[str]:
    return [windows_text(day) for day in week]


def _week_of(stored: list[str]) -> tuple[tuple[Window, ...], ...]:
    return tuple(parse_windows(text) for text in stored)


def settings_from_form(key: str, name: Mapping[str, str], zone_name: str, week_texts: list[str], source: str | None) -> CalendarSettings:
    """Settings from what an admin typed, every value checked (a CalendarError says which)."""
    if not KEY_PATTERN.match(key):
        raise CalendarError(M("a calendar key is lowercase letters, digits and _, starting with a letter (at most 40)"))
    texts = {lang: text.strip() for lang, text in name.items() if text.strip()}
    if not texts or any(len(text) > MAX_LABEL for text in texts.values()):
        raise CalendarError(M("a calendar needs a name of at most %(max)s characters", max=MAX_LABEL))
    zone_of(zone_name)
    if len(week_texts) != WEEKDAYS:
        raise CalendarError(M("a calendar needs windows for each of the 7 weekdays"))
    if source is not None and source not in official.SOURCES:
        raise CalendarError(M("unknown source of official days “%(source)s”", source=source))
    return CalendarSettings(key, Label(texts), zone_name, tuple(parse_windows(text) for text in week_texts), source)


def _rows(conn: Connection) -> tuple[list[sa.Row], dict[int, list[sa.Row]]]:
    cals = list(conn.execute(sa.select(models.calendars).order_by(models.calendars.c.key)))
    days: dict[int, list[sa.Row]] = {}
    for row in conn.execute(sa.select(models.calendar_days).order_by(models.calendar_days.c.day)):
        days.setdefault(row.calendar_id, []).append(row)
    return cals, days


def _calendar(row: sa.Row, own: Iterable[sa.Row]) -> Calendar:
    days = dict(official.official_days(row.source)) if row.source else {}
    for day in own:
        days[day.day] = DayRule(day.day, day.working, Label({"en": day.label}), day.origin)
    years = (official.official_years(row.source) if row.source else frozenset()) | frozenset(row.complete_years or ())
    return Calendar(row.key, Label.of(row.name), row.time_zone, _week_of(row.week), days, row.source, years)


def load_book(conn: Connection) -> CalendarBook:
    """Every calendar of the instance, the admins' days laid over the official ones."""
    cals, days = _rows(conn)
    book: dict[str, Calendar] = {BUILTIN_KEY: builtin_calendar()}
    default = BUILTIN_KEY
    for row in cals:
        book[row.key] = _calendar(row, days.get(row.id, ()))
        if row.is_default:
            default = row.key
    return CalendarBook(book, default)


def _row_id(conn: Connection, key: str) -> int | None:
    return conn.execute(sa.select(models.calendars.c.id).where(models.calendars.c.key == key)).scalar()


def _ensure_row(conn: Connection, key: str) -> int:
    """The row of `key`, writing the built-in's row the first time `cn` is changed."""
    found = _row_id(conn, key)
    if found is not None:
        return found
    if key != BUILTIN_KEY:
        raise CalendarError(M("unknown calendar “%(key)s”; calendars: %(keys)s", key=key, keys=[]))
    builtin = builtin_calendar()
    return conn.execute(
        models.calendars.insert().values(
            key=key,
            name=builtin.name.to_json(),
            time_zone=builtin.zone_name,
            week=_week_json(STANDARD_WEEK),
            source="cn",
            is_default=False,
            complete_years=[],
        )
    ).inserted_primary_key[0]


def create_calendar(conn: Connection, settings: CalendarSettings) -> None:
    if settings.key == BUILTIN_KEY or _row_id(conn, settings.key) is not None:
        raise CalendarError(M("a calendar with the key “%(key)s” exists already", key=settings.key))
    conn.execute(
        models.calendars.insert().values(
            key=settings.key,
            name=settings.name.to_json(),
            time_zone=settings.zone_name,
            week=_week_json(settings.week),
            source=settings.source,
            is_default=False,
            complete_years=[],
        )
    )
    bump_schema_generation(conn)


def update_calendar(conn: Connection, settings: CalendarSettings) -> None:
    """New name, zone, windows and source for an existing calendar (its key stays: apps use it)."""
    row_id = _ensure_row(conn, settings.key)
    conn.execute(
        models.calendars.update()
        .where(models.calendars.c.id == row_id)
        .values(
            name=settings.name.to_json(),
            time_zone=settings.zone_name,
            week=_week_json(settings.week),
            source=settings.source,
            updated_at=models.utcnow(),
        )
    )
    _changed(conn, [settings.key])


def make_default(conn: Connection, key: str) -> None:
    """The calendar expressions use when they name none."""
    row_id = _ensure_row(conn, key)
    conn.execute(models.calendars.update().values(is_default=models.calendars.c.id == row_id))
    _changed(conn, [], default=True)


def _names_calendar(value: Any, key: str) -> bool:
    """Whether a document's value holds an expression that names `key` as a calendar."""
    if isinstance(value, str):
        return any(f"{name}(" in value for name in CALENDAR_FUNCTIONS) and (f'"{key}"' in value or f"'{key}'" in value)
    if isinstance(value, dict):
        return any(_names_calendar(item, key) for item in value.values())
    if isinstance(value, list):
        return any(_names_calendar(item, key) for item in value)
    return False


def apps_using(conn: Connection, key: str) -> list[str]:
    """The installed apps whose current document names the calendar `key`."""
    a, v = models.apps, models.app_versions
    rows = conn.execute(sa.select(a.c.key, v.c.document).join(v, (v.c.app == a.c.key) & (v.c.version == a.c.version)).order_by(a.c.key))
    return [app for app, document in rows if _names_calendar(document, key)]


def delete_calendar(conn: Connection, key: str) -> None:
    """Remove a calendar no app names (an app's formulas would stop loading)."""
    if key == BUILTIN_KEY:
        raise CalendarError(M("the built-in calendar “%(key)s” cannot be deleted", key=key))
    row_id = _row_id(conn, key)
    if row_id is None:
        raise CalendarError(M("unknown calendar “%(key)s”; calendars: %(keys)s", key=key, keys=[]))
    users = apps_using(conn, key)
    if users:
        raise CalendarError(M("the calendar “%(key)s” is used by the apps %(apps)s", key=key, apps=users))
    conn.execute(models.calendar_days.delete().where(models.calendar_days.c.calendar_id == row_id))
    conn.execute(models.calendars.delete().where(models.calendars.c.id == row_id))
    _changed(conn, [key], default=True)  # what still counted on it counts on the default now


@dataclass(frozen=True)
class DayEdit:
    day: dt.date
    working: bool
    label: str
    origin: str = "admin"


def set_days(conn: Connection, key: str, edits: Iterable[DayEdit]) -> int:
    """Company days off and extra working days (a day set again is replaced); returns how
    many were written."""
    row_id = _ensure_row(conn, key)
    edits = list(edits)
    for edit in edits:
        if len(edit.label) > MAX_LABEL:
            raise CalendarError(M("a day's label has at most %(max)s characters", max=MAX_LABEL))
        if edit.origin not in ORIGINS:
            raise CalendarError(M("unknown origin “%(origin)s”", origin=edit.origin))
    table = models.calendar_days
    if edits:
        conn.execute(table.delete().where(table.c.calendar_id == row_id, table.c.day.in_([e.day for e in edits])))
        conn.execute(
            table.insert(),
            [{"calendar_id": row_id, "day": e.day, "working": e.working, "label": e.label.strip(), "origin": e.origin} for e in edits],
        )
        _changed(conn, [key])
    return len(edits)


def remove_day(conn: Connection, key: str, day: dt.date) -> bool:
    """Undo an admin's day: the official day (or the week) applies again."""
    row_id = _row_id(conn, key)
    if row_id is None:
        return False
    table = models.calendar_days
    removed = conn.execute(table.delete().where(table.c.calendar_id == row_id, table.c.day == day)).rowcount
    if removed:
        _changed(conn, [key])
    return bool(removed)


def mark_year_complete(conn: Connection, key: str, year: int, complete: bool = True) -> None:
    """An admin's word that a year's official days are all entered (when the data package
    is late): the warning for that year stops."""
    if not 1900 <= year <= 2200:
        raise CalendarError(M("%(year)s is not a year a calendar can hold", year=str(year)))
    row_id = _ensure_row(conn, key)
    stored = conn.execute(sa.select(models.calendars.c.complete_years).where(models.calendars.c.id == row_id)).scalar() or []
    years = sorted((set(stored) | {year}) if complete else (set(stored) - {year}))
    conn.execute(models.calendars.update().where(models.calendars.c.id == row_id).values(complete_years=years))
    bump_schema_generation(conn)
