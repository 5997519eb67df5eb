"""Marshmallow schemas for record input and output, generated from entity definitions.

Each field delegates to the engine's field type (`engine.fieldtypes`), so the web forms,
the JSON API and the engine apply one set of rules and say the same words when a value
does not fit. Schemas are built once per entity definition and reused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields

from flowdeck.engine.fieldtypes import FIELD_TYPES, InvalidValue
from flowdeck.engine.jsonvalues import to_json
from flowdeck.engine.messages import M, Message
from flowdeck.engine.schema.model import Entity, Field

_cache: dict[tuple[int, str], tuple[Entity, Schema]] = {}
_CACHE_LIMIT = 1000


class EngineField(fields.Field):
    """A value parsed and rendered by the engine's field type."""

    def __init__(self, definition: Field, **kwargs: Any) -> None:
        super().__init__(allow_none=True, **kwargs)
        self.definition = definition

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        try:
            return FIELD_TYPES[self.definition.type].parse(self.definition, value)
        except InvalidValue as exc:
            raise ValidationError([exc.message]) from None

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return to_json(self.definition, value)


def _columns(entity_fields: tuple[Field, ...], *, editable_only: bool) -> dict[str, fields.Field]:
    columns: dict[str, fields.Field] = {}
    for fld in entity_fields:
        if editable_only and not fld.editable:
            continue
        if fld.is_table:
            rows = Schema.from_dict({"id": fields.Integer(allow_none=True), **_columns(fld.fields, editable_only=editable_only)})
            columns[fld.key] = fields.List(fields.Nested(rows), allow_none=True)
        else:
            columns[fld.key] = EngineField(fld)
    return columns


def _cached(entity: Entity, kind: str, build: Callable[[], Schema]) -> Schema:
    """One schema per entity definition; the identity check makes a reused id harmless."""
    hit = _cache.get((id(entity), kind))
    if hit is not None and hit[0] is entity:
        return hit[1]
    if len(_cache) > _CACHE_LIMIT:
        _cache.clear()
    schema = build()
    _cache[(id(entity), kind)] = (entity, schema)
    return schema


def input_schema(entity: Entity) -> Schema:
    """Loads `{field: raw value}` into typed values; unknown and read-only keys are errors."""
    return _cached(entity, "in", lambda: Schema.from_dict(_columns(entity.fields, editable_only=True))(unknown=RAISE))


def output_schema(entity: Entity) -> Schema:
    """Dumps a record's values (Decimal as text, dates in ISO form) for JSON."""

    def build() -> Schema:
        system = {"id": fields.Integer(), "version": fields.Integer(), "state": fields.String(allow_none=True)}
        return Schema.from_dict({**system, **_columns(entity.fields, editable_only=False)})(unknown=EXCLUDE)

    return _cached(entity, "out", build)


Problems = dict[str, list[Message | str]]
"""Messages per field key, like `RecordInvalid.errors` (marshmallow's own words stay `str`)."""


def load_input(entity: Entity, data: Mapping[str, Any], *, partial: bool = True) -> tuple[dict[str, Any], Problems]:
    """Typed values and field errors (`{"field": [message]}`, rows as `items[0].qty`)."""
    try:
        return input_schema(entity).load(data, partial=partial), {}
    except ValidationError as exc:
        return dict(exc.valid_data or {}), flatten_errors(exc.normalized_messages())


def flatten_errors(messages: Any, prefix: str = "") -> Problems:
    out: Problems = {}
    if isinstance(messages, list):
        out[prefix or "_record"] = [_said(m) for m in messages]
        return out
    for key, value in messages.items():
        name = f"{prefix}[{key}]" if isinstance(key, int) else (f"{prefix}.{key}" if prefix else str(key))
        if key == "_schema":
            name = prefix or "_record"
        if isinstance(value, dict):
            out.update(flatten_errors(value, name))
        else:
            out.setdefault(name, []).extend(_said(m) for m in value)
    return out


def _said(message: Any) -> Message | str:
    """An engine message as it is; marshmallow's own words as text (an unknown key said
    the way the form sees it)."""
    if isinstance(message, Message):
        return message
    return M("is not a field of this form") if str(message) == "Unknown field." else str(message)
