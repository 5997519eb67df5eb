"""App documents that tests install and adapt: build on these instead of writing new ones."""

from __future__ import annotations

import copy
import json
from typing import Any


def minimal_app(**entity_overrides: Any) -> dict[str, Any]:
    """A small valid app document that tests adapt."""
    entity: dict[str, Any] = {
        "label": {"en": "Task", "zh": "任务"},
        "fields": {
            "title": {"type": "text", "required": True},
            "priority": {"type": "select", "options": ["low", "normal", "high"], "default": "normal"},
            "estimate": {"type": "decimal"},
        },
        "workflow": {
            "states": {
                "todo": {"category": "todo"},
                "doing": {"category": "doing"},
                "review": {"category": "doing"},
                "done": {"category": "done"},
            },
            "transitions": [
                {"key": "start", "from": "todo", "to": "doing"},
                {"key": "submit", "from": "doing", "to": "review"},
                {"key": "approve", "from": "review", "to": "done", "roles": ["lead"]},
                {"key": "reopen", "from": ["review", "done"], "to": "todo"},
            ],
        },
    }
    entity.update(entity_overrides)
    return json.loads(
        json.dumps(
            {
                "key": "demo",
                "label": {"en": "Demo", "zh": "演示"},
                "roles": {"lead": {"label": "Lead"}, "member": {"label": "Member"}, "viewer": {"label": "Viewer"}},
                "entities": {"task": entity},
            }
        )
    )


def tracker_app() -> dict[str, Any]:
    """A task entity with every field type, sections, conditions, rules and transitions
    that need fields, a comment, or pass a guard."""
    doc = minimal_app(
        fields={
            "title": {"type": "text", "required": True, "label": {"en": "Title", "zh": "标题"}, "help": "A short summary"},
            "priority": {
                "type": "select",
                "options": [{"key": "low", "label": "Low"}, {"key": "high", "label": "High", "color": "#b3261e"}],
            },
            "estimate": {"type": "decimal", "scale": 1},
            "kind": {"type": "select", "options": ["bug", "feature"]},
            "severity": {"type": "select", "options": ["minor", "major"], "show_if": 'kind == "bug"'},
            "repro": {"type": "text", "required_if": 'severity == "major"', "label": "Steps to reproduce"},
            "notes": {"type": "markdown"},
            "due": {"type": "date"},
            "starts_at": {"type": "datetime"},
            "budget": {"type": "money", "currency": "CNY"},
            "progress": {"type": "percent"},
            "count": {"type": "integer", "min": 0},
            "urgent": {"type": "boolean"},
            "tags": {"type": "multiselect", "options": ["ui", "api"]},
            "owner": {"type": "user"},
            "watchers": {"type": "user", "many": True},
            "email": {"type": "email"},
            "site": {"type": "url"},
            "phone": {"type": "phone"},
            "parent": {"type": "reference", "to": "task"},
            "related": {"type": "reference", "to": "task", "many": True},
            "spec": {"type": "attachment", "accept": [".pdf", ".txt"], "max_size_mb": 0.01},
            "files": {"type": "attachment", "many": True},
            "number": {"type": "autonumber", "format": "T-{####}"},
            "items": {
                "type": "table",
                "fields": {
                    "name": {"type": "text", "required": True},
                    "qty": {"type": "integer"},
                    "price": {"type": "money"},
                    "amount": {"type": "computed", "formula": "qty * price", "result": "money"},
                },
            },
            "total": {"type": "computed", "formula": "sum(items.amount)", "result": "money"},
            "resolution": {"type": "text"},
            "secret": {"type": "text"},
        },
        sections=[
            {"label": {"en": "Basics", "zh": "基本"}, "fields": ["title", "priority", "kind", "severity", "repro", "notes"]},
            {"label": "Planning", "fields": ["due", "starts_at", "estimate", "budget", "progress", "count", "urgent", "tags"]},
        ],
        permissions={"create": ["lead", "member"], "update": ["lead", "member"], "delete": ["lead"]},
    )
    workflow = doc["entities"]["task"]["workflow"]
    workflow["transitions"] += [
        {"key": "finish", "from": "doing", "to": "done", "require": ["resolution"], "comment": "required", "label": "Finish"},
        {"key": "skip", "from": "todo", "to": "done", "guard": "estimate > 10", "guard_message": {"en": "Only big tasks skip the queue"}},
    ]
    workflow["rules"] = [
        {"roles": ["member"], "hidden": ["secret"]},
        {"states": ["doing"], "read_only": ["estimate"]},
    ]
    return doc


