"""Writing records: locking, whole-record checks, field rules, permissions, history, numbering."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from flowdeck.engine import history, models, query, records, workflow
from flowdeck.engine.errors import Conflict, Forbidden, RecordInvalid, TransitionRefused
from flowdeck.engine.permissions import Actor
from flowdeck.engine.storage.tables import EntityTables
from tests.support.documents import minimal_app
from tests.support.records import english_errors


def run_threads(count: int, target: Callable[[int], None]) -> None:
    """Run `target(i)` in `count` threads started together; re-raise the first failure."""
    barrier = threading.Barrier(count)
    failures: list[BaseException] = []

    def body(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            target(index)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    if failures:
        raise failures[0]


def entries(db, et: EntityTables, record_id: int) -> list[history.Entry]:
    return db.read(lambda c: history.list_entries(c, et.entity.app, et.entity.key, record_id))


def row_count(db, table: sa.Table) -> int:
    return db.read(lambda c: int(c.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()))


@pytest.fixture
def task(install) -> EntityTables:
    return install(minimal_app()).entity("demo", "task")


@pytest.fixture
def lead(make_user) -> Actor:
    return make_user("lea", {"demo": ["lead"]})


# -- optimistic locking ------------------------------------------------------------------


def test_stale_version_raises_conflict_and_changes_nothing(db, task, lead):
    """Does an update based on an old version raise Conflict (with the current version) and leave the record as it was?"""
    rec = db.run(lambda c: records.create_record(c, task, {"title": "v1"}, actor=lead))
    db.run(lambda c: records.update_record(c, task, rec.id, {"title": "v2"}, actor=lead, expected_version=1))
    with pytest.raises(Conflict) as caught:
        db.run(lambda c: records.update_record(c, task, rec.id, {"title": "stale"}, actor=lead, expected_version=1))
    assert caught.value.current_version == 2
    assert "changed by someone else" in str(caught.value)
    stored = db.read(lambda c: records.fetch_record(c, task, rec.id))
    assert (stored.version, stored.values["title"]) == (2, "v2")
    assert [e.action for e in entries(db, task, rec.id)] == ["create", "update"]


def test_stale_version_on_delete_and_transition_raises_conflict(db, task, lead):
    """Do delete and transition also refuse a stale expected_version without writing?"""
    rec = db.run(lambda c: records.create_record(c, task, {"title": "v1"}, actor=lead))
    db.run(lambda c: records.update_record(c, task, rec.id, {"title": "v2"}, actor=lead, expected_version=1))
    with pytest.raises(Conflict):
        db.run(lambda c: records.delete_record(c, task, rec.id, actor=lead, expected_version=1))
    with pytest.raises(Conflict):
        db.run(lambda c: workflow.transition_record(c, task, rec.id, "start", actor=lead, expected_version=1))
    stored = db.read(lambda c: records.fetch_record(c, task, rec.id))
    assert (stored.version, stored.state) == (2, "todo")
    assert len(entries(db, task, rec.id)) == 2


def test_update_without_changes_keeps_the_version(db, task, lead):
    """Does saving the same values again leave the version and history alone?"""
    rec = db.run(lambda c: records.create_record(c, task, {"title": "same", "estimate": "2"}, actor=lead))
    again = db.run(lambda c: records.update_record(c, task, rec.id, {"title": "same", "estimate": "2.00"}, actor=lead, expected_version=1))
    assert again.version == 1
    assert len(entries(db, task, rec.id)) == 1


def test_racing_updates_with_the_same_version_let_exactly_one_win(db, task, lead):
    """When two threads update the same record from the same version at once, does exactly one win and the other get Conflict?"""
    for round_number in range(3):
        rec = db.run(lambda c, n=round_number: records.create_record(c, task, {"title": f"race {n}"}, actor=lead))
        outcomes: dict[int, str] = {}

        def update(index: int, record_id: int = rec.id, outcomes: dict[int, str] = outcomes) -> None:
            try:
                db.run(lambda c: records.update_record(c, task, record_id, {"title": f"writer {index}"}, actor=lead, expected_version=1))
                outcomes[index] = "won"
            except Conflict:
                outcomes[index] = "conflict"

        run_threads(2, update)
        assert sorted(outcomes.values()) == ["conflict", "won"]
        winner = next(i for i, outcome in outcomes.items() if outcome == "won")
        stored = db.read(lambda c, r=rec.id: records.fetch_record(c, task, r))
        assert (stored.version, stored.values["title"]) == (2, f"writer {winner}")
        assert [e.action for e in entries(db, task, rec.id)] == ["create", "update"]


# -- whole-record checks ------------------------------------------------------------------


def conditional_app() -> dict[str, Any]:
    return minimal_app(
        fields={
            "title": {"type": "text", "required": True},
            "priority": {"type": "select", "options": ["low", "normal", "high"], "default": "normal"},
            "reason": {"type": "text", "required": True, "show_if": 'priority == "high"'},
            "due": {"type": "date", "required_if": 'priority != "low"'},
            "code": {"type": "text", "unique": True},
            "locked": {"type": "text", "read_only": True},
            "estimate": {"type": "decimal"},
            "double": {"type": "computed", "formula": "estimate * 2"},
        }
    )


@pytest.fixture
def cond(install) -> EntityTables:
    return install(conditional_app()).entity("demo", "task")


def refused(db, work: Callable[[sa.Connection], Any]) -> dict[str, list[str]]:
    with pytest.raises(RecordInvalid) as caught:
        db.run(work)
    return english_errors(caught.value.errors)


def test_required_fields_are_required(db, cond, lead):
    """Is a missing required field refused on create and on clearing it in an update?"""
    errors = refused(db, lambda c: records.create_record(c, cond, {"title": "  ", "priority": "low"}, actor=lead))
    assert errors == {"title": ["is required"]}
    rec = db.run(lambda c: records.create_record(c, cond, {"title": "ok", "priority": "low"}, actor=lead))
    errors = refused(db, lambda c: records.update_record(c, cond, rec.id, {"title": ""}, actor=lead, expected_version=1))
    assert errors == {"title": ["is required"]}


def test_required_if_applies_only_when_its_condition_holds(db, cond, lead):
    """Is a required_if field required exactly when its condition is true?"""
    assert refused(db, lambda c: records.create_record(c, cond, {"title": "a"}, actor=lead)) == {"due": ["is required"]}
    low = db.run(lambda c: records.create_record(c, cond, {"title": "a", "priority": "low"}, actor=lead))
    assert low.values["due"] is None
    errors = refused(db, lambda c: records.update_record(c, cond, low.id, {"priority": "normal"}, actor=lead, expected_version=1))
    assert errors == {"due": ["is required"]}
    db.run(lambda c: records.update_record(c, cond, low.id, {"priority": "normal", "due": "2025-01-01"}, actor=lead, expected_version=1))


def test_show_if_hidden_field_is_not_required(db, cond, lead):
    """Is a required field hidden by show_if not required, and required again once its condition shows it?"""
    rec = db.run(lambda c: records.create_record(c, cond, {"title": "a", "priority": "low"}, actor=lead))
    assert rec.values["reason"] is None
    errors = refused(
        db, lambda c: records.update_record(c, cond, rec.id, {"priority": "high", "due": "2025-01-01"}, actor=lead, expected_version=1)
    )
    assert errors == {"reason": ["is required"]}
    values = {"priority": "high", "due": "2025-01-01", "reason": "customer"}
    assert db.run(lambda c: records.update_record(c, cond, rec.id, values, actor=lead, expected_version=1)).version == 2


def test_unique_field_refuses_a_second_record_with_the_same_value(db, cond, lead):
    """Is a value of a unique field refused for a second record, while the record itself may keep it?"""
    first = db.run(lambda c: records.create_record(c, cond, {"title": "a", "priority": "low", "code": "A-1"}, actor=lead))
    before = row_count(db, cond.table)
    errors = refused(db, lambda c: records.create_record(c, cond, {"title": "b", "priority": "low", "code": "A-1"}, actor=lead))
    assert errors == {"code": ["is already used by another record"]}
    assert row_count(db, cond.table) == before
    second = db.run(lambda c: records.create_record(c, cond, {"title": "b", "priority": "low", "code": "B-1"}, actor=lead))
    errors = refused(db, lambda c: records.update_record(c, cond, second.id, {"code": "A-1"}, actor=lead, expected_version=1))
    assert errors == {"code": ["is already used by another record"]}
    same = db.run(lambda c: records.update_record(c, cond, first.id, {"code": "A-1", "title": "a2"}, actor=lead, expected_version=1))
    assert same.values["code"] == "A-1"


def test_state_cannot_be_set_by_create_or_update(db, task, lead):
    """Is writing the state outside a transition refused, on create and on update?"""
    errors = refused(db, lambda c: records.create_record(c, task, {"title": "a", "state": "done"}, actor=lead))
    assert errors == {"state": ["changes only through a workflow transition"]}
    rec = db.run(lambda c: records.create_record(c, task, {"title": "a"}, actor=lead))
    errors = refused(db, lambda c: records.update_record(c, task, rec.id, {"state": "done"}, actor=lead, expected_version=1))
    assert errors == {"state": ["changes only through a workflow transition"]}
    assert db.read(lambda c: records.fetch_record(c, task, rec.id)).state == "todo"


def test_read_only_computed_and_system_fields_are_refused(db, cond, lead):
    """Are read-only, computed and system columns refused as input rather than silently dropped?"""
    base = {"title": "a", "priority": "low"}
    assert refused(db, lambda c: records.create_record(c, cond, {**base, "locked": "x"}, actor=lead)) == {"locked": ["is read-only"]}
    assert refused(db, lambda c: records.create_record(c, cond, {**base, "double": "4"}, actor=lead)) == {"double": ["is read-only"]}
    assert refused(db, lambda c: records.create_record(c, cond, {**base, "version": 7}, actor=lead)) == {
        "version": ["is set by the system"]
    }
    rec = db.run(lambda c: records.create_record(c, cond, {**base, "estimate": "1.5"}, actor=lead))
    assert rec.values["double"] == Decimal("3.00")
    errors = refused(db, lambda c: records.update_record(c, cond, rec.id, {"double": "1", "created_by": 1}, actor=lead, expected_version=1))
    assert errors == {"double": ["is read-only"], "created_by": ["is set by the system"]}


# -- references, users, trees ------------------------------------------------------------------


def reference_app() -> dict[str, Any]:
    doc = minimal_app(
        fields={
            "title": {"type": "text", "required": True},
            "owner": {"type": "user"},
            "helpers": {"type": "user", "many": True},
            "blocks": {"type": "reference", "to": "task", "many": True},
            "parent": {"type": "reference", "to": "task"},
        },
        tree="parent",
    )
    return doc


@pytest.fixture
def refs(install) -> EntityTables:
    return install(reference_app()).entity("demo", "task")


def test_reference_to_a_missing_record_is_refused(db, refs, lead):
    """Is a reference (single or many) to a record that does not exist, or no longer exists, refused?"""
    errors = refused(db, lambda c: records.create_record(c, refs, {"title": "a", "parent": 424242}, actor=lead))
    assert errors == {"parent": ["no task record with id 424242"]}
    gone = db.run(lambda c: records.create_record(c, refs, {"title": "gone"}, actor=lead))
    kept = db.run(lambda c: records.create_record(c, refs, {"title": "kept"}, actor=lead))
    db.run(lambda c: records.delete_record(c, refs, gone.id, actor=lead))
    errors = refused(db, lambda c: records.create_record(c, refs, {"title": "b", "blocks": [kept.id, gone.id]}, actor=lead))
    assert errors == {"blocks": [f"no task record with id {gone.id}"]}


def test_inactive_user_is_refused(db, refs, lead, make_user):
    """Is a user field refused when it names a deactivated user, single or many?"""
    former = make_user("former", {"demo": ["member"]})
    db.run(lambda c: c.execute(models.users.update().where(models.users.c.id == former.user_id).values(is_active=False)))
    errors = refused(db, lambda c: records.create_record(c, refs, {"title": "a", "owner": former.user_id}, actor=lead))
    assert errors == {"owner": [f"no active user with id {former.user_id}"]}
    errors = refused(db, lambda c: records.create_record(c, refs, {"title": "a", "helpers": [lead.user_id, former.user_id]}, actor=lead))
    assert errors == {"helpers": [f"no active user with id {former.user_id}"]}
    ok = db.run(lambda c: records.create_record(c, refs, {"title": "a", "owner": lead.user_id}, actor=lead))
    assert ok.values["owner"] == lead.user_id


def test_tree_cycles_are_refused(db, refs, lead):
    """Is setting a parent that would make a record its own ancestor (directly or through others) refused?"""
    root = db.run(lambda c: records.create_record(c, refs, {"title": "root"}, actor=lead))
    child = db.run(lambda c: records.create_record(c, refs, {"title": "child", "parent": root.id}, actor=lead))
    grandchild = db.run(lambda c: records.create_record(c, refs, {"title": "grandchild", "parent": child.id}, actor=lead))
    for parent in (grandchild.id, child.id, root.id):
        errors = refused(db, lambda c, p=parent: records.update_record(c, refs, root.id, {"parent": p}, actor=lead, expected_version=1))
        assert errors == {"parent": ["would make a record its own ancestor"]}
    assert db.read(lambda c: records.fetch_record(c, refs, root.id)).values["parent"] is None
    other = db.run(lambda c: records.create_record(c, refs, {"title": "other"}, actor=lead))
    moved = db.run(lambda c: records.update_record(c, refs, grandchild.id, {"parent": other.id}, actor=lead, expected_version=1))
    assert moved.values["parent"] == other.id


# -- field rules -------------------------------------------------------------------------------


def rules_app() -> dict[str, Any]:
    doc = minimal_app()
    entity = doc["entities"]["task"]
    entity["fields"]["budget"] = {"type": "money"}
    entity["fields"]["notes"] = {"type": "text"}
    entity["workflow"]["rules"] = [
        {"states": ["review", "done"], "read_only": ["estimate"]},
        {"states": ["doing"], "roles": ["member"], "hidden": ["budget"]},
        {"states": ["doing"], "required": ["notes"]},
    ]
    return doc


def test_field_rules_per_state_and_role(db, install, lead, make_user):
    """Do field rules lock, hide and require fields by state and role, and only there?"""
    et = install(rules_app()).entity("demo", "task")
    member = make_user("mo", {"demo": ["member"]})
    rec = db.run(lambda c: records.create_record(c, et, {"title": "a", "estimate": "1", "budget": "10"}, actor=member))
    # todo: no rule applies, so everything is editable and notes are optional.
    rec = db.run(lambda c: records.update_record(c, et, rec.id, {"estimate": "2"}, actor=member, expected_version=rec.version))
    rec = db.run(lambda c: workflow.transition_record(c, et, rec.id, "start", actor=member, values={"notes": "n"}))
    assert rec.state == "doing"

    # doing: budget is hidden (so also locked) for members, not for leads; notes are required for everyone.
    errors = refused(db, lambda c: records.update_record(c, et, rec.id, {"budget": "20"}, actor=member, expected_version=rec.version))
    assert errors == {"budget": ["cannot be changed in this state"]}
    rec = db.run(lambda c: records.update_record(c, et, rec.id, {"budget": "20"}, actor=lead, expected_version=rec.version))
    assert rec.values["budget"] == Decimal("20.00")
    errors = refused(db, lambda c: records.update_record(c, et, rec.id, {"notes": ""}, actor=lead, expected_version=rec.version))
    assert errors == {"notes": ["is required"]}

    # review: estimate is read-only for everyone, and notes are no longer required.
    rec = db.run(lambda c: workflow.transition_record(c, et, rec.id, "submit", actor=member))
    errors = refused(db, lambda c: records.update_record(c, et, rec.id, {"estimate": "3"}, actor=lead, expected_version=rec.version))
    assert errors == {"estimate": ["cannot be changed in this state"]}
    rec = db.run(lambda c: records.update_record(c, et, rec.id, {"notes": ""}, actor=member, expected_version=rec.version))
    assert rec.values["notes"] is None and rec.values["estimate"] == Decimal("2.00")


def test_required_rule_is_lifted_for_a_role_that_cannot_see_the_field(db, install, make_user):
    """Is a field that a rule hides for a role not required for that role, even if another rule requires it?"""
    doc = minimal_app()
    entity = doc["entities"]["task"]
    entity["fields"]["budget"] = {"type": "money"}
    entity["workflow"]["rules"] = [
        {"states": ["todo"], "required": ["budget"]},
        {"states": ["todo"], "roles": ["member"], "hidden": ["budget"]},
    ]
    et = install(doc).entity("demo", "task")
    member = make_user("mo", {"demo": ["member"]})
    lead = make_user("lea", {"demo": ["lead"]})
    assert refused(db, lambda c: records.create_record(c, et, {"title": "a"}, actor=lead)) == {"budget": ["is required"]}
    assert db.run(lambda c: records.create_record(c, et, {"title": "a"}, actor=member)).values["budget"] is None


# -- permissions ---------------------------------------------------------------------------------


def permissions_app() -> dict[str, Any]:
    return minimal_app(permissions={"create": ["lead", "member"], "update": ["lead", "member"], "delete": ["lead"]})


def test_viewer_cannot_create_update_or_delete(db, install, make_user, lead):
    """Is a viewer refused create, update and delete (Forbidden, nothing written) while still able to read?"""
    et = install(permissions_app()).entity("demo", "task")
    viewer = make_user("vic", {"demo": ["viewer"]})
    rec = db.run(lambda c: records.create_record(c, et, {"title": "a"}, actor=lead))
    before = row_count(db, models.history)
    with pytest.raises(Forbidden, match="may not create"):
        db.run(lambda c: records.create_record(c, et, {"title": "b"}, actor=viewer))
    with pytest.raises(Forbidden, match="may not update"):
        db.run(lambda c: records.update_record(c, et, rec.id, {"title": "b"}, actor=viewer, expected_version=1))
    with pytest.raises(Forbidden, match="may not delete"):
        db.run(lambda c: records.delete_record(c, et, rec.id, actor=viewer))
    with pytest.raises(Forbidden):
        db.run(lambda c: workflow.transition_record(c, et, rec.id, "start", actor=viewer))
    assert row_count(db, models.history) == before
    assert row_count(db, et.table) == 1
    assert db.read(lambda c: records.get_record(c, et, rec.id, actor=viewer)).values["title"] == "a"
    assert db.read(lambda c: query.query_records(c, et, query.Query(), actor=viewer)).total == 1


def test_permission_lists_per_action(db, install, make_user):
    """Does a role outside an action's list get Forbidden for that action only?"""
    et = install(permissions_app()).entity("demo", "task")
    member = make_user("mo", {"demo": ["member"]})
    rec = db.run(lambda c: records.create_record(c, et, {"title": "a"}, actor=member))
    db.run(lambda c: records.update_record(c, et, rec.id, {"title": "b"}, actor=member, expected_version=1))
    with pytest.raises(Forbidden):
        db.run(lambda c: records.delete_record(c, et, rec.id, actor=member))
    assert row_count(db, et.table) == 1


