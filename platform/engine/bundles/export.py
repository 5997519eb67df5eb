"""Exporting an installed app as a bundle (ZIP bytes), the same bytes for the same data.

Records carry their values as JSON (`to_json`), users by username (users.json adds display
name and email, never passwords), references by the exported record ids (1..n per entity,
in id order; remapped on import), attachments as `{filename, sha256, size}`, line items as
lists of rows.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import stat
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import apps, clock, files, models
from flowdeck.engine.bundles.errors import ExportFailed
from flowdeck.engine.bundles.format import (
    APP,
    BATCH,
    COUNTERS,
    FORMAT_VERSION,
    MANIFEST,
    ROLES,
    USERS,
    ZIP_TIME,
    approval_usernames,
    canonical_json,
    entries_checksum,
    flowdeck_version,
    iso_utc,
    sha256_hex,
    with_source,
)
from flowdeck.engine.db import Database
from flowdeck.engine.jsonvalues import to_json_scalar
from flowdeck.engine.messages import M
from flowdeck.engine.records import load_children, load_links
from flowdeck.engine.registry import Registry, load_registry
from flowdeck.engine.schema.loader import load_app
from flowdeck.engine.schema.model import Entity, Field
from flowdeck.engine.storage.tables import AppTables, EntityTables, build_app_tables


@dataclass
class Installed:
    """An installed app: its key, source id, current version and that version's document."""

    key: str
    source: str
    version: int
    document: dict[str, Any]


def installed_app(conn: Connection, key: str) -> Installed | None:
    a, v = models.apps, models.app_versions
    row = conn.execute(
        sa.select(a.c.key, a.c.source, a.c.version, v.c.document)
        .join(v, (v.c.app == a.c.key) & (v.c.version == a.c.version))
        .where(a.c.key == key)
    ).first()
    return Installed(row.key, row.source, row.version, dict(row.document)) if row is not None else None


def _source_version(conn: Connection, installed: Installed) -> int:
    """The version to name in a bundle: the local version, or for an app installed from a
    bundle of its own source and not changed since, the version that bundle carried (so a
    bundle re-exported by the receiving instance says the same)."""
    b = models.bundle_imports
    last = conn.execute(
        sa.select(b.c.bundle_source, b.c.bundle_version, b.c.document).where(b.c.app == installed.key).order_by(b.c.id.desc()).limit(1)
    ).first()
    if (
        last is not None
        and last.bundle_source == installed.source
        and apps.checksum(with_source(last.document, installed.source)) == apps.checksum(with_source(installed.document, installed.source))
    ):
        return int(last.bundle_version)
    return installed.version


