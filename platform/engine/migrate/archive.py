"""The archive (`fd_archived`): an entity or field the document no longer has keeps its
table or column, recorded with its definition, and comes back with its data when the
document has it again (the same kind of value only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import models
from flowdeck.engine.fieldtypes import is_many
from flowdeck.engine.messages import M, Message
from flowdeck.engine.migrate.fields import describe_type, signature, spec_signature, spec_type
from flowdeck.engine.migrate.plan import Step
from flowdeck.engine.schema.model import Field
from flowdeck.engine.storage.tables import EntityTables, side_table_name, table_name

if TYPE_CHECKING:
    from flowdeck.engine.migrate.planner import Planner


def archived_fields(conn: Connection, app: str) -> dict[tuple[str, str], dict[str, Any]]:
    rows = conn.execute(sa.select(models.archived).where(models.archived.c.app == app)).mappings()
    return {(row["entity"], row["field"]): dict(row) for row in rows}


def definition_of(document: Any, entity: str, field_key: str) -> Any:
    """An entity's (or, with `field_key`, a field's) definition in `document`."""
    spec = document.get("entities", {}).get(entity, {})
    return spec.get("fields", {}).get(field_key, {}) if field_key else spec


def archive_removed(p: Planner) -> None:
    """What the previous document had and this one has not is archived, never dropped."""
    if p.old is None:
        return
    for old_entity in p.old.entities:
        new_entity = p.app.entity(old_entity.key)
        if new_entity is None:
            name = table_name(p.app.key, old_entity.key)
            records = p.count_rows(name)
            archive(
                p,
                old_entity.key,
                "",
                name,
                M(
                    "removes entity %(entity)s: its %(count)s records are archived, not deleted; re-adding it restores them",
                    entity=old_entity.key,
                    count=records,
                ),
            )
            continue
        new_keys = {f.key for f in new_entity.fields} | {f.was for f in new_entity.fields if f.was}
        for fld in old_entity.fields:
            if fld.key in new_keys:
                continue
            archive(p, old_entity.key, fld.key, *_removed_field(p, old_entity.key, fld))


def _removed_field(p: Planner, entity: str, fld: Field) -> tuple[str, Message]:
    """Where a removed field's values stay, and the step that says so."""
    if fld.is_table:
        storage = side_table_name(p.app.key, entity, fld.key)
        said = M(
            "removes field %(field)s of %(entity)s: its %(count)s rows are archived, not deleted; re-adding %(field)s restores them",
            field=fld.key,
            entity=entity,
            count=p.count_rows(storage),
        )
        return storage, said
    if is_many(fld):
        storage = side_table_name(p.app.key, entity, fld.key)
        values = p.count_rows(storage)
    else:
        storage = table_name(p.app.key, entity)
        values = p.count_values(storage, fld.key)
    said = M(
        "removes field %(field)s of %(entity)s: its %(count)s values are archived, not deleted; re-adding %(field)s restores them",
        field=fld.key,
        entity=entity,
        count=values,
    )
    return storage, said


def archive(p: Planner, entity: str, field_key: str, storage: str, description: Message) -> None:
    doc = definition_of(p.old.document if p.old else {}, entity, field_key)
    version = p.plan.version
    app = p.app.key

    def record(conn: Connection) -> None:
        archived = models.archived
        conn.execute(archived.delete().where((archived.c.app == app) & (archived.c.entity == entity) & (archived.c.field == field_key)))
        conn.execute(
            archived.insert().values(app=app, entity=entity, field=field_key, storage=storage, definition=doc, archived_in_version=version)
        )

    p.step(description, record, "archive")


def compare_archived(p: Planner, et: EntityTables, fld: Field) -> None:
    """A field coming back from the archive must keep the type its kept data has."""
    entity_key = et.entity.key
    spec = None
    for key in (fld.key, fld.was):
        if key is None:
            continue
        row = p.archived.get((entity_key, key)) or p.archived.get((entity_key, ""))
        if row is not None:
            definition = row["definition"] or {}
            spec = definition.get("fields", {}).get(key) if row["field"] == "" else definition
        if spec:
            break
    if not spec or spec_signature(spec) == signature(fld):
        return
    p.refuse(
        M(
            "re-adds field %(field)s of %(entity)s as %(new_type)s, but its archived values are %(old_type)s: type changes are not "
            "supported yet; give the new field another key",
            field=fld.key,
            entity=entity_key,
            new_type=describe_type(fld),
            old_type=spec_type(spec),
        )
    )


def take_out_restored(p: Planner) -> None:
    """Archived entities and fields the document has again leave the archive (their data is
    back where it was: the tables and columns were never dropped)."""
    app = p.new.app
    restored = [
        (entity, fld)
        for (entity, fld) in p.archived
        if app.entity(entity) is not None and (fld == "" or app.get_entity(entity).field(fld) is not None)
    ]
    for entity, fld in restored:

        def unarchive(conn: Connection, e: str = entity, f: str = fld) -> None:
            archived = models.archived
            conn.execute(archived.delete().where((archived.c.app == app.key) & (archived.c.entity == e) & (archived.c.field == f)))

        key = f"{entity}.{fld}" if fld else entity
        p.plan.steps.append(Step(M("takes %(key)s out of the archive", key=key), unarchive, "archive"))
