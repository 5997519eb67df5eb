"""The demo's content, read from `data/*.json`.

`people.json` holds the demo users (display name, roles per app, department and manager)
and the departments (parents before children). `project.json` and `operations.json` hold
each app's records in the order they are written, each with the user who creates it, when
(`at`, see `timeline.py`), its values and its scripted steps:

    {"ref": "wms", "entity": "project", "by": "li.na", "at": -150, "values": {...},
     "steps": [{"do": "ask:approve", "by": "li.na", "at": -145, "comment": "...", "values": {...}}]}

A step's `do` is a transition key, `edit` (a plain update), `ask:<transition>` (ask for
approval) or `decide:yes` / `decide:no` (decide the record's pending request). User fields
name demo usernames, reference fields name an earlier record's `ref`. A `wbs_for` entry is a
project's work breakdown as its manager plans it: `records` expands each task into a record
whose steps walk the workflow up to the task's state.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from importlib.resources import files
from typing import Any

APPS = ("project", "operations")
"""The bundled apps the demo fills, in the order it fills them."""


@cache
def read(name: str) -> Any:
    """A data file of the demo (`people`, or an app key), parsed."""
    return json.loads((files("flowdeck.demo") / "data" / f"{name}.json").read_text(encoding="utf-8"))


def records(app: str) -> list[dict[str, Any]]:
    """The app's demo records in writing order, work breakdowns expanded into tasks."""
    out: list[dict[str, Any]] = []
    for item in read(app)["records"]:
        out += _wbs(item) if "wbs_for" in item else [item]
    return out


def _wbs(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Summary tasks first, then their children (as listed); each task is created by the
    manager, started and worked by its owner, sent for review and approved by the manager as
    far as its state says."""
    project, manager = plan["wbs_for"], plan["manager"]
    codes = [task["wbs"] for task in plan["tasks"]]
    out = []
    for task in plan["tasks"]:
        code, owner, start, due, state = task["wbs"], task["owner"], task["start"], task["due"], task["state"]
        progress = task.get("progress", 0)
        is_group = any(c.startswith(code + ".") for c in codes)
        parent = code.rsplit(".", 1)[0] if "." in code else None
        extra = dict(task.get("extra") or {})
        values = {
            "wbs_code": code,
            "name": task["name"],
            "project": project,
            "parent": f"{project}/{parent}" if parent else None,
            "is_group": is_group,
            "task_type": task["type"],
            "priority": extra.pop("priority", "medium"),
            "owner": owner,
            "assignees": [owner, *extra.pop("helpers", ())],
            "planned_start": {"$date": start},
            "due_date": {"$date": due},
            "estimate_hours": None if is_group else task["estimate"],
            "depends_on": [f"{project}/{c}" for c in extra.pop("depends_on", ())],
        }
        hours = Decimal(task["estimate"]) * Decimal(progress) / 100 if not is_group else 0
        steps: list[dict[str, Any]] = []
        if state != "open":
            steps.append({"do": "start", "by": owner, "at": start})
        if state in ("in_review", "done"):
            finish = min(due, 0) - 2
            steps.append(
                {"do": "edit", "by": owner, "at": finish, "values": {"progress": 100, "actual_hours": round(hours * Decimal("1.1"), 1)}}
            )
            steps.append({"do": "submit_review", "by": owner, "at": finish + 0.2, "comment": plan["review_comment"]})
        elif state == "in_progress" and (progress or extra):
            steps.append({"do": "edit", "by": owner, "at": -1, "values": {"progress": progress, "actual_hours": round(hours, 1), **extra}})
        if state == "done":
            done_day = min(due, 0) - 1
            steps.append({"do": "approve", "by": manager, "at": done_day, "values": {"completed_on": {"$date": done_day}}})
        out.append(
            {"ref": f"{project}/{code}", "entity": "task", "by": manager, "at": min(start - 5, -2), "values": values, "steps": steps}
        )
    return out


def _people() -> Mapping[str, Any]:
    return read("people")  # type: ignore[no-any-return]


DEMO_USERS: tuple[tuple[str, str, Mapping[str, tuple[str, ...]]], ...] = tuple(
    (user["username"], user["display_name"], {app: tuple(roles) for app, roles in user["roles"].items()}) for user in _people()["users"]
)
"""username, display name, roles per app."""

DEMO_DEPARTMENTS: tuple[tuple[str, str, str, str | None, str], ...] = tuple(
    (d["key"], d["name"], d["name_zh"], d["parent"], d["head"]) for d in _people()["departments"]
)
"""key, name, Chinese name, parent key, head (username); parents before children."""

DEMO_PLACEMENT: Mapping[str, tuple[str, str | None]] = {
    user["username"]: (user["department"], user["manager"]) for user in _people()["users"] if "department" in user
}
"""username: (department key, manager username); a user without a department (the bank's
customer representative) is outside the company."""

MARKER_PROJECT: str = read("project")["marker"]
"""The name of the project whose presence means the demo is loaded."""
