"""The bundle format (format 1): entry names, limits, canonical JSON and checksums, and the
parts of an app document a bundle rewrites (its source id, the users approval steps name).

`entries` in the manifest holds the SHA-256 of every other entry and `checksum` is the
SHA-256 of the lines `"<sha256>  <name>\\n"` in name order (the `sha256sum` format), so a
damaged entry is named. Same data gives the same bytes apart from `exported_at`: JSON with
sorted keys (app.json keeps the document's order), fixed ZIP timestamps, modes and order.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import importlib.metadata
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
APP = "app.json"
ROLES = "roles.json"
USERS = "users.json"
COUNTERS = "counters.json"
REQUIRED = (MANIFEST, APP, ROLES, USERS)
RECORDS_ENTRY = re.compile(r"^records/([a-z][a-z0-9]*(?:_[a-z0-9]+)*)\.jsonl$")
FILES_ENTRY = re.compile(r"^files/([0-9a-f]{64})$")
APP_KEY = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,59}$")
SOURCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,79}$")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
CHUNK = 256 * 1024
BATCH = 500
CREATE = "create"
ALL_USERS = "*"  # user_map {"*": "create"}: create every user that is missing

NEW, UPGRADE, COPY, REFUSED = "new", "upgrade", "copy", "refused"


@dataclass(frozen=True)
class Limits:
    """What a bundle may be, checked before anything is read from it."""

    max_bundle_bytes: int = 512 * 1024 * 1024
    max_entries: int = 20_000
    max_uncompressed_bytes: int = 1024 * 1024 * 1024
    max_manifest_bytes: int = 4 * 1024 * 1024


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class BundleUser:
    """A user as users.json names them: never a password."""

    username: str
    display_name: str
    email: str | None = None

    def describe(self) -> str:
        """The username with the display name and email that tell a person who it is."""
        extra = ", ".join(x for x in (self.display_name if self.display_name != self.username else "", self.email or "") if x)
        return f"{self.username} ({extra})" if extra else self.username


def canonical_json(value: Any, *, indent: int | None = 1) -> bytes:
    """JSON with sorted keys and a final newline: the same data always gives the same bytes."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, indent=indent, separators=(",", ": ") if indent else (",", ":"))
    return (text + "\n").encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entries_checksum(entries: Mapping[str, str]) -> str:
    """The manifest's `checksum` of its `entries` (name -> SHA-256), in `sha256sum` form."""
    return sha256_hex("".join(f"{entries[name]}  {name}\n" for name in sorted(entries)).encode("utf-8"))


def known_entry(name: str) -> bool:
    return name in (*REQUIRED, COUNTERS) or bool(RECORDS_ENTRY.match(name) or FILES_ENTRY.match(name))


def flowdeck_version() -> str:
    try:
        return importlib.metadata.version("flowdeck")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def iso_utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def copy_source(source: str, key: str) -> str:
    """The source id of a copy of `source` under app key `key` (at most 80 characters; the
    schema's source pattern has no `#`, so the copy is marked `:copy-`)."""
    tail = f":copy-{key}"
    if len(source) + len(tail) <= 80:
        return source + tail
    digest = hashlib.sha256(source.encode()).hexdigest()[:8]
    return f"{source[: 80 - len(tail) - 9]}-{digest}{tail}"


def with_source(document: Mapping[str, Any], source: str, key: str | None = None) -> dict[str, Any]:
    """A copy of `document` with `source` (and `key`) set, keeping the key order: a missing
    `source` goes right after `key`."""
    out: dict[str, Any] = {}
    for name, value in document.items():
        if name == "key":
            out["key"] = key or value
            out["source"] = source
        elif name != "source":
            out[name] = copy.deepcopy(value)
    if "key" not in out:  # not a valid document; keep what was there
        out["source"] = source
    return out


def _approver_sources(document: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    entities = document.get("entities")
    if not isinstance(entities, Mapping):
        return
    for entity in entities.values():
        workflow = entity.get("workflow") if isinstance(entity, Mapping) else None
        transitions = workflow.get("transitions") if isinstance(workflow, Mapping) else None
        for transition in transitions if isinstance(transitions, list) else []:
            approval = transition.get("approval") if isinstance(transition, Mapping) else None
            steps = approval.get("steps") if isinstance(approval, Mapping) else None
            for step in steps if isinstance(steps, list) else []:
                if not isinstance(step, Mapping):
                    continue
                approvers = step.get("approvers")
                stages = step.get("escalation")
                # the people a step names besides its approvers: `if_nobody: {"user"}`, a stage's `user`
                more = [step.get("if_nobody"), *(stages if isinstance(stages, list) else [])]
                for source in [*(approvers if isinstance(approvers, list) else [approvers]), *more]:
                    if isinstance(source, dict):
                        yield source


def approval_usernames(document: Mapping[str, Any]) -> list[str]:
    """Usernames approval steps name (`{"users": [...]}`, a fallback or hand-over `user`), in document order, once each."""
    found: dict[str, None] = {}
    for source in _approver_sources(document):
        named = source.get("users")
        for name in [*(named if isinstance(named, list) else []), source.get("user")]:
            if isinstance(name, str):
                found[name] = None
    return list(found)


def rename_approval_users(document: dict[str, Any], mapping: Mapping[str, str]) -> None:
    """Replace usernames in approval steps in place (a name mapped twice is kept once)."""
    for source in _approver_sources(document):
        if isinstance(source.get("users"), list):
            source["users"] = list(dict.fromkeys(mapping.get(n, n) for n in source["users"]))
        if isinstance(source.get("user"), str):
            source["user"] = mapping.get(source["user"], source["user"])
