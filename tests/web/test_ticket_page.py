"""The bundled Operations ticket shows one due time per SLA: the live clocks (badges, the SLA
panel), never a stored "SLA due" beside them that could say something else (issue #14)."""

from __future__ import annotations

import pytest

from flowdeck.engine import records, workflow
from flowdeck.engine.apps import bundled_documents, read_document
from tests.support.web import login, text

STALE = {"en": ("SLA due", "SLA target (hours)", "Within SLA"), "zh": ("SLA 到期时间", "SLA 时限（小时）", "SLA 达标")}
LIVE = {"en": ("Respond by", "Resolve by"), "zh": ("响应期限", "解决期限")}


@pytest.fixture
def ticket(install, make_user, db):
    """An assigned ticket and a service desk agent who works it."""
    registry = install(read_document(next(p for p in bundled_documents() if p.stem == "operations")))
    desk = make_user("desk", {"operations": ["service_desk", "engineer"]})
    et = registry.entity("operations", "ticket")

    def work(conn):
        values = {"title": "VPN down", "category": "network", "description": "No VPN.", "requester": desk.user_id}
        made = records.create_record(conn, et, values, actor=desk)
        assign = {"support_group": "network", "assignee": desk.user_id}
        workflow.transition_record(conn, et, made.id, "assign", actor=desk, values=assign)
        return made.id

    return db.run(work)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_ticket_page_shows_only_the_live_due_times(client, ticket, lang):
    """Do the record page, its edit form, the new-ticket form and the ticket lists show the SLA clocks and no stored SLA due time?"""
    login(client, "desk")
    headers = {"Accept-Language": lang}
    page = text(client.get(f"/a/operations/ticket/{ticket}", headers=headers))
    assert 'data-field="resolution_due"' in page and 'data-field="response_due"' in page
    for path in (
        f"/a/operations/ticket/{ticket}",
        f"/a/operations/ticket/{ticket}/edit",
        "/a/operations/ticket/new",
        "/a/operations/ticket/v/all",
        "/a/operations/ticket/v/to_confirm",
    ):
        html = text(client.get(path, headers=headers))
        assert not [word for word in STALE[lang] if word in html], path
        assert 'name="sla_due"' not in html and 'data-field="sla_due"' not in html, path
    assert all(word in page for word in LIVE[lang])
