"""What the visual builder panel shows of each view type: one row per view, read
defensively from the raw document (it may not be a valid app while being edited).

Each reader is the `read` of its view type's entry in `views.view_pages`; the builder
model (`schema_admin.model`) calls it for every view of the entity, and the type's builder
template (`ViewPage.builder`) draws the rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flowdeck.engine.schema import authoring
from flowdeck.views.i18n import lang

if TYPE_CHECKING:
    from flowdeck.views.schema_admin.model import BuilderModel


def text_of(label: Any, fallback: str) -> str:
    """A raw document label in the current language (the other one, then `fallback`)."""
    en, zh = authoring.label_texts(label)
    return (zh or en or fallback) if lang() == "zh" else (en or zh or fallback)


def as_dict(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one (the document may be broken)."""
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Column:
    value: str
    label: str
    max: str
    enforce: str


@dataclass(frozen=True)
class BoardRow:
    key: str
    label: str
    group_by: str
    card: tuple[str, ...]
    swimlanes: str
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class ListRow:
    key: str
    label: str
    en: str
    zh: str
    columns: tuple[str, ...]
    sort_by: str
    descending: bool


def read_list(model: BuilderModel, key: str, spec: Mapping[str, Any]) -> None:
    """A list view's row: its label in both languages, columns and first sort key."""
    sort = [k for k in spec.get("sort") or [] if isinstance(k, str)]
    first = sort[0] if sort else ""
    en, zh = authoring.label_texts(spec.get("label"))
    listed = tuple(str(c) for c in spec.get("columns") or [] if isinstance(c, str))
    model.lists.append(ListRow(key, text_of(spec.get("label"), key), en, zh, listed, first.lstrip("-"), first.startswith("-")))


def read_board(model: BuilderModel, key: str, spec: Mapping[str, Any]) -> None:
    """A board's row: its grouping, card fields, swimlanes and one WIP limit per column
    (the columns are the states or the options of the select field it groups by)."""
    group = str(spec.get("group_by", ""))
    wip = as_dict(spec.get("wip"))
    if group == "state":
        values = [(s.key, text_of({"en": s.en, "zh": s.zh} if s.en or s.zh else None, s.key)) for s in model.states]
    else:
        group_field = next((f for f in model.fields if f.key == group), None)
        values = [
            (o.key, text_of({"en": o.en, "zh": o.zh} if o.en or o.zh else None, o.key))
            for o in (group_field.options if group_field else ())
        ]
    columns = tuple(
        Column(value, name, str(as_dict(wip.get(value)).get("max", "")), str(as_dict(wip.get(value)).get("enforce", "warn")))
        for value, name in values
    )
    card = tuple(str(c) for c in spec.get("card") or [])
    model.boards.append(BoardRow(key, text_of(spec.get("label"), key), group, card, str(spec.get("swimlanes") or ""), columns))
