"""Commands on an entity's form sections: add, set (label and fields), remove and move.

A field is in one section only: ticking it in a section takes it out of the one it was
in, and a section left empty goes. Sections are named by their place (0 for the first).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flowdeck.engine.messages import M
from flowdeck.engine.schema.authoring.common import (
    Document,
    EditRefused,
    checked_direction,
    copied,
    entity_spec,
    kept_order,
    known_keys,
    label_of,
    move_in_list,
    same_label,
    with_members,
)


def _sections(entity: dict[str, Any]) -> list[Any]:
    sections = entity.get("sections")
    if sections is None:
        return []
    if not isinstance(sections, list) or not all(isinstance(s, dict) for s in sections):
        raise EditRefused(M("The entity's sections are not a list of sections; fix them in the JSON."))
    return sections


def _index(sections: list[Any], section: int) -> int:
    if not 0 <= section < len(sections):
        raise EditRefused(M("There is no such section."))
    return section


def _fields(entity: dict[str, Any], fields: Iterable[str]) -> list[str]:
    chosen = known_keys(entity, fields)
    if not chosen:
        raise EditRefused(M("A section needs at least one field."))
    return chosen


def _settle(entity: dict[str, Any], sections: list[Any], keep: int, chosen: list[str]) -> None:
    """Section `keep` holds `chosen`; the others give those fields up (a field is in one
    section only) and go when left empty; no sections at all removes the key."""
    for index, section in enumerate(sections):
        if index != keep:
            section["fields"] = [f for f in section.get("fields") or [] if f not in chosen]
    remaining = [s for index, s in enumerate(sections) if index == keep or s.get("fields")]
    if remaining:
        entity["sections"] = remaining
    else:
        entity.pop("sections", None)


def add_section(document: Document, *, entity: str, label_en: str = "", label_zh: str = "", fields: Iterable[str] = ()) -> Document:
    """A new last section of the form holding `fields` (moved out of their sections)."""
    doc = copied(document)
    target = entity_spec(doc, entity)
    sections = _sections(target)
    chosen = _fields(target, fields)
    sections.append(with_members({}, label=label_of(label_en, label_zh), fields=chosen))
    _settle(target, sections, len(sections) - 1, chosen)
    return doc


def set_section(
    document: Document,
    *,
    entity: str,
    section: int,
    label_en: str | None = None,
    label_zh: str | None = None,
    fields: Iterable[str] = (),
) -> Document:
    """A section's label and fields (kept in their order, new ones last; taken from the
    sections they were in)."""
    doc = copied(document)
    target = entity_spec(doc, entity)
    sections = _sections(target)
    index = _index(sections, section)
    chosen = _fields(target, fields)
    spec = sections[index]
    ordered = kept_order(spec.get("fields"), chosen)
    sections[index] = with_members(spec, label=same_label(spec.get("label"), label_en, label_zh), fields=ordered)
    _settle(target, sections, index, ordered)
    return doc


def remove_section(document: Document, *, entity: str, section: int) -> Document:
    """Remove a section; its fields stay on the form, after the sections."""
    doc = copied(document)
    target = entity_spec(doc, entity)
    sections = _sections(target)
    del sections[_index(sections, section)]
    if not sections:
        target.pop("sections", None)
    return doc


def move_section(document: Document, *, entity: str, section: int, direction: str) -> Document:
    doc = copied(document)
    target = entity_spec(doc, entity)
    sections = _sections(target)
    move_in_list(sections, _index(sections, section), checked_direction(direction))
    return doc
