"""Auto-numbers such as `CG-{YYYYMM}-{####}`: gap-free per period under concurrency.

The counter row for (field, period) is bumped with one INSERT ... ON CONFLICT DO UPDATE ...
RETURNING inside the transaction that inserts the record. Concurrent inserts queue on that
row (PostgreSQL row lock, SQLite write lock) and a rolled-back insert returns its number,
so numbers are consecutive and never repeat.
"""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from flowdeck.engine import models

_TOKEN = re.compile(r"\{([^{}]*)\}")
_DATE_FORMATS = {"YYYY": "%Y", "YY": "%y", "MM": "%m", "DD": "%d", "YYYYMM": "%Y%m", "YYYYMMDD": "%Y%m%d"}


def period_of(pattern: str, today: dt.date) -> str:
    """The part of the number that resets the counter: its date tokens, rendered."""
    return "".join(today.strftime(_DATE_FORMATS[t]) for t in _TOKEN.findall(pattern) if t in _DATE_FORMATS)


def render(pattern: str, today: dt.date, counter: int) -> str:
    def token(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _DATE_FORMATS:
            return today.strftime(_DATE_FORMATS[name])
        return str(counter).zfill(len(name))

    return _TOKEN.sub(token, pattern)


def next_number(conn: Connection, app: str, entity: str, field: str, pattern: str, today: dt.date) -> str:
    period = period_of(pattern, today)
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    table = models.counters
    statement = (
        insert(table)
        .values(app=app, entity=entity, field=field, period=period, value=1)
        .on_conflict_do_update(index_elements=["app", "entity", "field", "period"], set_={"value": table.c.value + 1})
        .returning(table.c.value)
    )
    value = conn.execute(statement).scalar_one()
    return render(pattern, today, int(value))


def reset_counters(conn: Connection, app: str) -> None:
    conn.execute(sa.delete(models.counters).where(models.counters.c.app == app))