def board_app() -> dict[str, Any]:
    """A small tracker with a state board, a swimlane board and a select-field board."""
    return {
        "key": "kb",
        "label": {"en": "Kanban", "zh": "看板"},
        "roles": {"lead": {"label": "Lead"}, "member": {"label": "Member"}, "viewer": {"label": "Viewer"}},
        "entities": {
            "task": {
                "label": {"en": "Task", "zh": "任务"},
                "permissions": {"create": ["lead", "member"], "update": ["lead", "member"], "delete": ["lead"]},
                "fields": {
                    "title": {"type": "text", "required": True},
                    "priority": {"type": "select", "options": ["low", "normal", "high"], "default": "normal"},
                    "owner": {"type": "user"},
                    "helpers": {"type": "user", "many": True},
                    "hours": {"type": "decimal", "default": 0},
                    "notes": {"type": "text"},
                },
                "workflow": {
                    "states": {
                        "open": {"category": "todo", "label": {"en": "Open", "zh": "待开始"}},
                        "working": {"category": "doing", "label": {"en": "Working", "zh": "进行中"}},
                        "review": {"category": "doing", "label": {"en": "Review", "zh": "评审"}},
                        "done": {"category": "done", "label": {"en": "Completed", "zh": "已完成"}},
                        "cancelled": {"category": "done", "label": {"en": "Cancelled", "zh": "已取消"}},
                    },
                    "transitions": [
                        {"key": "start", "from": "open", "to": "working"},
                        {"key": "submit", "from": "working", "to": "review", "guard": "hours > 0", "guard_message": "log some hours first"},
                        {"key": "approve", "from": "review", "to": "done", "roles": ["lead"]},
                        {"key": "rework", "from": "review", "to": "working", "comment": "required"},
                        {"key": "reopen", "from": "done", "to": "working", "roles": ["lead"], "comment": "required"},
                        {
                            "key": "cancel",
                            "from": ["open", "working", "review"],
                            "to": "cancelled",
                            "roles": ["lead"],
                            "require": ["notes"],
                        },
                    ],
                },
                "views": {
                    "board": {
                        "type": "board",
                        "label": {"en": "Board", "zh": "看板"},
                        "group_by": "state",
                        "card": ["priority", "owner", "helpers", "hours"],
                        "wip": {"working": {"max": 2, "enforce": "block"}, "review": {"max": 1, "enforce": "warn"}},
                        "collapsed": ["cancelled"],
                        "page_size": 5,
                    },
                    "lanes": {"type": "board", "group_by": "state", "swimlanes": "owner", "card": ["priority"]},
                    "open_only": {"type": "board", "group_by": "state", "filter": {"state_category": ["todo", "doing"]}},
                    "priorities": {
                        "type": "board",
                        "group_by": "priority",
                        "card": ["owner"],
                        "wip": {"high": {"max": 1, "enforce": "block"}},
                    },
                },
            }
        },
    }


def builder_app() -> dict[str, Any]:
    """The minimal app with a list, a board with a WIP limit, two form sections and search:
    the document the visual builder's tests edit (through the page and as commands)."""
    board = {"type": "board", "label": "Board", "group_by": "state", "card": ["priority"], "wip": {"doing": {"max": 3}}}
    return minimal_app(
        views={"all": {"type": "list", "label": "All", "columns": ["title", "priority", "state"], "sort": ["-priority"]}, "board": board},
        sections=[{"label": "Main", "fields": ["title", "priority"]}, {"label": "More", "fields": ["estimate"]}],
        search=["title"],
    )


def with_task_field(document: dict, key: str, label_en: str) -> dict:
    """A copy of the bundled project document with one more text field on task."""
    changed = copy.deepcopy(document)
    changed["entities"]["task"]["fields"][key] = {"type": "text", "max_length": 200, "label": {"en": label_en, "zh": label_en}}
    return changed


