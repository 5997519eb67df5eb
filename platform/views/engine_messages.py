"""Engine messages in the user's language.

The engine speaks plain English and never imports Flask or Babel (docs/architecture.md);
its messages (validation errors, refused transitions and moves, approval refusals,
notifications) reach people through the views. `translate(message)` matches a message
against known patterns (regular expressions with named groups) and answers the catalog's
translation of the matching msgid, whose `%(name)s` placeholders are the pattern's
groups. Schema labels the engine quoted in English (a field, state, transition, entity,
column or approval step) are looked up in the current registry and shown in the current
language. A message no pattern knows is shown as the engine wrote it; in English every
message is returned unchanged.

    translate("must be at most 200 characters (got 250)")  # zh: "最多 200 个字符（当前 250 个）"
    translate_errors({"title": ["is required"]}, entity)  # zh: {"title": ["为必填项"]}
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from flask import Flask, has_request_context
from flask_babel import LazyString, pgettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from flowdeck.engine.messages import Message, render
from flowdeck.engine.registry import Registry
from flowdeck.engine.schema.model import Entity, Field, Label
from flowdeck.views.i18n import lang, translator

LABEL_GROUPS = frozenset({"label", "entity", "plural", "transition", "state", "source", "target", "column", "step"})
"""Groups holding one schema label in English: shown in the current language."""
FIELD_GROUPS = frozenset({"field", "fields"})
"""Groups holding field labels (several joined by ", "): the entity's fields are looked up first."""
KEYED_GROUPS = {"entity_key": "entities", "state_key": "states", "sources": "states", "roles": "roles"}
"""Groups holding keys (one, or several joined by ", ") of entities, states or roles."""
NESTED_GROUPS = frozenset({"detail"})
"""Groups holding another engine message."""

_FIELD_KEY = re.compile(r"^[a-z_][a-z0-9_]*(?:\[\d+\]\.[a-z_][a-z0-9_]*)?$")


@dataclass(frozen=True)
class Rule:
    """An engine message's pattern and the catalog entry that says it (`_l`: extracted by
    `make translations`, looked up in the language of the request)."""

    pattern: re.Pattern[str]
    text: LazyString

    @property
    def msgid(self) -> str:
        return str(self.text._args[0])

    def placeholders(self) -> set[str]:
        return set(re.findall(r"%\((\w+)\)s", self.msgid))


def _rule(pattern: str, text: LazyString) -> Rule:
    return Rule(re.compile(pattern, re.DOTALL), text)


