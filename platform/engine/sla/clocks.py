"""The arithmetic of one SLA cycle: a goal's length in seconds when a cycle starts, and the
moments (due, warning) a running stretch reaches them, on the goal's calendar.

Working goals count the calendar's working windows (lunch breaks, weekends, holidays and
make-up working days as the calendar says); goals in plain hours or minutes count wall-clock
time. A `working_days` goal is turned into working seconds once, at the start of the cycle,
so pauses and goal changes work in one unit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from flowdeck.engine.calendars import arithmetic
from flowdeck.engine.durations import add_duration, duration_of, seconds_of
from flowdeck.engine.sla.status import calendar_named, is_working_goal


def goal_seconds(goal: Mapping[str, Any], start: dt.datetime) -> int:
    """The goal's length in the seconds the cycle counts (working days: the working time of
    those days from `start`)."""
    duration = duration_of(goal)
    seconds = seconds_of(duration)
    if seconds is not None:
        return seconds
    cal = calendar_named(duration.calendar)
    return int(arithmetic.working_time_between(cal, start, add_duration(start, duration)).total_seconds())


def moment_after(goal: Mapping[str, Any], calendar: str | None, start: dt.datetime, seconds: int) -> dt.datetime:
    """The moment `seconds` of the goal's time after `start` (before it when negative: the
    moment a cycle already past its goal reached it)."""
    if not is_working_goal(goal):
        return start + dt.timedelta(seconds=seconds)
    return arithmetic.add_working_time(calendar_named(calendar), start, dt.timedelta(seconds=seconds))


def warning_seconds(goal_secs: int, warning: int) -> int:
    return goal_secs * warning // 100


def running_moments(
    goal: Mapping[str, Any], calendar: str | None, since: dt.datetime, goal_secs: int, used: int, warning: int
) -> tuple[dt.datetime, dt.datetime]:
    """(due_at, warn_at) of a stretch running from `since` with `used` seconds already spent."""
    due = moment_after(goal, calendar, since, goal_secs - used)
    warn = moment_after(goal, calendar, since, warning_seconds(goal_secs, warning) - used)
    return due, warn