def with_task_name_label(document: dict, label_en: str) -> dict:
    """A copy of the bundled project document with task's name field relabelled in English."""
    changed = copy.deepcopy(document)
    changed["entities"]["task"]["fields"]["name"]["label"]["en"] = label_en
    return changed


def effects_app() -> dict[str, Any]:
    """A task with transition `effects`, `on_create` routes and an approved transition (`approve`)."""
    doc = minimal_app()
    entity = doc["entities"]["task"]
    entity["fields"].update(
        {
            "resolved_at": {"type": "datetime", "read_only": True},
            "assignee": {"type": "user"},
            "blocked_reason": {"type": "text"},
            "reopen_count": {"type": "integer", "default": 0},
            "rank": {"type": "integer"},
            "closed_by": {"type": "user"},
        }
    )
    workflow_spec = entity["workflow"]
    workflow_spec["states"]["urgent"] = {"category": "doing"}
    workflow_spec["on_create"] = [
        {"when": "estimate > 100", "state": "review"},
        {"when": "priority == 'high'", "state": "urgent"},
    ]
    workflow_spec["transitions"] = [
        {
            "key": "start",
            "from": ["todo", "urgent"],
            "to": "doing",
            "effects": [{"set": "assignee", "to": "me"}, {"clear": "blocked_reason"}],
        },
        {
            "key": "submit",
            "from": "doing",
            "to": "review",
            "effects": [{"set": "resolved_at", "to": "now()"}, {"set": "rank", "to": "estimate * 1000"}],
        },
        {"key": "reopen", "from": ["review", "done"], "to": "todo", "effects": [{"set": "reopen_count", "to": "reopen_count + 1"}]},
        {
            "key": "approve",
            "from": "review",
            "to": "done",
            "effects": [{"set": "closed_by", "to": "me"}, {"set": "resolved_at", "to": "now()"}],
            "approval": {"steps": [{"key": "lead", "approvers": {"role": "lead"}}]},
        },
    ]
    return doc


def automation_app(*automations: dict[str, Any]) -> dict[str, Any]:
    """Tickets that may belong to a problem, problems with action items, follow-up tasks:
    the entities automations reach across, with `automations` added."""
    return {
        "key": "ops",
        "label": {"en": "Ops", "zh": "运维"},
        "roles": {"agent": {"label": "Agent"}, "lead": {"label": "Lead"}, "member": {"label": "Member"}},
        "entities": {
            "problem": {
                "fields": {
                    "title": {"type": "text", "required": True},
                    "owner": {"type": "user"},
                    "items": {"type": "table", "fields": {"what": {"type": "text"}, "hours": {"type": "integer"}}},
                },
                "workflow": {
                    "states": {"open": {"category": "todo"}, "resolved": {"category": "done"}},
                    "transitions": [{"key": "resolve", "from": "open", "to": "resolved"}],
                },
            },
            "ticket": {
                "fields": {
                    "title": {"type": "text", "required": True},
                    "priority": {"type": "select", "options": ["low", "normal", "high"], "default": "normal"},
                    "assignee": {"type": "user"},
                    "requester": {"type": "user"},
                    "note": {"type": "text"},
                    "bumps": {"type": "integer", "default": 0},
                    "handled_at": {"type": "datetime"},
                    "problem": {"type": "reference", "to": "problem"},
                    "amount": {"type": "integer"},
                },
                "workflow": {
                    "states": {
                        "new": {"category": "todo"},
                        "waiting": {"category": "doing"},
                        "closed": {"category": "done"},
                    },
                    "transitions": [
                        {"key": "wait", "from": "new", "to": "waiting"},
                        {"key": "close", "from": ["new", "waiting"], "to": "closed", "guard": "note != null"},
                        {
                            "key": "approve",
                            "from": "new",
                            "to": "closed",
                            "approval": {"steps": [{"key": "lead", "approvers": {"role": "lead"}}]},
                        },
                    ],
                },
            },
            "task": {
                "fields": {
                    "title": {"type": "text", "required": True},
                    "problem": {"type": "reference", "to": "problem"},
                    "hours": {"type": "integer"},
                    "items": {"type": "table", "fields": {"what": {"type": "text"}, "hours": {"type": "integer"}}},
                }
            },
        },
        "automations": list(automations),
    }


