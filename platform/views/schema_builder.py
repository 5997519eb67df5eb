"""The visual builder's edits, as small functions on an app document (a parsed JSON object).

Each function takes the document and what the admin entered, and returns a new document
(the one given is never changed) or raises `BuilderError` with a message for the admin.
The builder writes the same JSON the admin could type: the page posts the current text and
an action, `apply_action` runs the function, and `jsonlines.rewrite` turns the result back
into text that keeps everything the action did not touch. Whether the result is a valid
app is for the loader to say (the editor shows its problems); these functions only refuse
what they cannot do at all (an unknown entity, a key taken twice).

Renames and removals keep the document consistent where a key is named: a renamed field
gets `"was"` (its data is kept) and is renamed in sections, views, search, workflow rules,
required fields, approvals and expressions; a removed state takes the transitions that end
in it with it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask_babel import gettext as _

Document = dict[str, Any]
KEY = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
OPTION_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,59}$")
MAX_KEY = 30

# Field types the builder offers; the others (table, computed, autonumber) need settings
# that are written in JSON.
SIMPLE_TYPES = (
    "text",
    "markdown",
    "integer",
    "decimal",
    "money",
    "percent",
    "date",
    "datetime",
    "boolean",
    "select",
    "multiselect",
    "user",
    "reference",
    "email",
    "url",
    "phone",
    "attachment",
)
CATEGORIES = ("todo", "doing", "done")
MODES = ("any", "all", "quorum")
RELATIONS = ("manager", "department_head", "parent_department_head")
APPROVER_KINDS = ("role", "users", "field", "relation")
ENFORCE = ("warn", "block")
COMMENTS = ("none", "optional", "required")
EXPRESSION_KEYS = ("formula", "show_if", "required_if", "guard", "when")


class BuilderError(Exception):
    """An edit the builder cannot make; the message says why, for the admin."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


# -- small helpers --------------------------------------------------------------------------


def label_of(en: str | None, zh: str | None) -> str | dict[str, str] | None:
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


def _key(value: str | None, what: str) -> str:
    key = (value or "").strip()
    if not key:
        raise BuilderError(_("Enter a key for the %(what)s.", what=what))
    if len(key) > MAX_KEY or not KEY.match(key):
        raise BuilderError(
            _(
                '"%(key)s" is not a valid key: use lowercase letters, digits and single underscores, starting with a letter (at most 30).',
                key=key,
            )
        )
    return key


def _color(value: str | None) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    if not COLOR.match(text):
        raise BuilderError(_('"%(value)s" is not a colour: write it as #rrggbb, e.g. #1f77b4.', value=text))
    return text


def _with(spec: Mapping[str, Any], **members: Any) -> dict[str, Any]:
    """`spec` with `members` set (None removes one), keeping the order of what is there."""
    out = dict(spec)
    for name, value in members.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def _entity(doc: Document, key: str) -> dict[str, Any]:
    entities = doc.get("entities")
    entity = entities.get(key) if isinstance(entities, dict) else None
    if not isinstance(entity, dict):
        raise BuilderError(_('The app has no entity "%(key)s".', key=key))
    return entity


def _member(owner: dict[str, Any], key: str, kind: type) -> Any:
    """`owner[key]`, created empty when missing; refused when it is something else (the
    builder never overwrites what it cannot read)."""
    value = owner.get(key)
    if value is None:
        value = owner[key] = kind()
    if not isinstance(value, kind):
        raise BuilderError(_('"%(key)s" is not written as the builder expects; fix it in the JSON editor first.', key=key))
    return value


def _fields(entity: dict[str, Any]) -> dict[str, Any]:
    return _member(entity, "fields", dict)


def _field(entity: dict[str, Any], key: str) -> dict[str, Any]:
    spec = _fields(entity).get(key)
    if not isinstance(spec, dict):
        raise BuilderError(_('There is no field "%(key)s".', key=key))
    return spec


def _workflow(entity: dict[str, Any]) -> dict[str, Any]:
    workflow = entity.get("workflow")
    if not isinstance(workflow, dict):
        raise BuilderError(_("This entity has no workflow; add its first state in the JSON editor."))
    return workflow


def _states(workflow: dict[str, Any]) -> dict[str, Any]:
    return _member(workflow, "states", dict)


def _transitions(workflow: dict[str, Any]) -> list[Any]:
    return _member(workflow, "transitions", list)


def _transition(workflow: dict[str, Any], key: str) -> dict[str, Any]:
    for item in _transitions(workflow):
        if isinstance(item, dict) and item.get("key") == key:
            return item
    raise BuilderError(_('There is no transition "%(key)s".', key=key))


def _views(entity: dict[str, Any]) -> dict[str, Any]:
    return _member(entity, "views", dict)


def _typed_view(entity: dict[str, Any], key: str, kind: str) -> dict[str, Any]:
    """The view `key`, which must be of type `kind` ("board" or "list")."""
    view = _views(entity).get(key)
    if not isinstance(view, dict) or view.get("type") != kind:
        if kind == "board":
            raise BuilderError(_('There is no board view "%(key)s".', key=key))
        raise BuilderError(_('The entity has no list view "%(key)s".', key=key))
    return view


def _add_view(doc: Document, entity: str, key: str, kind: str, label_en: str, label_zh: str, **members: Any) -> Document:
    """`doc` with a new view of type `kind` under a new key; `members` as `_with` takes them."""
    doc = copy.deepcopy(doc)
    target = _entity(doc, entity)
    key = _new_view_key(target, key)
    _views(target)[key] = _with({"type": kind}, label=label_of(label_en, label_zh), **members)
    return doc