# Order matters where patterns overlap: the more specific one comes first.
RULES: tuple[Rule, ...] = (
    # -- values that do not fit their field (shown after the field's label) -------------------
    _rule(r"is required", _l("is required")),
    _rule(r"must be text", _l("must be text")),
    _rule(r"must be at most (?P<max>\d+) characters \(got (?P<got>\d+)\)", _l("must be at most %(max)s characters (got %(got)s)")),
    _rule(r"must be at most (?P<max>\d+) characters", _l("must be at most %(max)s characters")),
    _rule(r"must be at least (?P<min>\d+) characters", _l("must be at least %(min)s characters")),
    _rule(r"does not match the required pattern (?P<pattern>.+)", _l("does not match the required pattern %(pattern)s")),
    _rule(r"is not a valid email address", _l("is not a valid email address")),
    _rule(r"is not a valid web address \(http:// or https://\)", _l("is not a valid web address (http:// or https://)")),
    _rule(r"is not a valid phone number", _l("is not a valid phone number")),
    _rule(r"must be a whole number", _l("must be a whole number")),
    _rule(r"must be a number", _l("must be a number")),
    _rule(r"is too large", _l("is too large")),
    _rule(r"must have at most (?P<places>\d+) decimal places", _l("must have at most %(places)s decimal places")),
    _rule(r"must be at least (?P<min>.+)", _l("must be at least %(min)s")),
    _rule(r"must be at most (?P<max>.+)", _l("must be at most %(max)s")),
    _rule(r"must be a date \(YYYY-MM-DD\)", _l("must be a date (YYYY-MM-DD)")),
    _rule(r"must be a date and time \(YYYY-MM-DDTHH:MM\)", _l("must be a date and time (YYYY-MM-DDTHH:MM)")),
    _rule(r"must be yes or no", _l("must be yes or no")),
    _rule(r"must be one of the options", _l("must be one of the options")),
    _rule(r'"(?P<value>.*)" is not one of the options \((?P<options>.*)\)', _l('"%(value)s" is not one of the options (%(options)s)')),
    _rule(r"must be a user", _l("must be a user")),
    _rule(r"must be a record", _l("must be a record")),
    _rule(r"must be a file", _l("must be a file")),
    _rule(r"is computed and cannot be set", _l("is computed and cannot be set")),
    _rule(r"must be a list of rows", _l("must be a list of rows")),
    _rule(r"must be a row id", _l("must be a row id")),
    _rule(r"is not a column of this table", _l("is not a column of this table")),
    _rule(r"changes only through a workflow transition", _l("changes only through a workflow transition")),
    _rule(r"is set by the system", _l("is set by the system")),
    _rule(r"is read-only", _l("is read-only")),
    _rule(r"cannot be changed in this state", _l("cannot be changed in this state")),
    _rule(r"needs at least (?P<rows>\d+) rows", _l("needs at least %(rows)s rows")),
    _rule(r"allows at most (?P<rows>\d+) rows", _l("allows at most %(rows)s rows")),
    _rule(r"no active user with id (?P<ids>.+)", _l("no active user with id %(ids)s")),
    _rule(r"no file with id (?P<ids>.+)", _l("no file with id %(ids)s")),
    _rule(r"no (?P<entity_key>[a-z0-9_]+) record with id (?P<ids>.+)", _l("no %(entity_key)s record with id %(ids)s")),
    _rule(r"is already used by another record", _l("is already used by another record")),
    _rule(r"would make a record its own ancestor", _l("would make a record its own ancestor")),
    _rule(r"the hierarchy is deeper than 1000 levels", _l("the hierarchy is deeper than 1000 levels")),
    _rule(
        r"cannot change while approval is pending \(withdraw the request first\)",
        _l("cannot change while approval is pending (withdraw the request first)"),
    ),
    _rule(r"(?P<entity_key>[a-z0-9_]+) has no field '(?P<key>.+)'", _l("%(entity_key)s has no field “%(key)s”")),
    _rule(r"cannot sort by '(?P<key>.+)'", _l("cannot sort by “%(key)s”")),
    # uploads
    _rule(r"must be one of these types: (?P<types>.+)", _l("must be one of these types: %(types)s")),
    _rule(r"is larger than (?P<size>.+) MB", _l("is larger than %(size)s MB")),
    # filters in list addresses
    _rule(r'unknown state "(?P<value>.*)" \(states: (?P<states>.*)\)', _l("unknown state “%(value)s” (states: %(states)s)")),
    _rule(
        r'unknown category "(?P<value>.*)" \(categories: (?P<categories>.*)\)',
        _l("unknown category “%(value)s” (categories: %(categories)s)"),
    ),
    _rule(r"(?P<value>.+?) does not fit this field: (?P<detail>.+)", _l("%(value)s does not fit this field: %(detail)s")),
    _rule(r"a table field cannot be filtered", _l("a table field cannot be filtered")),
    # Python's own words for a date that does not parse (a filter bound in a list address)
    _rule(r"Invalid isoformat string: '(?P<value>.*)'", _l("Invalid isoformat string: '%(value)s'")),
    # marshmallow's words for line items that are not lists of rows
    _rule(r"Not a valid list\.", _l("Not a valid list.")),
    _rule(r"Unknown field\.", _l("Unknown field.")),
    _rule(r"Not a valid integer\.", _l("Not a valid integer.")),
    _rule(r"Invalid input type\.", _l("Invalid input type.")),
    # -- users, the organisation, saved views ------------------------------------------------
    _rule(r'"(?P<email>.+)" is used by another user', _l("“%(email)s” is used by another user")),
    _rule(r'"(?P<name>.+)" is taken', _l("“%(name)s” is taken")),
    _rule(
        r"use 2-60 lowercase letters, digits, '\.', '_' or '-', starting with a letter or digit",
        _l("use 2-60 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"),
    ),
    _rule(
        r"the username or email was just taken by another user; try again",
        _l("the username or email was just taken by another user; try again"),
    ),
    _rule(r'app "(?P<app>.+)" has no role "(?P<role>.+)"', _l("app “%(app)s” has no role “%(role)s”")),
    _rule(
        r"use lowercase letters, digits, - and _, starting with a letter",
        _l("use lowercase letters, digits, - and _, starting with a letter"),
    ),
    _rule(r"no such department", _l("no such department")),
    _rule(r"would make the department its own ancestor", _l("would make the department its own ancestor")),
    _rule(r"no such user", _l("no such user")),
    _rule(r"a user cannot be their own manager", _l("a user cannot be their own manager")),
    _rule(r"would make a loop of managers", _l("would make a loop of managers")),
    _rule(r"give the view a name", _l("give the view a name")),
    _rule(
        r"the view's settings are too long \(at most (?P<max>\d+) characters\)",
        _l("the view's settings are too long (at most %(max)s characters)"),
    ),
    _rule(r"you already keep (?P<count>\d+) views here; delete one first", _l("you already keep %(count)s views here; delete one first")),
    # -- things that do not exist ------------------------------------------------------------------
    _rule(r"(?P<entity>.+) #(?P<id>\d+) does not exist", _l("%(entity)s #%(id)s does not exist")),
    _rule(r'there is no app "(?P<app>.+)"', _l("there is no app “%(app)s”")),
    _rule(r'app "(?P<app>.+)" has no entity "(?P<key>.+)"', _l("app “%(app)s” has no entity “%(key)s”")),
    _rule(r"no user (?P<id>\d+)", _l("no user %(id)s")),
    _rule(r"no department (?P<id>\d+)", _l("no department %(id)s")),
    _rule(r"there is no file (?P<id>\d+)", _l("there is no file %(id)s")),
    _rule(r"there is no saved view (?P<id>\d+)", _l("there is no saved view %(id)s")),
    _rule(r"there is no approval request (?P<id>\d+)(?: here)?", _l("there is no approval request %(id)s")),
    # -- stale writes ---------------------------------------------------------------------------------
    _rule(
        r"(?P<entity>.+) #(?P<id>\d+) was changed by someone else \(your version (?P<mine>\d+), now (?P<now>\d+)\)",
        _l("%(entity)s #%(id)s was changed by someone else (your version %(mine)s, now %(now)s)"),
    ),
    _rule(
        r"(?P<entity>.+) #(?P<id>\d+) was changed by someone else; reload it and try again",
        _l("%(entity)s #%(id)s was changed by someone else; reload it and try again"),
    ),
    _rule(r"(?P<entity>.+) #(?P<id>\d+) was changed by someone else", _l("%(entity)s #%(id)s was changed by someone else")),
    # -- permissions ----------------------------------------------------------------------------------
    _rule(r"you may not read (?P<plural>.+)", _l("you may not read %(plural)s")),
    _rule(r"you may not create (?P<plural>.+)", _l("you may not create %(plural)s")),
    _rule(r"you may not update (?P<plural>.+)", _l("you may not update %(plural)s")),
    _rule(r"you may not delete (?P<plural>.+)", _l("you may not delete %(plural)s")),
    _rule(r"only a signed-in user has personal views", _l("only a signed-in user has personal views")),
    # -- workflow transitions ------------------------------------------------------------------------
    _rule(
        r"you may not perform “(?P<transition>.+)” \(roles: (?P<roles>.+)\)", _l("you may not perform “%(transition)s” (roles: %(roles)s)")
    ),
    _rule(r"you may not perform “(?P<transition>.+)”", _l("you may not perform “%(transition)s”")),
    _rule(r"fill in (?P<fields>.+) to “(?P<transition>.+)”", _l("fill in %(fields)s to “%(transition)s”")),
    _rule(r"“(?P<transition>.+)” needs a comment", _l("“%(transition)s” needs a comment")),
    _rule(r"(?P<plural>.+) have no workflow", _l("%(plural)s have no workflow")),
    _rule(
        r'there is no transition "(?P<key>.+)" \(transitions: (?P<keys>.*)\)',
        _l("there is no transition “%(key)s” (transitions: %(keys)s)"),
    ),
    _rule(
        r"“(?P<transition>.+)” cannot start from (?P<state>.+) \(only from: (?P<sources>.+)\)",
        _l("“%(transition)s” cannot start from %(state)s (only from: %(sources)s)"),
    ),
    _rule(
        r"an approval request is pending for this record; it must be decided or withdrawn first",
        _l("an approval request is pending for this record; it must be decided or withdrawn first"),
    ),
    _rule(r"“(?P<transition>.+)” needs approval; request it instead", _l("“%(transition)s” needs approval; request it instead")),
    _rule(
        r"the condition for “(?P<transition>.+)” is not met \((?P<condition>.+)\)",
        _l("the condition for “%(transition)s” is not met (%(condition)s)"),
    ),
    # -- boards ------------------------------------------------------------------------------------------
    _rule(r"no transition from (?P<source>.+) to (?P<target>.+)", _l("no transition from %(source)s to %(target)s")),
    _rule(
        r"you may not move (?P<entity>.+) from (?P<source>.+) to (?P<target>.+) \(roles: (?P<roles>.+)\)",
        _l("you may not move %(entity)s from %(source)s to %(target)s (roles: %(roles)s)"),
    ),
    _rule(
        r"you may not move (?P<entity>.+) from (?P<source>.+) to (?P<target>.+)",
        _l("you may not move %(entity)s from %(source)s to %(target)s"),
    ),
    _rule(r"(?P<column>.+) is at its limit of (?P<max>\d+)", _l("%(column)s is at its limit of %(max)s")),
    _rule(r'"(?P<column>.*)" is not a column of this board', _l("“%(column)s” is not a column of this board")),
    _rule(r"(?P<field>.+) cannot be changed here", _l("%(field)s cannot be changed here")),
    # -- approvals ----------------------------------------------------------------------------------------
    _rule(r'"(?P<key>.+)" is not a transition that needs approval', _l("“%(key)s” is not a transition that needs approval")),
    _rule(
        r"the record moved to (?P<state_key>.+) meanwhile; this approval can no longer complete",
        _l("the record moved to %(state_key)s meanwhile; this approval can no longer complete"),
    ),
    _rule(
        r"nobody can approve step “(?P<step>.+)”: no active user matches and there is no one to escalate to",
        _l("nobody can approve step “%(step)s”: no active user matches and there is no one to escalate to"),
    ),
    _rule(
        r"step “(?P<step>.+)” needs (?P<quorum>\d+) approvals but only (?P<count>\d+) people can approve",
        _l("step “%(step)s” needs %(quorum)s approvals but only %(count)s people can approve"),
    ),
    _rule(
        r"after this edit no approval step applies any more; withdraw the request and perform the transition instead",
        _l("after this edit no approval step applies any more; withdraw the request and perform the transition instead"),
    ),
    _rule(
        r"some approvals were given to an earlier version of this record; they do not count",
        _l("some approvals were given to an earlier version of this record; they do not count"),
    ),
    _rule(r"already decided: this request was approved", _l("already decided: this request was approved")),
    _rule(r"already decided: this request was rejected", _l("already decided: this request was rejected")),
    _rule(r"already decided: this request was withdrawn", _l("already decided: this request was withdrawn")),
    _rule(r"already decided: this request was reset by an edit", _l("already decided: this request was reset by an edit")),
    _rule(r"already decided: this request was cancelled", _l("already decided: this request was cancelled")),
    _rule(
        r"already decided: this step no longer needs your decision",
        _l("already decided: this step no longer needs your decision"),
    ),
    _rule(r"you cannot approve or reject your own request", _l("you cannot approve or reject your own request")),
    _rule(r"you are not an approver of the current step", _l("you are not an approver of the current step")),
    _rule(r"you are not a pending approver of the current step", _l("you are not a pending approver of the current step")),
    _rule(r"only the requester can withdraw this request", _l("only the requester can withdraw this request")),
    _rule(r"this approval flow does not allow sending back", _l("this approval flow does not allow sending back")),
    _rule(r"this approval flow does not allow adding approvers", _l("this approval flow does not allow adding approvers")),
    _rule(r"this approval flow does not allow delegating", _l("this approval flow does not allow delegating")),
    _rule(r"a rejection needs a comment saying why", _l("a rejection needs a comment saying why")),
    _rule(r"say why you send it back", _l("say why you send it back")),
    _rule(r'"(?P<key>.+)" is not an earlier step of this request', _l("“%(key)s” is not an earlier step of this request")),
    _rule(r"no active user with this id", _l("no active user with this id")),
    _rule(r"the requester cannot approve their own request", _l("the requester cannot approve their own request")),
    _rule(r"is already an approver of this step", _l("is already an approver of this step")),
    # -- notifications (stored in English, shown in the reader's language) -----------------------
    _rule(
        r"Approval needed: (?P<transition>.+?) of “(?P<title>.*)” \((?P<step>.+)\)",
        _l("Approval needed: %(transition)s of “%(title)s” (%(step)s)"),
    ),
    _rule(
        r"Approval needed: (?P<transition>.+?) of record #(?P<id>\d+) \(added by (?P<user>.+)\)",
        _l("Approval needed: %(transition)s of record #%(id)s (added by %(user)s)"),
    ),
    _rule(
        r"Approval needed: (?P<transition>.+?) of record #(?P<id>\d+) \(delegated by (?P<user>.+)\)",
        _l("Approval needed: %(transition)s of record #%(id)s (delegated by %(user)s)"),
    ),
    _rule(r"Approved: (?P<transition>.+?) of “(?P<title>.*)”", _l("Approved: %(transition)s of “%(title)s”")),
    _rule(r"Rejected: (?P<transition>.+?) of “(?P<title>.*)”: (?P<comment>.*)", _l("Rejected: %(transition)s of “%(title)s”: %(comment)s")),
    _rule(
        r"Withdrawn: the approval request for record #(?P<id>\d+) no longer needs you",
        _l("Withdrawn: the approval request for record #%(id)s no longer needs you"),
    ),
    _rule(r"Overdue approval: (?P<step>.+) for record #(?P<id>\d+)", _l("Overdue approval: %(step)s for record #%(id)s")),
    _rule(
        r"“(?P<title>.*)” was edited while waiting for approval: earlier approvals were reset",
        _l("“%(title)s” was edited while waiting for approval: earlier approvals were reset"),
    ),
    _rule(
        r"(?P<user>[^\s]+) mentioned you on (?P<entity>.+?) #(?P<id>\d+): (?P<excerpt>.*)",
        _l("%(user)s mentioned you on %(entity)s #%(id)s: %(excerpt)s"),
    ),
)