def test_missing_permission_list_means_every_role(db, task, make_user):
    """Without a permission list, may every role of the app (even viewer) create, update and delete?"""
    for role in ("lead", "member", "viewer"):
        actor = make_user(f"{role}1", {"demo": [role]})
        rec = db.run(lambda c, a=actor, t=role: records.create_record(c, task, {"title": t}, actor=a))
        db.run(lambda c, a=actor, r=rec, t=role: records.update_record(c, task, r.id, {"title": f"{t}!"}, actor=a, expected_version=1))
        db.run(lambda c, a=actor, r=rec: records.delete_record(c, task, r.id, actor=a))
    assert row_count(db, task.table) == 0


def test_user_without_a_role_in_the_app_cannot_read(db, task, lead, make_user):
    """Is a user with no role in the app (or roles only in another app) refused reading, listing and writing?"""
    rec = db.run(lambda c: records.create_record(c, task, {"title": "secret"}, actor=lead))
    for outsider in (make_user("nobody"), make_user("elsewhere", {"other": ["lead"]})):
        with pytest.raises(Forbidden, match="may not read"):
            db.read(lambda c, o=outsider: records.get_record(c, task, rec.id, actor=o))
        with pytest.raises(Forbidden):
            db.read(lambda c, o=outsider: query.query_records(c, task, query.Query(), actor=o))
        with pytest.raises(Forbidden):
            db.run(lambda c, o=outsider: records.create_record(c, task, {"title": "x"}, actor=o))


