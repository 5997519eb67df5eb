"""A field's stored shape, then and now: what must stay equal for its stored values to keep
their meaning (`signature`), and how a plan names its kind of value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowdeck.engine.fieldtypes import FIELD_TYPES, is_many, scale_of, types_in
from flowdeck.engine.phrases import Words, type_words
from flowdeck.engine.schema.model import Entity, Field

NUMERIC = frozenset(name for name in types_in("number") if not FIELD_TYPES[name].whole)
"""Number types kept with decimal places (their scale is part of the stored shape)."""


def signature(field: Field) -> tuple[Any, ...]:
    """What must stay equal for a field's stored data to keep its meaning."""
    value_type = field.value_type
    scale = field.scale if value_type in NUMERIC else None
    if value_type in NUMERIC and scale is None:
        scale = 2
    return (value_type, is_many(field), field.to, scale)


def spec_signature(spec: Mapping[str, Any]) -> tuple[Any, ...]:
    """`signature` of a field as written in a document (an archived definition)."""
    value_type = (spec.get("result") or "decimal") if spec.get("type") == "computed" else spec.get("type")
    scale = spec.get("scale", 2) if value_type in NUMERIC else None
    return (value_type, bool(spec.get("many")) or spec.get("type") == "multiselect", spec.get("to"), scale)


def spec_type(spec: Mapping[str, Any]) -> Words:
    """The kind of value of a field as written in a document: `many user`."""
    value_type, many, to, _ = spec_signature(spec)
    return type_words(str(value_type), many=many and spec.get("type") != "multiselect", to=to)


def describe_type(field: Field) -> Words:
    """A field's kind of value: `decimal`, `many reference to customer`."""
    return type_words(field.value_type, many=field.many, to=field.to)


def type_change_words(field: Field, other: Field) -> Words:
    """`decimal`, or `decimal with 4 decimal places` when the scale is what changes."""
    places = None
    if field.value_type in NUMERIC and other.value_type in NUMERIC and scale_of(field) != scale_of(other):
        places = scale_of(field)
    return type_words(field.value_type, many=field.many, to=field.to, places=places)


def before(old_entity: Entity | None, field: Field) -> Field | None:
    """The field `field` was in the previous document (by `was`, else by its key)."""
    if old_entity is None:
        return None
    return old_entity.field(field.was or field.key) or old_entity.field(field.key)
