"""Texts an admin writes for automations (a notification, a comment) in both languages,
with `{field}` places filled from the record. Only field keys of the rule's entity may be
named (checked when the document loads); values are put in as plain text, so a value can
never add places of its own or markup (pages escape what they show)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flowdeck.engine.automations.base import CheckContext
from flowdeck.engine.messages import M, render_value
from flowdeck.engine.schema.checks import Path, unknown_field
from flowdeck.engine.schema.label import Label

PLACE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
SYSTEM_PLACES = ("id", "state")


def check_template(ctx: CheckContext, path: Path, spec: Any) -> Label | None:
    if isinstance(spec, str):
        spec = {"en": spec}
    if not isinstance(spec, Mapping) or not spec or not all(isinstance(v, str) and v.strip() for v in spec.values()):
        ctx.checks.problem(path, M('must be a text or {"en": ..., "zh": ...}'))
        return None
    known = [*ctx.fields, *SYSTEM_PLACES]
    for lang, text in spec.items():
        for name in PLACE.findall(text):
            if name not in known:
                ctx.checks.problem((*path, lang), unknown_field(name, known))
    return Label(dict(spec))


def fill_text(text: str, values: Mapping[str, Any]) -> str:
    return PLACE.sub(lambda found: render_value(values.get(found.group(1))), text)


def fill_label(label: Label, values: Mapping[str, Any]) -> Label:
    """Each language's text with its places filled."""
    return Label({lang: fill_text(text, values) for lang, text in label.texts.items()})


def fill(label: Label, values: Mapping[str, Any], lang: str = "en") -> str:
    return fill_text(label.get(lang), values)