# -- labels the engine quoted ------------------------------------------------------------------


@dataclass(frozen=True)
class LabelIndex:
    """English label text -> Label, for every label of the installed apps (first one wins)."""

    by_text: dict[str, Label]
    by_lower: dict[str, Label]
    entities: dict[str, Label]
    roles: dict[str, Label]
    states: dict[str, Label]


def _field_labels(fld: Field) -> Iterator[Label]:
    yield fld.label
    yield from (o.label for o in fld.options)
    for child in fld.fields:
        yield from _field_labels(child)


def entity_labels(entity: Entity) -> Iterator[Label]:
    """Every label of an entity: its names, fields, options, sections, views, states,
    transitions and approval steps."""
    yield entity.label
    yield entity.plural
    for fld in entity.fields:
        yield from _field_labels(fld)
    yield from (s.label for s in entity.sections)
    yield from (v.label for v in entity.views)
    workflow = entity.workflow
    if workflow is not None:
        yield from (s.label for s in workflow.states)
        for t in workflow.transitions:
            yield t.label
            if t.approval is not None:
                yield from (s.label for s in t.approval.steps)


def _add(index: dict[str, Label], lower: dict[str, Label], label: Label) -> None:
    text = label.get("en")
    if text:
        index.setdefault(text, label)
        lower.setdefault(text.lower(), label)


