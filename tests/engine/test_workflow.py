"""Workflow transitions: sources, roles, guards, required fields, comments, and a stateful check.

The Hypothesis state machine at the end drives one record through a role-restricted
workflow with random attempts by random actors, keeping its own model of the state; after
every step the stored state must equal the model's and the history must hold exactly the
allowed transitions that succeeded, each performed by a role allowed to perform it.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from flowdeck.engine import history, records, users, workflow
from flowdeck.engine.apps import apply_document
from flowdeck.engine.db import Database
from flowdeck.engine.errors import Conflict, Forbidden, NotFound, RecordInvalid, TransitionRefused
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog
from flowdeck.engine.storage.tables import EntityTables
from tests.support.documents import minimal_app
from tests.support.records import english_errors


def entries(db: Database, et: EntityTables, record_id: int) -> list[history.Entry]:
    return db.read(lambda c: history.list_entries(c, et.entity.app, et.entity.key, record_id))


def stored(db: Database, et: EntityTables, record_id: int) -> records.Record:
    return db.read(lambda c: records.fetch_record(c, et, record_id))


def move(db: Database, et: EntityTables, record_id: int, key: str, actor: Actor, **kwargs: Any) -> records.Record:
    return db.run(lambda c: workflow.transition_record(c, et, record_id, key, actor=actor, **kwargs))


def gated_app() -> dict[str, Any]:
    """The minimal app with a guard, required fields, a comment and a rule on the way through."""
    doc = minimal_app()
    entity = doc["entities"]["task"]
    entity["fields"]["notes"] = {"type": "text"}
    entity["fields"]["reviewer"] = {"type": "user"}
    entity["workflow"]["transitions"] = [
        {"key": "start", "from": "todo", "to": "doing", "require": ["estimate"]},
        {"key": "submit", "from": "doing", "to": "review", "guard": "estimate <= 10", "guard_message": "Split tasks over 10 points first"},
        {"key": "rush", "from": "doing", "to": "done", "guard": 'priority == "high"'},
        {"key": "approve", "from": "review", "to": "done", "roles": ["lead"], "comment": "required"},
        {"key": "reopen", "from": ["review", "done"], "to": "todo"},
    ]
    entity["workflow"]["rules"] = [{"states": ["review"], "required": ["reviewer"]}]
    return doc


@pytest.fixture
def lead(make_user) -> Actor:
    return make_user("lea", {"demo": ["lead"]})


@pytest.fixture
def member(make_user) -> Actor:
    return make_user("mo", {"demo": ["member"]})


@pytest.fixture
def task(install) -> EntityTables:
    return install(minimal_app()).entity("demo", "task")


@pytest.fixture
def gated(install) -> EntityTables:
    return install(gated_app()).entity("demo", "task")


# -- sources and roles ----------------------------------------------------------------------


def test_transition_moves_the_record_and_bumps_its_version(db, task, lead):
    """Does an allowed transition change the state, bump the version and record who did it?"""
    rec = db.run(lambda c: records.create_record(c, task, {"title": "a"}, actor=lead))
    moved = move(db, task, rec.id, "start", lead, expected_version=1)
    assert (moved.state, moved.version) == ("doing", 2)
    again = stored(db, task, rec.id)
    assert (again.state, again.version, again.updated_by) == ("doing", 2, lead.user_id)


def test_transition_from_the_wrong_state_names_the_allowed_sources(db, task, lead):
    """Is a transition from a state it does not leave refused with a message naming the states it leaves from?"""
    rec = db.run(lambda c: records.create_record(c, task, {"title": "a"}, actor=lead))
    with pytest.raises(TransitionRefused) as caught:
        move(db, task, rec.id, "approve", lead)
    assert "cannot start from Todo" in str(caught.value)
    assert "(only from: Review)" in str(caught.value)
    with pytest.raises(TransitionRefused) as caught:
        move(db, task, rec.id, "reopen", lead)
    assert "(only from: Review, Done)" in str(caught.value)
    assert stored(db, task, rec.id).state == "todo"
    assert len(entries(db, task, rec.id)) == 1


def test_unknown_transition_lists_the_transitions(db, task, lead):
    """Does an unknown transition key give a message listing the real ones?"""
    rec = db.run(lambda c: records.create_record(c, task, {"title": "a"}, actor=lead))
    with pytest.raises(TransitionRefused, match=r"no transition “finish” \(transitions: start, submit, approve, reopen\)"):
        move(db, task, rec.id, "finish", lead)


def test_transition_of_a_missing_record_is_not_found(db, task, lead):
    """Is a transition of a record that does not exist NotFound?"""
    with pytest.raises(NotFound):
        move(db, task, 4242, "start", lead)


def test_entity_without_workflow_has_no_transitions(db, install, lead):
    """Is a transition on an entity without a workflow refused?"""
    doc = minimal_app()
    del doc["entities"]["task"]["workflow"]
    et = install(doc).entity("demo", "task")
    rec = db.run(lambda c: records.create_record(c, et, {"title": "a"}, actor=lead))
    assert rec.state is None
    with pytest.raises(TransitionRefused, match="have no workflow"):
        move(db, et, rec.id, "start", lead)


def test_roles_on_transitions(db, task, lead, member, make_user):
    """May only the roles a transition names perform it (and admins), while other roles get Forbidden naming the roles?"""
    rec = db.run(lambda c: records.create_record(c, task, {"title": "a"}, actor=member))
    move(db, task, rec.id, "start", member)
    move(db, task, rec.id, "submit", member)
    with pytest.raises(Forbidden) as caught:
        move(db, task, rec.id, "approve", member)
    assert "(roles: lead)" in str(caught.value)
    assert stored(db, task, rec.id).state == "review"
    assert move(db, task, rec.id, "approve", lead).state == "done"
    admin = make_user("root", is_admin=True)
    assert move(db, task, rec.id, "reopen", admin).state == "todo"


def test_actor_without_update_permission_cannot_transition(db, install, make_user, lead):
    """Is a role that may not update the entity refused every transition, even ones open to every role?"""
    et = install(minimal_app(permissions={"update": ["lead", "member"]})).entity("demo", "task")
    viewer = make_user("vic", {"demo": ["viewer"]})
    rec = db.run(lambda c: records.create_record(c, et, {"title": "a"}, actor=lead))
    with pytest.raises(Forbidden):
        move(db, et, rec.id, "start", viewer)
    assert db.read(lambda c: workflow.available_transitions(et.entity, records.fetch_record(c, et, rec.id), viewer)) == []


# -- guards, required fields, comments ---------------------------------------------------------


def test_guard_with_guard_message(db, gated, lead):
    """Is a transition whose guard fails refused with its guard_message, and allowed once the guard holds?"""
    rec = db.run(lambda c: records.create_record(c, gated, {"title": "a", "estimate": "13"}, actor=lead))
    move(db, gated, rec.id, "start", lead)
    with pytest.raises(TransitionRefused) as caught:
        move(db, gated, rec.id, "submit", lead)
    assert str(caught.value) == "Split tasks over 10 points first"
    assert stored(db, gated, rec.id).state == "doing"
    with pytest.raises(TransitionRefused, match="Split tasks"):
        move(db, gated, rec.id, "submit", lead, values={"estimate": "11"})
    moved = move(db, gated, rec.id, "submit", lead, values={"estimate": "8", "reviewer": lead.user_id})
    assert moved.state == "review"


def test_guard_without_message_explains_itself(db, gated, lead):
    """Does a guard without a guard_message say which condition is not met?"""
    rec = db.run(lambda c: records.create_record(c, gated, {"title": "a", "estimate": "1"}, actor=lead))
    move(db, gated, rec.id, "start", lead)
    with pytest.raises(TransitionRefused) as caught:
        move(db, gated, rec.id, "rush", lead)
    assert str(caught.value) == 'the condition for “Rush” is not met (priority == "high")'


def test_required_fields_of_a_transition(db, gated, lead):
    """Does a transition that requires fields list the missing ones, and succeed when they come with the transition?"""
    rec = db.run(lambda c: records.create_record(c, gated, {"title": "a"}, actor=lead))
    with pytest.raises(TransitionRefused) as caught:
        move(db, gated, rec.id, "start", lead)
    assert caught.value.missing == ["estimate"]
    assert "fill in Estimate to “Start”" in str(caught.value)
    assert stored(db, gated, rec.id).values["estimate"] is None
    moved = move(db, gated, rec.id, "start", lead, values={"estimate": "5"}, expected_version=1)
    assert moved.state == "doing"
    assert str(stored(db, gated, rec.id).values["estimate"]) == "5.00"
    last = entries(db, gated, rec.id)[-1]
    assert last.changes == [{"field": "state", "old": "todo", "new": "doing"}, {"field": "estimate", "old": None, "new": "5.00"}]


def test_values_given_with_a_transition_are_validated(db, gated, lead):
    """Are invalid values given with a transition refused per field, with nothing written?"""
    rec = db.run(lambda c: records.create_record(c, gated, {"title": "a"}, actor=lead))
    with pytest.raises(RecordInvalid) as caught:
        move(db, gated, rec.id, "start", lead, values={"estimate": "lots"})
    assert english_errors(caught.value.errors) == {"estimate": ["must be a number"]}
    assert stored(db, gated, rec.id).state == "todo"


def test_rule_required_fields_of_the_target_state(db, gated, lead):
    """Are fields that a rule requires in the target state required to enter it?"""
    rec = db.run(lambda c: records.create_record(c, gated, {"title": "a", "estimate": "2"}, actor=lead))
    move(db, gated, rec.id, "start", lead)
    with pytest.raises(TransitionRefused) as caught:
        move(db, gated, rec.id, "submit", lead)
    assert caught.value.missing == ["reviewer"]
    assert move(db, gated, rec.id, "submit", lead, values={"reviewer": lead.user_id}).state == "review"


def test_comment_required(db, gated, lead):
    """Does a transition with comment "required" refuse a missing or blank comment and store a given one in history?"""
    rec = db.run(lambda c: records.create_record(c, gated, {"title": "a", "estimate": "2"}, actor=lead))
    move(db, gated, rec.id, "start", lead)
    move(db, gated, rec.id, "submit", lead, values={"reviewer": lead.user_id})
    for comment in (None, "   "):
        with pytest.raises(TransitionRefused) as caught:
            move(db, gated, rec.id, "approve", lead, comment=comment)
        assert caught.value.missing == ["comment"]
        assert "needs a comment" in str(caught.value)
    assert stored(db, gated, rec.id).state == "review"
    move(db, gated, rec.id, "approve", lead, comment="  Looks good  ")
    last = entries(db, gated, rec.id)[-1]
    assert (last.action, last.transition, last.comment) == ("transition", "approve", "Looks good")


def test_approval_transitions_cannot_run_directly(db, install, lead):
    """Is a transition that needs approval refused when run directly?"""
    doc = minimal_app()
    doc["entities"]["task"]["workflow"]["transitions"][0]["approval"] = {"steps": [{"key": "lead", "approvers": {"role": "lead"}}]}
    et = install(doc).entity("demo", "task")
    rec = db.run(lambda c: records.create_record(c, et, {"title": "a"}, actor=lead))
    with pytest.raises(TransitionRefused, match="needs approval"):
        move(db, et, rec.id, "start", lead)


# -- available transitions ---------------------------------------------------------------------


def available(db: Database, et: EntityTables, record_id: int, actor: Actor) -> dict[str, workflow.Available]:
    return db.read(
        lambda c: {a.transition.key: a for a in workflow.available_transitions(et.entity, records.fetch_record(c, et, record_id), actor)}
    )


def test_available_transitions_report_missing_fields_and_guards(db, gated, lead, member):
    """Does available_transitions list only this state's transitions the actor may run, with missing fields and blocking guards?"""
    rec = db.run(lambda c: records.create_record(c, gated, {"title": "a"}, actor=lead))
    offered = available(db, gated, rec.id, lead)
    assert list(offered) == ["start"]
    assert offered["start"].missing == ("estimate",)
    assert not offered["start"].ready

    rec = move(db, gated, rec.id, "start", lead, values={"estimate": "12"})
    offered = available(db, gated, rec.id, lead)
    assert list(offered) == ["submit", "rush"]
    assert str(offered["submit"].blocked_by) == "Split tasks over 10 points first"
    assert offered["submit"].missing == ("reviewer",)
    assert str(offered["rush"].blocked_by) == 'the condition for “Rush” is not met (priority == "high")'
    assert offered["rush"].missing == ()

    db.run(lambda c: records.update_record(c, gated, rec.id, {"priority": "high"}, actor=lead, expected_version=rec.version))
    offered = available(db, gated, rec.id, lead)
    assert offered["rush"].ready

    rec = move(db, gated, rec.id, "submit", lead, values={"estimate": "3", "reviewer": lead.user_id})
    assert list(available(db, gated, rec.id, lead)) == ["approve", "reopen"]
    assert list(available(db, gated, rec.id, member)) == ["reopen"], "approve is for leads only"
    assert available(db, gated, rec.id, lead)["approve"].ready, "the comment is asked for at the step, not reported as a field"


