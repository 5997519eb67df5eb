"""Hints for editing a document, from the meta-schema: which keys the object at a JSON path
may hold (required ones first), the values an enumerated setting takes, and a description
where the meta-schema has one. The JSON editor shows them for the place of the cursor
(`positions.path_at`).

    hints_for(["entities", "task", "fields", "due"], ["entities", "task", "fields", "due", "type"])
    # keys of a field (type, label, required, ...), and the field types for "type"
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flowdeck.engine.schema.positions import Part
from flowdeck.engine.schema.shape import format_path, meta_schema

MAX_DEPTH = 12


@dataclass(frozen=True)
class KeyHint:
    name: str
    required: bool
    kinds: tuple[str, ...]
    values: tuple[str, ...] = ()
    description: str | None = None
    present: bool = False


@dataclass
class Hints:
    """What the editor's side panel shows for a cursor position."""

    path: str
    kind: str | None = None  # object, array or None (unknown)
    keys: list[KeyHint] = field(default_factory=list)
    any_key: bool = False
    member: str | None = None
    values: tuple[str, ...] = ()
    member_kinds: tuple[str, ...] = ()
    description: str | None = None


def _deref(schema: Any, depth: int = 0) -> Iterator[Mapping[str, Any]]:
    """A schema with its $ref followed and its anyOf branches spread out."""
    if not isinstance(schema, Mapping) or depth > MAX_DEPTH:
        return
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        target = meta_schema()["$defs"].get(name)
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        if rest:
            yield rest
        yield from _deref(target, depth + 1)
        return
    if "anyOf" in schema:
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        if rest:
            yield rest
        for branch in schema["anyOf"]:
            yield from _deref(branch, depth + 1)
        return
    yield schema


def schemas_at(parts: Sequence[Part]) -> list[Mapping[str, Any]]:
    """Every meta-schema alternative that describes the value at `parts`."""
    current = list(_deref(meta_schema()))
    for part in parts:
        following: list[Mapping[str, Any]] = []
        for schema in current:
            if isinstance(part, str):
                properties = schema.get("properties")
                if isinstance(properties, Mapping) and part in properties:
                    following += _deref(properties[part])
                elif isinstance(schema.get("additionalProperties"), Mapping):
                    following += _deref(schema["additionalProperties"])
            elif isinstance(schema.get("items"), Mapping):
                following += _deref(schema["items"])
        current = following
        if not current:
            break
    return current


def _kinds(schemas: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, ...], tuple[str, ...], str | None]:
    """The JSON types, enumerated values and description of a value's schemas."""
    kinds: list[str] = []
    values: list[str] = []
    description = None
    for schema in schemas:
        description = description or schema.get("description")
        kind = schema.get("type")
        for name in kind if isinstance(kind, list) else [kind] if kind else []:
            if name not in kinds:
                kinds.append(name)
        for value in schema.get("enum", []):
            if str(value) not in values:
                values.append(str(value))
        if "const" in schema and str(schema["const"]) not in values:
            values.append(str(schema["const"]))
    if values and not kinds:
        kinds.append("string")
    return tuple(kinds), tuple(values), description


def hints_for(container: Sequence[Part], member: Sequence[Part] | None, present: Sequence[str] = ()) -> Hints:
    """Hints for a cursor inside the object or list at `container`, on `member` if any.
    `present` names the keys the object already has (they are marked)."""
    hints = Hints(path=format_path(container))
    schemas = schemas_at(container)
    objects = [s for s in schemas if s.get("type") == "object" or "properties" in s]
    if objects:
        hints.kind = "object"
        required: set[str] = set()
        seen: dict[str, KeyHint] = {}
        for schema in objects:
            required.update(schema.get("required", []))
            for name, spec in (schema.get("properties") or {}).items():
                if name in seen:
                    continue
                kinds, values, description = _kinds(list(_deref(spec)))
                seen[name] = KeyHint(name, False, kinds, values, description or spec.get("description"))
            if isinstance(schema.get("additionalProperties"), Mapping):
                hints.any_key = True
            hints.description = hints.description or schema.get("description")
        keys = [
            KeyHint(h.name, h.name in required, h.kinds, h.values, h.description, h.name in present)
            for h in seen.values()
            if h.name != "$schema"
        ]
        hints.keys = sorted(keys, key=lambda h: (not h.required, list(seen).index(h.name)))
    elif any(s.get("type") == "array" for s in schemas):
        hints.kind = "array"
    if member is not None and list(member[: len(container)]) == list(container) and len(member) == len(container) + 1:
        hints.member = format_path(member)
        kinds, values, description = _kinds(schemas_at(member))
        hints.member_kinds, hints.values = kinds, values
        hints.description = description or hints.description
    return hints
