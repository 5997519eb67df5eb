"""Boards in the engine: columns, counts, WIP limits, card pages and what a drop means."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from flowdeck.engine import boards, history, records
from flowdeck.engine.boards import CardFilter, MoveNeedsInput, MoveRefused
from flowdeck.engine.db import Database
from flowdeck.engine.errors import Conflict, Forbidden
from flowdeck.engine.permissions import Actor
from flowdeck.engine.schema.model import View, WipLimit
from flowdeck.engine.storage.tables import EntityTables
from tests.support.documents import board_app


@pytest.fixture
def et(install) -> EntityTables:
    return install(board_app()).entity("kb", "task")


@pytest.fixture
def lead(make_user) -> Actor:
    return make_user("lea", {"kb": ["lead"]})


@pytest.fixture
def member(make_user) -> Actor:
    return make_user("max", {"kb": ["member"]})


@pytest.fixture
def viewer(make_user) -> Actor:
    return make_user("vic", {"kb": ["viewer"]})


def view_of(et: EntityTables, key: str = "board") -> View:
    view = et.entity.view(key)
    assert view is not None
    return view


def add(db: Database, et: EntityTables, actor: Actor, state: str = "open", **values: Any) -> int:
    """Create a task and walk it to `state` with the system actor (no guards in the way)."""
    values.setdefault("title", "task")

    def work(conn: sa.Connection) -> int:
        record = records.create_record(conn, et, values, actor=actor)
        if state != "open":
            conn.execute(et.table.update().where(et.table.c.id == record.id).values(state=state))
        return record.id

    return db.run(work)


def drop(
    db: Database, et: EntityTables, record_id: int, target: str | None, actor: Actor, view: str = "board", **kwargs: Any
) -> boards.Moved:
    version = kwargs.pop("version", None)
    if version is None:
        version = db.read(lambda c: records.fetch_record(c, et, record_id)).version
    return db.run(lambda c: boards.move_card(c, et, view_of(et, view), record_id, target, actor=actor, expected_version=version, **kwargs))


def state_of(db: Database, et: EntityTables, record_id: int) -> str | None:
    return db.read(lambda c: records.fetch_record(c, et, record_id)).state


# -- columns and counts -----------------------------------------------------------------


def test_columns_follow_states_with_limits_and_folding(et):
    """Are a state board's columns the workflow states in order, with WIP limits and folding?"""
    columns = boards.board_columns(et, view_of(et))
    assert [c.value for c in columns] == ["open", "working", "review", "done", "cancelled"]
    assert columns[1].wip == WipLimit(2, "block")
    assert columns[2].wip == WipLimit(1, "warn")
    assert [c.collapsed for c in columns] == [False, False, False, False, True]
    assert columns[3].label.get("en") == "Completed"


def test_view_filter_on_state_narrows_the_columns(et):
    """Does a board filtered to open categories show only those states as columns?"""
    assert [c.value for c in boards.board_columns(et, view_of(et, "open_only"))] == ["open", "working", "review"]


def test_select_board_columns_are_the_options(et):
    """Are a select-field board's columns the field's options, plus "no value" on demand?"""
    view = view_of(et, "priorities")
    assert [c.value for c in boards.board_columns(et, view)] == ["low", "normal", "high"]
    assert [c.token for c in boards.board_columns(et, view, with_none=True)][-1] == boards.NONE_TOKEN


def test_board_counts_come_from_one_grouped_query(db, et, lead):
    """Does the board count every card per column even when it shows only a page?"""
    for _ in range(3):
        add(db, et, lead, "open")
    add(db, et, lead, "working")
    board = db.read(lambda c: boards.load_board(c, et, view_of(et), actor=lead, limit=2))
    by_value = {col.column.value: col for col in board.columns}
    assert by_value["open"].count == 3
    assert by_value["working"].count == 1
    assert sum(len(col.cards) for col in board.columns) == 2
    assert by_value["open"].more


