"""The approval marks of board cards: a "pending approval" badge, and for cards the user
must decide now, Approve / Reject (with a comment) in a small disclosure that posts to
`approvals.decide` with htmx. Which cards wait on whom is `engine.approvals.board_marks`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import url_for
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from flowdeck.engine import approvals
from flowdeck.engine.permissions import Actor
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.views.i18n import gettext as _


@dataclass
class CardMarks:
    """The marks of one board's cards. The markup is built once per page; cards only fill
    in ids."""

    marks: Mapping[int, tuple[int, bool]]
    view: str
    back: str
    _parts: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        esc = Markup.escape
        pending = esc(_("Pending approval"))  # outside the f-string, where pybabel extract finds it
        self._parts = {
            "badge": f'<span class="badge appr-badge">{pending}</span>',
            "summary": esc(_("Approve or reject")),
            "comment": esc(_("Comment (required to reject)")),
            "approve": esc(_("Approve")),
            "reject": esc(_("Reject")),
            "hidden": (
                f'<input type="hidden" name="csrf_token" value="{esc(generate_csrf())}">'
                f'<input type="hidden" name="board" value="{esc(self.view)}">'
                f'<input type="hidden" name="next" value="{esc(self.back)}">'
            ),
            "url": str(esc(url_for("approvals.decide", request_id=987654321))),
        }

    def html(self, record_id: int) -> str:
        mark = self.marks.get(record_id)
        if mark is None:
            return ""
        request_id, decide = mark
        p = self._parts
        if not decide:
            return f'<div class="appr">{p["badge"]}</div>'
        url = p["url"].replace("987654321", str(int(request_id)))
        return (
            f'<div class="appr">{p["badge"]}<details class="appr-decide"><summary>{p["summary"]}</summary>'
            f'<form method="post" action="{url}" hx-post="{url}" hx-swap="none" hx-sync="this:drop">{p["hidden"]}'
            f'<textarea name="comment" rows="2" maxlength="10000" aria-label="{p["comment"]}" placeholder="{p["comment"]}"></textarea>'
            f'<span class="appr-buttons"><button type="submit" name="decision" value="approve" class="primary">{p["approve"]}</button>'
            f'<button type="submit" name="decision" value="reject" class="danger">{p["reject"]}</button></span></form></details></div>'
        )


def card_marks(conn: sa.Connection, et: EntityTables, view_key: str, record_ids: Iterable[int], actor: Actor) -> CardMarks | None:
    """Marks for a board's cards (None, and no query, for entities without approval flows)."""
    entity = et.entity
    if entity.workflow is None or not any(t.approval for t in entity.workflow.transitions):
        return None
    marks = approvals.board_marks(conn, entity.app, entity.key, record_ids, actor.user_id)
    back = url_for("lists.view", app=entity.app, entity=entity.key, view=view_key)
    return CardMarks(marks, view_key, back)