def rollup_app() -> dict[str, Any]:
    """Projects, milestones and tasks (a tree) with a roll-up of each kind: reverse
    references, child rows and the task tree, and a roll-up of a roll-up three levels up."""
    states = {"todo": {"category": "todo"}, "done": {"category": "done"}, "cancelled": {"category": "done"}}
    transitions = [
        {"key": "finish", "from": "todo", "to": "done"},
        {"key": "cancel", "from": ["todo", "done"], "to": "cancelled"},
        {"key": "reopen", "from": ["done", "cancelled"], "to": "todo"},
    ]
    return {
        "key": "pm",
        "label": "PM",
        "roles": {"lead": {"label": "Lead"}},
        "entities": {
            "project": {
                "fields": {
                    "name": {"type": "text", "required": True},
                    "budget": {"type": "money"},
                    "lines": {
                        "type": "table", "fields": {"item": {"type": "text"}, "amount": {"type": "money"}, "paid": {"type": "boolean"}},
                    },
                    "progress": {
                        "type": "rollup", "over": "task.project", "aggregate": "weighted_average",
                        "field": "progress", "weight": "estimate", "where": "state != 'cancelled'",
                    },
                    "cost": {
                        "type": "rollup", "over": "task.project", "aggregate": "sum", "field": "cost", "where": "state != 'cancelled'",
                    },
                    "open_tasks": {"type": "rollup", "over": "task.project", "aggregate": "count", "where": "state == 'todo'"},
                    "tasks": {"type": "rollup", "over": "task.project", "aggregate": "count"},
                    "first_due": {"type": "rollup", "over": "task.project", "aggregate": "min", "field": "due"},
                    "last_due": {"type": "rollup", "over": "task.project", "aggregate": "max", "field": "due"},
                    "max_estimate": {"type": "rollup", "over": "task.project", "aggregate": "max", "field": "estimate"},
                    "estimated": {"type": "rollup", "over": "task.project", "aggregate": "count", "field": "estimate"},
                    "mean_estimate": {"type": "rollup", "over": "task.project", "aggregate": "average", "field": "estimate"},
                    "mean_progress": {"type": "rollup", "over": "task.project", "aggregate": "average", "field": "progress"},
                    "all_done": {
                        "type": "rollup", "over": "task.project", "aggregate": "all", "condition": "state in ['done', 'cancelled']",
                    },
                    "any_blocked": {"type": "rollup", "over": "task.project", "aggregate": "any", "field": "blocked"},
                    "milestone_cost": {"type": "rollup", "over": "milestone.project", "aggregate": "sum", "field": "tree_cost"},
                    "lines_total": {"type": "rollup", "over": "lines", "aggregate": "sum", "field": "amount"},
                    "lines_paid": {"type": "rollup", "over": "lines", "aggregate": "all", "field": "paid"},
                    "remaining": {"type": "computed", "result": "money", "formula": "budget - cost"},
                },
            },
            "milestone": {
                "fields": {
                    "name": {"type": "text", "required": True},
                    "project": {"type": "reference", "to": "project"},
                    "tree_cost": {"type": "rollup", "over": "task.milestone", "aggregate": "sum", "field": "tree_cost"},
                },
            },
            "task": {
                "tree": "parent",
                "fields": {
                    "name": {"type": "text", "required": True},
                    "project": {"type": "reference", "to": "project"},
                    "milestone": {"type": "reference", "to": "milestone"},
                    "parent": {"type": "reference", "to": "task"},
                    "estimate": {"type": "integer"},
                    "progress": {"type": "percent"},
                    "cost": {"type": "money"},
                    "due": {"type": "date"},
                    "blocked": {"type": "boolean"},
                    "below_cost": {"type": "rollup", "over": "tree", "aggregate": "sum", "field": "cost"},
                    "tree_cost": {"type": "computed", "result": "money", "formula": "coalesce(cost, 0) + below_cost"},
                },
                "workflow": {"states": states, "transitions": transitions},
            },
        },
    }  # fmt: skip