class _Exporter:
    def __init__(self, conn: Connection, tables: AppTables, files_dir: Path | None) -> None:
        self.conn = conn
        self.tables = tables
        self.files_dir = files_dir
        self.users: dict[int, tuple[str, str, str | None]] = {
            row.id: (row.username, row.display_name, row.email)
            for row in conn.execute(
                sa.select(models.users.c.id, models.users.c.username, models.users.c.display_name, models.users.c.email)
            )
        }
        self.used_users: set[int] = set()
        self.attachments: dict[int, dict[str, Any]] = {}
        self.canonical: dict[str, dict[int, int]] = {}

    def records(self) -> dict[str, list[dict[str, Any]]]:
        for key, et in self.tables.entities.items():
            ids = [row[0] for row in self.conn.execute(sa.select(et.table.c.id).order_by(et.table.c.id))]
            self.canonical[key] = {rid: n for n, rid in enumerate(ids, start=1)}
        out: dict[str, list[dict[str, Any]]] = {}
        for key, et in self.tables.entities.items():
            ids = list(self.canonical[key])
            lines: list[dict[str, Any]] = []
            for start in range(0, len(ids), BATCH):
                lines += self.batch(et, ids[start : start + BATCH])
            out[key] = lines
        return out

    def batch(self, et: EntityTables, ids: list[int]) -> list[dict[str, Any]]:
        rows = self.conn.execute(sa.select(et.table).where(et.table.c.id.in_(ids)).order_by(et.table.c.id)).mappings().all()
        links = load_links(self.conn, et, ids)
        children = load_children(self.conn, et, ids)
        self.fetch_attachments(et.entity, rows, links, children)
        lines = []
        for row in rows:
            rid = row["id"]
            values: dict[str, Any] = {}
            for fld in et.entity.fields:
                if fld.is_live_lookup:  # read from the referenced record, not this one's
                    continue
                if fld.key in links:
                    raw: Any = links[fld.key][rid]
                elif fld.key in children:
                    raw = children[fld.key][rid]
                else:
                    raw = row[fld.key]
                values[fld.key] = self.value(fld, raw)
            line: dict[str, Any] = {
                "id": self.canonical[et.entity.key][rid],
                "version": row["version"],
                "created_at": iso_utc(row["created_at"]),
                "created_by": self.username(row["created_by"]),
                "updated_at": iso_utc(row["updated_at"]),
                "updated_by": self.username(row["updated_by"]),
                "values": values,
            }
            if et.entity.workflow is not None:
                line["state"] = row["state"]
            lines.append(line)
        return lines

    def fetch_attachments(self, entity: Entity, rows: Any, links: Mapping[str, Any], children: Mapping[str, Any]) -> None:
        wanted: set[int] = set()
        for fld in entity.fields:
            if fld.type == "attachment":
                if fld.key in links:
                    wanted.update(v for values in links[fld.key].values() for v in values)
                else:
                    wanted.update(r[fld.key] for r in rows if r[fld.key] is not None)
            elif fld.is_table:
                for child in fld.fields:
                    if child.type == "attachment":
                        wanted.update(
                            item[child.key] for items in children[fld.key].values() for item in items if item[child.key] is not None
                        )
        wanted -= set(self.attachments)
        if wanted:
            a = models.attachments
            for row in self.conn.execute(sa.select(a.c.id, a.c.filename, a.c.size, a.c.sha256).where(a.c.id.in_(sorted(wanted)))):
                self.attachments[row.id] = {"filename": row.filename, "sha256": row.sha256, "size": int(row.size)}

    def username(self, user_id: int | None) -> str | None:
        if user_id is None or user_id not in self.users:
            return None
        self.used_users.add(user_id)
        return self.users[user_id][0]

    def value(self, fld: Field, raw: Any) -> Any:
        if fld.is_table:
            return [{child.key: self.value(child, item.get(child.key)) for child in fld.fields} for item in raw or []]
        if fld.is_many:
            return [v for v in (self.scalar(fld, item) for item in raw or []) if v is not None]
        return self.scalar(fld, raw)

    def scalar(self, fld: Field, raw: Any) -> Any:
        if raw is None:
            return None
        if fld.value_type == "user":  # a user field or a copied lookup of one
            return self.username(raw)
        if fld.value_type == "reference":
            assert fld.to is not None
            return self.canonical.get(fld.to, {}).get(raw)
        if fld.type == "attachment":
            found = self.attachments.get(raw)
            return dict(found) if found is not None else None
        return to_json_scalar(raw)


