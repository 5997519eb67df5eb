"""Board pages over HTTP: columns, counts, cards, swimlanes, WIP flags, lazy columns and moves."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import sqlalchemy as sa

from flowdeck.engine import history, records
from flowdeck.engine.permissions import Actor
from flowdeck.engine.storage.tables import EntityTables
from tests.support.documents import board_app
from tests.support.web import csrf_token, login

BOARD = "/a/kb/task/v/board"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def et(install) -> EntityTables:
    return install(board_app()).entity("kb", "task")


@pytest.fixture
def people(make_user) -> dict[str, Actor]:
    return {
        "lea": make_user("lea", {"kb": ["lead"]}),
        "max": make_user("max", {"kb": ["member"]}),
        "vic": make_user("vic", {"kb": ["viewer"]}),
    }


def add(db, et: EntityTables, actor: Actor, state: str = "open", **values: Any) -> int:
    values.setdefault("title", "task")

    def work(conn: sa.Connection) -> int:
        record = records.create_record(conn, et, values, actor=actor)
        if state != "open":
            conn.execute(et.table.update().where(et.table.c.id == record.id).values(state=state))
        return record.id

    return db.run(work)


def stored(db, et: EntityTables, record_id: int) -> records.Record:
    return db.read(lambda c: records.fetch_record(c, et, record_id))


def page_of(client, url: str = BOARD, **headers: str) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def header(html: str, value: str) -> str:
    """The column header element of the column `value`."""
    match = re.search(r'<div class="colhead[^"]*"[^>]*data-col="' + value + r'"[^>]*>.*?\n</div>', html, re.S)
    assert match, f"no header for {value}"
    return match.group(0)


def cell(html: str, value: str) -> str:
    match = re.search(r'<ul class="cards[^"]*"[^>]*data-col="' + value + r'"[^>]*>(.*?)</ul>', html, re.S)
    assert match, f"no cell for {value}"
    return match.group(1)


def move(client, record_id: int, to: str, version: int | None = 1, *, view: str = "board", token: str | None = "", query: str = "") -> Any:
    data = {"view": view, "to": to, "query": query}
    if version is not None:
        data["version"] = str(version)
    headers = dict(HTMX)
    if token is not None:
        headers["X-CSRFToken"] = token or csrf_token(client, "/")
    return client.post(f"/a/kb/task/{record_id}/move", data=data, headers=headers)


def toast(response: Any) -> str:
    return json.loads(response.headers["HX-Trigger"])["flowdeck:toast"]["message"]


# -- rendering --------------------------------------------------------------------------


def test_board_shows_columns_counts_and_card_fields(client, db, et, people):
    """Does the board list each state as a column with its count and the cards' fields?"""
    add(db, et, people["lea"], "open", title="Write spec", priority="high", owner=people["max"].user_id)
    add(db, et, people["lea"], "open", title="Review budget")
    add(db, et, people["lea"], "working", title="Build it", helpers=[people["lea"].user_id, people["max"].user_id])
    login(client, "max")
    html = page_of(client)
    for label in ("Open", "Working", "Review", "Completed", "Cancelled"):
        assert f">{label}<" in html
    assert '<span class="count">2</span>' in header(html, "open")
    assert '<span class="count">1</span>' in header(html, "working")
    open_cards = cell(html, "open")
    assert "Write spec" in open_cards
    assert "High" in open_cards
    assert "Max" in open_cards
    assert re.search(r">Lea</span>, <span[^>]*>Max<", cell(html, "working"))
    assert 'href="/a/kb/task/' in open_cards
    assert "board.js" in html and "sortable-1.15.7.min.js" in html


def test_board_marks_wip_limits_soft_and_hard(client, db, et, people):
    """Is a column over its soft limit flagged with text, and a hard limit shown as enforced?"""
    add(db, et, people["lea"], "review")
    add(db, et, people["lea"], "review")
    add(db, et, people["lea"], "working")
    add(db, et, people["lea"], "working")
    login(client, "max")
    html = page_of(client)
    review = header(html, "review")
    assert "wip-over" in review
    assert "over its limit" in review
    assert "limit 1" in review
    working = header(html, "working")
    assert "wip-full" in working
    assert "limit 2, enforced" in working
    assert "full" in working