# -- the stateful model --------------------------------------------------------------------------

ROLES = ("lead", "member", "viewer")
STATES = {"new": "todo", "triage": "todo", "active": "doing", "blocked": "doing", "done": "done", "closed": "done"}
# key -> (sources, target, roles or None for every role that may update)
TRANSITIONS: dict[str, tuple[tuple[str, ...] | str, str, tuple[str, ...] | None]] = {
    "triage": (("new",), "triage", ("member", "lead")),
    "accept": (("triage",), "active", ("lead",)),
    "block": (("active",), "blocked", None),
    "unblock": (("blocked",), "active", ("member", "lead")),
    "finish": (("active",), "done", ("member",)),
    "close": ("*", "closed", ("lead",)),
    "reopen": (("done", "closed"), "new", ("lead",)),
}
# name -> roles held (None: an admin without roles)
ACTORS: dict[str, tuple[str, ...] | None] = {
    "lena": ("lead",),
    "max": ("member",),
    "vera": ("viewer",),
    "both": ("member", "viewer"),
    "root": None,
    "stranger": (),
}


def sources_of(key: str) -> tuple[str, ...]:
    sources, target, _ = TRANSITIONS[key]
    if sources == "*":
        return tuple(s for s in STATES if s != target)
    return tuple(sources)


