"""The versions of an app: who applied what and when, the difference between two
documents as summaries for the admin, and rollback to an earlier document (applied as a
new version).

Every applied document is kept in `fd_app_versions`, so any version can be read, compared
or applied again. A rollback is an ordinary apply of the old document: its plan may ask
the same questions as any change (records in a state the old document does not have,
values to convert back), and `choices` answers them.

Why a version was applied is the system's reason (`reason`, a Message kept as JSON:
"bundled app", "rollback to v3") or the admin's own words (`message`, text as typed);
`VersionInfo.message` is whichever the version has.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import audit, models
from flowdeck.engine.apps import ApplyResult, apply_document
from flowdeck.engine.db import Database
from flowdeck.engine.errors import NotFound
from flowdeck.engine.messages import M, Message, Mp
from flowdeck.engine.permissions import Actor
from flowdeck.engine.phrases import Words, type_words
from flowdeck.engine.schema.shape import format_path


@dataclass(frozen=True)
class VersionInfo:
    version: int
    author_id: int | None
    author_name: str | None  # the author's display name (username if none); None for the system or a deleted user
    created_at: dt.datetime
    message: Message | str | None
    """Why: the system's reason, or the admin's own words (None when neither was given)."""
    checksum: str


def list_versions(conn: Connection, app: str) -> list[VersionInfo]:
    """Every version of `app`, oldest first. Raises NotFound for an app never applied."""
    v, u = models.app_versions, models.users
    rows = conn.execute(
        sa.select(v.c.version, v.c.author_id, u.c.display_name, u.c.username, v.c.created_at, v.c.reason, v.c.message, v.c.checksum)
        .select_from(v.outerjoin(u, u.c.id == v.c.author_id))
        .where(v.c.app == app)
        .order_by(v.c.version)
    ).all()
    if not rows:
        raise NotFound(M('there is no app "%(app)s"', app=app))
    return [
        VersionInfo(
            row.version, row.author_id, row.display_name or row.username, row.created_at, why(row.reason, row.message), row.checksum
        )
        for row in rows
    ]


def why(reason: Any, message: str | None) -> Message | str | None:
    """A version's stored reason (JSON) read back as a Message, else the admin's words."""
    return Message.from_json(reason) if reason is not None else message


def get_document(conn: Connection, app: str, version: int) -> dict[str, Any]:
    """The document applied as `version` of `app`. Raises NotFound."""
    v = models.app_versions
    document = conn.execute(sa.select(v.c.document).where((v.c.app == app) & (v.c.version == version))).scalar()
    if document is None:
        raise NotFound(M('app "%(app)s" has no version %(version)s', app=app, version=version))
    return dict(document)


def rollback(db: Database, app: str, to_version: int, *, actor: Actor, choices: Mapping[str, str] | None = None) -> ApplyResult:
    """Apply the document of `to_version` again, as a new version with the reason
    "rollback to vN". Data moves need `choices` like any change (ChoicesNeeded otherwise)."""
    document = db.read(lambda conn: get_document(conn, app, to_version))
    result = apply_document(db, document, actor=actor, message=M("rollback to v%(version)s", version=to_version), choices=choices)
    if result.applied:
        db.run(lambda conn: audit.schema_rolled_back(conn, actor, app, to_version, result.version))
    return result


# -- differences ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One difference between two documents: `path` in the document (the new one, or the
    old one for what was removed), `kind` added, removed or changed, and a summary."""

    path: str
    kind: str
    old: Any
    new: Any
    summary: Message


# Objects compared as one value: a changed label is one change, not one per language.
_WHOLE = {"label", "plural", "description", "help", "guard_message", "filter", "sections", "rules", "search"}


