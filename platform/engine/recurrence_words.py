"""A recurrence in words, for the admin who reads the Schedules page: "every week on
Friday at 16:00", "on a non-working day: moved to the next working day".

The words are messages (ids and parameters, worded in the reader's language by whoever
shows them). The common shapes of an RRULE are worded; any other rule is shown as its
text, which is what the admin wrote in the document.
"""

from __future__ import annotations

from collections.abc import Callable

from flowdeck.engine.messages import M, Message, Mp
from flowdeck.engine.recurrence import Recurrence

WEEKDAYS = {
    "MO": Mp("weekday", "Monday"),
    "TU": Mp("weekday", "Tuesday"),
    "WE": Mp("weekday", "Wednesday"),
    "TH": Mp("weekday", "Thursday"),
    "FR": Mp("weekday", "Friday"),
    "SA": Mp("weekday", "Saturday"),
    "SU": Mp("weekday", "Sunday"),
}
PRESETS: dict[str, Callable[[str], Message]] = {
    "every_day": lambda at: M("every day at %(at)s", at=at),
    "every_working_day": lambda at: M("every working day at %(at)s", at=at),
    "first_working_day_of_month": lambda at: M("on the first working day of each month at %(at)s", at=at),
    "last_working_day_of_month": lambda at: M("on the last working day of each month at %(at)s", at=at),
}
SHIFTS = {
    "run": M("runs on non-working days too"),
    "skip": M("skipped on non-working days"),
    "forward": M("moved to the next working day"),
    "back": M("moved to the working day before"),
}
_WORDED = {"FREQ", "INTERVAL", "BYDAY", "BYHOUR", "BYMINUTE", "BYMONTHDAY"}


def _parts(text: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in text.strip().removeprefix("RRULE:").split(";") if "=" in p)


def _times(parts: dict[str, str]) -> str | None:
    """ "09:00, 14:30" from BYHOUR x BYMINUTE (midnight when the rule names no hour), or None."""
    try:
        hours = sorted(int(h) for h in parts.get("BYHOUR", "0").split(","))
        minutes = sorted(int(m) for m in parts.get("BYMINUTE", "0").split(","))
    except ValueError:
        return None
    return ", ".join(f"{h:02d}:{m:02d}" for h in hours for m in minutes)


def _rule_words(text: str) -> Message:
    parts = _parts(text)
    at = _times(parts)
    interval = parts.get("INTERVAL", "1")
    freq = parts.get("FREQ")
    days = parts.get("BYDAY", "")
    if at is None or not interval.isdigit() or set(parts) - _WORDED or any(d not in WEEKDAYS for d in days.split(",") if d):
        return M("by the rule %(rule)s", rule=text)
    n = int(interval)
    named = [WEEKDAYS[d] for d in days.split(",") if d]
    if freq == "DAILY" and not named and "BYMONTHDAY" not in parts:
        return M("every day at %(at)s", at=at) if n == 1 else M("every %(num)s days at %(at)s", num=n, at=at)
    if freq == "WEEKLY" and "BYMONTHDAY" not in parts and named:
        if n == 1:
            return M("every week on %(days)s at %(at)s", days=named, at=at)
        return M("every %(num)s weeks on %(days)s at %(at)s", num=n, days=named, at=at)
    if freq == "MONTHLY" and "BYMONTHDAY" in parts and not named:
        if n == 1:
            return M("every month on day %(days)s at %(at)s", days=parts["BYMONTHDAY"], at=at)
        return M("every %(num)s months on day %(days)s at %(at)s", num=n, days=parts["BYMONTHDAY"], at=at)
    return M("by the rule %(rule)s", rule=text)


def describe(recurrence: Recurrence) -> Message:
    """When the recurrence falls, in words."""
    at = recurrence.at.strftime("%H:%M")
    if recurrence.preset is not None:
        return PRESETS[recurrence.preset](at)
    assert recurrence.rrule is not None
    return _rule_words(recurrence.rrule)


def non_working_day_policy(recurrence: Recurrence) -> Message:
    """What an occurrence does when it falls on a non-working day (a preset picks its days
    itself: `every_day` runs on every day, the others only fall on working days)."""
    if recurrence.preset == "every_day":
        return SHIFTS["run"]
    if recurrence.preset is not None:
        return M("falls on working days only")
    return SHIFTS[recurrence.shift]
