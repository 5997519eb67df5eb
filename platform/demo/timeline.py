"""Demo times relative to the day of the load, so the data always looks current.

The data names moments by days from today, never by calendar dates:

- a number (`-150`, `-9.8`) as a record's or a step's `at`: that many days from today at
  10:00 Beijing time;
- `{"$date": -300}`: the date 300 days ago (a date field);
- `{"$at": [-2, "20:15"]}`: 20:15 Beijing time two days ago; `"$plus_hours": 72` adds hours
  afterwards (an SLA deadline);
- `{"$plan": [3, "01:00"]}`: a planned moment, which may lie in the future (a change window).

Every moment but a planned one is capped at the time of the load: work is never done in
the future.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

CST = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


@dataclass(frozen=True)
class Timeline:
    today: dt.date
    now: dt.datetime

    def day(self, days: int) -> dt.date:
        return self.today + dt.timedelta(days=days)

    def wall(self, days: int, clock: str) -> dt.datetime:
        """A Beijing wall-clock time `days` from today, possibly in the future."""
        hour, minute = (int(part) for part in clock.split(":"))
        return dt.datetime.combine(self.day(days), dt.time(hour, minute), tzinfo=CST).astimezone(dt.UTC)

    def moment(self, when: Any) -> dt.datetime:
        """When a record is created or a step taken: days from today at 10:00, or a `$at`."""
        if isinstance(when, (int, float)):
            start = dt.datetime.combine(self.today, dt.time(10), tzinfo=CST).astimezone(dt.UTC)
            return min(start + dt.timedelta(days=when), self.now)
        return min(self.value(when), self.now)

    def value(self, raw: Any) -> Any:
        """A value of the data with its relative dates and times resolved (also inside line items)."""
        if isinstance(raw, list):
            return [self.value(item) for item in raw]
        if not isinstance(raw, dict):
            return raw
        if not (raw and all(key.startswith("$") for key in raw)):
            return {key: self.value(item) for key, item in raw.items()}
        if "$date" in raw:
            return self.day(raw["$date"])
        if "$plan" in raw:
            return self.wall(*raw["$plan"])
        if "$at" in raw:
            return min(self.wall(*raw["$at"]), self.now) + dt.timedelta(hours=raw.get("$plus_hours", 0))
        raise ValueError(f"not a demo time: {raw}")
