"""The timeline the recompute job adds working time with gives exactly what
`arithmetic.add_working_time` gives: forward and back, from window edges, lunch breaks,
nights and weekends, across Spring Festival 2026 with its make-up days and across Berlin's
daylight-saving changes; outside its span it says None (the caller walks days instead)."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest

from flowdeck.engine.calendars import arithmetic
from flowdeck.engine.calendars.book import builtin_calendar
from flowdeck.engine.calendars.model import Calendar, Window
from flowdeck.engine.calendars.timeline import Timeline
from flowdeck.engine.schema.label import Label

BERLIN = Calendar("berlin", Label({"en": "Berlin"}), "Europe/Berlin", week=((Window(60, 240), Window(480, 1020)),) * 7)


@pytest.mark.parametrize("cal", [builtin_calendar(), BERLIN], ids=["cn", "berlin"])
def test_the_timeline_agrees_with_walking_days(cal):
    """Do 3,000 seeded moments (a third on a window edge) plus amounts from -60 to +80 hours
    (some ending exactly on an edge) give the same instant both ways, nearly all on the timeline?"""
    rng = random.Random(14)
    first, last = dt.date(2026, 1, 1), dt.date(2026, 12, 31)
    timeline = Timeline(cal, first, last + dt.timedelta(days=60))
    edges = [edge for day in (first + dt.timedelta(days=n) for n in range(365)) for span in arithmetic.intervals(cal, day) for edge in span]
    checked = 0
    for n in range(3000):
        if n % 3 == 0:
            moment = rng.choice(edges)
        else:
            local = dt.datetime(2026, 1, 2, tzinfo=cal.zone) + dt.timedelta(seconds=rng.randrange(360 * 86400))
            moment = local.astimezone(dt.UTC)
        seconds = rng.choice([rng.randrange(-60 * 3600, 80 * 3600), 1800 * rng.randrange(-40, 40), 3 * 3600, 0])
        found = timeline.add(moment, seconds)
        if found is not None:  # None only where the span ends (early January going back)
            assert found == arithmetic.add_working_time(cal, moment, dt.timedelta(seconds=seconds)), (moment, seconds)
            checked += 1
    assert checked > 2950


def test_outside_its_span_the_timeline_says_none():
    cal = builtin_calendar()
    timeline = Timeline(cal, dt.date(2026, 3, 2), dt.date(2026, 3, 6))
    monday = dt.datetime(2026, 3, 2, 9, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert timeline.add(monday, 3600) == monday.astimezone(dt.UTC) + dt.timedelta(hours=1)
    assert timeline.add(monday, 5 * 8 * 3600) is None  # 40 h: past Friday
    assert timeline.add(monday, -60) is None  # before the span
    assert timeline.add(monday - dt.timedelta(days=3), 60) is None
