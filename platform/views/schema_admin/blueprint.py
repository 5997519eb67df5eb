"""The blueprint of app editing and what every page of it shares: the helpers its templates
call (the record form's widgets for the preview, words for the document's terms, JSON for
people, times of versions). The engine's texts for admins (plan steps, questions, refusals,
version changes, schema problems) are Messages, worded by `say` / `{{ x|say }}`."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Blueprint, g
from flask_babel import format_datetime
from flask_babel import gettext as _

from flowdeck.engine.messages import Message, plain
from flowdeck.engine.schema import writing
from flowdeck.views import records as record_views
from flowdeck.views.field_widgets import builder_labels

bp = Blueprint("schema_admin", __name__, url_prefix="/admin/apps")

TABS = ("builder", "json", "preview")


@bp.context_processor
def _helpers() -> dict[str, Any]:
    """The record form widgets' helpers (the form preview uses the same widgets), the
    words for field types, state categories and approval settings, and a version's reason."""
    return {**record_views.helpers(), "TABS": TABS, "words": words, "pretty": pretty, "jstr": jstr, "when": when, "why": why_text}


def why_text(reason: Message | str | None) -> Message | None:
    """Why a version was applied, for `say`: the system's reason (a Message), or the admin's
    own words shown as typed."""
    return plain(reason) if isinstance(reason, str) else reason


def pretty(value: Any) -> str:
    """A JSON value for people, in the document's style (escaped by the template)."""
    return writing.dumps(value)


def when(moment: dt.datetime | None) -> str:
    """A version's time in the instance's time zone (stored in UTC)."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return format_datetime(moment, "short")


def jstr(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def words() -> dict[str, dict[str, str]]:
    """UI words for the document's terms, made once per request (templates ask often)."""
    cached = g.get("schema_words")
    if cached is None:
        cached = g.schema_words = _words()
    return cached


def _words() -> dict[str, dict[str, str]]:
    return {
        "types": builder_labels(),
        "categories": {"todo": _("To do"), "doing": _("Doing"), "done": _("Done")},
        "modes": {"any": _("Any one approves"), "all": _("All approve"), "quorum": _("A number of them approve")},
        "kinds": {
            "role": _("Members of a role"),
            "users": _("Named users"),
            "field": _("The person in a field"),
            "relation": _("Organisation"),
        },
        "relations": {
            "manager": _("The requester's manager"),
            "department_head": _("Head of the department"),
            "parent_department_head": _("Head of the parent department"),
        },
        "enforce": {"warn": _("warn"), "block": _("block")},
        "comments": {"none": _("No comment"), "optional": _("Comment optional"), "required": _("Comment required")},
        "plan_kinds": {"new": _("New app"), "upgrade": _("Upgrade"), "copy": _("Copy under a new key"), "refused": _("Refused")},
        "change_kinds": {"added": _("added"), "removed": _("removed"), "changed": _("changed")},
    }
