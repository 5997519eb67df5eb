"""Uploaded files: bytes stored once per content under the files folder, one row each in
`fd_attachments`.

The bytes are named by their SHA-256 (`ab/cd/abcd...`), so the same file uploaded twice is
kept once and a half-written file never takes a real name (it is written to a temporary
file and renamed). A file is stored in its own transaction before the record that will hold
it is saved: a form that fails validation keeps its uploads, and an upload nobody attached
is only ever readable by the person who uploaded it (see `readers_of`).

Nothing here trusts the browser: the type is checked against the field's `accept` list by
file extension, the size is counted while reading, and the content type is guessed from the
name rather than taken from the request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import mimetypes
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import clock, models
from flowdeck.engine.errors import NotFound, ValueRefused
from flowdeck.engine.messages import M
from flowdeck.engine.permissions import Actor, can
from flowdeck.engine.schema.model import Field
from flowdeck.engine.storage.tables import AppTables, EntityTables

DEFAULT_MAX_MB = 10
CHUNK = 256 * 1024
MAX_NAME = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNSAFE = re.compile(r"[<>:\"/\\|?*]")


class FileRefused(ValueRefused):
    """An upload that does not fit its field; `message` is shown next to the field."""


@dataclass(frozen=True)
class StoredFile:
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    created_by: int | None
    created_at: dt.datetime


@dataclass(frozen=True)
class Holder:
    """A record whose attachment field (or line item) holds a file."""

    tables: EntityTables
    record_id: int


def max_bytes(fld: Field) -> int:
    return int((fld.max_size_mb or DEFAULT_MAX_MB) * 1024 * 1024)


def clean_name(filename: str) -> str:
    """The last path part of a browser-given name, without control, format or path characters."""
    name = unicodedata.normalize("NFC", filename.replace("\\", "/").rsplit("/", 1)[-1])
    # Format controls (bidi overrides, zero-width marks) make a name read as another one.
    name = "".join(ch for ch in name if unicodedata.category(ch) != "Cf")
    name = _UNSAFE.sub("_", _CONTROL.sub("", name)).strip(" .")
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: MAX_NAME - len(ext) - 1] + dot + ext) if dot and len(ext) < 20 else name[:MAX_NAME]
    return name or "file"


def check_name(fld: Field, filename: str) -> str:
    """The cleaned name, or FileRefused when the field does not accept its type."""
    name = clean_name(filename)
    if fld.accept:
        extension = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
        if extension not in fld.accept:
            raise FileRefused(M("must be one of these types: %(types)s", types=list(fld.accept)))
    return name


def blob_path(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256[2:4] / sha256


def save_blob(root: Path, stream: BinaryIO, limit: int) -> tuple[str, int]:
    """Copy `stream` into the store; returns (sha256, size). Raises FileRefused past `limit`
    bytes, leaving nothing behind."""
    root.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    handle, temp = tempfile.mkstemp(dir=root, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise FileRefused(M("is larger than %(size)s MB", size=_megabytes(limit)))
                digest.update(chunk)
                out.write(chunk)
        sha = digest.hexdigest()
        target = blob_path(root, sha)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            os.unlink(temp)
        else:
            os.replace(temp, target)
        return sha, size
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def _megabytes(limit: int) -> str:
    value = limit / (1024 * 1024)
    return f"{value:g}" if value >= 1 else f"{value:.2f}"


def add_file(conn: Connection, *, filename: str, size: int, sha256: str, actor_id: int | None) -> int:
    """Record a stored blob under its (cleaned) name; the content type comes from the name."""
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    result = conn.execute(
        models.attachments.insert().values(
            filename=filename, content_type=content_type, size=size, sha256=sha256, created_by=actor_id, created_at=clock.now()
        )
    )
    return int(result.inserted_primary_key[0])


_COLUMNS = (
    models.attachments.c.id,
    models.attachments.c.filename,
    models.attachments.c.content_type,
    models.attachments.c.size,
    models.attachments.c.sha256,
    models.attachments.c.created_by,
    models.attachments.c.created_at,
)


def get_file(conn: Connection, file_id: int) -> StoredFile:
    row = conn.execute(sa.select(*_COLUMNS).where(models.attachments.c.id == file_id)).first()
    if row is None:
        raise NotFound(M("there is no file %(id)s", id=file_id))
    return StoredFile(*row)


def readable_file(conn: Connection, apps: Iterable[AppTables], file_id: int, actor: Actor) -> StoredFile:
    """The file, for someone who may read a record holding it (or who uploaded it and has
    not attached it yet). Anyone else gets the same NotFound as for a file that does not
    exist, so ids reveal nothing."""
    stored = get_file(conn, file_id)
    held = holders(conn, apps, file_id)
    if any(can(actor, h.tables.entity, "read") for h in held) or (not held and stored.created_by == actor.user_id):
        return stored
    raise NotFound(M("there is no file %(id)s", id=file_id))


def describe_files(conn: Connection, ids: Iterable[int]) -> dict[int, StoredFile]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = conn.execute(sa.select(*_COLUMNS).where(models.attachments.c.id.in_(wanted)))
    return {row.id: StoredFile(*row) for row in rows}


def not_uploaded_by(conn: Connection, ids: Iterable[int], actor_id: int | None) -> set[int]:
    """The ids among `ids` that this actor did not upload (unknown ids included): a form
    may attach only its own uploads or keep files the record already holds."""
    wanted = set(ids)
    if not wanted:
        return set()
    a = models.attachments
    own = {row[0] for row in conn.execute(sa.select(a.c.id).where(a.c.id.in_(wanted) & (a.c.created_by == actor_id)))}
    return wanted - own


def holders(conn: Connection, apps: Iterable[AppTables], file_id: int) -> list[Holder]:
    """Every record that holds the file in an attachment field or a line item's one."""
    found: list[Holder] = []
    for tables in apps:
        for et in tables.entities.values():
            for fld in et.entity.fields:
                if fld.type == "attachment":
                    query = _holding(et, fld, file_id)
                elif fld.is_table and any(c.type == "attachment" for c in fld.fields):
                    child = et.children[fld.key]
                    matches = [child.c[c.key] == file_id for c in fld.fields if c.type == "attachment"]
                    query = sa.select(child.c.parent_id).where(sa.or_(*matches))
                else:
                    continue
                found += [Holder(et, row[0]) for row in conn.execute(query.limit(20))]
    return found


def _holding(et: EntityTables, fld: Field, file_id: int) -> sa.Select[tuple[int]]:
    if fld.key in et.links:
        link = et.links[fld.key]
        return sa.select(link.c.record_id).where(link.c.value == file_id)
    return sa.select(et.table.c.id).where(et.table.c[fld.key] == file_id)
