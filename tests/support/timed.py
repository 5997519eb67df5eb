"""The help desk app of the time-driven transition tests: tickets resolved, reopened and
closed by the system after 7 working days on the China calendar without a reply."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

SH = ZoneInfo("Asia/Shanghai")

DOC = {
    "key": "hd",
    "label": "Help desk",
    "roles": {"agent": {}},
    "entities": {
        "ticket": {
            "fields": {"title": {"type": "text", "required": True}, "note": {"type": "text"}},
            "workflow": {
                "initial": "open",
                "states": {
                    "open": {"category": "todo"},
                    "resolved": {"label": {"en": "Resolved", "zh": "已解决"}, "category": "done"},
                    "closed": {"category": "done"},
                },
                "transitions": [
                    {"key": "resolve", "from": "open", "to": "resolved"},
                    {"key": "reopen", "from": "resolved", "to": "open"},
                    {"key": "close", "from": "resolved", "to": "closed", "roles": ["agent"]},
                    {
                        "key": "auto_close",
                        "from": "resolved",
                        "to": "closed",
                        "after": {"working_days": 7, "calendar": "cn"},
                        "restart_on_comment": True,
                    },
                ],
            },
        }
    },
}


def sh(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=SH).astimezone(dt.UTC)


class Clock:
    """A clock set by hand to a given moment."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now
