"""The builder's forms, each mapped to one authoring command by an explicit table.

A builder button posts `action=<verb>[:<target>...]` (what it acts on, in the button's
value: `move_option:priority:high:up`) and the inputs of its form named `<action>:<input>`
(`edit_option:priority:high:label_en`). `FORMS` says per verb which command runs, which
parameter each target is, and which inputs it reads and how the posted strings become the
command's typed parameter (text, a tick, a list of keys, a section's place, WIP limits).

Nothing is bound by looking at the command's signature: an input the table does not name,
a target too many or too few, or a required input missing refuses the form (`FormRefused`,
400 with a message naming it), and the table is checked against every command's signature
by the tests (tests/web/test_builder_forms.py), so a renamed parameter fails there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from flowdeck.engine.schema import authoring
from flowdeck.engine.schema.authoring import Document

WIP = "wip"
"""The parameter gathered from the inputs `wip.<column>.max` and `wip.<column>.enforce`."""
WIP_PARTS = ("max", "enforce")


class FormRefused(Exception):
    """A builder form the page does not make (a forged or outdated one); `message` says
    what is wrong with it, in the request's language."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


# -- how a posted value becomes a parameter ---------------------------------------------------


def text(values: list[str]) -> str:
    """The text entered (the first value when an input is posted twice)."""
    return values[0] if values else ""


def ticked(values: list[str]) -> bool:
    """A checkbox: ticked when posted with a true value."""
    return bool(values) and values[0] in ("1", "on", "true")


def keys(values: list[str]) -> list[str]:
    """The keys ticked, without the blank a hidden input adds (it posts "none ticked")."""
    return [v for v in values if v]


def place(value: str) -> int:
    """A section's place (0 for the first), as a button or a select names it."""
    if not value.isdigit():
        raise FormRefused(_('"%(value)s" is not the place of a section.', value=value))
    return int(value)


def optional_place(values: list[str]) -> int | None:
    """A section chosen in a select, None for "(after the sections)"."""
    chosen = text(values).strip()
    return place(chosen) if chosen else None


def target(value: str) -> str:
    return value


@dataclass(frozen=True)
class Input:
    """One input of a form: how its posted values become the parameter, and whether the
    form must send it (the command's parameters without a default)."""

    read: Callable[[list[str]], Any]
    required: bool = False


TEXT = Input(text)
NEEDED = Input(text, required=True)
TICK = Input(ticked)
KEYS = Input(keys)
SECTION = Input(optional_place)
LABELS = {"label_en": TEXT, "label_zh": TEXT}


@dataclass(frozen=True)
class Form:
    """One verb of the builder: its command, its targets (parameter and reader, in the
    order of the button's value), its inputs, whether it takes the WIP limits, and whether
    it is given the applied document (a rename keeps the applied key as `was`)."""

    command: Callable[..., Document]
    targets: tuple[tuple[str, Callable[[str], Any]], ...] = ()
    inputs: Mapping[str, Input] = field(default_factory=dict)
    wip: bool = False
    applied: bool = False

    def parameters(self) -> set[str]:
        """Every parameter this form gives its command (besides the document)."""
        return {
            "entity",
            *(name for name, _read in self.targets),
            *self.inputs,
            *([WIP] if self.wip else []),
            *(["applied"] if self.applied else []),
        }


FIELD = ("field", target)
OPTION = ("option", target)
STATE = ("state", target)
TRANSITION = ("transition", target)
STEP = ("step", target)
VIEW = ("view", target)
PLACE = ("section", place)
DIRECTION = ("direction", target)
STEP_SETTINGS = {**LABELS, "approver_value": TEXT, "mode": TEXT, "quorum": TEXT, "when": TEXT}

