"""A clock moved by hand, for the job runner and everything that runs later."""

from __future__ import annotations

import datetime as dt


class Clock:
    """A clock moved by hand, starting a minute after it is made (jobs enqueued since are due)."""

    def __init__(self) -> None:
        self.start = self.now = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=1)

    def __call__(self) -> dt.datetime:
        return self.now

    def move(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)
