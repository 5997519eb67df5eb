"""What the visual builder panel shows of one entity: its fields with their options,
sections, states, transitions with their approval steps, lists and boards, read
defensively from the raw document (it may not be a valid app while being edited), with
the choices the panel's inputs offer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

from flowdeck.engine.schema import authoring
from flowdeck.engine.viewtypes import SWIMLANE_TYPES
from flowdeck.views.i18n import lang
from flowdeck.views.view_builder import BoardRow, ListRow, as_dict, text_of
from flowdeck.views.view_pages import VIEW_PAGES


def _shown(row: Any) -> str:
    """A row's label in the current language (the other one, then its key, if missing)."""
    return (row.zh or row.en or row.key) if lang() == "zh" else (row.en or row.zh or row.key)


def _swatch(color: str) -> str:
    """A colour safe for a `style="--swatch:..."` attribute (a valid #rrggbb), else ""."""
    return color if authoring.COLOR.match(color or "") else ""


@dataclass(frozen=True)
class OptionRow:
    key: str
    en: str
    zh: str
    color: str

    @property
    def swatch(self) -> str:
        return _swatch(self.color)


@dataclass(frozen=True)
class FieldRow:
    key: str
    type: str
    en: str
    zh: str
    required: bool
    was: str | None
    options: tuple[OptionRow, ...]
    section: str | None
    is_title: bool
    help_en: str = ""
    help_zh: str = ""
    show_if: str = ""
    required_if: str = ""
    takes_options: bool = False

    @property
    def name(self) -> str:
        return _shown(self)


@dataclass(frozen=True)
class StateRow:
    key: str
    en: str
    zh: str
    category: str
    color: str

    @property
    def swatch(self) -> str:
        return _swatch(self.color)

    @property
    def name(self) -> str:
        return _shown(self)


@dataclass(frozen=True)
class StepRow:
    key: str
    en: str
    zh: str
    kind: str
    value: str
    sources: int
    mode: str
    quorum: str
    when: str
    summary: str

    @property
    def name(self) -> str:
        return _shown(self)


@dataclass(frozen=True)
class TransitionRow:
    key: str
    en: str
    zh: str
    sources: tuple[str, ...]
    to: str
    roles: tuple[str, ...]
    steps: tuple[StepRow, ...]
    comment: str = "none"

    @property
    def name(self) -> str:
        return _shown(self)


@dataclass(frozen=True)
class SectionRow:
    index: int
    name: str
    en: str
    zh: str
    fields: tuple[str, ...]


@dataclass
class BuilderModel:
    """What the builder panel shows, read defensively from the raw document (it may not be
    a valid app while being edited)."""

    entities: list[tuple[str, str]]
    entity: str | None
    fields: list[FieldRow] = field(default_factory=list)
    sections: list[tuple[int, str]] = field(default_factory=list)
    section_rows: list[SectionRow] = field(default_factory=list)
    has_workflow: bool = False
    states: list[StateRow] = field(default_factory=list)
    transitions: list[TransitionRow] = field(default_factory=list)
    boards: list[BoardRow] = field(default_factory=list)
    lists: list[ListRow] = field(default_factory=list)
    column_choices: list[tuple[str, str]] = field(default_factory=list)
    roles: list[tuple[str, str]] = field(default_factory=list)
    group_choices: list[tuple[str, str]] = field(default_factory=list)
    lane_choices: list[tuple[str, str]] = field(default_factory=list)
    user_fields: list[tuple[str, str]] = field(default_factory=list)
    types: tuple[str, ...] = authoring.SIMPLE_TYPES
    categories: tuple[str, ...] = authoring.CATEGORIES
    modes: tuple[str, ...] = authoring.MODES
    relations: tuple[str, ...] = authoring.RELATIONS

    @property
    def field_choices(self) -> list[tuple[str, str]]:
        return [(f.key, f.name) for f in self.fields]

    @property
    def view_builders(self) -> tuple[str, ...]:
        """The builder section template of each view type, in registry order."""
        return tuple(page.builder for page in VIEW_PAGES.values())