def export_bundle(
    conn: Connection,
    registry: Registry,
    app_key: str,
    *,
    include_records: bool = False,
    include_files: bool = False,
    files_dir: Path | None = None,
    now: dt.datetime | None = None,
) -> bytes:
    """The bundle of an installed app as ZIP bytes. `include_files` (which needs the
    records, so it implies them) copies every attachment's bytes from `files_dir`."""
    installed = installed_app(conn, app_key)
    if installed is None:
        raise ExportFailed(M('there is no app "%(app)s"', app=app_key))
    include_records = include_records or include_files
    if registry.versions.get(app_key) == installed.version:
        tables = registry.app(app_key)
    else:
        tables = build_app_tables(load_app(installed.document, name=app_key))
    document = with_source(installed.document, installed.source)
    exporter = _Exporter(conn, tables, files_dir)
    contents: dict[str, bytes] = {APP: (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode("utf-8")}
    roles = [
        {"key": key, **{k: spec[k] for k in ("label", "description") if isinstance(spec, Mapping) and k in spec}}
        for key, spec in document.get("roles", {}).items()
    ]
    contents[ROLES] = canonical_json(roles)
    counts: dict[str, int] = {}
    blobs: list[str] = []
    if include_records:
        for key, lines in exporter.records().items():
            contents[f"records/{key}.jsonl"] = b"".join(canonical_json(line, indent=None) for line in lines)
            counts[key] = len(lines)
        c = models.counters
        counters = [
            {"entity": r.entity, "field": r.field, "period": r.period, "value": int(r.value)}
            for r in conn.execute(
                sa.select(c.c.entity, c.c.field, c.c.period, c.c.value)
                .where(c.c.app == app_key)
                .order_by(c.c.entity, c.c.field, c.c.period)
            )
        ]
        contents[COUNTERS] = canonical_json(counters)
    if include_files:
        blobs = sorted({a["sha256"] for a in exporter.attachments.values()})
        if blobs and files_dir is None:
            raise ExportFailed(M("exporting files needs the files folder (FLOWDECK_FILES_DIR)"))
        for sha in blobs:
            assert files_dir is not None
            path = files.blob_path(files_dir, sha)
            try:
                data = path.read_bytes()
            except OSError:
                raise ExportFailed(
                    M(
                        "the bytes of attachment %(sha)s are missing from the files folder %(folder)s; "
                        "export without --files to leave them out",
                        sha=sha,
                        folder=str(files_dir),
                    )
                ) from None
            if sha256_hex(data) != sha:
                raise ExportFailed(M("the stored file %(sha)s is damaged (its content no longer matches its name)", sha=sha))
            contents[f"files/{sha}"] = data
    by_name = {name: (display, email) for name, display, email in (exporter.users[i] for i in exporter.used_users)}
    for name in approval_usernames(document):
        row = conn.execute(sa.select(models.users.c.display_name, models.users.c.email).where(models.users.c.username == name)).first()
        if row is not None:
            by_name[name] = (row.display_name, row.email)
    contents[USERS] = canonical_json(
        [{"username": name, "display_name": display, "email": email} for name, (display, email) in sorted(by_name.items())]
    )
    entries = {name: sha256_hex(data) for name, data in contents.items()}
    manifest = {
        "format_version": FORMAT_VERSION,
        "app": app_key,
        "source": installed.source,
        "app_version": _source_version(conn, installed),
        "exported_at": iso_utc(now or clock.now()),
        "flowdeck_version": flowdeck_version(),
        "options": {"records": include_records, "files": include_files},
        "records": counts,
        "files": len(blobs),
        "entries": entries,
        "checksum": entries_checksum(entries),
    }
    order = [APP, ROLES, USERS] + ([COUNTERS] if COUNTERS in contents else [])
    order += sorted(n for n in contents if n.startswith("records/")) + sorted(n for n in contents if n.startswith("files/"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(_zip_info(MANIFEST), canonical_json(manifest))
        for name in order:
            archive.writestr(_zip_info(name), contents[name])
    return buffer.getvalue()


def export_app(
    db: Database,
    app_key: str,
    *,
    include_records: bool = False,
    include_files: bool = False,
    files_dir: Path | None = None,
) -> bytes:
    """`export_bundle` in a transaction of its own that sees one snapshot of the data
    (REPEATABLE READ on PostgreSQL; a SQLite read transaction already is one), so records
    saved meanwhile cannot leave a reference pointing at a record the bundle lacks."""

    def work(conn: Connection) -> bytes:
        registry = load_registry(conn)
        return export_bundle(conn, registry, app_key, include_records=include_records, include_files=include_files, files_dir=files_dir)

    if db.dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
            return work(conn)
    return db.read(work)


def _zip_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    return info
