"""The values of lookup fields when a record is written: a live lookup's current value (so
formulas, guards, field rules and checks read it), and a copied lookup's snapshot.

A copy is taken when the record is created and whenever its first reference changes; an
edit of the referenced record never changes it (that is what a copy is for: a price, a
rate). A live lookup is not stored; it is read again with the record (`storage/lookup_sql.py`).
Each lookup is one statement (`EntityTables.lookup_sources`, built once per schema).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine.storage.tables import EntityTables


def fill_lookups(conn: Connection, et: EntityTables, values: dict[str, Any], before: Mapping[str, Any] | None) -> None:
    """Put each lookup's value into `values` (the record's values about to be written);
    `before` is the stored record's values, None for a new record."""
    for fld in et.entity.lookups():
        lookup = fld.lookup
        source = et.lookup_sources.get(fld.key)
        if lookup is None or source is None:
            continue
        start = values.get(lookup.reference)
        if not lookup.live and before is not None and before.get(lookup.reference) == start:
            continue  # the snapshot stays until its reference changes
        values[fld.key] = None if start is None else conn.execute(source, {"start": start}).scalar()


def with_lookups(et: EntityTables, *columns: Any) -> sa.Select[Any]:
    """SELECT of `columns` (the whole table when none) and every live lookup of the entity."""
    chosen = columns or (et.table,)
    return sa.select(*chosen, *(expr.label(key) for key, expr in et.lookups.items()))


def fill_copies(conn: Connection, et: EntityTables, key: str) -> int:
    """Set a copied lookup's column of every record from its references in one set-based
    UPDATE (a migration adding the lookup); returns the number of records."""
    return int(conn.execute(et.table.update().values({key: et.copy_reads[key]})).rowcount or 0)