def build_index(reg: Registry) -> LabelIndex:
    by_text: dict[str, Label] = {}
    by_lower: dict[str, Label] = {}
    entities: dict[str, Label] = {}
    roles: dict[str, Label] = {}
    states: dict[str, Label] = {}
    for tables in reg.apps.values():
        app = tables.app
        for role in app.roles:
            roles.setdefault(role.key, role.label)
        for entity in app.entities:
            entities.setdefault(entity.key, entity.label)
            if entity.workflow is not None:
                for state in entity.workflow.states:
                    states.setdefault(state.key, state.label)
            for label in entity_labels(entity):
                _add(by_text, by_lower, label)
    return LabelIndex(by_text, by_lower, entities, roles, states)


_cache: list[tuple[Registry, LabelIndex]] = []


def _index() -> LabelIndex | None:
    """The label index of the current registry (built once per schema generation)."""
    from flowdeck.views.lifecycle import registry

    try:
        reg = registry()
    except Exception:  # no database now: the labels stay as the engine wrote them
        return None
    cached = _cache[0] if _cache else None
    if cached is not None and cached[0] is reg:
        return cached[1]
    index = build_index(reg)
    _cache[:] = [(reg, index)]
    return index


class _Labels:
    """Labels for one message, in `language`: the given entity's first, then every app's.
    The registry is read only when a message quotes a label."""

    def __init__(self, entity: Entity | None, language: str) -> None:
        self.entity = entity
        self.language = language
        self._own: dict[str, Label] | None = None
        self._fields: dict[str, Label] | None = None
        self._index: LabelIndex | None = None
        self._loaded = False

    def index(self) -> LabelIndex | None:
        if not self._loaded:
            self._index = _index()
            self._loaded = True
        return self._index

    def own(self) -> dict[str, Label]:
        if self._own is None:
            self._own = {}
            if self.entity is not None:
                for label in entity_labels(self.entity):
                    _add(self._own, {}, label)
        return self._own

    def one(self, text: str, *, field: bool = False) -> str:
        label = self.fields().get(text) if field else None
        label = label or self.own().get(text)
        if label is None:
            index = self.index()
            if index is not None:
                label = index.by_text.get(text) or index.by_lower.get(text.lower())
        return label.get(self.language) if label is not None else text

    def fields(self) -> dict[str, Label]:
        if self._fields is None:
            self._fields = {}
            if self.entity is not None:
                for fld in self.entity.fields:
                    for label in (fld.label, *(c.label for c in fld.fields)):
                        _add(self._fields, {}, label)
        return self._fields

    def several(self, text: str) -> str:
        """Field labels joined by ", " (a label may hold a comma itself: tried whole first)."""
        whole = self.one(text, field=True)
        parts = [p.strip() for p in text.split(",")]
        if whole != text or len(parts) == 1:
            return whole
        return self.join([self.one(p, field=True) for p in parts])

    def keyed(self, kind: str, text: str) -> str:
        if kind == "entities" and self.entity is not None and text == self.entity.key:
            return self.entity.label.get(self.language)
        index = self.index()
        table: Mapping[str, Label] = getattr(index, kind) if index is not None else {}
        keys = [p.strip() for p in text.split(",")]
        return self.join([table[k].get(self.language) if k in table else k for k in keys])

    def join(self, items: list[str]) -> str:
        return pgettext("between the items of a list of names", ", ").join(items)


