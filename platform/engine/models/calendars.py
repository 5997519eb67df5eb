"""Tables of the business calendars (`engine/calendars`): calendars by key and the days an admin set apart.

Kept apart from the core tables because they belong to one feature with its own storage
module (`calendars/storage.py`). Declared on the one `Base` (`models/base.py`) and
re-exported by `flowdeck.engine.models`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from flowdeck.engine.models.base import Base, utcnow
from flowdeck.engine.sqltypes import UTCDateTime


class BusinessCalendar(Base):
    """A business calendar apps name by key (`engine/calendars`): working windows per weekday
    (`name`: a label, text or {"en", "zh"}; `week`: seven lists of "09:00-12:00" texts, Monday first), an IANA zone, the data package
    calendar its official days come from (`source`), and the years an admin marked complete."""

    __tablename__ = "fd_calendars"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[Any] = mapped_column(sa.JSON)
    time_zone: Mapped[str] = mapped_column(sa.String(64))
    week: Mapped[Any] = mapped_column(sa.JSON)
    source: Mapped[str | None] = mapped_column(sa.String(20))
    is_default: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    complete_years: Mapped[Any] = mapped_column(sa.JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CalendarDay(Base):
    """A day an admin set apart on a calendar: a company day off or an extra working day,
    typed or imported from an ICS file (`origin`). It wins over the official day."""

    __tablename__ = "fd_calendar_days"
    __table_args__ = (sa.UniqueConstraint("calendar_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    calendar_id: Mapped[int] = mapped_column(sa.ForeignKey("fd_calendars.id", ondelete="CASCADE"), index=True)
    day: Mapped[dt.date] = mapped_column(sa.Date)
    working: Mapped[bool] = mapped_column(sa.Boolean)
    label: Mapped[str] = mapped_column(sa.String(200), default="")
    origin: Mapped[str] = mapped_column(sa.String(10), default="admin")