def diff_documents(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """The differences from `old` to `new`, in document order, each with a summary such as
    "adds field task.due (date)" or "renames field budget to cost"."""
    out: list[Change] = []
    _Differ(out).document(old or {}, new or {})
    return out


def _text(value: Any) -> str:
    """A value as the document writes it (a label by its English text)."""
    if isinstance(value, Mapping) and set(value) <= {"en", "zh"} and value:
        return str(value.get("en") or next(iter(value.values())))
    return json.dumps(value, ensure_ascii=False)


def _type_of(spec: Mapping[str, Any]) -> Words:
    kind = spec.get("type", "?")
    computed = kind == "computed"
    if computed:
        kind = spec.get("result", "decimal")
    return type_words(str(kind), computed=computed, many=bool(spec.get("many")), to=spec.get("to"))


def _keyed(items: Any) -> dict[str, tuple[int, Any]] | None:
    """A list of objects with unique keys (or plain option strings) as key -> (index, item)."""
    if not isinstance(items, list):
        return None
    out: dict[str, tuple[int, Any]] = {}
    for index, item in enumerate(items):
        key = item if isinstance(item, str) else item.get("key") if isinstance(item, Mapping) else None
        if not isinstance(key, str) or key in out:
            return None
        out[key] = (index, item)
    return out


def _member(raw: str) -> Message:
    """A member of the document by the name a summary gives it; other members by their key."""
    names = {
        "label": Mp("a member of an app document", "label"),
        "plural": Mp("a member of an app document", "plural label"),
        "description": Mp("a member of an app document", "description"),
        "help": Mp("a member of an app document", "help text"),
        "guard_message": Mp("a member of an app document", "condition message"),
        "filter": Mp("a member of an app document", "filter"),
        "sections": Mp("a member of an app document", "form sections"),
        "rules": Mp("a member of an app document", "rules"),
        "to": Mp("a member of an app document", "target state"),
        "from": Mp("a member of an app document", "source states"),
        "require": Mp("a member of an app document", "required fields"),
        "comment": Mp("a member of an app document", "comment rule"),
        "color": Mp("a member of an app document", "colour"),
        "required": Mp("a member of an app document", "required flag"),
        "read_only": Mp("a member of an app document", "read-only flag"),
    }
    # TRANSLATORS: a key of the document (max_length) between the words of a sentence.
    return names.get(raw) or Mp("a member of an app document", "%(key)s", key=raw)


def _what(noun: str, key: str) -> Message:
    """What a change is about: `role lead`, `field task.due`."""
    if noun == "role":
        return Mp("what a document change is about", "role %(key)s", key=key)
    if noun == "entity":
        return Mp("what a document change is about", "entity %(key)s", key=key)
    if noun == "state":
        return Mp("what a document change is about", "state %(key)s", key=key)
    if noun == "view":
        return Mp("what a document change is about", "view %(key)s", key=key)
    if noun == "transition":
        return Mp("what a document change is about", "transition %(key)s", key=key)
    if noun == "automation":
        return Mp("what a document change is about", "automation %(key)s", key=key)
    return Mp("what a document change is about", "field %(key)s", key=key)


_LIKE_LABELS = ("label", "plural", "description", "help", "guard_message", "filter", "sections", "rules")


class _Differ:
    def __init__(self, out: list[Change]) -> None:
        self.out = out

    def add(self, path: list[Any], kind: str, old: Any, new: Any, summary: Message) -> None:
        self.out.append(Change(format_path(path), kind, old, new, summary))

    # -- generic -----------------------------------------------------------------------------

    def values(self, path: list[Any], old: Mapping[str, Any], new: Mapping[str, Any], what: Message) -> None:
        """Compare two objects member by member; `what` names the object ("state review")."""
        for key in [*new, *(k for k in old if k not in new)]:
            self.member([*path, key], old.get(key), new.get(key), what, base=len(path))

    def member(self, path: list[Any], old: Any, new: Any, what: Message, *, base: int) -> None:
        """One member of an object; nested objects are compared member by member, except
        labels and the like, which are one value."""
        if old == new:
            return
        if isinstance(old, Mapping) and isinstance(new, Mapping) and path[-1] not in _WHOLE:
            for key in [*new, *(k for k in old if k not in new)]:
                self.member([*path, key], old.get(key), new.get(key), what, base=base)
            return
        raw = ".".join(str(p) for p in path[base:])
        name = _member(raw)
        kind = "added" if old is None else "removed" if new is None else "changed"
        if raw in _LIKE_LABELS:
            if new is None:
                self.add(path, kind, old, new, M("removes the %(member)s of %(what)s", member=name, what=what))
            else:
                self.add(path, kind, old, new, M("changes the %(member)s of %(what)s", member=name, what=what))
        elif old is None:
            self.add(path, "added", None, new, M("sets the %(member)s of %(what)s to %(new)s", member=name, what=what, new=_text(new)))
        elif new is None:
            self.add(path, "removed", old, None, M("removes the %(member)s of %(what)s", member=name, what=what))
        else:
            self.add(
                path,
                "changed",
                old,
                new,
                M("changes the %(member)s of %(what)s from %(old)s to %(new)s", member=name, what=what, old=_text(old), new=_text(new)),
            )

    # -- the document ----------------------------------------------------------------------

    def document(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        for key in ("key", "label", "description", "source", "$schema"):
            self.member([key], old.get(key), new.get(key), Mp("what a document change is about", "the app"), base=0)
        self.objects(["roles"], old.get("roles") or {}, new.get("roles") or {}, "role", lambda k: k)
        old_entities, new_entities = old.get("entities") or {}, new.get("entities") or {}
        for key in [*new_entities, *(k for k in old_entities if k not in new_entities)]:
            path = ["entities", key]
            before, after = old_entities.get(key), new_entities.get(key)
            if before is None:
                self.add(path, "added", None, after, M("adds entity %(entity)s", entity=key))
            elif after is None:
                self.add(path, "removed", before, None, M("removes entity %(entity)s", entity=key))
            elif before != after:
                self.entity(path, key, before, after)
        self.automations(["automations"], old.get("automations") or [], new.get("automations") or [])

    def automations(self, path: list[Any], old: list[Any], new: list[Any]) -> None:
        """Automation rules by key: added, removed, or changed member by member (a trigger
        or an action list is shown whole when it changes)."""
        before, after = _keyed(old), _keyed(new)
        if before is None or after is None:
            if old != new:
                self.add(path, "changed", old, new, M("changes the automations"))
            return
        for key in [*after, *(k for k in before if k not in after)]:
            if key not in before:
                index, item = after[key]
                self.add([*path, index], "added", None, item, M("adds automation %(key)s", key=key))
            elif key not in after:
                index, item = before[key]
                self.add([*path, index], "removed", item, None, M("removes automation %(key)s", key=key))
            else:
                (_, was), (index, item) = before[key], after[key]
                for member in [*item, *(k for k in was if k not in item)]:
                    if was.get(member) != item.get(member):
                        self.whole([*path, index, member], was.get(member), item.get(member), _what("automation", key))

    def whole(self, path: list[Any], old: Any, new: Any, what: Message) -> None:
        name = _member(str(path[-1]))
        if old is None:
            self.add(path, "added", None, new, M("sets the %(member)s of %(what)s to %(new)s", member=name, what=what, new=_text(new)))
        elif new is None:
            self.add(path, "removed", old, None, M("removes the %(member)s of %(what)s", member=name, what=what))
        else:
            said = M("changes the %(member)s of %(what)s from %(old)s to %(new)s", member=name, what=what, old=_text(old), new=_text(new))
            self.add(path, "changed", old, new, said)

    def objects(self, path: list[Any], old: Mapping[str, Any], new: Mapping[str, Any], noun: str, name: Any) -> None:
        """Keyed objects (roles, states, views): added, removed, or changed member by member."""
        for key in [*new, *(k for k in old if k not in new)]:
            before, after = old.get(key), new.get(key)
            if before is None:
                self.add([*path, key], "added", None, after, _added(noun, name(key)))
            elif after is None:
                self.add([*path, key], "removed", before, None, _removed(noun, name(key)))
            elif before != after:
                self.values([*path, key], before, after, _what(noun, name(key)))

    def entity(self, path: list[Any], key: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        for member in [*new, *(k for k in old if k not in new)]:
            if member in ("fields", "workflow", "views"):
                continue
            self.member([*path, member], old.get(member), new.get(member), _what("entity", key), base=len(path))
        self.fields([*path, "fields"], key, old.get("fields") or {}, new.get("fields") or {})
        self.workflow([*path, "workflow"], old.get("workflow"), new.get("workflow"))
        self.objects([*path, "views"], old.get("views") or {}, new.get("views") or {}, "view", lambda k: f"{key}.{k}")

    def fields(self, path: list[Any], entity: str, old: Mapping[str, Any], new: Mapping[str, Any], *, parent: str = "") -> None:
        owner = f"{entity}.{parent}." if parent else f"{entity}."
        renamed = {
            spec.get("was"): key
            for key, spec in new.items()
            if isinstance(spec, Mapping) and spec.get("was") in old and spec.get("was") not in new and key not in old
        }
        for key in [*new, *(k for k in old if k not in new)]:
            before, after = old.get(key), new.get(key)
            name = f"{owner}{key}"
            if key in renamed:
                continue  # reported under its new key
            if after is not None and before is None and key in renamed.values():
                was = after["was"]
                before = old[was]
                self.add([*path, key], "changed", before, after, M("renames field %(old)s to %(new)s", old=was, new=key))
                self.field([*path, key], name, {**before, "was": after.get("was")}, after, entity)
                continue
            if before is None:
                self.add([*path, key], "added", None, after, M("adds field %(field)s (%(type)s)", field=name, type=_type_of(after)))
            elif after is None:
                self.add([*path, key], "removed", before, None, M("removes field %(field)s", field=name))
            elif before != after:
                self.field([*path, key], name, before, after, entity)

    def field(self, path: list[Any], name: str, old: Mapping[str, Any], new: Mapping[str, Any], entity: str) -> None:
        what = _what("field", name)
        if _type_of(old) != _type_of(new):
            self.add(
                [*path, "type"],
                "changed",
                str(_type_of(old)),
                str(_type_of(new)),
                M(
                    "changes the type of field %(field)s from %(old_type)s to %(new_type)s",
                    field=name,
                    old_type=_type_of(old),
                    new_type=_type_of(new),
                ),
            )
        for member in [*new, *(k for k in old if k not in new)]:
            if member in ("type", "many", "to", "result", "options", "fields", "was"):
                continue
            self.member([*path, member], old.get(member), new.get(member), what, base=len(path))
        if old.get("options") != new.get("options"):
            self.options([*path, "options"], name, old.get("options") or [], new.get("options") or [])
        if old.get("fields") != new.get("fields") and (old.get("type") == "table" or new.get("type") == "table"):
            self.fields([*path, "fields"], entity, old.get("fields") or {}, new.get("fields") or {}, parent=name.split(".", 1)[1])

    def options(self, path: list[Any], name: str, old: list[Any], new: list[Any]) -> None:
        before, after = _keyed(old), _keyed(new)
        if before is None or after is None:
            self.add(path, "changed", old, new, M("changes the options of field %(field)s", field=name))
            return
        for key in [*after, *(k for k in before if k not in after)]:
            if key not in before:
                index, item = after[key]
                self.add([*path, index], "added", None, item, M("adds option %(option)s to field %(field)s", option=key, field=name))
            elif key not in after:
                index, item = before[key]
                self.add([*path, index], "removed", item, None, M("removes option %(option)s of field %(field)s", option=key, field=name))
            else:
                (_, was), (index, item) = before[key], after[key]
                was = {"key": was} if isinstance(was, str) else was
                now = {"key": item} if isinstance(item, str) else item
                if was != now:
                    what = Mp("what a document change is about", "option %(option)s of field %(field)s", option=key, field=name)
                    self.values([*path, index], was, now, what)
        if [k for k in before if k in after] != [k for k in after if k in before]:
            self.add(path, "changed", old, new, M("reorders the options of field %(field)s", field=name))

    def workflow(self, path: list[Any], old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> None:
        if old == new:
            return
        entity = path[-2]
        if old is None:
            self.add(path, "added", None, new, M("adds a workflow to entity %(entity)s", entity=entity))
            return
        if new is None:
            self.add(path, "removed", old, None, M("removes the workflow of entity %(entity)s", entity=entity))
            return
        if old.get("initial") != new.get("initial"):
            self.initial([*path, "initial"], entity, old, new)
        self.objects([*path, "states"], old.get("states") or {}, new.get("states") or {}, "state", lambda k: k)
        self.transitions([*path, "transitions"], old.get("transitions") or [], new.get("transitions") or [])
        if old.get("on_create") != new.get("on_create"):
            said = M("changes the routes that choose the first state of new %(entity)s records", entity=entity)
            self.add([*path, "on_create"], "changed", old.get("on_create"), new.get("on_create"), said)
        if old.get("rules") != new.get("rules"):
            self.add(
                [*path, "rules"],
                "changed",
                old.get("rules"),
                new.get("rules"),
                M("changes the field rules of entity %(entity)s", entity=entity),
            )

    def initial(self, path: list[Any], entity: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        """The initial state, named or not: a workflow that names none starts in its first state."""
        before, after = old.get("initial") or _first_state(old), new.get("initial") or _first_state(new)
        if before is not None and after is not None and before != after:
            said = M(
                "changes the initial state of entity %(entity)s from %(old)s to %(new)s", entity=entity, old=str(before), new=str(after)
            )
        elif new.get("initial") is not None:
            said = M("sets the initial state of entity %(entity)s to %(new)s", entity=entity, new=str(new["initial"]))
        else:
            said = M(
                "removes the initial state of entity %(entity)s: its first state %(state)s is the initial one",
                entity=entity,
                state=str(after or ""),
            )
        self.add(path, "changed", old.get("initial"), new.get("initial"), said)

    def transitions(self, path: list[Any], old: list[Any], new: list[Any]) -> None:
        before, after = _keyed(old), _keyed(new)
        if before is None or after is None:
            if old != new:
                self.add(path, "changed", old, new, M("changes the transitions"))
            return
        for key in [*after, *(k for k in before if k not in after)]:
            if key not in before:
                index, item = after[key]
                self.add([*path, index], "added", None, item, M("adds transition %(key)s", key=key))
            elif key not in after:
                index, item = before[key]
                self.add([*path, index], "removed", item, None, M("removes transition %(key)s", key=key))
            else:
                (_, was), (index, item) = before[key], after[key]
                if was != item:
                    self.values([*path, index], was, item, _what("transition", key))


def _first_state(workflow: Mapping[str, Any]) -> Any:
    states = workflow.get("states")
    return next(iter(states), None) if isinstance(states, Mapping) else None


def _added(noun: str, key: str) -> Message:
    if noun == "role":
        return M("adds role %(key)s", key=key)
    if noun == "state":
        return M("adds state %(key)s", key=key)
    return M("adds view %(key)s", key=key)


def _removed(noun: str, key: str) -> Message:
    if noun == "role":
        return M("removes role %(key)s", key=key)
    if noun == "state":
        return M("removes state %(key)s", key=key)
    return M("removes view %(key)s", key=key)