def test_admin_may_do_everything_without_roles(db, install, make_user):
    """May an admin without any role create, update and delete even where permission lists name other roles?"""
    et = install(permissions_app()).entity("demo", "task")
    admin = make_user("root", is_admin=True)
    rec = db.run(lambda c: records.create_record(c, et, {"title": "a"}, actor=admin))
    db.run(lambda c: records.update_record(c, et, rec.id, {"title": "b"}, actor=admin, expected_version=1))
    db.run(lambda c: records.delete_record(c, et, rec.id, actor=admin))
    assert row_count(db, et.table) == 0


# -- history -----------------------------------------------------------------------------------


def test_history_records_field_level_changes(db, task, lead):
    """Does history hold one entry per create, update, transition and delete, each with field-level old and new values?"""
    rec = db.run(lambda c: records.create_record(c, task, {"title": "Plan", "estimate": "1.5"}, actor=lead))
    db.run(lambda c: records.update_record(c, task, rec.id, {"title": "Plan B", "priority": "high"}, actor=lead, expected_version=1))
    db.run(lambda c: workflow.transition_record(c, task, rec.id, "start", actor=lead, values={"estimate": "3"}, comment=" go "))
    db.run(lambda c: records.delete_record(c, task, rec.id, actor=lead, expected_version=3))
    log = entries(db, task, rec.id)
    assert [e.action for e in log] == ["create", "update", "transition", "delete"]
    assert all(e.actor_id == lead.user_id for e in log)
    assert all(e.at.utcoffset() is not None for e in log)

    create, update, transition, delete = log
    assert create.changes == [
        {"field": "state", "old": None, "new": "todo"},
        {"field": "title", "old": None, "new": "Plan"},
        {"field": "priority", "old": None, "new": "normal"},
        {"field": "estimate", "old": None, "new": "1.50"},
    ]
    assert update.changes == [
        {"field": "title", "old": "Plan", "new": "Plan B"},
        {"field": "priority", "old": "normal", "new": "high"},
    ]
    assert transition.transition == "start"
    assert transition.comment == "go"
    assert transition.changes == [
        {"field": "state", "old": "todo", "new": "doing"},
        {"field": "estimate", "old": "1.50", "new": "3.00"},
    ]
    assert delete.changes == [
        {"field": "title", "old": "Plan B", "new": None},
        {"field": "priority", "old": "high", "new": None},
        {"field": "estimate", "old": "3.00", "new": None},
    ]