def _reordered(items: dict[str, Any], key: str, direction: str) -> dict[str, Any]:
    keys = list(items)
    index = keys.index(key)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(keys):
        keys[index], keys[other] = keys[other], keys[index]
    return {k: items[k] for k in keys}


def _move_in_list(items: list[Any], index: int, direction: str) -> None:
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(items):
        items[index], items[other] = items[other], items[index]


def _kept_order(current: Any, chosen: list[str]) -> list[str]:
    """`chosen` with the keys already in `current` first, in their order, and the new ones
    after them in the order given (card fields, section fields, list columns)."""
    before = [k for k in current or [] if k in chosen]
    return before + [k for k in chosen if k not in before]


def _new_view_key(entity: dict[str, Any], key: str) -> str:
    key = _key(key, _("view"))
    if key in _views(entity):
        raise BuilderError(_('The entity already has a view "%(key)s".', key=key))
    return key


def _known_keys(entity: dict[str, Any], keys: Iterable[str], also: Iterable[str] = ()) -> list[str]:
    """`keys` without blanks and repeats, each a field of the entity (or one of `also`)."""
    chosen = list(dict.fromkeys(k for k in keys if k))
    known, extra = _fields(entity), set(also)
    for key in chosen:
        if key not in known and key not in extra:
            raise BuilderError(_('The entity has no field "%(key)s".', key=key))
    return chosen


def _direction(value: str) -> str:
    if value not in ("up", "down"):
        raise BuilderError(_("Move up or down."))
    return value


def _rename_in_list(items: Any, old: str, new: str | None) -> Any:
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


