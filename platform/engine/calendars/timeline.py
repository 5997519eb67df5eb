"""A calendar's working intervals over a span of days laid end to end, for adding working
time to many moments at once (the `calendars.recompute` job: 100,000 cycles in seconds).

`arithmetic.add_working_time` walks day by day for each call; here the intervals of the
span are turned once into integer microseconds with the working time before each, so one
addition is two binary searches. The results are exactly those of `add_working_time` (the
same edges: a window's start counts, an amount that runs out at a window's end gives that
end, going back it gives the later window's start); a moment or result outside the span
returns None and the caller falls back to `add_working_time`.
"""

from __future__ import annotations

import bisect
import datetime as dt

from flowdeck.engine.calendars import arithmetic
from flowdeck.engine.calendars.model import Calendar

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MICRO = dt.timedelta(microseconds=1)


def _micros(moment: dt.datetime) -> int:
    return (moment - EPOCH) // MICRO  # aware datetimes subtract across zones


class Timeline:
    """The working intervals of `cal` on the local days `first` to `last`."""

    def __init__(self, cal: Calendar, first: dt.date, last: dt.date) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.before: list[int] = []
        """Working microseconds of the span before each interval."""
        self.until: list[int] = []
        """... and up to each interval's end."""
        self.low = _micros(dt.datetime.combine(first, dt.time(), tzinfo=cal.zone))
        """The span's first local midnight: a moment before it is not on the timeline."""
        total, day = 0, first
        while day <= last:
            for start, end in arithmetic.intervals(cal, day):
                low, high = _micros(start), _micros(end)
                self.starts.append(low)
                self.ends.append(high)
                self.before.append(total)
                total += high - low
                self.until.append(total)
            day += arithmetic.ONE_DAY

    def add(self, moment: dt.datetime, seconds: int) -> dt.datetime | None:
        """`add_working_time(cal, moment, seconds)`, or None when the span cannot say."""
        return self.add_each(moment, (seconds,))[0]

    def add_each(self, moment: dt.datetime, amounts: tuple[int, ...]) -> list[dt.datetime | None]:
        """`add` of several amounts of seconds to one moment (the moment placed once)."""
        at = _micros(moment)
        i = bisect.bisect_right(self.ends, at)  # the first interval ending after the moment
        if not self.starts or i == len(self.starts) or at < self.low:
            return [None if seconds else moment.astimezone(dt.UTC) for seconds in amounts]
        position = self.before[i] + max(0, at - self.starts[i])
        return [self._at(position + seconds * 1_000_000, seconds) if seconds else moment.astimezone(dt.UTC) for seconds in amounts]

    def _at(self, target: int, seconds: int) -> dt.datetime | None:
        """The moment `target` working microseconds into the span (going forward or back)."""
        if seconds > 0:
            j = bisect.bisect_left(self.until, target)
            if j == len(self.until):
                return None
        else:
            j = bisect.bisect_right(self.before, target) - 1
            if j < 0 or target < 0:
                return None
        return EPOCH + dt.timedelta(microseconds=self.starts[j] + target - self.before[j])