def test_collapsed_column_is_folded_and_loads_on_demand(client, db, et, people):
    """Is a collapsed column folded with its count, its cards loaded only when opened?"""
    add(db, et, people["lea"], "cancelled", title="Dropped idea")
    login(client, "max")
    html = page_of(client)
    head = header(html, "cancelled")
    assert "folded" in head
    assert '<span class="count">1</span>' in head
    assert "Dropped idea" not in html
    url = re.search(r'data-fold="\d+"[^>]*hx-get="([^"]+)"', head).group(1).replace("&amp;", "&")
    fragment = page_of(client, url, **HTMX)
    assert "Dropped idea" in fragment


def test_swimlanes_give_one_row_per_owner(client, db, et, people):
    """Does a swimlane board show a lane per owner and one for cards without one, named "Unassigned" (a person field)?"""
    add(db, et, people["lea"], "open", title="Mine", owner=people["max"].user_id)
    add(db, et, people["lea"], "open", title="Nobody's")
    login(client, "max")
    html = page_of(client, "/a/kb/task/v/lanes")
    lanes = re.findall(r'<h3 class="lanehead" id="l-([^"]+)">([^<]*)', html)
    assert lanes == [(str(people["max"].user_id), "Max "), ("_none", "Unassigned ")]
    assert f'data-lane="{people["max"].user_id}"' in html


def test_swimlane_column_pages_go_to_their_lanes(client, db, et, people):
    """Does a lazy page of a swimlane board append each card to its own lane's cell?"""
    owner = people["max"].user_id
    for i in range(3):
        add(db, et, people["lea"], "open", title=f"mine {i}", owner=owner)
        add(db, et, people["lea"], "open", title=f"free {i}")
    login(client, "max")
    html = page_of(client, "/a/kb/task/v/lanes?limit=2")
    assert html.count('<li id="k') == 2
    url = re.search(r'hx-get="([^"]+)" hx-trigger="revealed, click"', html).group(1).replace("&amp;", "&")
    fragment = page_of(client, url, **HTMX)
    assert f'hx-swap-oob="beforeend:#c0-{owner}"' in fragment
    assert 'hx-swap-oob="beforeend:#c0-_none"' in fragment
    assert fragment.count('<li id="k') == 4


def test_limit_caps_the_whole_board(client, db, et, people):
    """Does ?limit=N show at most N cards over the open columns, with a lazy "more" sentinel?"""
    for i in range(6):
        add(db, et, people["lea"], "open", title=f"o{i}")
    for i in range(6):
        add(db, et, people["lea"], "working", title=f"w{i}")
    login(client, "max")
    html = page_of(client, BOARD + "?limit=4")
    assert html.count('<li id="k') == 4
    assert html.count('hx-trigger="revealed, click"') == 2
    assert '<span class="count">6</span>' in header(html, "open")


def test_lazy_column_endpoint_appends_the_next_page(client, db, et, people):
    """Does the column endpoint give the next cards, out of band, with the next sentinel?"""
    ids = [add(db, et, people["lea"], "open", title=f"card {i}") for i in range(9)]
    login(client, "max")
    html = page_of(client, BOARD + "?limit=2")
    url = re.search(r'hx-get="([^"]+)" hx-trigger="revealed, click"', html).group(1).replace("&amp;", "&")
    assert "/a/kb/task/v/board/column/open?" in url
    fragment = page_of(client, url, **HTMX)
    assert [f"k{i}" for i in ids[2:7]] == re.findall(r'<li id="(k\d+)"', fragment)
    assert 'hx-swap-oob="beforeend:#c0"' in fragment
    assert "offset=7" in fragment
    last = page_of(client, url.replace("offset=2", "offset=7"), **HTMX)
    assert re.findall(r'<li id="(k\d+)"', last) == [f"k{i}" for i in ids[7:]]
    assert "hx-trigger" not in last.split("</div>")[0]


def test_lazy_column_endpoint_checks_its_arguments(client, db, et, people):
    """Does the column endpoint answer 404 for an unknown column or view, and 400 for a bad offset?"""
    login(client, "max")
    assert client.get("/a/kb/task/v/board/column/nowhere").status_code == 404
    assert client.get("/a/kb/task/v/nope/column/open").status_code == 404
    assert client.get("/a/kb/task/v/board/column/open?offset=x").status_code == 400


