"""The declarative `Base`, its naming convention and the column types every system table shares.

A module of its own so the table modules of `flowdeck.engine.models` import it without
importing the package (no import cycle), and every table lands on one `Base.metadata`,
the metadata Alembic compares the migrations with.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase

from flowdeck.engine import clock

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
# PostgreSQL's JSONB reorders object keys, and key order is meaning in an app document
# (field order, the first state): documents are kept as plain JSON, which keeps the text.
DocumentJSON = sa.JSON()
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MessageJSON = sa.JSON(none_as_null=True)
"""A stored message (`Message.to_json()`); None is SQL NULL (no message), not JSON null."""

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """The default of the time columns: an aware UTC moment, never the server's local time,
    read from the engine clock (a clock held in a test holds these stamps too)."""
    return clock.now()


class Base(DeclarativeBase):
    """One metadata for every system table, named by `NAMING` so constraint names match the migrations'."""

    metadata = sa.MetaData(naming_convention=NAMING)
