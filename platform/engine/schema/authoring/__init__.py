"""Authoring app documents: the edits of the visual builder as commands on a document.

Each command is a plain function `(document, *, entity, ..., **settings) -> document`: it
takes a parsed app document and what the admin entered as keyword arguments, returns a new
document (the one given is never changed), or raises `EditRefused` carrying a `Message`
that says why. The commands write the same JSON the admin could type; whether the result
is a valid app is for the loader to say (the editor shows its problems). A command refuses
only what it cannot do at all: an unknown entity, a key taken twice, a setting outside its
choices, a part of the document written in a form it cannot read.

Renames and removals keep the document consistent where a key is named (see `fields`).
The web's builder maps each posted form to one command explicitly (views/schema_admin/forms.py).
"""

from flowdeck.engine.schema.authoring.approvals import KEEP, add_step, edit_step, move_step, remove_step
from flowdeck.engine.schema.authoring.common import (
    APPROVER_KINDS,
    CATEGORIES,
    COLOR,
    COMMENTS,
    ENFORCE,
    MODES,
    RELATIONS,
    SIMPLE_TYPES,
    SYSTEM_COLUMNS,
    Document,
    EditRefused,
    label_of,
    label_texts,
)
from flowdeck.engine.schema.authoring.fields import add_field, move_field, remove_field, rename_field, set_field
from flowdeck.engine.schema.authoring.options import (
    add_option,
    edit_option,
    move_option,
    option_key,
    parse_options,
    remove_option,
    takes_options,
)
from flowdeck.engine.schema.authoring.sections import add_section, move_section, remove_section, set_section
from flowdeck.engine.schema.authoring.views import add_board, add_list, set_board, set_list
from flowdeck.engine.schema.authoring.workflow import (
    add_state,
    add_transition,
    edit_state,
    edit_transition,
    remove_state,
    remove_transition,
)

__all__ = [
    "APPROVER_KINDS",
    "CATEGORIES",
    "COLOR",
    "COMMENTS",
    "ENFORCE",
    "KEEP",
    "MODES",
    "RELATIONS",
    "SIMPLE_TYPES",
    "SYSTEM_COLUMNS",
    "Document",
    "EditRefused",
    "add_board",
    "add_field",
    "add_list",
    "add_option",
    "add_section",
    "add_state",
    "add_step",
    "add_transition",
    "edit_option",
    "edit_state",
    "edit_step",
    "edit_transition",
    "label_of",
    "label_texts",
    "move_field",
    "move_option",
    "move_section",
    "move_step",
    "option_key",
    "parse_options",
    "remove_field",
    "remove_option",
    "remove_section",
    "remove_state",
    "remove_step",
    "remove_transition",
    "rename_field",
    "set_board",
    "set_field",
    "set_list",
    "set_section",
    "takes_options",
]
