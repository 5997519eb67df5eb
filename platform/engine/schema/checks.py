"""What every meaning check of an app document shares: the problems found so far (each a
Message at a JSON path), the names the document defines, and the checks of names used
everywhere (roles, fields, states, expressions).

The loader's builder is made of the checks of fields (`schema/fields.py`), workflows and
approvals (`schema/workflows.py`) and views (`schema/views.py`) over this base.
"""

from __future__ import annotations

import json
import keyword
from collections.abc import Mapping, Sequence
from typing import Any

from flowdeck.engine.errors import SchemaProblem
from flowdeck.engine.expressions import Expression, ExpressionError, Scope, compile_expression
from flowdeck.engine.messages import M, Message
from flowdeck.engine.phrases import Words, listing, said_by, suggestion
from flowdeck.engine.schema.label import Label
from flowdeck.engine.schema.shape import format_path

SYSTEM_COLUMNS = ("id", "state", "version", "created_at", "created_by", "updated_at", "updated_by")
CHILD_SYSTEM_COLUMNS = ("id", "parent_id", "position")
RESERVED_KEYS = frozenset(
    {*SYSTEM_COLUMNS, *CHILD_SYSTEM_COLUMNS, "me", "true", "false", "null", "none"} | {k.lower() for k in keyword.kwlist}
)
SYSTEM_FIELD_TYPES = {
    "id": "integer",
    "state": "state",
    "created_at": "datetime",
    "updated_at": "datetime",
    "created_by": "user",
    "updated_by": "user",
}

Path = tuple[str | int, ...]


def json_text(value: Any) -> str:
    """A value as the document writes it: `"10"`, `NaN`, `[1, 2]`."""
    return json.dumps(value, ensure_ascii=False, default=str)


def opt_label(value: Any) -> Label | None:
    return None if value is None else Label.of(value)


def unknown_field(key: str, choices: Sequence[str]) -> Message:
    return M("unknown field “%(key)s”%(hint)s", key=key, hint=suggestion(key, choices))


def unknown_state(state: str, states: Sequence[str]) -> Message:
    return M("unknown state “%(key)s”%(hint)s %(listing)s", key=state, hint=suggestion(state, states), listing=listing("states", states))


class Checks:
    """Collects problems instead of stopping at the first."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.doc = document
        self.problems: list[SchemaProblem] = []
        self.role_keys: tuple[str, ...] = tuple(document["roles"])
        self.entity_keys: tuple[str, ...] = tuple(document["entities"])
        self.user_lookups: list[tuple[Path, str, str]] = []
        """Approver sources naming a lookup field: (path, entity, field), checked to be a user once resolved."""

    def problem(self, path: Path, message: Words) -> None:
        self.problems.append(SchemaProblem(format_path(path), message))

    def unknown_role(self, path: Path, role: str) -> None:
        roles = self.role_keys
        self.problem(
            path, M("unknown role “%(key)s”%(hint)s %(listing)s", key=role, hint=suggestion(role, roles), listing=listing("roles", roles))
        )

    def roles(self, path: Path, keys: Sequence[str] | None) -> tuple[str, ...] | None:
        if keys is None:
            return None
        for index, key in enumerate(keys):
            if key not in self.role_keys:
                self.unknown_role((*path, index), key)
        return tuple(keys)

    def field_names(self, path: Path, keys: Sequence[str], fields: Mapping[str, Any], *, allow_system: bool = False) -> tuple[str, ...]:
        known = list(fields) + (list(SYSTEM_FIELD_TYPES) if allow_system else [])
        for index, key in enumerate(keys):
            if key not in known:
                self.problem((*path, index), unknown_field(key, known))
        return tuple(keys)

    def expression(self, path: Path, source: str | None, scope: Scope) -> Expression | None:
        if source is None:
            return None
        try:
            return compile_expression(source, scope)
        except ExpressionError as exc:
            self.problem(path, said_by(exc))
            return None
