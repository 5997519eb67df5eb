"""Working-time arithmetic on a `Calendar`: pure functions of instants and dates.

Instants are aware datetimes (any zone in, UTC out); dates are the calendar's local days.
Each local day's windows become UTC intervals once (cached on the calendar), and every
function walks those intervals day by day, never minute by minute: adding 40 working hours
looks at about a week of days. A window's length is measured between its UTC ends, so on
the day Europe/Berlin moves its clocks a window 01:00-04:00 is two (spring) or four
(autumn) hours long, and local times that do not exist are read before the change (fold 0).

Edges: a window includes its start and excludes its end (18:00 is not working time), and
adding working time that ends exactly at a window's end gives that end (17:00 + 1 h is
18:00 the same day, not 09:00 the next).
"""

from __future__ import annotations

import datetime as dt

from flowdeck.engine.calendars.model import DAY_MINUTES, Calendar, CalendarError
from flowdeck.engine.messages import M

MAX_SCAN_DAYS = 366 * 30
"""How far a search walks before it gives up: a calendar with no working time in 30 years
is broken, and no request may loop over it forever."""
ONE_DAY = dt.timedelta(days=1)
Interval = tuple[dt.datetime, dt.datetime]


def _aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise CalendarError(M("a time without a time zone cannot be placed on a calendar"))
    return moment.astimezone(dt.UTC)


def local_day(cal: Calendar, moment: dt.datetime) -> dt.date:
    """The calendar's local day of an instant."""
    return _aware(moment).astimezone(cal.zone).date()


def _local(cal: Calendar, day: dt.date, minutes: int) -> dt.datetime:
    if minutes >= DAY_MINUTES:
        day, minutes = day + ONE_DAY, minutes - DAY_MINUTES
    local = dt.datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=cal.zone)
    return local.astimezone(dt.UTC)


def intervals(cal: Calendar, day: dt.date) -> tuple[Interval, ...]:
    """The working intervals of a local day, as UTC instants, in order."""
    found = cal._utc_days.get(day)
    if found is None:
        pairs = ((_local(cal, day, w.start), _local(cal, day, w.end)) for w in cal.windows_on(day))
        found = tuple((start, end) for start, end in pairs if end > start)
        cal._utc_days[day] = found
    return found


def _require_working_time(cal: Calendar) -> None:
    if not cal.has_working_time:
        raise CalendarError(M("the calendar “%(calendar)s” has no working time", calendar=cal.key))


def is_working_day(cal: Calendar, day: dt.date) -> bool:
    return bool(cal.windows_on(day))


def is_working_time(cal: Calendar, moment: dt.datetime) -> bool:
    """Whether an instant falls inside a working window (start included, end excluded)."""
    moment = _aware(moment)
    return any(start <= moment < end for start, end in intervals(cal, local_day(cal, moment)))


def working_time_between(cal: Calendar, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
    """The working time from `start` to `end` (negative when `end` is earlier)."""
    start, end = _aware(start), _aware(end)
    if end < start:
        return -working_time_between(cal, end, start)
    total = dt.timedelta()
    day, last = local_day(cal, start), local_day(cal, end)
    if (last - day).days > MAX_SCAN_DAYS:
        raise CalendarError(M("working time is counted over at most %(years)s years", years=MAX_SCAN_DAYS // 366))
    while day <= last:
        for w_start, w_end in intervals(cal, day):
            low, high = max(w_start, start), min(w_end, end)
            if high > low:
                total += high - low
        day += ONE_DAY
    return total


def add_working_time(cal: Calendar, moment: dt.datetime, amount: dt.timedelta) -> dt.datetime:
    """The instant `amount` of working time after `moment` (before it when negative).

    Starting outside working time counts from the next window; the result is a window's end
    when the amount runs out exactly there."""
    moment = _aware(moment)
    if not amount:
        return moment
    _require_working_time(cal)
    forward = amount > dt.timedelta()
    left = abs(amount)
    day = local_day(cal, moment)
    for _ in range(MAX_SCAN_DAYS):
        spans = intervals(cal, day)
        for w_start, w_end in spans if forward else reversed(spans):
            if forward:
                if w_end <= moment:
                    continue
                begin = max(w_start, moment)
                if left <= w_end - begin:
                    return begin + left
                left -= w_end - begin
            else:
                if w_start >= moment:
                    continue
                finish = min(w_end, moment)
                if left <= finish - w_start:
                    return finish - left
                left -= finish - w_start
        day = day + ONE_DAY if forward else day - ONE_DAY
    raise CalendarError(M("adding working time went past %(years)s years", years=MAX_SCAN_DAYS // 366))


def next_working_day(cal: Calendar, day: dt.date) -> dt.date:
    """The first working day after `day`."""
    return _step(cal, day, 1)


def previous_working_day(cal: Calendar, day: dt.date) -> dt.date:
    """The last working day before `day`."""
    return _step(cal, day, -1)


def _step(cal: Calendar, day: dt.date, direction: int) -> dt.date:
    _require_working_time(cal)
    for _ in range(MAX_SCAN_DAYS):
        day += dt.timedelta(days=direction)
        if cal.windows_on(day):
            return day
    raise CalendarError(
        M("the calendar “%(calendar)s” has no working day within %(years)s years", calendar=cal.key, years=MAX_SCAN_DAYS // 366)
    )


def add_working_days(cal: Calendar, day: dt.date, count: int) -> dt.date:
    """The `count`-th working day after `day` (before it when negative); 0 gives `day`.

    From a Friday, 1 is the next Monday (or the make-up Saturday, if there is one)."""
    if abs(count) > MAX_SCAN_DAYS:
        raise CalendarError(M("at most %(max)s working days can be added", max=MAX_SCAN_DAYS))
    direction = 1 if count > 0 else -1
    for _ in range(abs(count)):
        day = _step(cal, day, direction)
    return day


def working_days_between(cal: Calendar, start: dt.date, end: dt.date) -> int:
    """How many working days are stepped onto going from `start` to `end`: the days after
    `start` up to and including `end`, or, going back, the days from `end` up to `start`
    (negated). It counts as `add_working_days` moves, so that
    `working_days_between(d, add_working_days(d, n)) == n` for every day and every n."""
    if abs((end - start).days) > MAX_SCAN_DAYS:
        raise CalendarError(M("working days are counted over at most %(years)s years", years=MAX_SCAN_DAYS // 366))
    if end < start:
        first, last, sign = end, start - ONE_DAY, -1
    else:
        first, last, sign = start + ONE_DAY, end, 1
    count, day = 0, first
    while day <= last:
        if cal.windows_on(day):
            count += 1
        day += ONE_DAY
    return sign * count


def working_day_of(cal: Calendar, moment: dt.datetime) -> dt.date:
    """The working day an instant counts for: its own day until that day's last window
    ends, else the next working day (a ticket opened Friday 20:00 or on Saturday belongs to
    Monday). The key reports group by."""
    moment = _aware(moment)
    day = local_day(cal, moment)
    spans = intervals(cal, day)
    if spans and moment < spans[-1][1]:
        return day
    return next_working_day(cal, day)