def test_history_of_many_valued_and_line_item_fields(db, install, lead):
    """Are changes to many-valued fields and line items recorded as whole before/after lists?"""
    doc = minimal_app()
    fields = doc["entities"]["task"]["fields"]
    fields["tags"] = {"type": "multiselect", "options": ["a", "b", "c"]}
    fields["lines"] = {"type": "table", "fields": {"qty": {"type": "integer"}}}
    et = install(doc).entity("demo", "task")
    rec = db.run(lambda c: records.create_record(c, et, {"title": "t", "tags": ["a"], "lines": [{"qty": 1}]}, actor=lead))
    db.run(lambda c: records.update_record(c, et, rec.id, {"tags": ["a", "c"], "lines": [{"qty": 2}]}, actor=lead, expected_version=1))
    update = entries(db, et, rec.id)[-1]
    assert update.changes == [
        {"field": "tags", "old": ["a"], "new": ["a", "c"]},
        {"field": "lines", "old": [{"qty": 1}], "new": [{"qty": 2}]},
    ]


def test_refused_writes_leave_no_history(db, task, lead):
    """Does a refused update or transition add no history entry?"""
    rec = db.run(lambda c: records.create_record(c, task, {"title": "a"}, actor=lead))
    refused(db, lambda c: records.update_record(c, task, rec.id, {"title": ""}, actor=lead, expected_version=1))
    with pytest.raises(TransitionRefused, match="cannot start"):
        db.run(lambda c: workflow.transition_record(c, task, rec.id, "approve", actor=lead))
    assert [e.action for e in entries(db, task, rec.id)] == ["create"]


