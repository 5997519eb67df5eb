"""Three-way merge of app documents: keep a team's own edits when they take an upgrade.

`merge_documents(base, local, incoming)` compares the document a team installed from a
source (`base`), the document they run now (`local`, with their edits) and the new one from
the same source (`incoming`). Whatever changed on one side only is taken from that side; the
same thing changed differently on both sides is a `Conflict` for a person to decide
(`resolutions={path: "local" | "incoming"}`).

The merge follows the document's structure, so that edits to different parts never collide:

- objects are merged key by key (roles, entities, fields, states, views, labels...);
- lists whose items carry a `key` are merged as keyed collections: workflow transitions,
  approval steps, select options (a bare option string is its own key), automations, entity `constraints`;
- entity `sections` are merged by position when no side added or removed one;
- any other list (`columns`, `search`, `roles` lists, `from`...) is one value.

Key order: the local order is kept and what the incoming side added is appended in its
order, so a field added locally and one added upstream both survive where each side put it.
A key removed on one side and left alone on the other is removed; removed on one side and
changed on the other is a conflict.

Paths name the place of a conflict: `entities.task.fields.priority.label.en`, keyed list
items in brackets (`entities.task.workflow.transitions[approve].to`), positions as numbers
(`entities.task.sections[0].label`), and keys that are not identifiers quoted
(`entities.task.views["my board"]`).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.messages import M, Message

LOCAL = "local"
INCOMING = "incoming"
SIDES = (LOCAL, INCOMING)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Lists merged as keyed collections, by the name of the object key that holds them.
KEYED_LISTS = frozenset({"transitions", "steps", "options", "automations", "constraints"})
# Lists merged item by item when all three sides have the same length.
POSITIONAL_LISTS = frozenset({"sections", "rules"})


class _Absent:
    """A value a side does not have (a key that was removed, or never added)."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False

    def __deepcopy__(self, memo: dict[int, Any]) -> _Absent:
        return self


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class Conflict:
    """One place changed differently on both sides. A side that removed the thing holds
    `ABSENT`; `base` is `ABSENT` when both sides added it."""

    path: str
    base: Any
    local: Any
    incoming: Any

    def value(self, side: str) -> Any:
        return self.local if side == LOCAL else self.incoming

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe form for a side-by-side view: absent values are null with a flag."""
        out: dict[str, Any] = {"path": self.path}
        for name in ("base", "local", "incoming"):
            value = getattr(self, name)
            out[name] = None if value is ABSENT else value
            out[f"{name}_present"] = value is not ABSENT
        return out

    def describe(self) -> Message:
        """The conflict on one line: its path and the three values as JSON."""
        return M(
            "%(path)s: base %(base)s, local %(local)s, incoming %(incoming)s",
            path=self.path,
            base=_show(self.base),
            local=_show(self.local),
            incoming=_show(self.incoming),
        )


def _show(value: Any) -> str | Message:
    if value is ABSENT:
        return M("(absent)")
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


@dataclass
class MergeResult:
    """The merged document and every conflict. Each conflict's place holds the resolution
    given for its path, else the local value (so `document` is always complete); a caller
    must not apply it while `unresolved` is not empty."""

    document: dict[str, Any]
    conflicts: list[Conflict] = field(default_factory=list)
    resolutions: dict[str, str] = field(default_factory=dict)

    @property
    def unresolved(self) -> list[Conflict]:
        return [c for c in self.conflicts if c.path not in self.resolutions]

    @property
    def clean(self) -> bool:
        return not self.unresolved


class UnknownResolution(FlowdeckError, ValueError):
    """A resolution for a path that has no conflict, or a side other than local/incoming."""


def merge_documents(
    base: Mapping[str, Any] | None,
    local: Mapping[str, Any],
    incoming: Mapping[str, Any],
    *,
    resolutions: Mapping[str, str] | None = None,
) -> MergeResult:
    """Merge `incoming` into `local` relative to their common ancestor `base` (None: no
    common ancestor, so every difference is a conflict unless one side lacks the key).

    Raises UnknownResolution when `resolutions` names a side that is neither "local" nor
    "incoming", or a path that is not a conflict of this merge."""
    wanted = dict(resolutions or {})
    bad_sides = sorted(p for p, side in wanted.items() if side not in SIDES)
    if bad_sides:
        raise UnknownResolution(
            M("resolve each conflict with local or incoming (got %(sides)s)", sides=[repr(wanted[p]) for p in bad_sides])
        )
    merger = _Merger(wanted)
    document = merger.merge(
        [], copy.deepcopy(dict(base)) if base is not None else ABSENT, copy.deepcopy(dict(local)), copy.deepcopy(dict(incoming))
    )
    known = {c.path for c in merger.conflicts}
    stray = sorted(set(wanted) - known)
    if stray:
        raise UnknownResolution(M("no conflict at %(paths)s", paths=stray))
    return MergeResult(document=document, conflicts=merger.conflicts, resolutions={p: s for p, s in wanted.items() if p in known})


def format_path(parts: list[tuple[str, Any]]) -> str:
    """Path parts are ("key", name), ("item", key of a keyed list item) or ("index", n)."""
    out = ""
    for kind, value in parts:
        if kind == "index":
            out += f"[{value}]"
        elif kind == "item":
            out += f"[{value}]" if re.fullmatch(r"[a-z0-9][a-z0-9_-]*", str(value)) else f"[{json.dumps(value, ensure_ascii=False)}]"
        elif _IDENT.match(value):
            out += f".{value}" if out else value
        else:
            out += f"[{json.dumps(value, ensure_ascii=False)}]"
    return out


def _item_key(item: Any) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping) and isinstance(item.get("key"), str):
        return item["key"]
    return None


def _keyed(items: Any) -> dict[str, Any] | None:
    """A list of keyed items as an ordered {key: item} map, or None when it is not one
    (an item without a key, or a key twice)."""
    if items is ABSENT:
        return {}
    if not isinstance(items, list):
        return None
    out: dict[str, Any] = {}
    for item in items:
        key = _item_key(item)
        if key is None or key in out:
            return None
        out[key] = {"key": item} if isinstance(item, str) else item
    return out


def _unkey(item: Any) -> Any:
    """Back from the merge form: an option with nothing but its key is written as the key."""
    if isinstance(item, dict) and set(item) == {"key"}:
        return item["key"]
    return item


class _Merger:
    def __init__(self, resolutions: Mapping[str, str]) -> None:
        self.resolutions = resolutions
        self.conflicts: list[Conflict] = []

    def conflict(self, parts: list[tuple[str, Any]], base: Any, local: Any, incoming: Any) -> Any:
        path = format_path(parts)
        self.conflicts.append(Conflict(path, base, local, incoming))
        return incoming if self.resolutions.get(path) == INCOMING else local

    def merge(self, parts: list[tuple[str, Any]], base: Any, local: Any, incoming: Any) -> Any:
        if local == incoming:
            return local
        if base == local:
            return incoming
        if base == incoming:
            return local
        if isinstance(local, dict) and isinstance(incoming, dict) and (base is ABSENT or isinstance(base, dict)):
            return self.merge_objects(parts, base if base is not ABSENT else {}, local, incoming)
        name = parts[-1][1] if parts and parts[-1][0] == "key" else None
        if name in KEYED_LISTS:
            b, loc, inc = _keyed(base), _keyed(local), _keyed(incoming)
            if b is not None and loc is not None and inc is not None:
                merged = self.merge_objects(parts, b, loc, inc, item=True)
                return [_unkey(item) for item in merged.values()]
        if (
            name in POSITIONAL_LISTS
            and isinstance(base, list)
            and isinstance(local, list)
            and isinstance(incoming, list)
            and len(base) == len(local) == len(incoming)
        ):
            return [
                self.merge([*parts, ("index", i)], b, loc, inc) for i, (b, loc, inc) in enumerate(zip(base, local, incoming, strict=True))
            ]
        return self.conflict(parts, base, local, incoming)

    def merge_objects(
        self,
        parts: list[tuple[str, Any]],
        base: Mapping[str, Any],
        local: Mapping[str, Any],
        incoming: Mapping[str, Any],
        *,
        item: bool = False,
    ) -> dict[str, Any]:
        kind = "item" if item else "key"
        order = list(local) + [k for k in incoming if k not in local and k not in base]
        # Keys removed locally but changed upstream come back (as conflicts) in their upstream place.
        order += [k for k in incoming if k not in order]
        out: dict[str, Any] = {}
        for key in order:
            b = base.get(key, ABSENT)
            loc = local.get(key, ABSENT)
            inc = incoming.get(key, ABSENT)
            value = self.merge([*parts, (kind, key)], b, loc, inc)
            if value is not ABSENT:
                out[key] = value
        return out
