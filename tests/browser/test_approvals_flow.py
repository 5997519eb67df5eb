"""A two-step approval with a countersign step, decided by two approvers in two browser
contexts (the `signoff` app of the live server: step 1 `any` by ann.lead, step 2 `all`
by ann.lead and ben.audit; ann's second approval is automatic)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _badge(page: Any) -> int:
    """The approvals count in the navigation (no badge: 0)."""
    badge = page.locator(".toplinks a[href='/approvals'] .badge-count")
    return int(badge.inner_text()) if badge.count() else 0


def _inbox(page: Any) -> int:
    page.goto("/approvals")
    page.locator("#inbox").wait_for()
    return _badge(page)


def test_two_step_countersign_flow_in_two_browsers(live_server: Any, open_as: Any) -> None:
    """Does a request stay pending after the lead signs in the inbox, and end only when the countersigner approves on the record page?"""
    title = f"New forklift {uuid.uuid4().hex[:8]}"
    record = live_server.create("signoff", "request", {"title": title, "amount": "1250.00"}, by="sam.requester")
    record_url = f"/a/signoff/request/{record.id}"
    ann, ben = open_as("ann.lead"), open_as("ben.audit")
    ann_before, ben_before = _inbox(ann), _inbox(ben)

    # The requester asks for approval from the record page.
    sam = open_as("sam.requester")
    sam.goto(record_url)
    sam.locator("#transition-form button[name=transition][value=submit]").click()
    sam.locator("#dialog[open], #approvals.is-pending").first.wait_for()
    if sam.locator("#dialog[open]").count():  # the request dialog (a comment for the approvers)
        dialog = sam.locator("#dialog")
        dialog.locator("textarea[name=comment]").fill("Please sign off this week.")
        dialog.locator("form button[type=submit]").click()
    pending = sam.locator("#approvals.is-pending")
    expect(pending).to_contain_text("Lead sign-off")
    expect(sam.locator(".record-head .badge.state")).to_have_text("Draft")
    expect(sam.locator("#transition-form button[name=transition]")).to_be_disabled()

    # Step 1 (any): the lead approves from the inbox.
    assert _inbox(ann) == ann_before + 1
    assert _inbox(ben) == ben_before  # the countersign step has not opened yet
    item = ann.locator("#inbox article.approval-item", has=ann.get_by_role("link", name=title))
    expect(item).to_contain_text("Lead sign-off")
    item.locator("textarea[name=comment]").fill("Budget checked.")
    with ann.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/decide")):
        item.locator("button[name=decision][value=approve]").click()
    expect(ann.locator("#inbox article.approval-item.status-pending", has=ann.get_by_role("link", name=title))).to_have_count(0)
    assert _inbox(ann) == ann_before
    expect(ann.locator("#inbox article.approval-item", has=ann.get_by_role("link", name=title))).to_have_count(0)

    assert live_server.record("signoff", "request", record.id).state == "draft"
    sam.reload()
    expect(pending).to_contain_text("Countersign")
    expect(pending).to_contain_text("Ben Audit")  # the countersigner still to decide
    expect(sam.locator(".record-head .badge.state")).to_have_text("Draft")

    # Step 2 (all): ann's part is approved automatically; ben decides on the record page.
    assert _inbox(ben) == ben_before + 1
    expect(ben.locator("#inbox article.approval-item", has=ben.get_by_role("link", name=title))).to_contain_text("Countersign")
    ben.goto(record_url)
    with ben.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/decide")):
        ben.locator("#approvals.is-pending .decide button[name=decision][value=approve]").click()

    expect(ben.locator(".record-head .badge.state")).to_have_text("Approved")
    expect(ben.locator("#approvals.is-pending")).to_have_count(0)
    assert live_server.record("signoff", "request", record.id).state == "approved"
    assert _inbox(ben) == ben_before
    sam.reload()
    expect(sam.locator(".record-head .badge.state")).to_have_text("Approved")
    expect(sam.locator("#approvals")).to_contain_text("Budget checked.")


def test_deciding_on_a_board_card_updates_the_column_and_the_badge(live_server: Any, open_as: Any) -> None:
    """Does the lead's approval from a board card update the top bar's count at once (no
    reload), and keep the card, still pending the countersign, in its column?"""
    title = f"Board sign-off {uuid.uuid4().hex[:8]}"
    record = live_server.create("signoff", "request", {"title": title, "amount": "80.00"}, by="sam.requester")
    sam = open_as("sam.requester")
    sam.goto(f"/a/signoff/request/{record.id}")
    sam.locator("#transition-form button[name=transition][value=submit]").click()
    sam.locator("#dialog[open], #approvals.is-pending").first.wait_for()
    if sam.locator("#dialog[open]").count():
        sam.locator("#dialog form button[type=submit]").click()
    expect(sam.locator("#approvals.is-pending")).to_contain_text("Lead sign-off")

    ann = open_as("ann.lead")
    before = _inbox(ann)
    assert before >= 1
    ann.goto("/a/signoff/request/v/board")
    card = ann.locator(f"#k{record.id}")
    expect(card).to_contain_text("Pending approval")
    card.locator("details.appr-decide summary").click()
    with ann.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/decide")):
        card.locator("button[name=decision][value=approve]").click()
    expect(ann.locator(".toast")).to_contain_text("Your decision is recorded")
    if before == 1:
        expect(ann.locator("#nav-approvals .badge-count")).to_have_count(0)
    else:
        expect(ann.locator("#nav-approvals .badge-count")).to_have_text(str(before - 1))
    expect(ann.locator(f"#k{record.id}")).to_contain_text("Pending approval")
    assert live_server.record("signoff", "request", record.id).state == "draft"
