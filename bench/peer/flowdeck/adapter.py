"""Flowdeck's adapter for the shared peer harness (run by its bench.py with `Adapter` and
`dataset` already defined; it imports nothing from the harness).

The app is `bench-app.json` (app "bench", entity "ticket"); requests without a session act
as the guest user (FLOWDECK_GUEST_USER), so there is no sign-in step, as for Trac and
Redmine with anonymous permissions.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

Adapter = globals()["Adapter"]  # both given by the harness
dataset = globals()["dataset"]

BASE = "/a/bench/ticket"


class FlowdeckAdapter(Adapter):
    """Flowdeck: the list view `all`, the board view, record pages and the web forms."""

    name = "flowdeck"
    create_form_url = BASE + "/new"
    create_form = "record-form"
    transition_form = "transition-form"
    ok_status = (303,)

    def list_url(self, page: int) -> str:
        # views/listquery.py: repeated state=, priority=, sort=, per_page=, page=
        q = [("state", s) for s in dataset.OPEN_STATUSES]
        q += [("priority", "high"), ("sort", "due_date"), ("per_page", "50"), ("page", str(page))]
        return BASE + "/v/all?" + urllib.parse.urlencode(q)

    def grouped_url(self) -> str:
        # the board view (open states, collapsed done/closed): 500 cards over its 4 open columns
        return BASE + "/v/board?limit=500"

    def record_url(self, rid: int) -> str:
        return f"{BASE}/{rid}"

    def create_fields(self, rec: dict[str, Any], form: Any) -> dict[str, str]:
        # a user field's options read "Display name (@username)"; post the user's id
        people = {}
        for label, value in form.labels.get("assignee", {}).items():
            if label.endswith(")") and "(@" in label:
                people[label.rsplit("(@", 1)[1][:-1]] = value
        return {
            "summary": rec["summary"],
            "description": rec["description"],
            "priority": rec["priority"],
            "assignee": people[rec["assignee"]],
            "category": rec["category"],
            "due_date": rec["due_date"].isoformat(),
            "estimate_hours": f"{rec['estimate_hours']:g}",
        }

    def transition_fields(self, form: Any) -> dict[str, str] | None:
        # the form holds hidden from_state; its buttons are <button name="transition" value=KEY>
        # (the harness's parser does not read buttons), named as dataset.WORKFLOW's actions
        current = form.values.get("from_state", [None])[0]
        target = dataset.next_status(current)
        for action in dataset.FORWARD_ACTIONS:
            for key, sources, dst in dataset.WORKFLOW:
                if key == action and current in sources and dst == target:
                    return {"transition": key}
        return None

    def post_ok(self, status: int, headers: dict[str, str], body: str) -> bool:
        return status == 303 and BASE + "/" in headers.get("location", "")
