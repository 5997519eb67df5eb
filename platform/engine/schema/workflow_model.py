"""The parsed form of an app document's workflow: states, transitions with their approval
flows and effects, field rules and `on_create` routes.

Kept apart from `model.py` (which re-exports every name, so callers keep importing from
there) because the workflow and its approvals are one closed family of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowdeck.engine.durations import Duration
from flowdeck.engine.expressions import Expression
from flowdeck.engine.schema.label import Label


@dataclass(frozen=True)
class State:
    key: str
    label: Label
    category: str
    color: str | None = None


@dataclass(frozen=True)
class ApproverSource:
    """Where a step's approvers come from: exactly one of role, users, field or relation."""

    role: str | None = None
    users: tuple[str, ...] = ()
    field: str | None = None
    relation: str | None = None


@dataclass(frozen=True)
class EscalationStage:
    """One stage of a step's escalation chain: what happens `after` (a duration counted from
    the step's opening) when the step is still waiting. `do` is remind, overdue,
    hand_to_superior, hand_to, notify_admins or add_role; `user` names the person handed to
    (the fallback of hand_to_superior), `role` the role added."""

    after: Duration
    do: str
    user: str | None = None
    role: str | None = None


@dataclass(frozen=True)
class ApprovalStep:
    key: str
    label: Label
    approvers: tuple[ApproverSource, ...]
    mode: str = "any"
    quorum: int | None = None
    when: Expression | None = None
    if_nobody_role: str | None = None
    due_hours: float | None = None
    on_overdue: str = "notify"
    escalation_role: str | None = None
    if_nobody: str = "escalate"
    """escalate, role, skip, user or admins: what a step with nobody to approve does."""
    if_nobody_user: str | None = None
    time_limit: Duration | None = None
    escalation: tuple[EscalationStage, ...] = ()
    """Armed as jobs when the step opens (`approvals/timelimits.py`); empty for steps with
    `due_hours`, which the periodic overdue pass handles as before."""


@dataclass(frozen=True)
class Approval:
    """What must be approved before a transition completes, and the rules of the round."""

    steps: tuple[ApprovalStep, ...]
    reject_to: str | None = None
    self_approval: bool = False
    delegate: bool = False
    send_back: bool = False
    add_approvers: bool = False
    frozen: tuple[str, ...] | None = None
    on_edit: str = "refuse"

    def step(self, key: str) -> ApprovalStep | None:
        return next((s for s in self.steps if s.key == key), None)


@dataclass(frozen=True)
class Effect:
    """One action of a transition: set `field` to the value of `expression`, or empty it
    (`expression` None, a `clear`)."""

    field: str
    expression: Expression | None = None


@dataclass(frozen=True)
class Route:
    """An `on_create` route: a new record whose values make `when` true starts in `state`."""

    when: Expression
    state: str


@dataclass(frozen=True)
class Transition:
    key: str
    label: Label
    sources: tuple[str, ...]
    to: str
    roles: tuple[str, ...] | None
    guard: Expression | None = None
    guard_message: Label | None = None
    require: tuple[str, ...] = ()
    comment: str = "none"
    approval: Approval | None = None
    effects: tuple[Effect, ...] = ()
    after: Duration | None = None
    """Set: the system performs this transition after this long in its from-state (`engine.timed`)."""
    restart_on_comment: bool = False

    def allowed_from(self, state: str) -> bool:
        return state in self.sources


@dataclass(frozen=True)
class FieldRule:
    states: tuple[str, ...] | None
    roles: tuple[str, ...] | None
    hidden: frozenset[str] = frozenset()
    read_only: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()

    def applies(self, state: str | None, roles: frozenset[str]) -> bool:
        if self.states is not None and state not in self.states:
            return False
        return self.roles is None or bool(roles & set(self.roles))


@dataclass(frozen=True)
class Workflow:
    initial: str
    states: tuple[State, ...]
    transitions: tuple[Transition, ...]
    rules: tuple[FieldRule, ...] = ()
    on_create: tuple[Route, ...] = ()

    def state(self, key: str) -> State | None:
        return next((s for s in self.states if s.key == key), None)

    def state_keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.states)

    def transition(self, key: str) -> Transition | None:
        return next((t for t in self.transitions if t.key == key), None)

    def transitions_from(self, state: str) -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if t.allowed_from(state))

    def states_in(self, categories: set[str]) -> tuple[str, ...]:
        return tuple(s.key for s in self.states if s.category in categories)
