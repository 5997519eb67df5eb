"""Commands on a select field's options: add, edit (key, label, colour), remove and move.
A computed field whose result is text takes the same commands: its options label the
codes its formula returns, and it may have none.

A changed key is a new option and a removed one is gone: the records holding the old key
are moved by the migration plan, which asks the admin where to. The field's default and
the limits and collapsed columns of boards grouped by the field follow here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowdeck.engine.fieldtypes import types_in
from flowdeck.engine.messages import M
from flowdeck.engine.schema.authoring.common import (
    MAX_OPTION_KEY,
    OPTION_KEY,
    Document,
    EditRefused,
    checked_color,
    checked_direction,
    copied,
    entity_spec,
    field_spec,
    label_of,
    member,
    move_in_list,
    renamed_in_list,
    view_specs,
    with_members,
)


def parse_options(text: str) -> list[Any]:
    """Options typed one per line: `key`, or `key | English | 中文 | #colour`."""
    options: list[Any] = []
    seen: set[str] = set()
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line:
            continue
        cells = [cell.strip() for cell in line.split("|")]
        key = cells[0]
        if not OPTION_KEY.match(key) or len(key) > MAX_OPTION_KEY:
            raise EditRefused(M('"%(key)s" is not a valid option key: use lowercase letters, digits, _ and -.', key=key))
        if key in seen:
            raise EditRefused(M('The option "%(key)s" is listed twice.', key=key))
        seen.add(key)
        label = label_of(cells[1] if len(cells) > 1 else None, cells[2] if len(cells) > 2 else None)
        colour = checked_color(cells[3]) if len(cells) > 3 else None
        options.append(key if label is None and colour is None else with_members({"key": key}, label=label, color=colour))
    return options


def option_key(option: Any) -> str | None:
    """The key of an option as written (a text, or an object with a key)."""
    if isinstance(option, str):
        return option
    if isinstance(option, Mapping) and isinstance(option.get("key"), str):
        return option["key"]
    return None


def takes_options(spec: Mapping[str, Any]) -> bool:
    """Select fields, and computed fields whose codes (text results) the options label."""
    return spec.get("type") in types_in("choice") or (spec.get("type") == "computed" and spec.get("result") == "text")


def _options(spec: dict[str, Any]) -> list[Any]:
    if not takes_options(spec):
        raise EditRefused(M("Only select fields and computed fields with a text result have options."))
    return member(spec, "options", list)


def _index(options: list[Any], key: str) -> int:
    for index, option in enumerate(options):
        if option_key(option) == key:
            return index
    raise EditRefused(M('There is no option "%(key)s".', key=key))


def add_option(
    document: Document, *, entity: str, field: str, key: str, label_en: str = "", label_zh: str = "", color: str = ""
) -> Document:
    doc = copied(document)
    options = _options(field_spec(entity_spec(doc, entity), field))
    parsed = parse_options(f"{key}|{label_en}|{label_zh}|{color}")
    if not parsed:
        raise EditRefused(M("Enter a key for the %(what)s.", what=M("option")))
    added = option_key(parsed[0])
    if any(option_key(o) == added for o in options):
        raise EditRefused(M('The field already has an option "%(key)s".', key=added))
    options.append(parsed[0])
    return doc


def edit_option(
    document: Document,
    *,
    entity: str,
    field: str,
    option: str,
    key: str = "",
    label_en: str = "",
    label_zh: str = "",
    color: str = "",
) -> Document:
    """Change an option's key, label or colour. A new key is a new option: records holding
    the old one are moved by the migration plan (it asks where to)."""
    doc = copied(document)
    target = entity_spec(doc, entity)
    spec = field_spec(target, field)
    options = _options(spec)
    index = _index(options, option)
    changed = (key or "").strip() or option
    parsed = parse_options(f"{changed}|{label_en}|{label_zh}|{color}")[0]
    if changed != option:
        if any(option_key(o) == changed for o in options):
            raise EditRefused(M('The field already has an option "%(key)s".', key=changed))
        _follow(target, field, spec, option, changed)
    options[index] = parsed
    return doc


def _follow(entity: dict[str, Any], field: str, spec: dict[str, Any], old: str, new: str | None) -> None:
    """The field's default and the boards grouped by it follow a renamed (or removed: None) option."""
    default = spec.get("default")
    if default == old and new is None:
        del spec["default"]
    elif default == old:
        spec["default"] = new
    elif isinstance(default, list) and old in default:
        spec["default"] = renamed_in_list(default, old, new)
    for view in view_specs(entity):
        if view.get("group_by") != field:
            continue
        if isinstance(view.get("wip"), dict) and old in view["wip"]:
            view["wip"] = {(new if k == old else k): v for k, v in view["wip"].items() if new is not None or k != old}
        if "collapsed" in view:
            view["collapsed"] = renamed_in_list(view["collapsed"], old, new)


def remove_option(document: Document, *, entity: str, field: str, option: str) -> Document:
    """Remove an option; the migration plan asks what records holding it get instead."""
    doc = copied(document)
    target = entity_spec(doc, entity)
    spec = field_spec(target, field)
    options = _options(spec)
    index = _index(options, option)
    if len(options) == 1 and spec.get("type") != "computed":
        raise EditRefused(M("A select field needs at least one option."))
    del options[index]
    if not options:
        del spec["options"]
    _follow(target, field, spec, option, None)
    return doc


def move_option(document: Document, *, entity: str, field: str, option: str, direction: str) -> Document:
    doc = copied(document)
    options = _options(field_spec(entity_spec(doc, entity), field))
    move_in_list(options, _index(options, option), checked_direction(direction))
    return doc
