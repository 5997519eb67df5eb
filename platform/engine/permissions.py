"""Who may do what: entity actions per role, transitions per role, field rules per state.

The engine never reads a request or a session: callers pass an `Actor`. Admins hold every
role of every app; they still go through guards and required fields, like anyone else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flowdeck.engine.errors import Forbidden
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


def require(actor: Actor, entity: Entity, action: str) -> None:
    if not can(actor, entity, action):
        raise Forbidden(f"you may not {action} {entity.plural.get('en').lower()}")


def can_transition(actor: Actor, entity: Entity, transition: Transition) -> bool:
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