def test_lazy_column_endpoint_refuses_outsiders(client, db, et, people, make_user):
    """Is a user without a role in the app refused the column endpoint (403)?"""
    make_user("out")
    login(client, "out")
    assert client.get("/a/kb/task/v/board/column/open").status_code == 403


def test_quick_filters_search_and_mine(client, db, et, people):
    """Do ?q=, ?mine=1 and list-style field filters narrow the cards?"""
    add(db, et, people["lea"], "open", title="alpha", owner=people["max"].user_id, priority="low")
    add(db, et, people["lea"], "open", title="beta", priority="high")
    login(client, "max")
    assert "alpha" in page_of(client, BOARD + "?q=alp") and "beta" not in page_of(client, BOARD + "?q=alp")
    mine = page_of(client, BOARD + "?mine=1")
    assert "alpha" in mine and "beta" not in mine
    high = page_of(client, BOARD + "?priority=high")
    assert "beta" in high and "alpha" not in high
    fragment = page_of(client, BOARD + "?q=beta", **HTMX)
    assert fragment.lstrip().startswith('<div id="board"')
    assert "<html" not in fragment


def test_card_titles_are_escaped(client, db, et, people):
    """Is a title holding HTML shown as text on its card?"""
    add(db, et, people["lea"], "open", title="<img src=x onerror=alert(1)>")
    login(client, "max")
    html = page_of(client)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x" not in html


def test_viewer_gets_no_drag_handles(client, db, et, people):
    """Does a viewer see the cards without drag handles or move buttons?"""
    add(db, et, people["lea"], "open", title="Look only")
    login(client, "vic")
    html = page_of(client)
    assert "Look only" in html
    assert "data-can-move" not in html
    assert "data-drag" not in html


def test_member_gets_handles_only_where_a_transition_leaves(client, db, et, people):
    """Are cards draggable only from columns with a transition the user may perform?"""
    add(db, et, people["lea"], "open")
    add(db, et, people["lea"], "done")
    login(client, "max")
    html = page_of(client)
    assert re.search(r'data-col="open"[^>]*data-drag', html)
    assert not re.search(r'data-col="done"[^>]*data-drag', html)
    assert 'data-to="working"' in header(html, "open")


def test_outsider_cannot_see_the_board(client, db, et, people, make_user):
    """Is a user without a role in the app refused the board?"""
    make_user("out")
    login(client, "out")
    assert client.get(BOARD).status_code == 403


# -- moving -----------------------------------------------------------------------------


def test_move_performs_the_transition(client, db, et, people):
    """Does a drop change the state in the database, write history and send both headers back?"""
    rid = add(db, et, people["lea"], "open", title="Go")
    login(client, "max")
    response = move(client, rid, "working")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert stored(db, et, rid).state == "working"
    entries = db.read(lambda c: history.list_entries(c, "kb", "task", rid))
    assert entries[-1].transition == "start"
    assert entries[-1].actor_id == people["max"].user_id
    assert body.count('hx-swap-oob="true"') == 3
    assert '<span class="count">1</span>' in header(body, "working")
    assert '<span class="count">0</span>' in header(body, "open")
    assert f'id="k{rid}" data-v="2"' in body


def test_move_without_transition_is_refused_with_the_reason(client, db, et, people):
    """Is a drop with no matching transition refused (422) with a toast naming both states?"""
    rid = add(db, et, people["lea"], "done")
    login(client, "lea")
    response = move(client, rid, "open")
    assert response.status_code == 422
    assert toast(response) == "There is no step from Completed to Open."
    assert stored(db, et, rid).state == "done"
    client.post("/prefs/lang", data={"lang": "zh", "csrf_token": csrf_token(client, "/")})
    assert "已完成" in toast(move(client, rid, "open")) and "待开始" in toast(move(client, rid, "open"))


def test_move_failing_a_guard_is_refused(client, db, et, people):
    """Is a drop whose guard fails refused with the guard's message?"""
    rid = add(db, et, people["lea"], "working")
    login(client, "max")
    response = move(client, rid, "review")
    assert response.status_code == 422
    assert toast(response) == "log some hours first"