def test_cards_hold_only_the_card_columns(db, et, lead, member):
    """Does a card row carry the title, card fields and version, and not other fields?"""
    add(db, et, lead, title="Ship it", owner=member.user_id, helpers=[lead.user_id], notes="secret notes")
    board = db.read(lambda c: boards.load_board(c, et, view_of(et), actor=lead))
    card = board.cards[0]
    assert card["title"] == "Ship it"
    assert card["owner"] == member.user_id
    assert card["helpers"] == [lead.user_id]
    assert "notes" not in card
    assert card["version"] == 1


def test_limit_is_split_over_open_columns(db, et, lead):
    """Does ?limit spread over the open columns, giving a short column's share to the others?"""
    for _ in range(10):
        add(db, et, lead, "open")
    add(db, et, lead, "working")
    for _ in range(5):
        add(db, et, lead, "cancelled")
    board = db.read(lambda c: boards.load_board(c, et, view_of(et), actor=lead, limit=8))
    shown = {col.column.value: len(col.cards) for col in board.columns}
    assert shown == {"open": 7, "working": 1, "review": 0, "done": 0, "cancelled": 0}


def test_allocate_spreads_evenly():
    """Does the split give each column an even share and redistribute what is unused?"""
    assert boards.allocate([1000, 1000, 1000, 1000], 500) == [125, 125, 125, 125]
    assert boards.allocate([10, 1000, 1000, 0], 500) == [10, 245, 245, 0]
    assert boards.allocate([3, 3], 5) == [3, 2]
    assert boards.allocate([], 5) == []


def test_column_pages_do_not_overlap(db, et, lead):
    """Do successive column pages give every card exactly once?"""
    ids = [add(db, et, lead, "open", title=f"t{i}") for i in range(7)]
    view = view_of(et)
    column = boards.board_columns(et, view)[0]
    seen: list[int] = []
    for offset in (0, 3, 6):
        data, _ = db.read(lambda c, o=offset: boards.load_column(c, et, view, column, actor=lead, offset=o, limit=3))
        seen += [card["id"] for card in data.cards]
        assert data.count == 7
    assert seen == ids


def test_quick_filters_narrow_cards_but_not_wip(db, et, lead, member):
    """Do "my cards" and search narrow cards and counts while WIP still counts the whole column?"""
    add(db, et, lead, "working", title="alpha", owner=member.user_id)
    add(db, et, lead, "working", title="beta", helpers=[member.user_id])
    add(db, et, lead, "working", title="gamma", owner=lead.user_id)
    mine = db.read(lambda c: boards.load_board(c, et, view_of(et), actor=member, cards=CardFilter(mine=True)))
    working = next(col for col in mine.columns if col.column.value == "working")
    assert sorted(card["title"] for card in working.cards) == ["alpha", "beta"]
    assert working.count == 2
    assert working.scope_count == 3
    assert working.wip == "over"
    found = db.read(lambda c: boards.load_board(c, et, view_of(et), actor=lead, cards=CardFilter(search="gam")))
    assert [card["title"] for card in found.cards] == ["gamma"]
    filtered = db.read(lambda c: boards.load_board(c, et, view_of(et), actor=lead, cards=CardFilter(conditions={"owner": "$me"})))
    assert [card["title"] for card in filtered.cards] == ["gamma"]


def test_wip_status_names_each_case():
    """Does the WIP status tell soft and hard limits apart at and over the limit?"""
    assert boards.wip_status(None, 9) == "none"
    assert boards.wip_status(WipLimit(4, "warn"), 3) == "ok"
    assert boards.wip_status(WipLimit(4, "warn"), 4) == "at"
    assert boards.wip_status(WipLimit(4, "warn"), 5) == "over"
    assert boards.wip_status(WipLimit(4, "block"), 4) == "full"
    assert boards.wip_status(WipLimit(4, "block"), 5) == "over"


