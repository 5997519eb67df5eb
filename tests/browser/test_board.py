"""Dragging cards on the bundled task board (project app) with real pointer moves."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from flowdeck.demo import MARKER_PROJECT
from flowdeck.engine import clock

pytestmark = pytest.mark.browser

MOVER = "li.na"  # a project manager: may start, submit and approve tasks


def _task(live: Any, **values: Any) -> tuple[int, str]:
    """A task of the demo project owned by the mover; returns its id and a token that
    filters the board down to it."""
    token = f"bt{uuid.uuid4().hex[:10]}"
    project = live.record_id("project", "project", name=MARKER_PROJECT)
    values = {
        "name": f"Drag check {token}",
        "project": project,
        "owner": live.user_id(MOVER),
        "due_date": clock.today() + dt.timedelta(days=14),
        **values,
    }
    record = live.create("project", "task", values, by=MOVER)
    return record.id, token


def _board(page: Any, token: str) -> None:
    page.goto(f"/a/project/task/v/board?q={token}")
    page.locator("#board[data-can-move]").wait_for()


def _cell(page: Any, record_id: int, column: str) -> Any:
    """The cell of `column` in the swimlane that holds the card."""
    return page.locator(f'#board .lane:has(#k{record_id}) ul.cards[data-col="{column}"]')


def _card_in(page: Any, record_id: int, column: str) -> Any:
    return page.locator(f'#board ul.cards[data-col="{column}"] > li#k{record_id}')


def _drag(page: Any, record_id: int, column: str) -> Any:
    """Drag the card onto the column's cell the way a person does (Sortable listens to
    pointer events): press on the card, move past the drag threshold, move over the
    target in steps, release. Returns the server's answer to the move."""
    card = page.locator(f"#board li#k{record_id}")
    target = _cell(page, record_id, column)
    card.scroll_into_view_if_needed()
    start, end = card.bounding_box(), target.bounding_box()
    assert start and end
    x, y = start["x"] + 12, start["y"] + start["height"] / 2
    tx, ty = end["x"] + end["width"] / 2, end["y"] + min(end["height"] / 2, 40)
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith(f"/{record_id}/move")) as answer:
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 12, y + 6, steps=4)
        expect(page.locator("#board.dragging")).to_be_visible()
        page.mouse.move(tx, ty, steps=20)
        page.mouse.move(tx + 2, ty + 2, steps=2)
        page.mouse.up()
    return answer.value


def test_drag_card_to_next_column_persists(live_server: Any, open_as: Any) -> None:
    """Does dragging a card from To do to In progress start the task, and is it still there after a reload?"""
    record_id, token = _task(live_server)
    page = open_as(MOVER)
    _board(page, token)
    expect(_card_in(page, record_id, "open")).to_be_visible()

    response = _drag(page, record_id, "in_progress")

    assert response.status == 200
    expect(_card_in(page, record_id, "in_progress")).to_be_visible()
    expect(_card_in(page, record_id, "open")).to_have_count(0)
    page.reload()
    expect(_card_in(page, record_id, "in_progress")).to_be_visible()
    expect(page.locator(f"#board li#k{record_id}")).to_have_count(1)
    assert live_server.record("project", "task", record_id).state == "in_progress"


def test_drag_to_column_without_transition_explains_and_puts_back(live_server: Any, open_as: Any) -> None:
    """Does a drop on a column no transition leads to show why in a toast and put the card back?"""
    record_id, token = _task(live_server)
    page = open_as(MOVER)
    _board(page, token)

    response = _drag(page, record_id, "in_review")

    assert response.status == 422
    expect(page.locator("#toasts .toast.error")).to_have_text("There is no step from To do to In review.")
    expect(_card_in(page, record_id, "open")).to_be_visible()
    expect(_card_in(page, record_id, "in_review")).to_have_count(0)
    expect(page.locator("#dialog")).not_to_have_attribute("open", "")
    record = live_server.record("project", "task", record_id)
    assert (record.state, record.version) == ("open", 1)


def test_drag_that_needs_fields_opens_dialog_and_completes(live_server: Any, open_as: Any) -> None:
    """Does dropping a task on Done ask for the completion date in a dialog, and does the move complete once it is given?"""
    record_id, token = _task(live_server, progress=100, actual_hours=6)
    live_server.transition("project", "task", record_id, "start", by=MOVER)
    live_server.transition("project", "task", record_id, "submit_review", by=MOVER)
    page = open_as(MOVER)
    _board(page, token)
    expect(_card_in(page, record_id, "in_review")).to_be_visible()

    response = _drag(page, record_id, "done")

    assert response.status == 200
    dialog = page.locator("#dialog")
    expect(dialog).to_have_attribute("open", "")
    expect(_card_in(page, record_id, "in_review")).to_be_visible()  # not moved until the dialog is done
    completed = clock.today() - dt.timedelta(days=1)
    dialog.locator('input[name="completed_on"]').fill(completed.isoformat())
    dialog.locator("form.transition-dialog button[type=submit]").click()

    expect(_card_in(page, record_id, "done")).to_be_visible()
    expect(dialog).not_to_have_attribute("open", "")
    record = live_server.record("project", "task", record_id)
    assert record.state == "done"
    assert record.values["completed_on"] == completed
    page.reload()
    expect(_card_in(page, record_id, "done")).to_be_visible()
