"""App versions: the list (who, when, why), documents of old versions, differences in plain
words, and rollback applied as a new version (with choices when data must move), through
the engine and the `flowdeck versions` / `flowdeck rollback` commands."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import pytest

from flowdeck.engine import versions, workflow
from flowdeck.engine.apps import checksum
from flowdeck.engine.db import Database
from flowdeck.engine.errors import ChoicesNeeded, Forbidden, NotFound
from flowdeck.engine.messages import english
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog
from flowdeck.engine.versions import Change, VersionInfo, diff_documents
from tests.support.documents import minimal_app
from tests.support.versions import apply, create, fetch, second_version, with_blocked


def test_list_versions_names_author_time_message_and_checksum(db, install, make_user):
    """Does list_versions give every version oldest first, with its author's name, time, message and checksum?"""
    install(minimal_app())
    ivan = make_user("ivan", is_admin=True)
    started = dt.datetime.now(dt.UTC)
    apply(db, second_version(), ivan, message="due dates, cost")
    listed = db.read(lambda c: versions.list_versions(c, "demo"))
    assert [v.version for v in listed] == [1, 2]
    first, second = listed
    assert isinstance(second, VersionInfo)
    assert (first.author_id, first.author_name, first.message) == (None, None, None)
    assert (second.author_id, second.author_name, second.message) == (ivan.user_id, "Ivan", "due dates, cost")
    assert second.checksum == checksum(second_version()) and first.checksum == checksum(minimal_app())
    assert second.created_at.tzinfo is not None and second.created_at >= started - dt.timedelta(seconds=5)
    with pytest.raises(NotFound):
        db.read(lambda c: versions.list_versions(c, "nope"))


def test_get_document_returns_each_applied_document(db, install):
    """Does get_document return exactly the document applied as each version, and NotFound for a version never applied?"""
    install(minimal_app())
    apply(db, second_version())
    assert db.read(lambda c: versions.get_document(c, "demo", 1)) == minimal_app()
    assert db.read(lambda c: versions.get_document(c, "demo", 2)) == second_version()
    with pytest.raises(NotFound, match="has no version 3"):
        db.read(lambda c: versions.get_document(c, "demo", 3))


def test_diff_summarises_each_change_in_plain_words():
    """Does diff_documents give one change per difference with its JSON path, kind, old and new values and a plain summary?"""
    changes = diff_documents(minimal_app(), second_version())
    by_summary = {str(c.summary): c for c in changes}
    added = by_summary["adds field task.due (date)"]
    assert Change(added.path, added.kind, added.old, added.new, str(added.summary)) == Change(
        "entities.task.fields.due", "added", None, {"type": "date"}, "adds field task.due (date)"
    )
    rename = by_summary["renames field estimate to cost"]
    assert (rename.path, rename.kind, rename.old, rename.new) == (
        "entities.task.fields.cost",
        "changed",
        {"type": "decimal"},
        {"type": "decimal", "was": "estimate"},
    )
    label = by_summary["changes the label of state review"]
    assert (label.path, label.kind, label.new) == (
        "entities.task.workflow.states.review.label",
        "added",
        {"en": "In review", "zh": "评审中"},
    )
    removed = by_summary["removes transition approve"]
    assert (removed.path, removed.kind, removed.new) == ("entities.task.workflow.transitions[2]", "removed", None)
    assert removed.old["to"] == "done"
    assert len(changes) == 4, english(c.summary for c in changes)
    assert diff_documents(second_version(), second_version()) == []


