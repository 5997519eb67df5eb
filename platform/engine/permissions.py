"""Who may do what: entity actions per role, transitions per role, field rules per state.

The engine never reads a request or a session: callers pass an `Actor`. Admins hold every
role of every app; they still go through guards and required fields, like anyone else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from flowdeck.engine.errors import Forbidden
from flowdeck.engine.messages import M, Message
from flowdeck.engine.schema.label import Label
from flowdeck.engine.schema.model import Entity, Transition

ACTIONS = ("read", "create", "update", "delete")


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    username: str = "system"
    is_admin: bool = False
    roles: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def system(cls) -> Actor:
        """The actor for CLI work and migrations: may do everything, is nobody."""
        return cls(user_id=None, username="system", is_admin=True)

    def roles_for(self, app: str) -> frozenset[str]:
        """Roles granted in `app`. Field rules see only these, so a rule written for a role
        does not hide or lock fields for an admin who does not hold that role."""
        return self.roles.get(app, frozenset())

    def in_app(self, app: str) -> bool:
        return self.is_admin or bool(self.roles.get(app))


def _allowed(actor: Actor, entity: Entity, roles: tuple[str, ...] | None) -> bool:
    if actor.is_admin:
        return True
    held = actor.roles.get(entity.app, frozenset())
    if not held:
        return False
    return roles is None or bool(held & set(roles))


def can(actor: Actor, entity: Entity, action: str) -> bool:
    """May `actor` read/create/update/delete records of `entity`? Members of the app
    without any matching role may not; a missing permission list means every role."""
    return _allowed(actor, entity, entity.permissions.roles_for(action))


def mid_sentence(label: Label) -> Label:
    """A label as English writes it inside a sentence ("you may not read tasks"): its
    English in lower case, every other language as it is."""
    if "en" not in label.texts:
        return label
    return Label({**label.texts, "en": label.texts["en"].lower()})


def refusal(action: str, entity: Entity) -> Message:
    """Why the actor may not do `action` on the entity: for the engine and the views alike."""
    plural = mid_sentence(entity.plural)
    if action == "read":
        return M("you may not read %(plural)s", plural=plural)
    if action == "create":
        return M("you may not create %(plural)s", plural=plural)
    if action == "update":
        return M("you may not update %(plural)s", plural=plural)
    return M("you may not delete %(plural)s", plural=plural)


def require(actor: Actor, entity: Entity, action: str) -> None:
    if not can(actor, entity, action):
        raise Forbidden(refusal(action, entity))


def can_transition(actor: Actor, entity: Entity, transition: Transition) -> bool:
    """May `actor` perform `transition`? A timed one (`after`) is the system's alone."""
    if transition.after is not None and actor.user_id is not None:
        return False
    if not can(actor, entity, "update"):
        return False
    return _allowed(actor, entity, transition.roles)


@dataclass(frozen=True)
class FieldAccess:
    """What the field rules say for one record state and one set of roles."""

    hidden: frozenset[str] = frozenset()
    read_only: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()


def field_access(entity: Entity, state: str | None, roles: frozenset[str]) -> FieldAccess:
    workflow = entity.workflow
    if workflow is None or not workflow.rules:
        return FieldAccess()
    hidden: set[str] = set()
    read_only: set[str] = set()
    required: set[str] = set()
    for rule in workflow.rules:
        if rule.applies(state, roles):
            hidden |= rule.hidden
            read_only |= rule.read_only
            required |= rule.required
    return FieldAccess(frozenset(hidden), frozenset(read_only | hidden), frozenset(required - hidden))


def hidden_everywhere(entity: Entity, actor: Actor) -> frozenset[str]:
    """Fields that field rules hide from this actor in every state (list columns, filters)."""
    if entity.workflow is None or not entity.workflow.rules:
        return frozenset()
    return field_access(entity, None, actor.roles_for(entity.app)).hidden


def hidden_by_state(entity: Entity, actor: Actor) -> Callable[[str | None], frozenset[str]]:
    """Fields hidden from this actor per record state, worked out once per state (a list
    page asks for every row)."""
    if entity.workflow is None or not entity.workflow.rules:
        return lambda state: frozenset()
    roles = actor.roles_for(entity.app)
    cache: dict[str | None, frozenset[str]] = {}

    def hidden(state: str | None) -> frozenset[str]:
        if state not in cache:
            cache[state] = field_access(entity, state, roles).hidden
        return cache[state]

    return hidden


def hidden_states(entity: Entity, actor: Actor) -> dict[str, frozenset[str]]:
    """For each field a rule hides from this actor in some state: the states it is hidden
    in. A filter, sort or search must not read a field where it is hidden from the reader
    (the records it keeps or their order would tell the hidden values)."""
    workflow = entity.workflow
    if workflow is None or not workflow.rules:
        return {}
    hidden = hidden_by_state(entity, actor)
    found: dict[str, set[str]] = {}
    for state in workflow.state_keys():
        for key in hidden(state):
            found.setdefault(key, set()).add(state)
    return {key: frozenset(states) for key, states in found.items()}