FORMS: dict[str, Form] = {
    "add_field": Form(
        authoring.add_field,
        inputs={"key": NEEDED, "type": NEEDED, **LABELS, "required": TICK, "options": TEXT, "to": TEXT, "section": SECTION, "boards": KEYS},
    ),
    "rename_field": Form(authoring.rename_field, (FIELD,), {"new_key": NEEDED}, applied=True),
    "move_field": Form(authoring.move_field, (FIELD, DIRECTION)),
    "remove_field": Form(authoring.remove_field, (FIELD,)),
    "set_field": Form(
        authoring.set_field,
        (FIELD,),
        {**LABELS, "required": TICK, "help_en": TEXT, "help_zh": TEXT, "show_if": TEXT, "required_if": TEXT},
    ),
    "add_option": Form(authoring.add_option, (FIELD,), {"key": NEEDED, **LABELS, "color": TEXT}),
    "edit_option": Form(authoring.edit_option, (FIELD, OPTION), {"key": TEXT, **LABELS, "color": TEXT}),
    "remove_option": Form(authoring.remove_option, (FIELD, OPTION)),
    "move_option": Form(authoring.move_option, (FIELD, OPTION, DIRECTION)),
    "add_state": Form(authoring.add_state, (), {"key": NEEDED, **LABELS, "category": TEXT, "color": TEXT}),
    "edit_state": Form(authoring.edit_state, (STATE,), {**LABELS, "category": TEXT, "color": TEXT}),
    "remove_state": Form(authoring.remove_state, (STATE,)),
    "add_transition": Form(authoring.add_transition, (), {"key": NEEDED, **LABELS, "sources": KEYS, "to": TEXT, "roles": KEYS}),
    "edit_transition": Form(
        authoring.edit_transition, (TRANSITION,), {**LABELS, "sources": KEYS, "to": TEXT, "roles": KEYS, "comment": TEXT}
    ),
    "remove_transition": Form(authoring.remove_transition, (TRANSITION,)),
    "add_board": Form(authoring.add_board, (), {"key": NEEDED, **LABELS, "group_by": TEXT}),
    "set_board": Form(authoring.set_board, (VIEW,), {"group_by": TEXT, "card": KEYS, "swimlanes": TEXT}, wip=True),
    "add_list": Form(authoring.add_list, (), {"key": NEEDED, **LABELS, "columns": KEYS}),
    "set_list": Form(authoring.set_list, (VIEW,), {**LABELS, "columns": KEYS, "sort_by": TEXT, "descending": TICK}),
    "add_section": Form(authoring.add_section, (), {**LABELS, "fields": KEYS}),
    "set_section": Form(authoring.set_section, (PLACE,), {**LABELS, "fields": KEYS}),
    "remove_section": Form(authoring.remove_section, (PLACE,)),
    "move_section": Form(authoring.move_section, (PLACE, DIRECTION)),
    "add_step": Form(authoring.add_step, (TRANSITION,), {"key": NEEDED, "approver_kind": TEXT, **STEP_SETTINGS}),
    "edit_step": Form(authoring.edit_step, (TRANSITION, STEP), {"approver_kind": TEXT, **STEP_SETTINGS}),
    "remove_step": Form(authoring.remove_step, (TRANSITION, STEP)),
    "move_step": Form(authoring.move_step, (TRANSITION, STEP, DIRECTION)),
}
ADDS = frozenset({"add_field", "add_state", "add_transition", "add_board", "add_list"})
"""Verbs whose new item is opened in the panel (by the key entered)."""


@dataclass(frozen=True)
class Action:
    """A posted builder action read through its form: the command and its parameters."""

    verb: str
    form: Form
    targets: tuple[str, ...]
    params: dict[str, Any]

    def run(self, document: Document, entity: str, applied: Document) -> Document:
        extra = {"applied": applied} if self.form.applied else {}
        return self.form.command(document, entity=entity, **self.params, **extra)

    @property
    def opened(self) -> frozenset[str]:
        """What the panel opens afterwards: the item acted on, or the one just added."""
        if self.targets:
            return frozenset(self.targets[:1])
        added = str(self.params.get("key") or "").strip()
        return frozenset([added] if self.verb in ADDS and added else [])


def read_action(action: str, posted: MultiDict[str, str]) -> Action:
    """The action `action` (`verb:target...`) with the inputs posted for it, read through
    its form; FormRefused for anything the page's forms do not send."""
    verb, *given = action.split(":")
    form = FORMS.get(verb)
    if form is None:
        raise FormRefused(_('The builder has no action "%(action)s".', action=verb))
    if len(given) != len(form.targets):
        raise FormRefused(
            _(
                'The button "%(action)s" does not say what it acts on (%(targets)s).',
                action=action,
                targets=", ".join(name for name, _read in form.targets) or "-",
            )
        )
    params: dict[str, Any] = {name: read(value) for (name, read), value in zip(form.targets, given, strict=True)}
    prefix = action + ":"
    wip: dict[str, list[str]] = {}
    for name in posted:
        if not name.startswith(prefix):
            continue
        key = name[len(prefix) :]
        column, _sep, part = key.removeprefix(WIP + ".").rpartition(".")
        if form.wip and key.startswith(WIP + ".") and column and part in WIP_PARTS:
            wip.setdefault(column, ["", "warn"])[WIP_PARTS.index(part)] = posted.get(name, "")
            continue
        spec = form.inputs.get(key)
        if spec is None:
            raise FormRefused(_('The form sent "%(input)s", which "%(action)s" does not take.', input=key, action=verb))
        params[key] = spec.read(posted.getlist(name))
    missing = [key for key, spec in form.inputs.items() if spec.required and key not in params]
    if missing:
        raise FormRefused(_('The form did not send "%(input)s", which "%(action)s" needs.', input=missing[0], action=verb))
    if wip:
        params[WIP] = {column: (values[0], values[1]) for column, values in wip.items()}
    return Action(verb, form, tuple(given), params)