def machine_app() -> dict[str, Any]:
    transitions = []
    for key, (sources, target, roles) in TRANSITIONS.items():
        spec: dict[str, Any] = {"key": key, "from": sources if sources == "*" else list(sources), "to": target}
        if roles is not None:
            spec["roles"] = list(roles)
        transitions.append(spec)
    return {
        "key": "flow",
        "label": "Flow",
        "roles": {role: {"label": role.title()} for role in ROLES},
        "entities": {
            "ticket": {
                "fields": {"title": {"type": "text", "required": True}},
                "permissions": {"update": ["lead", "member"]},
                "workflow": {"states": {k: {"category": c} for k, c in STATES.items()}, "transitions": transitions},
            }
        },
    }


def may_perform(actor: str, key: str) -> bool:
    """The model's answer: may this actor perform this transition (state aside)?"""
    held = ACTORS[actor]
    if held is None:
        return True
    may_update = bool(set(held) & {"lead", "member"})
    roles = TRANSITIONS[key][2]
    return may_update and (roles is None or bool(set(held) & set(roles)))


def _machine_setup(db: Database) -> None:
    apply_document(db, machine_app(), actor=Actor.system())

    def work(conn: sa.Connection) -> None:
        for name, roles in ACTORS.items():
            uid = users.create_user(conn, name, password="password123", is_admin=roles is None)
            for role in roles or ():
                users.grant_role(conn, uid, "flow", role)

    db.run(work)