def builder_model(document: Mapping[str, Any] | None, entity: str | None) -> BuilderModel:
    doc = as_dict(document)
    entities = [(k, text_of(as_dict(v).get("label"), k)) for k, v in as_dict(doc.get("entities")).items()]
    keys = [k for k, _label in entities]
    chosen = entity if entity in keys else (keys[0] if keys else None)
    model = BuilderModel(entities=entities, entity=chosen)
    model.roles = [(k, text_of(as_dict(v).get("label"), k)) for k, v in as_dict(doc.get("roles")).items()]
    if chosen is None:
        return model
    spec = as_dict(as_dict(doc.get("entities")).get(chosen))
    fields = as_dict(spec.get("fields"))
    section_of: dict[str, str] = {}
    for index, section in enumerate(spec.get("sections") or []):
        if isinstance(section, dict):
            name = text_of(section.get("label"), _("Section %(n)d", n=index + 1))
            model.sections.append((index, name))
            sen, szh = authoring.label_texts(section.get("label"))
            listed = tuple(str(k) for k in section.get("fields") or [] if isinstance(k, str))
            model.section_rows.append(SectionRow(index, name, sen, szh, listed))
            for key in section.get("fields") or []:
                section_of.setdefault(str(key), name)
    title = spec.get("title") or next(iter(fields), None)
    for key, raw in fields.items():
        f = as_dict(raw)
        en, zh = authoring.label_texts(f.get("label"))
        options = []
        for option in f.get("options") or []:
            if isinstance(option, str):
                options.append(OptionRow(option, "", "", ""))
            elif isinstance(option, dict):
                oen, ozh = authoring.label_texts(option.get("label"))
                options.append(OptionRow(str(option.get("key", "")), oen, ozh, str(option.get("color") or "")))
        kind = str(f.get("type", "?"))
        help_en, help_zh = authoring.label_texts(f.get("help"))
        model.fields.append(
            FieldRow(
                key,
                kind,
                en,
                zh,
                f.get("required") is True,
                f.get("was"),
                tuple(options),
                section_of.get(key),
                key == title,
                help_en,
                help_zh,
                _expression_text(f.get("show_if")),
                _expression_text(f.get("required_if")),
                authoring.takes_options(f),
            )
        )
        label = text_of(f.get("label"), key)
        if kind == "select" and not f.get("many"):  # a board's columns are the options of one select
            model.group_choices.append((key, label))
        if kind in SWIMLANE_TYPES and not f.get("many"):
            model.lane_choices.append((key, label))
        if kind == "user":  # the people an approval step may name
            model.user_fields.append((key, label))
    workflow = spec.get("workflow")
    model.has_workflow = isinstance(workflow, dict)
    if isinstance(workflow, dict):
        model.group_choices.insert(0, ("state", _("State")))
        for key, raw in as_dict(workflow.get("states")).items():
            s = as_dict(raw)
            en, zh = authoring.label_texts(s.get("label"))
            model.states.append(StateRow(key, en, zh, str(s.get("category", "")), str(s.get("color") or "")))
        for raw in workflow.get("transitions") or []:
            t = as_dict(raw)
            source = t.get("from")
            sources = tuple(source) if isinstance(source, list) else (str(source),) if source else ()
            steps = tuple(_step_row(s) for s in as_dict(t.get("approval")).get("steps") or [] if isinstance(s, dict))
            en, zh = authoring.label_texts(t.get("label"))
            roles = t.get("roles")
            comment = t.get("comment") if t.get("comment") in authoring.COMMENTS else "none"
            model.transitions.append(
                TransitionRow(
                    str(t.get("key", "")),
                    en,
                    zh,
                    sources,
                    str(t.get("to", "")),
                    tuple(roles) if isinstance(roles, list) else (),
                    steps,
                    comment,
                )
            )
    model.column_choices = [("id", "#")]
    if model.has_workflow:
        model.column_choices.append(("state", _("State")))
    model.column_choices += model.field_choices
    model.column_choices += [
        ("created_at", _("Created")),
        ("created_by", _("Created by")),
        ("updated_at", _("Updated")),
        ("updated_by", _("Updated by")),
    ]
    for key, raw in as_dict(spec.get("views")).items():
        v = as_dict(raw)
        page = VIEW_PAGES.get(str(v.get("type")))
        if page is not None:
            page.read(model, key, v)
    return model


def _expression_text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _source_word(kind: str) -> str:
    """The short word for a kind of approver source, in the reader's language."""
    words = {"role": _("role"), "users": _("users"), "field": _("field"), "relation": _("organisation")}
    return words.get(kind, kind)


def _step_row(step: Mapping[str, Any]) -> StepRow:
    approvers = step.get("approvers")
    sources = [a for a in (approvers if isinstance(approvers, list) else [approvers]) if isinstance(a, dict)]
    first = sources[0] if sources else {}
    kind = next(iter(first), "")
    value = first.get(kind, "")
    value = ", ".join(value) if isinstance(value, list) else str(value)
    described = "; ".join(f"{_source_word(k)}: {', '.join(v) if isinstance(v, list) else v}" for s in sources for k, v in s.items())
    en, zh = authoring.label_texts(step.get("label"))
    quorum = step.get("quorum")
    return StepRow(
        str(step.get("key", "")), en, zh, kind, value, len(sources), str(step.get("mode", "any")), "" if quorum is None else str(quorum),
        str(step.get("when") or ""), described,
    )  # fmt: skip
