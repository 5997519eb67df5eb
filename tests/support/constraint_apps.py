"""An app document using every kind of rule across records (`constraints`): leave that must
not overlap and must fit the allowance, one report per team and week, key results weighing
100 % together, milestones accepted only when their tasks are done."""

from __future__ import annotations

import copy
from typing import Any

APP = "rules"


def _flow(states: list[str], transitions: list[tuple[str, str, str]]) -> dict[str, Any]:
    categories = {0: "todo"}
    return {
        "states": {s: {"category": categories.get(i, "done" if i == len(states) - 1 else "doing")} for i, s in enumerate(states)},
        "transitions": [{"key": k, "from": a, "to": b} for k, a, b in transitions],
    }


RULES_APP: dict[str, Any] = {
    "key": APP,
    "label": "Rules",
    "roles": {"member": {}},
    "entities": {
        "employee": {"fields": {"name": {"type": "text", "required": True}}},
        "leave": {
            "label": {"en": "Leave request", "zh": "请假申请"},
            "fields": {
                "title": {"type": "text", "required": True},
                "employee": {"type": "reference", "to": "employee"},
                "start_date": {"type": "date"},
                "end_date": {"type": "date"},
                "days": {"type": "integer"},
                "year": {"type": "integer"},
                "allowance": {"type": "integer"},
            },
            "workflow": _flow(
                ["draft", "pending", "rejected", "approved"],
                [
                    ("submit", "draft", "pending"),
                    ("approve", "pending", "approved"),
                    ("reject", "pending", "rejected"),
                    ("reopen", "rejected", "draft"),
                ],
            ),
            "constraints": [
                {
                    "key": "no_overlap",
                    "message": {"en": "Leave must not overlap", "zh": "请假时间不能重叠"},
                    "no_overlap": {"start": "start_date", "end": "end_date", "scope": ["employee"]},
                    "where": "state != 'rejected'",
                },
                {
                    "key": "balance",
                    "total": {
                        "field": "days",
                        "scope": ["employee", "year"],
                        "where": "state in ['pending', 'approved']",
                        "max": "allowance",
                    },
                },
            ],
        },
        "report": {
            "fields": {"title": {"type": "text", "required": True}, "team": {"type": "text"}, "week": {"type": "text"}},
            "constraints": [{"key": "one_per_week", "unique": ["team", "week"]}],
        },
        "objective": {
            "fields": {"title": {"type": "text", "required": True}},
            "workflow": _flow(["draft", "submitted"], [("submit", "draft", "submitted")]),
            "constraints": [
                {
                    "key": "weights_100",
                    "total": {"entity": "key_result", "via": "objective", "field": "weight", "equals": 100},
                    "on": ["submit"],
                }
            ],
        },
        "key_result": {
            "fields": {
                "title": {"type": "text", "required": True},
                "objective": {"type": "reference", "to": "objective"},
                "weight": {"type": "percent"},
            },
            "constraints": [{"key": "weights_at_most_100", "total": {"field": "weight", "scope": ["objective"], "max": 100}}],
        },
        "milestone": {
            "fields": {"title": {"type": "text", "required": True}},
            "workflow": _flow(["open", "closed", "accepted"], [("accept", "open", "accepted"), ("close", "open", "closed")]),
            "constraints": [
                {"key": "tasks_done", "none": {"entity": "task", "via": "milestone", "where": "state != 'done'"}, "on": ["accept"]},
                {"key": "has_tasks", "exists": {"entity": "task", "via": "milestone"}, "on": ["accept"]},
                {"key": "all_done", "all": {"entity": "task", "via": "milestone", "where": "state == 'done'"}, "on": ["close"]},
            ],
        },
        "task": {
            "fields": {
                "title": {"type": "text", "required": True},
                "milestone": {"type": "reference", "to": "milestone"},
                "depends_on": {"type": "reference", "to": "task", "many": True},
            },
            "workflow": _flow(["open", "done"], [("finish", "open", "done"), ("reopen", "done", "open")]),
            "constraints": [
                {"key": "dependents_open", "none": {"entity": "task", "via": "depends_on", "where": "state == 'done'"}, "on": ["reopen"]}
            ],
        },
    },
}


def rules_app() -> dict[str, Any]:
    return copy.deepcopy(RULES_APP)