class WorkflowMachine(RuleBasedStateMachine):
    """One new ticket per run, random transition attempts by random actors, checked against a model."""

    db: Database | None = None  # one fresh database per test; each run gets its own ticket in it

    def __init__(self) -> None:
        super().__init__()
        assert self.db is not None
        db = self.db
        self.et = Catalog(db).current().entity("flow", "ticket")

        def load(conn: sa.Connection) -> dict[str, Actor]:
            found = {name: users.find_user(conn, name) for name in ACTORS}
            return {name: users.actor_for(conn, info.id) for name, info in found.items() if info is not None}

        self.actors = db.read(load)
        self.ids = {actor.user_id: name for name, actor in self.actors.items()}
        self.record_id = db.run(lambda c: records.create_record(c, self.et, {"title": "ticket"}, actor=self.actors["lena"])).id
        self.state = "new"
        self.version = 1
        self.performed = 0

    @property
    def database(self) -> Database:
        assert self.db is not None
        return self.db

    def attempt(self, actor: str, key: str, expected_version: int | None) -> None:
        allowed_from = key in TRANSITIONS and self.state in sources_of(key)
        stale = expected_version is not None and expected_version != self.version
        try:
            result = move(self.database, self.et, self.record_id, key, self.actors[actor], expected_version=expected_version)
        except TransitionRefused:
            assert not allowed_from, f"{actor} was refused {key} from {self.state}"
            return
        except Forbidden:
            assert allowed_from and not may_perform(actor, key), f"{actor} was forbidden {key}"
            return
        except Conflict:
            assert allowed_from and may_perform(actor, key) and stale, f"unexpected conflict for {key}"
            return
        assert allowed_from and may_perform(actor, key) and not stale, f"{actor} performed {key} from {self.state}"
        self.state = TRANSITIONS[key][1]
        self.version += 1
        self.performed += 1
        assert (result.state, result.version) == (self.state, self.version)

    @initialize(walk=st.integers(0, 6), data=st.data())
    def warm_up(self, walk: int, data: st.DataObject) -> None:
        """Start some runs deeper in the workflow, through allowed moves (each checked like any other)."""
        for _ in range(walk):
            self.allowed_move(data)

    @rule(
        actor=st.sampled_from(sorted(ACTORS)),
        key=st.sampled_from([*TRANSITIONS, "teleport"]),
        version=st.sampled_from(["none", "current", "older", "newer"]),
    )
    def random_attempt(self, actor: str, key: str, version: str) -> None:
        expected = {"none": None, "current": self.version, "older": self.version - 1, "newer": self.version + 1}[version]
        self.attempt(actor, key, expected)

    @rule()
    def everyone_probes(self) -> None:
        """Every actor tries every transition leaving the current state with a wrong version: those who may
        perform it must get Conflict (roles are checked before versions), the others Forbidden. Nothing moves."""
        for key in [k for k in TRANSITIONS if self.state in sources_of(k)]:
            for actor in sorted(ACTORS):
                self.attempt(actor, key, self.version + 1)

    @rule(data=st.data())
    def allowed_move(self, data: st.DataObject) -> None:
        """A transition the model says may run now, by an actor allowed to run it."""
        choices = [(a, k) for k in TRANSITIONS for a in sorted(ACTORS) if self.state in sources_of(k) and may_perform(a, k)]
        actor, key = data.draw(st.sampled_from(choices))
        self.attempt(actor, key, self.version)

    @invariant()
    def stored_state_is_the_models(self) -> None:
        record = stored(self.database, self.et, self.record_id)
        assert (record.state, record.version) == (self.state, self.version)

    @invariant()
    def history_holds_only_allowed_transitions(self) -> None:
        log = entries(self.database, self.et, self.record_id)
        assert log[0].action == "create"
        moves = log[1:]
        assert len(moves) == self.performed, "a refused attempt left a history entry"
        state = "new"
        for entry in moves:
            assert entry.action == "transition"
            key = entry.transition
            assert key in TRANSITIONS
            (change,) = (c for c in entry.changes if c["field"] == "state")
            assert change["old"] == state and change["old"] in sources_of(key) and change["new"] == TRANSITIONS[key][1]
            assert may_perform(self.ids[entry.actor_id], key), f"{self.ids[entry.actor_id]} performed {key}"
            state = change["new"]
        assert state == self.state


@pytest.mark.slow
def test_random_transitions_follow_the_workflow(databases):
    """Under random transition attempts by random actors, does the state follow the model and history hold only permitted moves?"""
    db = databases.fresh(databases.template("workflow-machine", _machine_setup))
    WorkflowMachine.db = db
    try:
        run_state_machine_as_test(
            WorkflowMachine,
            settings=settings(
                max_examples=20, stateful_step_count=20, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
            ),
        )
    finally:
        WorkflowMachine.db = None
        databases.drop(db)


def test_machine_model_matches_the_document(install):
    """Does the model's idea of each transition (sources, target, roles) agree with the loaded workflow?"""
    wf = install(machine_app()).entity("flow", "ticket").entity.workflow
    assert wf is not None and wf.initial == "new"
    for key, (_, target, roles) in TRANSITIONS.items():
        transition = wf.transition(key)
        assert transition is not None
        assert (transition.sources, transition.to, transition.roles) == (sources_of(key), target, roles)
