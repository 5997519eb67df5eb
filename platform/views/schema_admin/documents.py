"""The app being edited and the text posted for it: the current version's document (404 for
an app that is not installed), an earlier version's, and the document's text as the
browser sends it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import request
from sqlalchemy.engine import Connection

from flowdeck.engine import models, versions
from flowdeck.engine.errors import NotFound
from flowdeck.engine.messages import M
from flowdeck.engine.schema import writing
from flowdeck.engine.schema.model import Label
from flowdeck.views.state import engine


@dataclass(frozen=True)
class Current:
    """The installed app: its key, applied version, source and that version's document."""

    key: str
    version: int
    source: str | None
    document: dict[str, Any]

    @property
    def label(self) -> Label:
        return Label.of(self.document.get("label"), self.key)


def _current(conn: Connection, key: str) -> Current:
    row = conn.execute(sa.select(models.apps.c.version, models.apps.c.source).where(models.apps.c.key == key)).first()
    if row is None:
        raise NotFound(M('there is no app "%(app)s"', app=key))
    return Current(key, row.version, row.source, versions.get_document(conn, key, row.version))


def current(key: str) -> Current:
    """The installed app `key`, or NotFound (404)."""
    return engine().db.read(lambda conn: _current(conn, key))


def version_document(app: str, number: int) -> dict[str, Any]:
    """Version `number`'s document, or NotFound (404)."""
    return engine().db.read(lambda conn: versions.get_document(conn, app, number))


def posted_text() -> str:
    """The document's text as posted (browsers send CRLF line ends: back to LF)."""
    return request.form.get("document", "").replace("\r\n", "\n").replace("\r", "\n")


def document_text(document: Mapping[str, Any]) -> str:
    return writing.dumps(document) + "\n"


def number(raw: str | None) -> int | None:
    """A whole number posted or in the query (a version, a cursor), None when it is not one."""
    text = (raw or "").strip()
    return int(text) if text.isdigit() else None


def base_version(now: Current) -> int:
    """The version the posted text was edited from (the current one when not said)."""
    return number(request.form.get("base_version")) or now.version