# -- auto-numbers --------------------------------------------------------------------------------


def numbered_app() -> dict[str, Any]:
    doc = minimal_app()
    doc["entities"]["task"]["fields"]["number"] = {"type": "autonumber", "format": "T-{###}"}
    return doc


def test_concurrent_creates_get_gap_free_numbers(db, install, lead):
    """Do 20 creates from 4 concurrent threads get exactly T-001..T-020, with no gap and no repeat?"""
    et = install(numbered_app()).entity("demo", "task")
    got: list[str] = []
    lock = threading.Lock()

    def creator(index: int) -> None:
        for n in range(5):
            rec = db.run(lambda c, n=n: records.create_record(c, et, {"title": f"t{index}-{n}"}, actor=lead))
            with lock:
                got.append(rec.values["number"])

    run_threads(4, creator)
    expected = [f"T-{n:03d}" for n in range(1, 21)]
    assert sorted(got) == expected
    stored = db.read(lambda c: sorted(c.execute(sa.select(et.table.c.number)).scalars()))
    assert stored == expected


class Abort(Exception):
    """Raised inside a unit of work to force its rollback."""


def test_rolled_back_create_gives_its_number_back(db, install, lead):
    """Does a create that is rolled back after drawing its number leave no gap: the next create gets that number?"""
    et = install(numbered_app()).entity("demo", "task")
    first = db.run(lambda c: records.create_record(c, et, {"title": "one"}, actor=lead))
    assert first.values["number"] == "T-001"

    def create_then_fail(conn: sa.Connection) -> None:
        rec = records.create_record(conn, et, {"title": "doomed"}, actor=lead)
        assert rec.values["number"] == "T-002"
        raise Abort

    with pytest.raises(Abort):
        db.run(create_then_fail)
    assert row_count(db, et.table) == 1
    second = db.run(lambda c: records.create_record(c, et, {"title": "two"}, actor=lead))
    assert second.values["number"] == "T-002"


def test_refused_create_does_not_draw_a_number(db, install, lead):
    """Does a create refused by validation leave the counter untouched?"""
    et = install(numbered_app()).entity("demo", "task")
    refused(db, lambda c: records.create_record(c, et, {"title": ""}, actor=lead))
    assert db.run(lambda c: records.create_record(c, et, {"title": "one"}, actor=lead)).values["number"] == "T-001"