def test_swimlanes_group_by_the_lane_field(db, et, lead, member):
    """Does a swimlane board give one lane per owner, plus one for cards without an owner?"""
    add(db, et, lead, "open", owner=member.user_id)
    add(db, et, lead, "working", owner=member.user_id)
    add(db, et, lead, "open")
    board = db.read(lambda c: boards.load_board(c, et, view_of(et, "lanes"), actor=lead))
    assert board.lanes is not None
    assert [(lane.value, lane.count) for lane in board.lanes] == [(member.user_id, 2), (None, 1)]
    assert board.lanes[0].cells == {"open": 1, "working": 1}
    assert board.lanes[1].token == boards.NONE_TOKEN


def test_a_viewer_cannot_read_without_role(db, et, make_user):
    """Is a user without a role in the app refused the board?"""
    outsider = make_user("out")
    with pytest.raises(Forbidden):
        db.read(lambda c: boards.load_board(c, et, view_of(et), actor=outsider))


# -- who may move -----------------------------------------------------------------------


def test_move_targets_follow_roles(et, lead, member, viewer):
    """Does each column offer the targets the actor's roles can reach, and none to a viewer?"""
    view = view_of(et)
    assert boards.move_targets(member, et, view)["review"] == ("working",)
    assert boards.move_targets(lead, et, view)["review"] == ("working", "done", "cancelled")
    assert boards.move_targets(member, et, view)["done"] == ()
    assert all(not targets for targets in boards.move_targets(viewer, et, view).values())
    assert not boards.can_move(viewer, et, view)
    assert boards.can_move(member, et, view)


# -- moving cards -----------------------------------------------------------------------


def test_drop_performs_the_transition_with_history(db, et, member):
    """Does dropping an open card on Working run "start" and record it in the history?"""
    rid = add(db, et, member)
    moved = drop(db, et, rid, "working", member)
    assert moved.transition == "start"
    assert (moved.source, moved.target) == ("open", "working")
    assert state_of(db, et, rid) == "working"
    entries = db.read(lambda c: history.list_entries(c, "kb", "task", rid))
    assert entries[-1].transition == "start"


def test_drop_without_transition_is_refused(db, et, lead):
    """Is a drop from Completed to Open refused, naming both states?"""
    rid = add(db, et, lead, "done")
    with pytest.raises(MoveRefused, match="no transition from Completed to Open"):
        drop(db, et, rid, "open", lead)
    assert state_of(db, et, rid) == "done"


def test_drop_by_a_role_without_the_transition_is_forbidden(db, et, member):
    """Is a member refused a drop onto Completed, which only leads may approve?"""
    rid = add(db, et, member, "review")
    with pytest.raises(Forbidden, match="you may not move task from Review to Completed"):
        drop(db, et, rid, "done", member)


def test_viewer_cannot_move(db, et, lead, viewer):
    """Is a viewer refused any drop?"""
    rid = add(db, et, lead)
    with pytest.raises(Forbidden):
        drop(db, et, rid, "working", viewer)
    assert state_of(db, et, rid) == "open"


def test_failing_guard_refuses_with_its_message(db, et, member):
    """Is a drop whose guard fails refused with the guard's message?"""
    rid = add(db, et, member, "working")
    with pytest.raises(MoveRefused, match="log some hours first"):
        drop(db, et, rid, "review", member)
    db.run(lambda c: records.update_record(c, et, rid, {"hours": "2"}, actor=member, expected_version=None))
    assert drop(db, et, rid, "review", member).transition == "submit"


def test_transition_needing_a_comment_asks_for_it(db, et, lead):
    """Does a drop onto a transition that needs a comment ask for it, naming the transition?"""
    rid = add(db, et, lead, "done")
    with pytest.raises(MoveNeedsInput) as caught:
        drop(db, et, rid, "working", lead)
    assert caught.value.transition == "reopen"
    assert caught.value.missing == ["comment"]
    assert state_of(db, et, rid) == "done"


def test_transition_needing_fields_names_them(db, et, lead):
    """Does a drop onto Cancelled ask for the notes the transition requires?"""
    rid = add(db, et, lead, "open")
    with pytest.raises(MoveNeedsInput) as caught:
        drop(db, et, rid, "cancelled", lead)
    assert caught.value.transition == "cancel"
    assert caught.value.missing == ["notes"]