def _rename_word(expression: Any, old: str, new: str) -> Any:
    """An expression with the name `old` renamed (not inside quotes, not after a dot)."""
    if not isinstance(expression, str):
        return expression
    parts = re.split(r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""", expression)
    pattern = re.compile(rf"(?<![\w.]){re.escape(old)}(?!\w)")
    return "".join(part if index % 2 else pattern.sub(new, part) for index, part in enumerate(parts))


def _option_key(option: Any) -> str | None:
    if isinstance(option, str):
        return option
    if isinstance(option, Mapping) and isinstance(option.get("key"), str):
        return option["key"]
    return None


def _options(spec: dict[str, Any]) -> list[Any]:
    if spec.get("type") not in ("select", "multiselect"):
        raise BuilderError(_("Only select fields have options."))
    return _member(spec, "options", list)


def _option_index(options: list[Any], key: str) -> int:
    for index, option in enumerate(options):
        if _option_key(option) == key:
            return index
    raise BuilderError(_('There is no option "%(key)s".', key=key))


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
        if not OPTION_KEY.match(key) or len(key) > 40:
            raise BuilderError(_('"%(key)s" is not a valid option key: use lowercase letters, digits, _ and -.', key=key))
        if key in seen:
            raise BuilderError(_('The option "%(key)s" is listed twice.', key=key))
        seen.add(key)
        label = label_of(cells[1] if len(cells) > 1 else None, cells[2] if len(cells) > 2 else None)
        color = _color(cells[3]) if len(cells) > 3 else None
        options.append(key if label is None and color is None else _with({"key": key}, label=label, color=color))
    return options


# -- fields ---------------------------------------------------------------------------------


def add_field(
    doc: Document,
    entity: str,
    key: str,
    type: str,
    label_en: str = "",
    label_zh: str = "",
    required: bool = False,
    options: str = "",
    to: str = "",
    section: str = "",
    boards: Iterable[str] = (),
) -> Document:
    """A new field at the end of the entity (and of a section, and on board cards)."""
    doc = copy.deepcopy(doc)
    target = _entity(doc, entity)
    key = _key(key, _("field"))
    fields = _fields(target)
    if key in fields:
        raise BuilderError(_('The entity already has a field "%(key)s".', key=key))
    if type not in SIMPLE_TYPES:
        raise BuilderError(_("Choose a field type (table, computed and autonumber fields are written in JSON)."))
    spec: dict[str, Any] = {"type": type}
    label = label_of(label_en, label_zh)
    if label is not None:
        spec["label"] = label
    if required:
        spec["required"] = True
    if type in ("select", "multiselect"):
        parsed = parse_options(options)
        if not parsed:
            raise BuilderError(_("A select field needs options: one per line."))
        spec["options"] = parsed
    if type == "reference":
        target_key = (to or "").strip()
        if target_key not in (doc.get("entities") or {}):
            raise BuilderError(_("Choose the entity the reference points to."))
        spec["to"] = target_key
    fields[key] = spec
    if section.strip():
        sections = target.get("sections")
        index = int(section) if section.strip().isdigit() else -1
        if not isinstance(sections, list) or not 0 <= index < len(sections) or not isinstance(sections[index], dict):
            raise BuilderError(_("There is no such section."))
        sections[index]["fields"] = [*(sections[index].get("fields") or []), key]
    for view_key in boards:
        view = _typed_view(target, view_key, "board")
        card = list(view.get("card") or [])
        if key not in card:
            view["card"] = [*card, key]
    return doc


def rename_field(doc: Document, entity: str, field: str, new_key: str, applied: Document | None = None) -> Document:
    """Rename a field; its data is kept (`"was"` names the key its column has now) and every
    place of the entity that names it follows."""
    doc = copy.deepcopy(doc)
    target = _entity(doc, entity)
    spec = _field(target, field)
    new_key = _key(new_key, _("field"))
    if new_key == field:
        return doc
    if new_key in _fields(target):
        raise BuilderError(_('The entity already has a field "%(key)s".', key=new_key))
    live = _applied_fields(applied, entity)
    was = spec.get("was")
    if applied is None or field in live:
        was = field
    elif not (isinstance(was, str) and was in live):
        was = None  # a field added since the last apply: nothing to keep
    spec = _with(spec, was=None if was in (None, new_key) else was)
    target["fields"] = {(new_key if k == field else k): (spec if k == field else v) for k, v in _fields(target).items()}
    _rename_references(target, field, new_key)
    return doc


def _applied_fields(applied: Document | None, entity: str) -> set[str]:
    if applied is None:
        return set()
    spec = (applied.get("entities") or {}).get(entity)
    fields = spec.get("fields") if isinstance(spec, Mapping) else None
    return set(fields) if isinstance(fields, Mapping) else set()


def _views_of(entity: dict[str, Any]) -> list[dict[str, Any]]:
    views = entity.get("views")
    return [v for v in views.values() if isinstance(v, dict)] if isinstance(views, dict) else []


def _steps_of(entity: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(approval, step) for every approval step of the entity's transitions."""
    workflow = entity.get("workflow")
    out = []
    for transition in (workflow.get("transitions") or []) if isinstance(workflow, dict) else []:
        approval = transition.get("approval") if isinstance(transition, dict) else None
        if isinstance(approval, dict):
            out += [(approval, step) for step in approval.get("steps") or [] if isinstance(step, dict)]
    return out


def _approver_sources(step: dict[str, Any]) -> list[dict[str, Any]]:
    approvers = step.get("approvers")
    items = approvers if isinstance(approvers, list) else [approvers]
    return [a for a in items if isinstance(a, dict)]


def _rename_references(entity: dict[str, Any], old: str, new: str) -> None:
    for name in ("title", "tree"):
        if entity.get(name) == old:
            entity[name] = new
    if "search" in entity:
        entity["search"] = _rename_in_list(entity["search"], old, new)
    for section in entity.get("sections") or []:
        if isinstance(section, dict) and "fields" in section:
            section["fields"] = _rename_in_list(section["fields"], old, new)
    for view in _views_of(entity):
        for name in ("columns", "card"):
            if name in view:
                view[name] = _rename_in_list(view[name], old, new)
        if isinstance(view.get("sort"), list):
            view["sort"] = [f"-{new}" if s == f"-{old}" else new if s == old else s for s in view["sort"]]
        for name in ("group_by", "swimlanes"):
            if view.get(name) == old:
                view[name] = new
        if isinstance(view.get("filter"), dict) and old in view["filter"]:
            view["filter"] = {(new if k == old else k): v for k, v in view["filter"].items()}
    for spec in _fields(entity).values():
        if isinstance(spec, dict):
            for name in ("formula", "show_if", "required_if"):
                if name in spec:
                    spec[name] = _rename_word(spec[name], old, new)
    workflow = entity.get("workflow")
    if isinstance(workflow, dict):
        for rule in workflow.get("rules") or []:
            if isinstance(rule, dict):
                for name in ("hidden", "read_only", "required"):
                    if name in rule:
                        rule[name] = _rename_in_list(rule[name], old, new)
        for transition in workflow.get("transitions") or []:
            if isinstance(transition, dict):
                if "require" in transition:
                    transition["require"] = _rename_in_list(transition["require"], old, new)
                if "guard" in transition:
                    transition["guard"] = _rename_word(transition["guard"], old, new)
    for approval, step in _steps_of(entity):
        for source in _approver_sources(step):
            if source.get("field") == old:
                source["field"] = new
        if "when" in step:
            step["when"] = _rename_word(step["when"], old, new)
        pending = approval.get("while_pending")
        if isinstance(pending, dict) and isinstance(pending.get("frozen"), list):
            pending["frozen"] = _rename_in_list(pending["frozen"], old, new)


def move_field(doc: Document, entity: str, field: str, direction: str) -> Document:
    """Move a field one place up or down (in the fields and in its form section)."""
    doc = copy.deepcopy(doc)
    target = _entity(doc, entity)
    _field(target, field)
    direction = _direction(direction)
    target["fields"] = _reordered(_fields(target), field, direction)
    for section in target.get("sections") or []:
        keys = section.get("fields") if isinstance(section, dict) else None
        if isinstance(keys, list) and field in keys:
            _move_in_list(keys, keys.index(field), direction)
    return doc


def remove_field(doc: Document, entity: str, field: str) -> Document:
    """Remove a field and every mention of it in lists (sections, views, search, rules).
    Its data is archived when the change is applied, never deleted."""
    doc = copy.deepcopy(doc)
    target = _entity(doc, entity)
    _field(target, field)
    if target.get("title") == field or (target.get("title") is None and next(iter(_fields(target))) == field):
        raise BuilderError(_("This field is the title of the entity's records; make another field the title first."))
    if target.get("tree") == field:
        raise BuilderError(_("This field holds the parent of each record (the entity's tree); remove the tree first."))
    for key, view in (target.get("views") or {}).items():
        if isinstance(view, dict) and view.get("group_by") == field:
            raise BuilderError(_('The board "%(view)s" groups by this field; group it by something else first.', view=key))
    for _approval, step in _steps_of(target):
        if any(source.get("field") == field for source in _approver_sources(step)):
            raise BuilderError(
                _('The approval step "%(step)s" takes its approvers from this field; change the step first.', step=step.get("key"))
            )
    del target["fields"][field]
    if "search" in target:
        target["search"] = _rename_in_list(target["search"], field, None)
    if isinstance(target.get("sections"), list):
        for section in target["sections"]:
            if isinstance(section, dict) and "fields" in section:
                section["fields"] = _rename_in_list(section["fields"], field, None)
        target["sections"] = [s for s in target["sections"] if not (isinstance(s, dict) and s.get("fields") == [])]
    for view in _views_of(target):
        for name in ("columns", "card"):
            if name in view:
                view[name] = _rename_in_list(view[name], field, None)
        if view.get("columns") == []:
            del view["columns"]
        if isinstance(view.get("sort"), list):
            view["sort"] = [s for s in view["sort"] if s not in (field, f"-{field}")]
        if view.get("swimlanes") == field:
            del view["swimlanes"]
        if isinstance(view.get("filter"), dict):
            view["filter"].pop(field, None)
    workflow = target.get("workflow")
    if isinstance(workflow, dict):
        for rule in workflow.get("rules") or []:
            if isinstance(rule, dict):
                for name in ("hidden", "read_only", "required"):
                    if name in rule:
                        rule[name] = _rename_in_list(rule[name], field, None)
        for transition in workflow.get("transitions") or []:
            if isinstance(transition, dict) and "require" in transition:
                transition["require"] = _rename_in_list(transition["require"], field, None)
    for approval, _step in _steps_of(target):
        pending = approval.get("while_pending")
        if isinstance(pending, dict) and isinstance(pending.get("frozen"), list):
            pending["frozen"] = _rename_in_list(pending["frozen"], field, None)
    return doc


def set_field(
    doc: Document,
    entity: str,
    field: str,
    label_en: str = "",
    label_zh: str = "",
    required: bool = False,
    help_en: str | None = None,
    help_zh: str | None = None,
    show_if: str | None = None,
    required_if: str | None = None,
) -> Document:
    """Change a field's label, whether it is required, its help text and its conditions
    (`show_if`, `required_if`: expressions; empty removes one). What is not given (None)
    stays as it is; a label or help text whose words do not change keeps how it is written.
    Whether an expression makes sense is for the loader to say, like any other edit."""
    doc = copy.deepcopy(doc)
    target = _entity(doc, entity)
    spec = _field(target, field)
    members: dict[str, Any] = {
        "label": _same_label(spec.get("label"), label_en, label_zh),
        "required": True if required else None,
    }
    if help_en is not None or help_zh is not None:
        members["help"] = _same_label(spec.get("help"), help_en, help_zh)
    for name, expression in (("show_if", show_if), ("required_if", required_if)):
        if expression is not None:
            members[name] = _expression(spec.get(name), expression)
    target["fields"][field] = _with(spec, **members)
    return doc


def _same_label(current: Any, en: str | None, zh: str | None) -> Any:
    """The label (or help text) for the texts entered: the one written now when its words
    are the same (a plain text stays a text), else a new one (None when both are empty).
    A text that is None is kept as it is."""
    now_en, now_zh = label_texts(current)
    wanted = label_of(now_en if en is None else en, now_zh if zh is None else zh)
    return current if wanted == label_of(now_en, now_zh) else wanted


def _expression(current: Any, text: str) -> str | None:
    """An expression as entered (None removes it); the one written now when only the spaces around it differ."""
    wanted = text.strip() or None
    return current if isinstance(current, str) and current.strip() == wanted else wanted


# -- select options -------------------------------------------------------------------------


def add_option(doc: Document, entity: str, field: str, key: str, label_en: str = "", label_zh: str = "", color: str = "") -> Document:
    doc = copy.deepcopy(doc)
    spec = _field(_entity(doc, entity), field)
    options = _options(spec)
    parsed = parse_options(f"{key}|{label_en}|{label_zh}|{color}")
    if not parsed:
        raise BuilderError(_("Enter a key for the %(what)s.", what=_("option")))
    new_key = _option_key(parsed[0])
    if any(_option_key(o) == new_key for o in options):
        raise BuilderError(_('The field already has an option "%(key)s".', key=new_key))
    options.append(parsed[0])
    return doc


def edit_option(
    doc: Document, entity: str, field: str, option: str, key: str = "", label_en: str = "", label_zh: str = "", color: str = ""
) -> Document:
    """Change an option's key, label or colour. A new key is a new option: records holding
    the old one are moved by the migration plan (it asks where to)."""
    doc = copy.deepcopy(doc)
    target = _entity(doc, entity)
    spec = _field(target, field)
    options = _options(spec)
    index = _option_index(options, option)
    new_key = (key or "").strip() or option
    parsed = parse_options(f"{new_key}|{label_en}|{label_zh}|{color}")[0]
    if new_key != option:
        if any(_option_key(o) == new_key for o in options):
            raise BuilderError(_('The field already has an option "%(key)s".', key=new_key))
        _rename_option_references(target, field, spec, option, new_key)
    options[index] = parsed
    return doc


def _rename_option_references(entity: dict[str, Any], field: str, spec: dict[str, Any], old: str, new: str | None) -> None:
    default = spec.get("default")
    if default == old and new is None:
        del spec["default"]
    elif default == old:
        spec["default"] = new
    elif isinstance(default, list) and old in default:
        spec["default"] = _rename_in_list(default, old, new)
    for view in _views_of(entity):
        if view.get("group_by") != field:
            continue
        if isinstance(view.get("wip"), dict) and old in view["wip"]:
            view["wip"] = {(new if k == old else k): v for k, v in view["wip"].items() if new is not None or k != old}
        if "collapsed" in view:
            view["collapsed"] = _rename_in_list(view["collapsed"], old, new)


def remove_option(doc: Document, entity: str, field: str, option: str) -> Document:
    """Remove an option; the migration plan asks what records holding it get instead."""
    doc = copy.deepcopy(doc)
    target = _entity(doc, entity)
    spec = _field(target, field)
    options = _options(spec)
    index = _option_index(options, option)
    if len(options) == 1:
        raise BuilderError(_("A select field needs at least one option."))
    del options[index]
    _rename_option_references(target, field, spec, option, None)
    return doc


def move_option(doc: Document, entity: str, field: str, option: str, direction: str) -> Document:
    doc = copy.deepcopy(doc)
    options = _options(_field(_entity(doc, entity), field))
    _move_in_list(options, _option_index(options, option), _direction(direction))
    return doc


# -- states and transitions -----------------------------------------------------------------


def add_state(
    doc: Document, entity: str, key: str, label_en: str = "", label_zh: str = "", category: str = "", color: str = ""
) -> Document:
    doc = copy.deepcopy(doc)
    workflow = _workflow(_entity(doc, entity))
    key = _key(key, _("state"))
    states = _states(workflow)
    if key in states:
        raise BuilderError(_('The workflow already has a state "%(key)s".', key=key))
    if category not in CATEGORIES:
        raise BuilderError(_("Choose the state's category: to do, doing or done."))
    states[key] = _with({}, label=label_of(label_en, label_zh), category=category, color=_color(color))
    return doc


def edit_state(
    doc: Document, entity: str, state: str, label_en: str = "", label_zh: str = "", category: str = "", color: str = ""
) -> Document:
    doc = copy.deepcopy(doc)
    states = _states(_workflow(_entity(doc, entity)))
    spec = states.get(state)
    if not isinstance(spec, dict):
        raise BuilderError(_('There is no state "%(key)s".', key=state))
    if category not in CATEGORIES:
        raise BuilderError(_("Choose the state's category: to do, doing or done."))
    states[state] = _with(spec, label=label_of(label_en, label_zh), category=category, color=_color(color))
    return doc


def remove_state(doc: Document, entity: str, state: str) -> Document:
    """Remove a state with the transitions into it; transitions that leave it leave from
    their other states only. Records in it are moved where the admin chooses when the
    change is applied (the plan asks)."""
    doc = copy.deepcopy(doc)
    target = _entity(doc, entity)
    workflow = _workflow(target)
    states = _states(workflow)
    if state not in states:
        raise BuilderError(_('There is no state "%(key)s".', key=state))
    if len(states) == 1:
        raise BuilderError(_("A workflow needs at least one state."))
    del states[state]
    kept = []
    for transition in _transitions(workflow):
        if not isinstance(transition, dict):
            kept.append(transition)
            continue
        if transition.get("to") == state:
            continue
        sources = transition.get("from")
        if sources == state:
            continue
        if isinstance(sources, list) and state in sources:
            sources = [s for s in sources if s != state]
            if not sources:
                continue
            transition["from"] = sources
        approval = transition.get("approval")
        if isinstance(approval, dict) and approval.get("reject_to") == state:
            del approval["reject_to"]
        kept.append(transition)
    workflow["transitions"] = kept
    if workflow.get("initial") == state:
        workflow["initial"] = next(iter(states))
    for rule in workflow.get("rules") or []:
        if isinstance(rule, dict) and "states" in rule:
            rule["states"] = _rename_in_list(rule["states"], state, None)
    for view in _views_of(target):
        if view.get("group_by") == "state":
            if isinstance(view.get("wip"), dict):
                view["wip"].pop(state, None)
            if "collapsed" in view:
                view["collapsed"] = _rename_in_list(view["collapsed"], state, None)
        condition = view.get("filter", {}).get("state") if isinstance(view.get("filter"), dict) else None
        if condition == state:
            del view["filter"]["state"]
        elif isinstance(condition, list) and state in condition:
            view["filter"]["state"] = _rename_in_list(condition, state, None)
    return doc


def _roles(doc: Document, roles: Iterable[str]) -> list[str]:
    known = set(doc.get("roles") or {})
    chosen = [r for r in roles if r]
    unknown = [r for r in chosen if r not in known]
    if unknown:
        raise BuilderError(_('The app has no role "%(key)s".', key=unknown[0]))
    return chosen


def add_transition(
    doc: Document,
    entity: str,
    key: str,
    label_en: str = "",
    label_zh: str = "",
    sources: Iterable[str] = (),
    to: str = "",
    roles: Iterable[str] = (),
) -> Document:
    doc = copy.deepcopy(doc)
    workflow = _workflow(_entity(doc, entity))
    key = _key(key, _("transition"))
    transitions = _transitions(workflow)
    if any(isinstance(t, dict) and t.get("key") == key for t in transitions):
        raise BuilderError(_('The workflow already has a transition "%(key)s".', key=key))
    states = _states(workflow)
    chosen = [s for s in sources if s]
    if not chosen:
        raise BuilderError(_("Choose the states the transition starts from."))
    if "*" in chosen:
        source: str | list[str] = "*"
    else:
        missing = [s for s in chosen if s not in states]
        if missing:
            raise BuilderError(_('There is no state "%(key)s".', key=missing[0]))
        source = chosen[0] if len(chosen) == 1 else chosen
    if to not in states:
        raise BuilderError(_("Choose the state the transition leads to."))
    spec: dict[str, Any] = {"key": key}
    label = label_of(label_en, label_zh)
    if label is not None:
        spec["label"] = label
    spec["from"] = source
    spec["to"] = to
    chosen_roles = _roles(doc, roles)
    if chosen_roles:
        spec["roles"] = chosen_roles
    transitions.append(spec)
    return doc


def _sources(states: Mapping[str, Any], sources: Iterable[str]) -> str | list[str]:
    """`from` for the states ticked: "*" for any state, a key for one, a list for several."""
    chosen = [s for s in sources if s]
    if not chosen:
        raise BuilderError(_("Choose the states the transition starts from."))
    if "*" in chosen:
        return "*"
    missing = [s for s in chosen if s not in states]
    if missing:
        raise BuilderError(_('There is no state "%(key)s".', key=missing[0]))
    chosen = list(dict.fromkeys(chosen))
    return chosen[0] if len(chosen) == 1 else chosen


def _state_list(value: Any) -> Any:
    return [value] if isinstance(value, str) and value != "*" else value


def edit_transition(
    doc: Document,
    entity: str,
    transition: str,
    label_en: str | None = None,
    label_zh: str | None = None,
    sources: Iterable[str] | None = None,
    to: str | None = None,
    roles: Iterable[str] | None = None,
    comment: str | None = None,
) -> Document:
    """Change a transition's label, the states it starts from (several, or any), where it
    leads, who may do it (none: every role) and whether it asks for a comment. What is not
    given (None) stays as it is, and so does how a value is written when it does not change
    (`"from": "todo"` stays a text). Its key, condition, required fields and approval stay."""
    doc = copy.deepcopy(doc)
    workflow = _workflow(_entity(doc, entity))
    spec = _transition(workflow, transition)
    states = _states(workflow)
    members: dict[str, Any] = {}
    if label_en is not None or label_zh is not None:
        members["label"] = _same_label(spec.get("label"), label_en, label_zh)
    if sources is not None:
        source = _sources(states, sources)
        before = spec.get("from")
        members["from"] = before if _state_list(before) == _state_list(source) else source
    if to is not None:
        if to not in states:
            raise BuilderError(_("Choose the state the transition leads to."))
        members["to"] = to
    if roles is not None:
        chosen = _roles(doc, roles)
        members["roles"] = spec.get("roles") if chosen == spec.get("roles") else chosen or None
    if comment is not None:
        if comment not in COMMENTS:
            raise BuilderError(_("Choose whether the transition asks for a comment: no, optional or required."))
        members["comment"] = None if comment == "none" and "comment" not in spec else comment
    changed = _with(spec, **members)
    if "label" in changed and "label" not in spec:  # a new label goes next to the key, as add_transition writes it
        changed = {"key": changed["key"], "label": changed["label"], **{k: v for k, v in changed.items() if k not in ("key", "label")}}
    index = next(i for i, t in enumerate(_transitions(workflow)) if isinstance(t, dict) and t.get("key") == transition)
    workflow["transitions"][index] = changed
    return doc


def remove_transition(doc: Document, entity: str, transition: str) -> Document:
    doc = copy.deepcopy(doc)
    workflow = _workflow(_entity(doc, entity))
    _transition(workflow, transition)
    workflow["transitions"] = [t for t in _transitions(workflow) if not (isinstance(t, dict) and t.get("key") == transition)]
    return doc


# -- boards ---------------------------------------------------------------------------------


def add_board(doc: Document, entity: str, key: str, label_en: str = "", label_zh: str = "", group_by: str = "") -> Document:
    if not group_by:
        raise BuilderError(_("Choose what the board groups its cards by."))
    return _add_view(doc, entity, key, "board", label_en, label_zh, group_by=group_by)


def set_board(
    doc: Document,
    entity: str,
    view: str,
    group_by: str = "",
    card: Iterable[str] = (),
    wip: Mapping[str, tuple[str, str]] | None = None,
    swimlanes: str = "",
) -> Document:
    """A board's grouping, card fields (kept in their order, new ones last), swimlanes and
    WIP limits (`wip`: column -> (max, "warn"|"block"); an empty max removes the limit)."""
    doc = copy.deepcopy(doc)
    target = _entity(doc, entity)
    spec = _typed_view(target, view, "board")
    if not group_by:
        raise BuilderError(_("Choose what the board groups its cards by."))
    regrouped = group_by != spec.get("group_by")
    cards = _kept_order(spec.get("card"), [c for c in card if c])
    limits: dict[str, Any] = {}
    for column, (maximum, enforce) in (wip or {}).items():
        text = (maximum or "").strip()
        if not text:
            continue
        if not text.isdigit() or int(text) < 1:
            raise BuilderError(_('The WIP limit of "%(column)s" must be a whole number above 0.', column=column))
        limit: dict[str, Any] = {"max": int(text)}
        if enforce not in ENFORCE:
            raise BuilderError(_("A WIP limit warns or blocks."))
        if enforce == "block":
            limit["enforce"] = "block"
        limits[column] = limit
    if regrouped:
        limits = {}  # the limits shown were those of the old columns
    members: dict[str, Any] = {"group_by": group_by, "card": cards or None, "wip": limits or None, "swimlanes": swimlanes or None}
    if regrouped:
        members["collapsed"] = None
    target["views"][view] = _with(spec, **members)
    return doc


# -- list views -----------------------------------------------------------------------------

SYSTEM_COLUMNS = ("id", "state", "created_at", "created_by", "updated_at", "updated_by")


def add_list(doc: Document, entity: str, key: str, label_en: str = "", label_zh: str = "", columns: Iterable[str] = ()) -> Document:
    """A new list view showing `columns` (none ticked: every field)."""
    known = _known_keys(_entity(doc, entity), columns, SYSTEM_COLUMNS) or None
    return _add_view(doc, entity, key, "list", label_en, label_zh, columns=known)


def set_list(
    doc: Document,
    entity: str,
    view: str,
    label_en: str | None = None,
    label_zh: str | None = None,
    columns: Iterable[str] = (),
    sort_by: str = "",
    descending: bool = False,
) -> Document:
    """A list view's label, columns (kept in their order, new ones last; none: every field)
    and first sort key (the keys after it are kept while the first one stays)."""
    doc = copy.deepcopy(doc)
    target = _entity(doc, entity)
    spec = _typed_view(target, view, "list")
    ordered = _kept_order(spec.get("columns"), _known_keys(target, columns, SYSTEM_COLUMNS))
    sort_key = sort_by.strip()
    sort: list[str] | None = None
    if sort_key:
        _known_keys(target, [sort_key], SYSTEM_COLUMNS)
        old = [k for k in spec.get("sort") or [] if isinstance(k, str)]
        tail = old[1:] if old and old[0].lstrip("-") == sort_key else []
        sort = [f"-{sort_key}" if descending else sort_key, *(k for k in tail if k.lstrip("-") != sort_key)]
    label = _same_label(spec.get("label"), label_en, label_zh)
    _views(target)[view] = _with(spec, label=label, columns=ordered or None, sort=sort)
    return doc


# -- form sections --------------------------------------------------------------------------


def _section_list(entity: dict[str, Any]) -> list[Any]:
    sections = entity.get("sections")
    if sections is None:
        return []
    if not isinstance(sections, list) or not all(isinstance(s, dict) for s in sections):
        raise BuilderError(_("The entity's sections are not a list of sections; fix them in the JSON."))
    return sections


def _section_index(sections: list[Any], section: str) -> int:
    index = int(section) if section.strip().isdigit() else -1
    if not 0 <= index < len(sections):
        raise BuilderError(_("There is no such section."))
    return index


def _section_fields(entity: dict[str, Any], fields: Iterable[str]) -> list[str]:
    chosen = _known_keys(entity, fields)
    if not chosen:
        raise BuilderError(_("A section needs at least one field."))
    return chosen


def _settle_sections(entity: dict[str, Any], sections: list[Any], keep: int, chosen: list[str]) -> None:
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


def add_section(doc: Document, entity: str, label_en: str = "", label_zh: str = "", fields: Iterable[str] = ()) -> Document:
    """A new last section of the form holding `fields` (moved out of their sections)."""
    doc = copy.deepcopy(doc)
    target = _entity(doc, entity)
    sections = _section_list(target)
    chosen = _section_fields(target, fields)
    sections.append(_with({}, label=label_of(label_en, label_zh), fields=chosen))
    _settle_sections(target, sections, len(sections) - 1, chosen)
    return doc


def set_section(
    doc: Document, entity: str, section: str, label_en: str | None = None, label_zh: str | None = None, fields: Iterable[str] = ()
) -> Document:
    """A section's label and fields (kept in their order, new ones last; taken from the
    sections they were in)."""
    doc = copy.deepcopy(doc)
    target = _entity(doc, entity)
    sections = _section_list(target)
    index = _section_index(sections, section)
    chosen = _section_fields(target, fields)
    spec = sections[index]
    ordered = _kept_order(spec.get("fields"), chosen)
    sections[index] = _with(spec, label=_same_label(spec.get("label"), label_en, label_zh), fields=ordered)
    _settle_sections(target, sections, index, ordered)
    return doc


def remove_section(doc: Document, entity: str, section: str) -> Document:
    """Remove a section; its fields stay on the form, after the sections."""
    doc = copy.deepcopy(doc)
    target = _entity(doc, entity)
    sections = _section_list(target)
    del sections[_section_index(sections, section)]
    if not sections:
        target.pop("sections", None)
    return doc


def move_section(doc: Document, entity: str, section: str, direction: str) -> Document:
    doc = copy.deepcopy(doc)
    target = _entity(doc, entity)
    sections = _section_list(target)
    _move_in_list(sections, _section_index(sections, section), _direction(direction))
    return doc


# -- approval steps -------------------------------------------------------------------------


def _approvers(kind: str, value: str, doc: Document, entity: dict[str, Any]) -> dict[str, Any]:
    text = (value or "").strip()
    if kind == "role":
        if text not in (doc.get("roles") or {}):
            raise BuilderError(_("Choose the role whose members approve."))
        return {"role": text}
    if kind == "users":
        names = [n for n in re.split(r"[\s,]+", text.lower()) if n]
        bad = [n for n in names if not USERNAME.match(n)]
        if not names or bad:
            raise BuilderError(_("List the approvers' usernames, separated by commas."))
        return {"users": list(dict.fromkeys(names))}
    if kind == "field":
        spec = _fields(entity).get(text)
        if not isinstance(spec, dict) or spec.get("type") != "user":
            raise BuilderError(_("Choose a user field of the record: its person approves."))
        return {"field": text}
    if kind == "relation":
        if text not in RELATIONS:
            raise BuilderError(_("Choose who approves in the organisation (manager or department head)."))
        return {"relation": text}
    raise BuilderError(_("Choose where the approvers come from."))


def _step(
    doc: Document,
    entity: dict[str, Any],
    base: Mapping[str, Any],
    key: str,
    label_en: str,
    label_zh: str,
    approver_kind: str,
    approver_value: str,
    mode: str,
    quorum: str,
    when: str,
) -> dict[str, Any]:
    if mode not in MODES:
        raise BuilderError(_("Choose how the approvers decide: any one, all, or a quorum."))
    count: int | None = None
    if mode == "quorum":
        if not (quorum or "").strip().isdigit() or int(quorum) < 1:
            raise BuilderError(_("A quorum step needs the number of approvals (1 or more)."))
        count = int(quorum)
    approvers = (
        base.get("approvers") if approver_kind == "keep" and "approvers" in base else _approvers(approver_kind, approver_value, doc, entity)
    )
    step = dict(base)
    step["key"] = key
    members = {
        "label": label_of(label_en, label_zh),
        "approvers": approvers,
        "mode": None if mode == "any" and "mode" not in base else mode,
        "quorum": count,
        "when": (when or "").strip() or None,
    }
    return _with(step, **members)


def _approval_steps(workflow: dict[str, Any], transition: str) -> tuple[dict[str, Any], list[Any]]:
    spec = _transition(workflow, transition)
    approval = _member(spec, "approval", dict)
    return spec, _member(approval, "steps", list)


def _step_index(steps: list[Any], key: str) -> int:
    for index, step in enumerate(steps):
        if isinstance(step, dict) and step.get("key") == key:
            return index
    raise BuilderError(_('There is no approval step "%(key)s".', key=key))


def add_step(
    doc: Document,
    entity: str,
    transition: str,
    key: str,
    label_en: str = "",
    label_zh: str = "",
    approver_kind: str = "",
    approver_value: str = "",
    mode: str = "any",
    quorum: str = "",
    when: str = "",
) -> Document:
    """A new approval step at the end of a transition's approval (created if needed)."""
    doc = copy.deepcopy(doc)
    target = _entity(doc, entity)
    workflow = _workflow(target)
    key = _key(key, _("approval step"))
    _spec, steps = _approval_steps(workflow, transition)
    if any(isinstance(s, dict) and s.get("key") == key for s in steps):
        raise BuilderError(_('The transition already has an approval step "%(key)s".', key=key))
    steps.append(_step(doc, target, {}, key, label_en, label_zh, approver_kind, approver_value, mode, quorum, when))
    return doc


def edit_step(
    doc: Document,
    entity: str,
    transition: str,
    step: str,
    label_en: str = "",
    label_zh: str = "",
    approver_kind: str = "keep",
    approver_value: str = "",
    mode: str = "any",
    quorum: str = "",
    when: str = "",
) -> Document:
    doc = copy.deepcopy(doc)
    target = _entity(doc, entity)
    workflow = _workflow(target)
    _spec, steps = _approval_steps(workflow, transition)
    index = _step_index(steps, step)
    steps[index] = _step(doc, target, steps[index], step, label_en, label_zh, approver_kind, approver_value, mode, quorum, when)
    return doc


def remove_step(doc: Document, entity: str, transition: str, step: str) -> Document:
    """Remove an approval step; without steps the transition needs no approval."""
    doc = copy.deepcopy(doc)
    workflow = _workflow(_entity(doc, entity))
    spec, steps = _approval_steps(workflow, transition)
    del steps[_step_index(steps, step)]
    if not steps:
        del spec["approval"]
    return doc


def move_step(doc: Document, entity: str, transition: str, step: str, direction: str) -> Document:
    doc = copy.deepcopy(doc)
    workflow = _workflow(_entity(doc, entity))
    _spec, steps = _approval_steps(workflow, transition)
    _move_in_list(steps, _step_index(steps, step), _direction(direction))
    return doc


ACTIONS: dict[str, Callable[..., Document]] = {
    "add_field": add_field,
    "rename_field": rename_field,
    "move_field": move_field,
    "remove_field": remove_field,
    "set_field": set_field,
    "add_option": add_option,
    "edit_option": edit_option,
    "remove_option": remove_option,
    "move_option": move_option,
    "add_state": add_state,
    "edit_state": edit_state,
    "remove_state": remove_state,
    "add_transition": add_transition,
    "edit_transition": edit_transition,
    "remove_transition": remove_transition,
    "add_board": add_board,
    "set_board": set_board,
    "add_list": add_list,
    "set_list": set_list,
    "add_section": add_section,
    "set_section": set_section,
    "remove_section": remove_section,
    "move_section": move_section,
    "add_step": add_step,
    "edit_step": edit_step,
    "remove_step": remove_step,
    "move_step": move_step,
}