def test_move_into_a_full_column_is_refused(client, db, et, people):
    """Is a drop onto a column at its hard WIP limit refused with the limit?"""
    add(db, et, people["lea"], "working")
    add(db, et, people["lea"], "working")
    rid = add(db, et, people["lea"], "open")
    login(client, "max")
    response = move(client, rid, "working")
    assert response.status_code == 422
    assert toast(response) == "Working is at its limit of 2 cards."
    assert stored(db, et, rid).state == "open"


def test_viewer_move_is_forbidden(client, db, et, people):
    """Is a viewer's move refused with 403 and nothing changed?"""
    rid = add(db, et, people["lea"], "open")
    login(client, "vic")
    response = move(client, rid, "working")
    assert response.status_code == 403
    assert stored(db, et, rid).state == "open"


def test_member_move_needing_a_lead_is_forbidden(client, db, et, people):
    """Is a member's drop onto Completed (leads only) refused with 403 and the reason?"""
    rid = add(db, et, people["lea"], "review")
    login(client, "max")
    response = move(client, rid, "done")
    assert response.status_code == 403
    assert toast(response) == "You may not move this card from Review to Completed."


def test_move_without_csrf_token_is_refused(client, db, et, people):
    """Is a move without the CSRF token refused with 400?"""
    rid = add(db, et, people["lea"], "open")
    login(client, "max")
    response = move(client, rid, "working", token=None)
    assert response.status_code == 400
    assert stored(db, et, rid).state == "open"


def test_move_with_a_stale_version_is_a_conflict(client, db, et, people):
    """Is a drop based on an old version refused as changed by someone else (409)?"""
    rid = add(db, et, people["lea"], "open")
    db.run(lambda c: records.update_record(c, et, rid, {"title": "renamed"}, actor=people["lea"], expected_version=None))
    login(client, "max")
    response = move(client, rid, "working", version=1)
    assert response.status_code == 409
    assert "changed by someone else" in toast(response)
    assert stored(db, et, rid).state == "open"


def test_move_needs_its_version(client, db, et, people):
    """Is a move without a version (or with one that is not a number) refused with 422 and a clear toast, the card not moved?"""
    rid = add(db, et, people["lea"], "open")
    login(client, "max")
    for version in (None, "", "x"):
        response = move(client, rid, "working", version=version)
        assert response.status_code == 422
        assert "did not say which version of the record it was made on" in toast(response)
    assert stored(db, et, rid).state == "open"
    assert move(client, rid, "working", version=1).status_code == 200
    assert stored(db, et, rid).state == "working"


def test_move_needing_a_comment_asks_for_the_dialog(client, db, et, people):
    """Does a drop whose transition needs a comment answer with the dialog to open, unchanged?"""
    rid = add(db, et, people["lea"], "done")
    login(client, "lea")
    response = move(client, rid, "working")
    assert response.status_code == 200
    trigger = json.loads(response.headers["HX-Trigger"])["flowdeck:move-dialog"]
    assert trigger["url"] == f"/a/kb/task/{rid}/transition?transition=reopen&board=board"
    assert stored(db, et, rid).state == "done"


def test_move_on_an_unknown_board_or_column_is_404(client, db, et, people):
    """Is a move naming an unknown board view or column answered with 404?"""
    rid = add(db, et, people["lea"], "open")
    login(client, "max")
    assert move(client, rid, "working", view="nope").status_code == 404
    assert move(client, rid, "nowhere").status_code == 404
    assert move(client, 999999, "working").status_code == 404


def test_select_board_move_sets_the_field(client, db, et, people):
    """Does a drop on a select-field board set the field and refuse past its hard limit?"""
    rid = add(db, et, people["lea"], "open", priority="low")
    other = add(db, et, people["lea"], "open", priority="low")
    login(client, "max")
    response = move(client, rid, "high", view="priorities")
    assert response.status_code == 200
    assert stored(db, et, rid).values["priority"] == "high"
    refused = move(client, other, "high", view="priorities")
    assert refused.status_code == 422
    assert toast(refused) == "High is at its limit of 1 card."


def test_move_counts_follow_the_board_filters(client, db, et, people):
    """Do the counts sent back after a move use the board's quick filters?"""
    rid = add(db, et, people["lea"], "open", title="alpha")
    add(db, et, people["lea"], "working", title="beta")
    login(client, "max")
    response = move(client, rid, "working", query="q=alpha")
    assert '<span class="count">1</span>' in header(response.get_data(as_text=True), "working")
