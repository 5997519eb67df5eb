"""A helpdesk app with SLAs on the `cn` calendar, shared by the SLA tests."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

SH = ZoneInfo("Asia/Shanghai")

DESK: dict[str, Any] = {
    "key": "desk",
    "label": "Desk",
    "roles": {"agent": {}, "manager": {}, "requester": {}},
    "entities": {
        "ticket": {
            "fields": {
                "title": {"type": "text", "required": True},
                "priority": {"type": "select", "options": ["p1", "p2", "p3"], "default": "p3"},
                "assignee": {"type": "user"},
            },
            "workflow": {
                "initial": "new",
                "states": {
                    "new": {"category": "todo"},
                    "open": {"category": "doing"},
                    "waiting_requester": {"category": "doing"},
                    "resolved": {"category": "done"},
                    "closed": {"category": "done"},
                },
                "transitions": [
                    {"key": "take", "from": ["new"], "to": "open"},
                    {"key": "wait", "from": ["open"], "to": "waiting_requester"},
                    {"key": "answered", "from": ["waiting_requester"], "to": "open"},
                    {"key": "resolve", "from": ["open", "waiting_requester"], "to": "resolved"},
                    {"key": "reopen", "from": ["resolved"], "to": "open"},
                    {"key": "close", "from": ["resolved"], "to": "closed"},
                ],
            },
            "slas": [
                {
                    "key": "response",
                    "label": {"en": "Time to first response", "zh": "首次响应时限"},
                    "start": {"on": "created"},
                    "stop": {"event": "comment", "roles": ["agent"]},
                    "goals": [
                        {"when": "priority == 'p1'", "duration": {"working_hours": 1, "calendar": "cn"}},
                        {"duration": {"working_hours": 4, "calendar": "cn"}},
                    ],
                },
                {
                    "key": "resolution",
                    "label": {"en": "Time to resolution", "zh": "解决时限"},
                    "start": {"on": "created"},
                    "pause": {"states": ["waiting_requester"]},
                    "stop": {"states": ["resolved", "closed"]},
                    "goals": [
                        {"when": "priority == 'p1'", "duration": {"working_hours": 4, "calendar": "cn"}},
                        {"when": "priority == 'p2'", "duration": {"working_hours": 8, "calendar": "cn"}},
                        {"duration": {"working_hours": 16, "calendar": "cn"}},
                    ],
                    "warning": 75,
                },
            ],
        }
    },
}


def desk() -> dict[str, Any]:
    return copy.deepcopy(DESK)


def sh(*parts: int) -> dt.datetime:
    """A Shanghai wall-clock moment as an aware UTC datetime."""
    return dt.datetime(*parts, tzinfo=SH).astimezone(dt.UTC)
