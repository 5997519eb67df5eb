"""What every authoring command shares: the refusal it raises, the document's vocabulary
(key rules, the field types, categories and modes the builder offers), and small readers
that find a part of the document or refuse when it is missing or written another way.

A command never overwrites what it cannot read: a part written in an unexpected form
(fields as a list) is refused with a message, and the admin fixes it in the JSON.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.fieldtypes import OFFERED_TYPES
from flowdeck.engine.messages import M, Message

Document = dict[str, Any]
KEY = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
OPTION_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,59}$")
MAX_KEY = 30
MAX_OPTION_KEY = 40

SIMPLE_TYPES = OFFERED_TYPES
"""Field types the builder offers (the registry's `offered` ones)."""
CATEGORIES = ("todo", "doing", "done")
MODES = ("any", "all", "quorum")
RELATIONS = ("manager", "department_head", "parent_department_head")
APPROVER_KINDS = ("role", "users", "field", "relation")
ENFORCE = ("warn", "block")
COMMENTS = ("none", "optional", "required")
DIRECTIONS = ("up", "down")
SYSTEM_COLUMNS = ("id", "state", "created_at", "created_by", "updated_at", "updated_by")


class EditRefused(FlowdeckError):
    """An edit a command cannot make (an unknown entity, a key taken twice, a setting out of
    its choices); `message` says why, for the admin. The document given is unchanged."""

    message: Message

    def __init__(self, message: Message) -> None:
        super().__init__(message)


def copied(document: Document) -> Document:
    """A deep copy to edit: a command never changes the document it is given."""
    return copy.deepcopy(document)


def label_of(en: str | None, zh: str | None) -> dict[str, str] | None:
    """A label object from the two texts entered (None when both are empty)."""
    texts = {lang: text.strip() for lang, text in (("en", en), ("zh", zh)) if text and text.strip()}
    return texts or None


def label_texts(label: Any) -> tuple[str, str]:
    """The English and Chinese texts of a label as written (text or object)."""
    if isinstance(label, str):
        return label, ""
    if isinstance(label, Mapping):
        return str(label.get("en", "")), str(label.get("zh", ""))
    return "", ""


def same_label(current: Any, en: str | None, zh: str | None) -> Any:
    """The label (or help text) for the texts entered: the one written now when its words
    are the same (a plain text stays a text), else a new one (None when both are empty).
    A text that is None is kept as it is."""
    now_en, now_zh = label_texts(current)
    wanted = label_of(now_en if en is None else en, now_zh if zh is None else zh)
    return current if wanted == label_of(now_en, now_zh) else wanted


def checked_key(value: str | None, what: Message) -> str:
    """A key the admin typed, checked against the document's key rule."""
    key = (value or "").strip()
    if not key:
        raise EditRefused(M("Enter a key for the %(what)s.", what=what))
    if len(key) > MAX_KEY or not KEY.match(key):
        raise EditRefused(
            M(
                '"%(key)s" is not a valid key: use lowercase letters, digits and single underscores, starting with a letter (at most 30).',
                key=key,
            )
        )
    return key


def checked_color(value: str | None) -> str | None:
    """A colour as entered (#rrggbb), None when empty."""
    text = (value or "").strip()
    if not text:
        return None
    if not COLOR.match(text):
        raise EditRefused(M('"%(value)s" is not a colour: write it as #rrggbb, e.g. #1f77b4.', value=text))
    return text


def checked_direction(value: str) -> str:
    if value not in DIRECTIONS:
        raise EditRefused(M("Move up or down."))
    return value


def with_members(spec: Mapping[str, Any], **members: Any) -> dict[str, Any]:
    """`spec` with `members` set (None removes one), keeping the order of what is there."""
    out = dict(spec)
    for name, value in members.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def member(owner: dict[str, Any], key: str, kind: type) -> Any:
    """`owner[key]`, created empty when missing; refused when it is something else."""
    value = owner.get(key)
    if value is None:
        value = owner[key] = kind()
    if not isinstance(value, kind):
        raise EditRefused(M('"%(key)s" is not written as the builder expects; fix it in the JSON editor first.', key=key))
    return value


def entity_spec(doc: Document, key: str) -> dict[str, Any]:
    entities = doc.get("entities")
    entity = entities.get(key) if isinstance(entities, dict) else None
    if not isinstance(entity, dict):
        raise EditRefused(M('The app has no entity "%(key)s".', key=key))
    return entity


def fields_of(entity: dict[str, Any]) -> dict[str, Any]:
    return member(entity, "fields", dict)


def field_spec(entity: dict[str, Any], key: str) -> dict[str, Any]:
    spec = fields_of(entity).get(key)
    if not isinstance(spec, dict):
        raise EditRefused(M('There is no field "%(key)s".', key=key))
    return spec


def views_of(entity: dict[str, Any]) -> dict[str, Any]:
    return member(entity, "views", dict)


def view_specs(entity: dict[str, Any]) -> list[dict[str, Any]]:
    """The entity's views that are objects (for following a rename; never created)."""
    views = entity.get("views")
    return [v for v in views.values() if isinstance(v, dict)] if isinstance(views, dict) else []


def known_keys(entity: dict[str, Any], keys: Iterable[str], also: Iterable[str] = ()) -> list[str]:
    """`keys` without blanks and repeats, each a field of the entity (or one of `also`)."""
    chosen = list(dict.fromkeys(k for k in keys if k))
    known, extra = fields_of(entity), set(also)
    for key in chosen:
        if key not in known and key not in extra:
            raise EditRefused(M('The entity has no field "%(key)s".', key=key))
    return chosen


def kept_order(current: Any, chosen: list[str]) -> list[str]:
    """`chosen` with the keys already in `current` first, in their order, and the new ones
    after them in the order given (card fields, section fields, list columns)."""
    before = [k for k in current or [] if k in chosen]
    return before + [k for k in chosen if k not in before]


def reordered(items: dict[str, Any], key: str, towards: str) -> dict[str, Any]:
    keys = list(items)
    index = keys.index(key)
    other = index - 1 if towards == "up" else index + 1
    if 0 <= other < len(keys):
        keys[index], keys[other] = keys[other], keys[index]
    return {k: items[k] for k in keys}


def move_in_list(items: list[Any], index: int, towards: str) -> None:
    other = index - 1 if towards == "up" else index + 1
    if 0 <= other < len(items):
        items[index], items[other] = items[other], items[index]


def renamed_in_list(items: Any, old: str, new: str | None) -> Any:
    """A list of keys with `old` renamed to `new` (or left out when `new` is None)."""
    if not isinstance(items, list):
        return items
    out = []
    for item in items:
        if item == old:
            if new is not None:
                out.append(new)
        else:
            out.append(item)
    return out


def renamed_word(expression: Any, old: str, new: str) -> Any:
    """An expression with the name `old` renamed (not inside quotes, not after a dot)."""
    if not isinstance(expression, str):
        return expression
    parts = re.split(r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""", expression)
    pattern = re.compile(rf"(?<![\w.]){re.escape(old)}(?!\w)")
    return "".join(part if index % 2 else pattern.sub(new, part) for index, part in enumerate(parts))


def workflow_of(entity: dict[str, Any]) -> dict[str, Any]:
    workflow = entity.get("workflow")
    if not isinstance(workflow, dict):
        raise EditRefused(M("This entity has no workflow; add its first state in the JSON editor."))
    return workflow


def states_of(workflow: dict[str, Any]) -> dict[str, Any]:
    return member(workflow, "states", dict)


def transitions_of(workflow: dict[str, Any]) -> list[Any]:
    return member(workflow, "transitions", list)


def transition_spec(workflow: dict[str, Any], key: str) -> dict[str, Any]:
    for item in transitions_of(workflow):
        if isinstance(item, dict) and item.get("key") == key:
            return item
    raise EditRefused(M('There is no transition "%(key)s".', key=key))


def steps_of(entity: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(approval, step) for every approval step of the entity's transitions."""
    workflow = entity.get("workflow")
    out = []
    for transition in (workflow.get("transitions") or []) if isinstance(workflow, dict) else []:
        approval = transition.get("approval") if isinstance(transition, dict) else None
        if isinstance(approval, dict):
            out += [(approval, step) for step in approval.get("steps") or [] if isinstance(step, dict)]
    return out


def approver_sources(step: dict[str, Any]) -> list[dict[str, Any]]:
    approvers = step.get("approvers")
    items = approvers if isinstance(approvers, list) else [approvers]
    return [a for a in items if isinstance(a, dict)]
