"""An app whose field rules hide fields from the viewer role, everywhere and in one state,
with a list view and a board that filter and sort by a hidden field."""

from __future__ import annotations

from typing import Any

from tests.support.documents import minimal_app


def hiding_app() -> dict[str, Any]:
    doc = minimal_app(
        search=["title", "note"],
        fields={
            "title": {"type": "text", "required": True},
            "rank": {"type": "integer"},
            "note": {"type": "text"},
            "cost": {"type": "integer"},
            "watcher": {"type": "user"},
        },
        views={
            "ranked": {"type": "list", "filter": {"rank": {"gte": 5}}, "sort": ["-rank"]},
            "board": {"type": "board", "group_by": "state", "filter": {"rank": {"gte": 5}}, "sort": ["-rank"]},
        },
    )
    doc["entities"]["task"]["workflow"]["rules"] = [
        {"roles": ["viewer"], "hidden": ["rank", "note", "watcher"]},
        {"roles": ["viewer"], "states": ["doing"], "hidden": ["cost"]},
    ]
    return doc
