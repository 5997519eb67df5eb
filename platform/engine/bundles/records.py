"""Loading a bundle's records into the new app's tables, and every reason a record cannot be
imported (named with its entry and line)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DataError, IntegrityError

from flowdeck.engine import files, history, models
from flowdeck.engine.bundles.errors import BundleInvalid, at
from flowdeck.engine.bundles.planner import Prepared
from flowdeck.engine.bundles.reader import BundleInfo, entry_line
from flowdeck.engine.fieldtypes import FIELD_TYPES, resolve_datetime, types_in
from flowdeck.engine.messages import M, Message
from flowdeck.engine.permissions import Actor
from flowdeck.engine.schema.model import Field
from flowdeck.engine.storage.tables import AppTables, EntityTables


class _BadRecord(Exception):
    """A record of the bundle that cannot be imported; `message` says why (the place is added
    by the loader, which knows it)."""

    def __init__(self, message: Message) -> None:
        super().__init__(str(message))
        self.message = message


class RecordLoader:
    """Inserts the bundle's records into the new app's tables, keeping values, states,
    versions and line items; references are remapped from exported ids to new ones."""

    def __init__(
        self, conn: Connection, tables: AppTables, info: BundleInfo, prepared: Prepared, actor: Actor, files_dir: Path | None
    ) -> None:
        self.conn = conn
        self.tables = tables
        self.info = info
        self.prepared = prepared
        self.actor = actor
        self.files_dir = files_dir
        self.ids: dict[str, dict[int, int]] = {}
        self.attachments: dict[tuple[str, str, int], int | None] = {}
        self.blobs_needed: list[str] = []
        self.where: Message | str = ""

    def run(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        order = [k for k in self.tables.entities if k in self.info.records]
        try:
            for key in order:
                self.insert_rows(self.tables.entities[key], self.info.records[key])
            for key in order:
                self.fill_references(self.tables.entities[key], self.info.records[key])
                counts[key] = len(self.info.records[key])
            self.counters()
        except _BadRecord as exc:
            raise BundleInvalid([at(self.where, exc.message)]) from None
        except (IntegrityError, DataError) as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
            raise BundleInvalid([at(self.where, M("the database refused the record (%(reason)s)", reason=reason))]) from None
        return counts

    def insert_rows(self, et: EntityTables, lines: list[dict[str, Any]]) -> None:
        entity = et.entity
        mapping = self.ids.setdefault(entity.key, {})
        states = set(entity.workflow.state_keys()) if entity.workflow else set()
        unknown_fields = {}
        for line in lines:
            self.where = entry_line(f"records/{entity.key}.jsonl", line["_line"])
            unknown_fields = set(line["values"]) - {f.key for f in entity.fields}
            if unknown_fields:
                raise _BadRecord(M("%(entity)s has no field %(fields)s", entity=entity.key, fields=sorted(unknown_fields)))
            if line["id"] in mapping:
                raise _BadRecord(M("record id %(id)s appears twice", id=line["id"]))
            version = line.get("version")
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                raise _BadRecord(M("version must be a whole number from 1"))
            row: dict[str, Any] = {
                "version": version,
                "created_at": self.moment(line.get("created_at"), "created_at"),
                "created_by": self.user(line.get("created_by")),
                "updated_at": self.moment(line.get("updated_at"), "updated_at"),
                "updated_by": self.user(line.get("updated_by")),
            }
            if entity.workflow is not None:
                state = line.get("state")
                if state not in states:
                    raise _BadRecord(M("state %(state)s is not a state of %(entity)s", state=repr(state), entity=entity.key))
                row["state"] = state
            for fld in entity.stored_fields():
                if fld.value_type != "reference":  # record ids (a reference's, a copied lookup's) once every record has one
                    row[fld.key] = self.value(fld, line["values"].get(fld.key))
            new_id = self.conn.execute(et.table.insert().values(row)).inserted_primary_key[0]
            mapping[line["id"]] = int(new_id)

    def fill_references(self, et: EntityTables, lines: list[dict[str, Any]]) -> None:
        entity = et.entity
        mapping = self.ids[entity.key]
        references = [f for f in entity.stored_fields() if f.value_type == "reference"]
        for line in lines:
            self.where = entry_line(f"records/{entity.key}.jsonl", line["_line"])
            record_id = mapping[line["id"]]
            values = line["values"]
            refs = {f.key: self.value(f, values.get(f.key)) for f in references}
            refs = {k: v for k, v in refs.items() if v is not None}
            if refs:
                self.conn.execute(et.table.update().where(et.table.c.id == record_id).values(refs))
            for key, link in et.links.items():
                items = self.value(entity.get_field(key), values.get(key))
                if items:
                    self.conn.execute(link.insert(), [{"record_id": record_id, "value": v, "position": i} for i, v in enumerate(items)])
            for key, child in et.children.items():
                fld = entity.get_field(key)
                rows = values.get(key) or []
                if not isinstance(rows, list):
                    raise _BadRecord(M("%(field)s must be a list of rows", field=key))
                for position, item in enumerate(rows):
                    row = f"{key}[{position}]"
                    if not isinstance(item, dict):
                        raise _BadRecord(M("%(field)s must be a row", field=row))
                    extra = set(item) - {c.key for c in fld.fields}
                    if extra:
                        raise _BadRecord(M("%(field)s has no column %(columns)s", field=row, columns=sorted(extra)))
                    data = {c.key: self.value(c, item.get(c.key), f"{row}.{c.key}") for c in fld.fields}
                    self.conn.execute(child.insert().values(parent_id=record_id, position=position, **data))
            history.add_entry(
                self.conn,
                app=entity.app,
                entity=entity.key,
                record_id=record_id,
                actor_id=self.actor.user_id,
                action="imported",
                message=M("imported from bundle %(source)s (record #%(id)s there)", source=self.prepared.plan.bundle_source, id=line["id"]),
            )

    def counters(self) -> None:
        c = models.counters
        app = self.prepared.plan.app_key
        for index, item in enumerate(self.info.counters):
            self.where = f"counters.json[{index}]"
            entity, fld, period, value = item.get("entity"), item.get("field"), item.get("period"), item.get("value")
            if not (isinstance(entity, str) and isinstance(fld, str) and isinstance(period, str) and isinstance(value, int)):
                raise _BadRecord(M("a counter needs entity, field, period and value"))
            key = (c.c.app == app) & (c.c.entity == entity) & (c.c.field == fld) & (c.c.period == period)
            self.conn.execute(c.delete().where(key))
            self.conn.execute(c.insert().values(app=app, entity=entity, field=fld, period=period, value=value))

    # -- values --------------------------------------------------------------------------------

    def moment(self, raw: Any, what: str) -> dt.datetime:
        try:
            return resolve_datetime(raw) if isinstance(raw, str) else _fail(M("%(field)s must be a date and time", field=what))
        except ValueError:
            raise _BadRecord(M("%(field)s must be a date and time", field=what)) from None

    def user(self, name: Any, what: str = "user") -> int | None:
        if name is None:
            return None
        if not isinstance(name, str) or name not in self.prepared.user_ids:
            raise _BadRecord(M("%(field)s: unknown user %(user)s", field=what, user=repr(name)))
        return self.prepared.user_ids[name]

    def value(self, fld: Field, raw: Any, where: str | None = None) -> Any:
        where = where or fld.key
        if fld.is_many:
            if raw is None:
                return []
            if not isinstance(raw, list):
                raise _BadRecord(M("%(field)s must be a list", field=where))
            values = [self.scalar(fld, item, where) for item in raw]
            return list(dict.fromkeys(v for v in values if v is not None))
        return self.scalar(fld, raw, where)

    def scalar(self, fld: Field, raw: Any, where: str) -> Any:
        if raw is None:
            return None
        kind = fld.value_type
        try:
            if kind == "user":
                return self.user(raw, where)
            if kind == "reference":
                assert fld.to is not None
                if not isinstance(raw, int) or raw not in self.ids.get(fld.to, {}):
                    raise _BadRecord(
                        M("%(field)s refers to %(entity)s #%(id)s, which is not in the bundle", field=where, entity=fld.to, id=raw)
                    )
                return self.ids[fld.to][raw]
            if fld.type == "attachment":
                return self.attachment(raw, where)
            number = FIELD_TYPES.get(kind)
            if number is not None and number.family == "number" and number.whole:
                if isinstance(raw, bool) or not isinstance(raw, int):
                    raise _BadRecord(M("%(field)s must be a whole number", field=where))
                return raw
            if number is not None and number.family == "number":
                if isinstance(raw, bool) or not isinstance(raw, (str, int)):
                    raise _BadRecord(M("%(field)s must be a number", field=where))
                return Decimal(str(raw))
            if kind == "boolean":
                if not isinstance(raw, bool):
                    raise _BadRecord(M("%(field)s must be true or false", field=where))
                return raw
            if kind == "date":
                return dt.date.fromisoformat(raw) if isinstance(raw, str) else _fail(M("%(field)s must be a date", field=where))
            if kind == "datetime":
                return resolve_datetime(raw) if isinstance(raw, str) else _fail(M("%(field)s must be a date and time", field=where))
            if not isinstance(raw, str):
                raise _BadRecord(M("%(field)s must be text", field=where))
            if "\x00" in raw:  # SQLite kept it; PostgreSQL cannot hold it, so neither takes it in
                raise _BadRecord(M("%(field)s must not contain a NUL character", field=where))
            if fld.type in types_in("choice") and fld.option(raw) is None:
                options = list(fld.option_keys())
                raise _BadRecord(
                    M("%(field)s: %(value)s is not one of the options (%(options)s)", field=where, value=repr(raw), options=options)
                )
            return raw
        except (ValueError, InvalidOperation):
            raise _BadRecord(M("%(field)s: %(value)s is not a valid %(kind)s", field=where, value=repr(raw), kind=kind)) from None

    def attachment(self, raw: Any, where: str) -> int | None:
        if not (
            isinstance(raw, dict)
            and isinstance(raw.get("sha256"), str)
            and re.fullmatch(r"[0-9a-f]{64}", raw["sha256"])
            and isinstance(raw.get("filename"), str)
            and isinstance(raw.get("size"), int)
        ):
            raise _BadRecord(M("%(field)s must be an attachment (filename, sha256, size)", field=where))
        key = (raw["sha256"], files.clean_name(raw["filename"]), raw["size"])
        if key not in self.attachments:
            sha = key[0]
            if sha in self.info.files:
                if sha not in self.blobs_needed:
                    self.blobs_needed.append(sha)
            elif self.files_dir is None or not files.blob_path(self.files_dir, sha).exists():
                self.attachments[key] = None
                return None
            self.attachments[key] = files.add_file(self.conn, filename=key[1], size=key[2], sha256=sha, actor_id=self.actor.user_id)
        return self.attachments[key]


def _fail(message: Message) -> Any:
    raise _BadRecord(message)