def test_hard_wip_limit_refuses_the_drop(db, et, member):
    """Is a drop onto a column at its hard limit refused with the limit in the message?"""
    add(db, et, member, "working")
    add(db, et, member, "working")
    rid = add(db, et, member, "open")
    with pytest.raises(MoveRefused, match="Working is at its limit of 2"):
        drop(db, et, rid, "working", member)
    assert state_of(db, et, rid) == "open"


def test_soft_wip_limit_only_warns(db, et, member):
    """Does a drop past a soft limit go through and leave the column flagged?"""
    add(db, et, member, "review")
    rid = add(db, et, member, "working", hours="1")
    drop(db, et, rid, "review", member)
    board = db.read(lambda c: boards.load_board(c, et, view_of(et), actor=member))
    review = next(col for col in board.columns if col.column.value == "review")
    assert review.count == 2
    assert review.wip == "over"


def test_stale_version_is_a_conflict(db, et, member):
    """Is a drop based on an old version refused as changed by someone else?"""
    rid = add(db, et, member)
    db.run(lambda c: records.update_record(c, et, rid, {"title": "renamed"}, actor=member, expected_version=None))
    with pytest.raises(Conflict, match="changed by someone else"):
        drop(db, et, rid, "working", member, version=1)
    assert state_of(db, et, rid) == "open"


def test_drop_on_the_same_column_changes_nothing(db, et, member):
    """Does dropping a card where it already is write nothing?"""
    rid = add(db, et, member)
    moved = drop(db, et, rid, "open", member)
    assert moved.transition is None
    assert db.read(lambda c: records.fetch_record(c, et, rid)).version == 1


def test_unknown_column_is_refused(db, et, member):
    """Is a drop on a column the board does not have refused?"""
    rid = add(db, et, member)
    with pytest.raises(MoveRefused, match="not a column"):
        drop(db, et, rid, "nowhere", member)


def test_select_board_drop_updates_the_field(db, et, member):
    """Does a drop on a select board set the field, with history, and respect its hard limit?"""
    rid = add(db, et, member, priority="low")
    other = add(db, et, member, priority="low")
    moved = drop(db, et, rid, "high", member, view="priorities")
    assert moved.transition is None
    stored = db.read(lambda c: records.fetch_record(c, et, rid))
    assert stored.values["priority"] == "high"
    assert stored.version == 2
    entries = db.read(lambda c: history.list_entries(c, "kb", "task", rid))
    assert entries[-1].changes[0]["field"] == "priority"
    with pytest.raises(MoveRefused, match="High is at its limit of 1"):
        drop(db, et, other, "high", member, view="priorities")


def test_select_board_drop_to_no_value(db, et, member):
    """Does dropping on the "no value" column of a select board clear the field?"""
    rid = add(db, et, member, priority="low")
    drop(db, et, rid, None, member, view="priorities")
    assert db.read(lambda c: records.fetch_record(c, et, rid)).values["priority"] is None


def test_two_concurrent_drops_cannot_both_take_the_last_slot(db, et, member, monkeypatch):
    """With one slot left under a hard limit, does exactly one of two simultaneous drops win?"""
    add(db, et, member, "working")
    first, second = add(db, et, member), add(db, et, member)
    counting = boards.count_in_column

    def slow_count(*args: Any, **kwargs: Any) -> int:
        result = counting(*args, **kwargs)
        time.sleep(0.3)  # widen the window between counting and moving
        return result

    monkeypatch.setattr(boards, "count_in_column", slow_count)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(record_id: int) -> Callable[[], None]:
        def run() -> None:
            try:
                drop(db, et, record_id, "working", member, version=1)
                result = "moved"
            except MoveRefused as exc:
                result = f"refused: {exc}"
            with lock:
                outcomes.append(result)

        return run

    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=lambda f=attempt(rid): (barrier.wait(10), f())) for rid in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(o.split(":")[0] for o in outcomes) == ["moved", "refused"]
    working = db.read(lambda c: boards.count_in_column(c, et, view_of(et), "working", member))
    assert working == 2