def _value(name: str, text: str, labels: _Labels) -> str:
    if name in LABEL_GROUPS:
        return labels.one(text)
    if name in FIELD_GROUPS:
        return labels.several(text)
    if name in KEYED_GROUPS:
        return labels.keyed(KEYED_GROUPS[name], text)
    if name in NESTED_GROUPS:
        return _translate(text, labels)
    return text


def _match(message: str, labels: _Labels) -> str | None:
    for rule in RULES:
        found = rule.pattern.fullmatch(message)
        if found is not None:
            values = {name: _value(name, text or "", labels) for name, text in found.groupdict().items()}
            return str(rule.text) % values
    return None


def _translate(message: str, labels: _Labels) -> str:
    text = message.strip()
    found = _match(text, labels)
    if found is not None:
        return found
    # RecordInvalid's own text: "title: is required; due: must be a date (YYYY-MM-DD)"
    parts = text.split("; ")
    shown = [_part(part, labels) for part in parts]
    if shown == parts:
        return message
    return pgettext("between messages", "; ").join(shown)


def _part(text: str, labels: _Labels) -> str:
    """One "key: message, message" part (or a plain message) of a longer text."""
    key, sep, rest = text.partition(": ")
    if not sep or not _FIELD_KEY.match(key):
        return _match(text, labels) or text
    fld = labels.entity.field(key) if labels.entity is not None else None
    name = fld.label.get(labels.language) if fld is not None else key
    shown = _match(rest, labels)
    if shown is None:
        pieces = rest.split(", ")
        translated = [_match(p, labels) or p for p in pieces]
        if translated == pieces:
            return text
        shown = pgettext("between messages about one field", ", ").join(translated)
    return _("%(field)s: %(problem)s", field=name, problem=shown)


def translate(message: str | Message, entity: Entity | None = None) -> str:
    """An engine message in the current language (labels looked up in `entity` first);
    the message itself when no pattern knows it, and always in English. A `Message` (an
    engine text that is data already) is simply rendered."""
    if isinstance(message, Message):
        return render(message, translator())
    if not message or not has_request_context() or lang() == "en":
        return message
    return _translate(message, _Labels(entity, lang()))


def translate_errors(errors: Mapping[str, list[str | Message]], entity: Entity | None = None) -> dict[str, list[str]]:
    """`RecordInvalid.errors` (field key -> messages) in the current language."""
    return {key: [translate(m, entity) for m in messages] for key, messages in errors.items()}


def init_app(app: Flask) -> None:
    """`{{ message|engine_text }}` in templates (notifications are stored in English)."""
    app.jinja_env.filters["engine_text"] = translate
