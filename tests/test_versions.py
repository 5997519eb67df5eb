"""App versions: the list (who, when, why), documents of old versions, differences in plain
words, and rollback applied as a new version (with choices when data must move), through
the engine and the `flowdeck versions` / `flowdeck rollback` commands."""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner

from flowdeck.cli import main
from flowdeck.engine import records, versions, workflow
from flowdeck.engine.apps import apply_document, checksum
from flowdeck.engine.db import Database
from flowdeck.engine.errors import ChoicesNeeded, Forbidden, NotFound
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog
from flowdeck.engine.versions import Change, VersionInfo, diff_documents
from tests.conftest import minimal_app


def apply(db: Database, document: dict[str, Any], actor: Actor | None = None, **kwargs: Any) -> Any:
    return apply_document(db, copy.deepcopy(document), actor=actor or Actor.system(), **kwargs)


def create(db: Database, values: dict[str, Any]) -> records.Record:
    et = Catalog(db).current().entity("demo", "task")
    return db.run(lambda c: records.create_record(c, et, values, actor=Actor.system()))


def fetch(db: Database, record_id: int) -> records.Record:
    et = Catalog(db).current().entity("demo", "task")
    return db.read(lambda c: records.fetch_record(c, et, record_id))


def second_version() -> dict[str, Any]:
    """v2: adds `due`, renames `estimate` to `cost`, relabels `review`, removes `approve`."""
    doc = minimal_app()
    task = doc["entities"]["task"]
    fields = task["fields"]
    fields["due"] = {"type": "date"}
    fields["cost"] = {**fields.pop("estimate"), "was": "estimate"}
    task["workflow"]["states"]["review"]["label"] = {"en": "In review", "zh": "评审中"}
    task["workflow"]["transitions"] = [t for t in task["workflow"]["transitions"] if t["key"] != "approve"]
    return doc


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
    by_summary = {c.summary: c for c in changes}
    assert by_summary["adds field task.due (date)"] == Change(
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
    assert len(changes) == 4, [c.summary for c in changes]
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
    summaries = [c.summary for c in diff_documents(old, new)]
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
    assert (listed[-1].version, listed[-1].message, listed[-1].author_id) == (3, "rollback to v1", ivan.user_id)
    assert db.read(lambda c: versions.get_document(c, "demo", 3)) == minimal_app()
    values = fetch(db, rec.id).values
    assert values["estimate"] == Decimal("2.50") and "due" not in values


def with_blocked() -> dict[str, Any]:
    doc = minimal_app()
    doc["entities"]["task"]["workflow"]["states"]["blocked"] = {"category": "doing"}
    doc["entities"]["task"]["workflow"]["transitions"].append({"key": "block", "from": "doing", "to": "blocked"})
    return doc


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


@pytest.fixture
def cli(db, monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWDECK_DATABASE_URL", db.url)
    monkeypatch.setenv("FLOWDECK_INSTANCE", str(tmp_path / "instance"))
    return CliRunner()


def test_cli_versions_lists_and_diffs(db, install, cli, make_user):
    """Does `flowdeck versions APP` list each version with author and message, and `--diff A B` print the summaries with paths?"""
    install(minimal_app())
    make_user("ivan", is_admin=True)
    apply(db, second_version(), message="due dates")
    listed = cli.invoke(main, ["versions", "demo"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].startswith("v1  ") and lines[0].endswith("system")
    assert lines[1].startswith("v2  ") and lines[1].endswith("system  due dates")
    diff = cli.invoke(main, ["versions", "demo", "--diff", "1", "2"])
    assert diff.exit_code == 0, diff.output
    assert "app demo, version 1 -> 2: 4 changes" in diff.output
    assert "  - adds field task.due (date)  [entities.task.fields.due]" in diff.output
    assert "  - removes transition approve  [entities.task.workflow.transitions[2]]" in diff.output
    missing = cli.invoke(main, ["versions", "nope"])
    assert missing.exit_code == 1 and 'there is no app "nope"' in missing.output


def test_cli_rollback_asks_then_applies_with_choices(db, install, cli, tmp_path):
    """Does `flowdeck rollback` print the plan's question and exit 1, then apply with --choice as a new version?"""
    install(minimal_app())
    apply(db, with_blocked())
    rec = create(db, {"title": "a"})
    et = Catalog(db).current().entity("demo", "task")
    for key in ("start", "block"):
        db.run(lambda c, k=key: workflow.transition_record(c, et, rec.id, k, actor=Actor.system()))
    asked = cli.invoke(main, ["rollback", "demo", "1"])
    assert asked.exit_code == 1
    assert (
        "state:task:blocked (1 records or values)" in asked.output and "--choice state:task:blocked=todo|doing|review|done" in asked.output
    )
    dry = cli.invoke(main, ["rollback", "demo", "1", "--dry-run", "--choice", "state:task:blocked=review"])
    assert dry.exit_code == 0 and "dry run: nothing applied" in dry.output
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"choices": {"state:task:blocked": "review"}}), encoding="utf-8")
    done = cli.invoke(main, ["rollback", "demo", "1", "--answers", str(answers)])
    assert done.exit_code == 0, done.output
    assert "moves the 1 task records in state blocked to review" in done.output and "applied as version 3" in done.output
    assert fetch(db, rec.id).state == "review"
    assert db.read(lambda c: versions.list_versions(c, "demo"))[-1].message == "rollback to v1"
    unknown = cli.invoke(main, ["rollback", "demo", "9"])
    assert unknown.exit_code == 1 and "has no version 9" in unknown.output