def test_diff_names_type_option_state_and_transition_changes():
    """Does the diff describe a type change, added and removed options, a changed state label and category, and a changed target state?"""
    old = minimal_app()
    old["entities"]["task"]["workflow"]["states"]["review"]["label"] = "Review"
    new = copy.deepcopy(old)
    task = new["entities"]["task"]
    task["fields"]["estimate"] = {"type": "integer"}
    task["fields"]["priority"]["options"] = ["low", "normal", "urgent"]
    task["workflow"]["states"]["review"] = {"label": "Reviewing", "category": "done"}
    task["workflow"]["states"]["blocked"] = {"category": "doing"}
    task["workflow"]["transitions"][0]["to"] = "review"
    task["views"] = {"board": {"type": "board", "group_by": "state"}}
    del new["roles"]["viewer"]
    summaries = english(c.summary for c in diff_documents(old, new))
    assert summaries == [
        "removes role viewer",
        "adds option urgent to field task.priority",
        "removes option high of field task.priority",
        "changes the type of field task.estimate from decimal to integer",
        "changes the label of state review",
        'changes the category of state review from "doing" to "done"',
        "adds state blocked",
        'changes the target state of transition start from "doing" to "review"',
        "adds view task.board",
    ]


def test_rollback_applies_the_old_document_as_a_new_version(db, install, make_user):
    """Does rolling back to v1 apply v1's document as v3 ("rollback to v1"), bringing back the renamed field's data under its old key?"""
    install(minimal_app())
    rec = create(db, {"title": "a", "estimate": "2.5"})
    apply(db, second_version())
    assert fetch(db, rec.id).values["cost"] == Decimal("2.50")
    ivan = make_user("ivan", is_admin=True)
    other_db = Database(db.url)
    try:
        other = Catalog(other_db)
        assert other.current().versions["demo"] == 2
        result = versions.rollback(db, "demo", 1, actor=ivan)
        assert result.applied and result.version == 3
        assert other.current().versions["demo"] == 3, "another worker sees the rollback on its next use"
        assert other.current().entity("demo", "task").entity.field("due") is None
    finally:
        other_db.dispose()
    listed = db.read(lambda c: versions.list_versions(c, "demo"))
    assert (listed[-1].version, str(listed[-1].message), listed[-1].author_id) == (3, "rollback to v1", ivan.user_id)
    assert db.read(lambda c: versions.get_document(c, "demo", 3)) == minimal_app()
    values = fetch(db, rec.id).values
    assert values["estimate"] == Decimal("2.50") and "due" not in values


def test_rollback_that_moves_data_needs_choices(db, install, make_user):
    """Does a rollback to a version without a state that records are in ask where they go, and move them with the answer?"""
    install(minimal_app())
    apply(db, with_blocked())
    rec = create(db, {"title": "a"})
    et = Catalog(db).current().entity("demo", "task")
    for key in ("start", "block"):
        db.run(lambda c, k=key: workflow.transition_record(c, et, rec.id, k, actor=Actor.system()))
    admin = make_user("root", is_admin=True)
    with pytest.raises(ChoicesNeeded) as caught:
        versions.rollback(db, "demo", 1, actor=admin)
    assert [(q.id, q.count) for q in caught.value.questions] == [("state:task:blocked", 1)]
    assert db.read(lambda c: versions.list_versions(c, "demo"))[-1].version == 2
    result = versions.rollback(db, "demo", 1, actor=admin, choices={"state:task:blocked": "doing"})
    assert result.version == 3
    assert fetch(db, rec.id).state == "doing"
    member = make_user("mia", {"demo": ["lead"]})
    with pytest.raises(Forbidden):
        versions.rollback(db, "demo", 2, actor=member)


def test_rollback_of_a_type_change_restores_the_old_values(db, install):
    """Does rolling back a text→decimal change whose bad values were cleared bring every original text back?"""
    doc = minimal_app()
    doc["entities"]["task"]["fields"]["budget"] = {"type": "text"}
    install(doc)
    ids = [create(db, {"title": "a", "budget": value}).id for value in ("12.5", "abc", "1,200")]
    retyped = copy.deepcopy(doc)
    retyped["entities"]["task"]["fields"]["budget"] = {"type": "decimal"}
    apply(db, retyped, choices={"type:task:budget": "clear"})
    assert [fetch(db, i).values["budget"] for i in ids] == [Decimal("12.50"), None, Decimal("1200.00")]
    result = versions.rollback(db, "demo", 1, actor=Actor.system())
    assert result.plan.questions == []
    assert [fetch(db, i).values["budget"] for i in ids] == ["12.5", "abc", "1,200"]


# -- the command line ------------------------------------------------------------------------
