"""Configuration bundles: one app, self-contained, shared between Flowdeck instances.

A bundle is a ZIP file (format 1):

    manifest.json            format_version, app, source, app_version, exported_at,
                             flowdeck_version, options, records (count per entity), files,
                             entries {name: sha256} and checksum (see below)
    app.json                 the app document, in its own key order (order is meaning)
    roles.json               [{key, label, description?}] the document's roles
    users.json               [{username, display_name, email}] every user the bundle names
    counters.json            auto-number counters (with records)
    records/<entity>.jsonl   one record per line (with records)
    files/<sha256>           attachment bytes, named by their SHA-256 (with files)

`entries` holds the SHA-256 of every other entry and `checksum` is the SHA-256 of the lines
`"<sha256>  <name>\\n"` in name order (the `sha256sum` format), so a damaged entry is named.
Records carry their values as JSON (`to_json`), users by username (users.json adds display
name and email, never passwords), references by the exported record ids (1..n per entity,
in id order; remapped on import), attachments as `{filename, sha256, size}`, line items as
lists of rows. Same data gives the same bytes apart from `exported_at`: JSON with sorted keys
(app.json keeps the document's order), fixed ZIP timestamps, modes and entry order.

Reading is defensive (`inspect_bundle`): the size of the file, the number of entries, their
total uncompressed size (declared in the ZIP directory, then counted while reading, so a
lying header cannot expand past the limit), absolute paths, `..`, backslashes, links,
duplicate names and unknown entries are all checked before any entry is read, and nothing
is ever written to disk under an entry's name.

Importing (`import_bundle`) is one transaction: users created for the mapping, the app
document (through `apps.apply_document` on the same transaction), the role grants, the
records with their line items, links and history, and the attachments commit together or
not at all. What it will do is `plan_import`: a NEW app, an UPGRADE of the app installed
from the same source (three-way merge of the document the team installed, their current
one and the incoming one; `merge.py`), or a COPY under a new key (`as_key`).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import importlib.metadata
import io
import json
import re
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from flowdeck.engine import apps, audit, files, history, models, users
from flowdeck.engine.db import Database
from flowdeck.engine.errors import FlowdeckError, Forbidden, RecordInvalid, SchemaInvalid
from flowdeck.engine.fieldtypes import resolve_datetime, to_json_scalar
from flowdeck.engine.merge import Conflict, MergeResult, UnknownResolution, merge_documents
from flowdeck.engine.permissions import Actor
from flowdeck.engine.records import load_children, load_links
from flowdeck.engine.registry import Registry, load_registry
from flowdeck.engine.schema.loader import load_app
from flowdeck.engine.schema.model import App, Entity, Field
from flowdeck.engine.schema.shape import parse_document
from flowdeck.engine.storage.plan import Plan, Question
from flowdeck.engine.storage.tables import AppTables, EntityTables, build_app_tables

T = TypeVar("T")

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
APP = "app.json"
ROLES = "roles.json"
USERS = "users.json"
COUNTERS = "counters.json"
REQUIRED = (MANIFEST, APP, ROLES, USERS)
_RECORDS = re.compile(r"^records/([a-z][a-z0-9]*(?:_[a-z0-9]+)*)\.jsonl$")
_FILES = re.compile(r"^files/([0-9a-f]{64})$")
_APP_KEY = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,59}$")
_SOURCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,79}$")
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


# -- errors ----------------------------------------------------------------------------------


class BundleError(FlowdeckError):
    """Base of the bundle errors."""


class BundleInvalid(BundleError):
    """A file that is not a usable bundle; `problems` lists every reason found."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class ExportFailed(BundleError):
    """The app cannot be exported as asked (e.g. an attachment's bytes are missing)."""


class ImportRefused(BundleError):
    """The import cannot go ahead as asked; `reasons` say why and what to do instead."""

    def __init__(self, reasons: Iterable[str]) -> None:
        self.reasons = list(reasons)
        super().__init__("\n".join(self.reasons))


@dataclass(frozen=True)
class BundleUser:
    username: str
    display_name: str
    email: str | None = None

    def describe(self) -> str:
        extra = ", ".join(x for x in (self.display_name if self.display_name != self.username else "", self.email or "") if x)
        return f"{self.username} ({extra})" if extra else self.username


class ImportNeedsMapping(BundleError):
    """The bundle names users that do not exist here; each needs a local user or "create"."""

    def __init__(self, missing_users: Iterable[BundleUser]) -> None:
        self.missing_users = list(missing_users)
        names = ", ".join(u.describe() for u in self.missing_users)
        super().__init__(
            f"the bundle refers to users who do not exist here: {names}. Map each one to a local user "
            f'(user_map {{"name": "local.username"}}, CLI --user NAME=LOCAL) or create it inactive without a password '
            f'({{"name": "create"}}, --user NAME=create)'
        )


class MergeConflicts(BundleError):
    """The upgrade changes something the team also changed; each conflict needs a side."""

    def __init__(self, conflicts: Iterable[Conflict]) -> None:
        self.conflicts = list(conflicts)
        lines = "\n".join(f"  {c.describe()}" for c in self.conflicts)
        super().__init__(
            f"{len(self.conflicts)} conflicting change(s) between your version and the bundle; choose a side for each "
            f"(resolutions {{path: 'local' | 'incoming'}}, CLI --resolve PATH=local|incoming):\n{lines}"
        )


# -- small helpers -----------------------------------------------------------------------------


def _canonical(value: Any, *, indent: int | None = 1) -> bytes:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, indent=indent, separators=(",", ": ") if indent else (",", ":"))
    return (text + "\n").encode("utf-8")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _entries_checksum(entries: Mapping[str, str]) -> str:
    return _sha("".join(f"{entries[name]}  {name}\n" for name in sorted(entries)).encode("utf-8"))


def flowdeck_version() -> str:
    try:
        return importlib.metadata.version("flowdeck")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def _iso(moment: dt.datetime) -> str:
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
                approvers = step.get("approvers") if isinstance(step, Mapping) else None
                for source in approvers if isinstance(approvers, list) else [approvers]:
                    if isinstance(source, dict):
                        yield source


def approval_usernames(document: Mapping[str, Any]) -> list[str]:
    """Usernames approval steps name (`{"users": [...]}`), in document order, once each."""
    found: dict[str, None] = {}
    for source in _approver_sources(document):
        for name in source.get("users") or []:
            if isinstance(name, str):
                found[name] = None
    return list(found)


def rename_approval_users(document: dict[str, Any], mapping: Mapping[str, str]) -> None:
    """Replace usernames in approval steps in place (a name mapped twice is kept once)."""
    for source in _approver_sources(document):
        if isinstance(source.get("users"), list):
            source["users"] = list(dict.fromkeys(mapping.get(n, n) for n in source["users"]))


# -- export ------------------------------------------------------------------------------------


@dataclass
class _Installed:
    key: str
    source: str
    version: int
    document: dict[str, Any]


def _installed(conn: Connection, key: str) -> _Installed | None:
    a, v = models.apps, models.app_versions
    row = conn.execute(
        sa.select(a.c.key, a.c.source, a.c.version, v.c.document)
        .join(v, (v.c.app == a.c.key) & (v.c.version == a.c.version))
        .where(a.c.key == key)
    ).first()
    return _Installed(row.key, row.source, row.version, dict(row.document)) if row is not None else None


def _source_version(conn: Connection, installed: _Installed) -> int:
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
                "created_at": _iso(row["created_at"]),
                "created_by": self.username(row["created_by"]),
                "updated_at": _iso(row["updated_at"]),
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
        if fld.type == "user":
            return self.username(raw)
        if fld.type == "reference":
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
    installed = _installed(conn, app_key)
    if installed is None:
        raise ExportFailed(f'there is no app "{app_key}"')
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
    contents[ROLES] = _canonical(roles)
    counts: dict[str, int] = {}
    blobs: list[str] = []
    if include_records:
        for key, lines in exporter.records().items():
            contents[f"records/{key}.jsonl"] = b"".join(_canonical(line, indent=None) for line in lines)
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
        contents[COUNTERS] = _canonical(counters)
    if include_files:
        blobs = sorted({a["sha256"] for a in exporter.attachments.values()})
        if blobs and files_dir is None:
            raise ExportFailed("exporting files needs the files folder (FLOWDECK_FILES_DIR)")
        for sha in blobs:
            assert files_dir is not None
            path = files.blob_path(files_dir, sha)
            try:
                data = path.read_bytes()
            except OSError:
                raise ExportFailed(
                    f"the bytes of attachment {sha} are missing from the files folder {files_dir}; export without --files to leave them out"
                ) from None
            if _sha(data) != sha:
                raise ExportFailed(f"the stored file {sha} is damaged (its content no longer matches its name)")
            contents[f"files/{sha}"] = data
    by_name = {name: (display, email) for name, display, email in (exporter.users[i] for i in exporter.used_users)}
    for name in approval_usernames(document):
        row = conn.execute(sa.select(models.users.c.display_name, models.users.c.email).where(models.users.c.username == name)).first()
        if row is not None:
            by_name[name] = (row.display_name, row.email)
    contents[USERS] = _canonical(
        [{"username": name, "display_name": display, "email": email} for name, (display, email) in sorted(by_name.items())]
    )
    entries = {name: _sha(data) for name, data in contents.items()}
    manifest = {
        "format_version": FORMAT_VERSION,
        "app": app_key,
        "source": installed.source,
        "app_version": _source_version(conn, installed),
        "exported_at": _iso(now or dt.datetime.now(dt.UTC)),
        "flowdeck_version": flowdeck_version(),
        "options": {"records": include_records, "files": include_files},
        "records": counts,
        "files": len(blobs),
        "entries": entries,
        "checksum": _entries_checksum(entries),
    }
    order = [APP, ROLES, USERS] + ([COUNTERS] if COUNTERS in contents else [])
    order += sorted(n for n in contents if n.startswith("records/")) + sorted(n for n in contents if n.startswith("files/"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(_zip_info(MANIFEST), _canonical(manifest))
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


# -- reading and checking ----------------------------------------------------------------------


@dataclass
class BundleInfo:
    """What a bundle holds and every problem found in it (`ok` when there are none)."""

    problems: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    document: dict[str, Any] | None = None
    app: App | None = field(default=None, repr=False)
    roles: list[dict[str, Any]] = field(default_factory=list)
    users: list[BundleUser] = field(default_factory=list)
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)
    counters: list[dict[str, Any]] = field(default_factory=list, repr=False)
    files: dict[str, int] = field(default_factory=dict)
    data: bytes = field(default=b"", repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def format_version(self) -> int | None:
        value = self.manifest.get("format_version")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def app_key(self) -> str | None:
        return self.manifest.get("app")

    @property
    def source(self) -> str | None:
        return self.manifest.get("source")

    @property
    def app_version(self) -> int | None:
        return self.manifest.get("app_version")

    @property
    def exported_at(self) -> str | None:
        return self.manifest.get("exported_at")

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.manifest.get("options") or {})

    def record_counts(self) -> dict[str, int]:
        return {key: len(lines) for key, lines in self.records.items()}


class _Budget:
    def __init__(self, total: int) -> None:
        self.left = total


class _TooLarge(Exception):
    pass


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget, sink: Callable[[bytes], None]) -> None:
    """Stream an entry into `sink`, never past its declared size or the bundle's budget."""
    size = 0
    with archive.open(info) as stream:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            budget.left -= len(chunk)
            if size > info.file_size or budget.left < 0:
                raise _TooLarge
            sink(chunk)


def _read_bytes(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget) -> bytes:
    parts: list[bytes] = []
    _read(archive, info, budget, parts.append)
    return b"".join(parts)


def _entry_problem(name: str) -> str | None:
    """Why an entry name is unsafe, or None."""
    if "\\" in name:
        return f"refused entry {name!r}: backslashes are not allowed in entry names"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return f"refused entry {name!r}: absolute paths are not allowed"
    parts = name.split("/")
    if ".." in parts:
        return f"refused entry {name!r}: '..' is not allowed in entry names"
    if any(p in ("", ".") for p in parts) or "\x00" in name:
        return f"refused entry {name!r}: not a plain relative file name"
    return None


def _known_entry(name: str) -> bool:
    return name in (*REQUIRED, COUNTERS) or bool(_RECORDS.match(name) or _FILES.match(name))


def _safety(data: bytes, limits: Limits) -> tuple[zipfile.ZipFile | None, list[str]]:
    """Open the ZIP and check everything its directory says before reading any entry."""
    if len(data) > limits.max_bundle_bytes:
        return None, [f"the bundle is {len(data):,} bytes; the limit is {limits.max_bundle_bytes:,}"]
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        return None, [f"not a Flowdeck bundle: the file is not a ZIP archive, or it is truncated or damaged ({exc})"]
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        return None, [f"the bundle has {len(infos):,} entries; the limit is {limits.max_entries:,}"]
    declared = sum(i.file_size for i in infos)
    if declared > limits.max_uncompressed_bytes:
        return None, [f"the bundle would expand to {declared:,} bytes; the limit is {limits.max_uncompressed_bytes:,}"]
    problems: list[str] = []
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        problem = _entry_problem(name)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            problems.append(f"refused entry {name!r}: symbolic links are not allowed")
        elif info.is_dir() or stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            problems.append(f"refused entry {name!r}: only plain files are allowed")
        elif problem is not None:
            problems.append(problem)
        elif name in seen:
            problems.append(f"refused entry {name!r}: the name appears more than once")
        elif info.flag_bits & 0x1:
            problems.append(f"refused entry {name!r}: encrypted entries are not supported")
        elif info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            problems.append(f"refused entry {name!r}: unsupported compression")
        elif not _known_entry(name):
            problems.append(f"unexpected entry {name!r}: not part of a Flowdeck bundle")
        seen.add(name)
    return archive, problems


def _damaged(name: str, exc: BaseException) -> str:
    return f"entry {name} is damaged and cannot be read ({exc})"


def inspect_bundle(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> BundleInfo:
    """Check a bundle and describe it. Never raises for a bad file: `problems` says what is
    wrong, in order of discovery; later checks are skipped when earlier ones make them moot."""
    info = BundleInfo(data=data)
    archive, problems = _safety(data, limits)
    info.problems += problems
    if archive is None or problems:
        return info
    with archive:
        _inspect_entries(archive, info, limits)
    return info


def _inspect_entries(archive: zipfile.ZipFile, info: BundleInfo, limits: Limits) -> None:
    budget = _Budget(limits.max_uncompressed_bytes)
    present = {i.filename: i for i in archive.infolist()}
    missing = [name for name in REQUIRED if name not in present]
    if MANIFEST in missing:
        info.problems.append("missing entry manifest.json: this is not a Flowdeck bundle, or it is incomplete")
        return
    manifest_info = present[MANIFEST]
    if manifest_info.file_size > limits.max_manifest_bytes:
        info.problems.append(f"manifest.json is {manifest_info.file_size:,} bytes; the limit is {limits.max_manifest_bytes:,}")
        return
    try:
        manifest = json.loads(_read_bytes(archive, manifest_info, budget))
    except (zipfile.BadZipFile, zlib.error, EOFError, _TooLarge, OSError) as exc:
        info.problems.append(_damaged(MANIFEST, exc))
        return
    except (ValueError, RecursionError):
        info.problems.append("manifest.json is not valid JSON: the bundle is damaged")
        return
    if not isinstance(manifest, dict):
        info.problems.append("manifest.json is not a JSON object: the bundle is damaged")
        return
    info.manifest = manifest
    version = info.format_version
    if version is None or version < 1:
        info.problems.append(f"manifest.json: format_version must be a whole number from 1 (got {manifest.get('format_version')!r})")
        return
    if version > FORMAT_VERSION:
        info.problems.append(f"this bundle was made by a newer Flowdeck (format {version}); this one reads format {FORMAT_VERSION}")
        return
    entries = manifest.get("entries")
    if not isinstance(entries, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in entries.items()):
        info.problems.append("manifest.json: entries must map each entry name to its SHA-256")
        return
    for name in missing:
        info.problems.append(f"missing entry {name}")
    for name in sorted(set(entries) - set(present)):
        if name not in missing:
            info.problems.append(f"missing entry {name} (the manifest lists it)")
    for name in sorted(set(present) - set(entries) - {MANIFEST}):
        info.problems.append(f"unexpected entry {name}: the manifest does not list it")
    if manifest.get("checksum") != _entries_checksum(entries):
        info.problems.append("manifest.json: the checksum does not match the list of entries (the manifest was changed or damaged)")
    for key in ("app", "source"):
        if not isinstance(manifest.get(key), str):
            info.problems.append(f"manifest.json: {key} is missing")
    if info.problems:
        return
    contents: dict[str, bytes] = {}
    for name in sorted(entries):
        digest = hashlib.sha256()
        kept: list[bytes] = []
        is_file = name.startswith("files/")

        def sink(chunk: bytes, digest: Any = digest, kept: list[bytes] = kept, is_file: bool = is_file) -> None:
            digest.update(chunk)
            if not is_file:
                kept.append(chunk)

        try:
            _read(archive, present[name], budget, sink)
        except _TooLarge:
            info.problems.append(
                f"entry {name} expands past its declared size or the bundle's limit of {limits.max_uncompressed_bytes:,} bytes; refused"
            )
            return
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
            info.problems.append(_damaged(name, exc))
            continue
        if digest.hexdigest() != entries[name]:
            info.problems.append(f"entry {name} is damaged: its checksum does not match the manifest")
            continue
        if is_file:
            if digest.hexdigest() != name.removeprefix("files/"):
                info.problems.append(f"entry {name}: its content does not match its name")
            info.files[name.removeprefix("files/")] = present[name].file_size
        else:
            contents[name] = b"".join(kept)
    if info.problems:
        return
    _parse_contents(info, contents)


def _json_entry(info: BundleInfo, contents: Mapping[str, bytes], name: str) -> Any:
    try:
        return json.loads(contents[name])
    except (ValueError, RecursionError):
        info.problems.append(f"{name} is not valid JSON")
        return None


def _parse_contents(info: BundleInfo, contents: Mapping[str, bytes]) -> None:
    document, problems = parse_document(contents[APP])
    info.problems += [f"app.json: {p}" for p in problems]
    if not problems:
        try:
            info.app = load_app(document)
        except SchemaInvalid as exc:
            info.problems += [f"app.json: {p}" for p in exc.problems]
        if isinstance(document, dict):
            info.document = document
            if document.get("key") != info.app_key:
                info.problems.append(f"app.json: key {document.get('key')!r} does not match the manifest's app {info.app_key!r}")
            if "source" in document and document["source"] != info.source:
                info.problems.append(f"app.json: source {document['source']!r} does not match the manifest's {info.source!r}")
    if not isinstance(info.source, str) or not _SOURCE.match(info.source):
        info.problems.append(f"manifest.json: source {info.source!r} is not a valid source id")
    roles = _json_entry(info, contents, ROLES)
    if isinstance(roles, list) and all(isinstance(r, dict) and isinstance(r.get("key"), str) for r in roles):
        info.roles = roles
    elif roles is not None:
        info.problems.append("roles.json must be a list of roles with their keys")
    listed = _json_entry(info, contents, USERS)
    if isinstance(listed, list):
        for index, item in enumerate(listed):
            name = item.get("username") if isinstance(item, dict) else None
            email = item.get("email") if isinstance(item, dict) else None
            display = item.get("display_name") if isinstance(item, dict) else None
            if not isinstance(name, str) or not _USERNAME.match(name) or not (email is None or isinstance(email, str)):
                info.problems.append(f"users.json[{index}]: a user needs a valid username (and an email or null)")
                continue
            info.users.append(BundleUser(name, display if isinstance(display, str) and display.strip() else name, email))
    elif listed is not None:
        info.problems.append("users.json must be a list of users")
    entity_keys = set(info.document.get("entities", {})) if info.document else set()
    declared = info.manifest.get("records") or {}
    for name in sorted(contents):
        match = _RECORDS.match(name)
        if not match:
            continue
        entity = match.group(1)
        if info.document is not None and entity not in entity_keys:
            info.problems.append(f"{name}: the app has no entity {entity!r}")
            continue
        lines: list[dict[str, Any]] = []
        for number, text in enumerate(contents[name].decode("utf-8", errors="replace").splitlines(), start=1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
            except (ValueError, RecursionError):
                info.problems.append(f"{name} line {number}: not valid JSON")
                continue
            if not isinstance(line, dict) or not isinstance(line.get("id"), int) or not isinstance(line.get("values"), dict):
                info.problems.append(f"{name} line {number}: a record needs an id and values")
                continue
            line["_line"] = number
            lines.append(line)
        info.records[entity] = lines
        if isinstance(declared, dict) and declared.get(entity) not in (None, len(lines)):
            info.problems.append(f"{name}: holds {len(lines)} records, the manifest says {declared.get(entity)}")
    if COUNTERS in contents:
        counters = _json_entry(info, contents, COUNTERS)
        if isinstance(counters, list) and all(isinstance(c, dict) for c in counters):
            info.counters = counters
        elif counters is not None:
            info.problems.append("counters.json must be a list")


def checked_bundle(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> BundleInfo:
    """`inspect_bundle`, raising BundleInvalid with every problem when there is one."""
    info = inspect_bundle(data, limits=limits)
    if not info.ok:
        raise BundleInvalid(info.problems)
    return info


# -- planning an import ------------------------------------------------------------------------


@dataclass
class ImportPlan:
    """What importing a bundle will do, and everything that must be answered first."""

    kind: str
    app_key: str
    source: str
    bundle_key: str
    bundle_source: str
    bundle_version: int | None
    exported_at: str | None
    format_version: int
    current_version: int | None = None
    base: str | None = None
    migration: list[str] = field(default_factory=list)
    migration_refusals: list[str] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    unanswered: list[Question] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    unresolved: list[Conflict] = field(default_factory=list)
    missing_users: list[BundleUser] = field(default_factory=list)
    user_matches: dict[str, str] = field(default_factory=dict)
    users_to_create: list[BundleUser] = field(default_factory=list)
    roles: list[dict[str, Any]] = field(default_factory=list)
    records: dict[str, int] = field(default_factory=dict)
    files: int = 0
    imports_records: bool = False
    refusals: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unchanged: bool = False
    document: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def ready(self) -> bool:
        """Nothing is left to answer or fix."""
        return not (self.refusals or self.problems or self.migration_refusals or self.missing_users or self.unresolved or self.unanswered)

    def to_json(self) -> dict[str, Any]:
        """Everything a page needs to show the plan (conflicts side by side, questions with
        their choices, the users to map), as JSON-safe values."""

        def question(q: Question) -> dict[str, Any]:
            return {
                "id": q.id,
                "text": q.text,
                "choices": [[value, label] for value, label in q.choices],
                "count": q.count,
                "samples": list(q.samples),
                "answered": q not in self.unanswered,
            }

        def user(u: BundleUser) -> dict[str, Any]:
            return {"username": u.username, "display_name": u.display_name, "email": u.email}

        unresolved = {c.path for c in self.unresolved}
        return {
            "kind": self.kind,
            "app_key": self.app_key,
            "source": self.source,
            "bundle": {
                "app": self.bundle_key,
                "source": self.bundle_source,
                "version": self.bundle_version,
                "exported_at": self.exported_at,
                "format_version": self.format_version,
            },
            "current_version": self.current_version,
            "base": self.base,
            "ready": self.ready,
            "unchanged": self.unchanged,
            "migration": list(self.migration),
            "migration_refusals": list(self.migration_refusals),
            "questions": [question(q) for q in self.questions],
            "conflicts": [{**c.to_json(), "resolved": c.path not in unresolved} for c in self.conflicts],
            "missing_users": [user(u) for u in self.missing_users],
            "users_to_create": [user(u) for u in self.users_to_create],
            "user_matches": dict(self.user_matches),
            "roles": list(self.roles),
            "records": dict(self.records),
            "imports_records": self.imports_records,
            "files": self.files,
            "refusals": list(self.refusals),
            "problems": list(self.problems),
            "warnings": list(self.warnings),
        }

    def describe(self) -> list[str]:
        """The plan in plain lines, as the CLI prints it."""
        what = {
            NEW: f'install a new app "{self.app_key}"',
            UPGRADE: f'upgrade app "{self.app_key}" (version {self.current_version}) from its source',
            COPY: f'install a copy of "{self.bundle_key}" as the new app "{self.app_key}"',
        }.get(self.kind, "refused")
        lines = [
            f"bundle: app {self.bundle_key} version {self.bundle_version} from source {self.bundle_source} "
            f"(format {self.format_version}, exported {self.exported_at})",
            f"import: {what}; source id {self.source}",
        ]
        if self.base:
            lines.append(f"merge base: {self.base}")
        if self.records:
            counted = ", ".join(f"{n} {k}" for k, n in self.records.items())
            lines.append(f"records: {counted}" + ("" if self.imports_records else " (not imported)"))
        if self.files:
            lines.append(f"files: {self.files}")
        if self.roles:
            lines.append("roles: " + ", ".join(r["key"] for r in self.roles))
        for bundle_name, local in sorted(self.user_matches.items()):
            lines.append(f"user {bundle_name} -> {local}")
        for user in self.users_to_create:
            lines.append(f"user {user.username}: will be created (inactive, no password)")
        for user in self.missing_users:
            lines.append(f"user {user.describe()}: MISSING here; map it to a local user or create it")
        if self.conflicts:
            lines.append(f"merge: {len(self.conflicts)} conflict(s), {len(self.unresolved)} unresolved")
        elif self.kind == UPGRADE:
            lines.append("merge: no conflicts")
        if self.unchanged:
            lines.append("document: no change")
        lines += [f"migration: {line}" for line in self.migration]
        lines += [f"migration REFUSED: {line}" for line in self.migration_refusals]
        lines += [f"warning: {w}" for w in self.warnings]
        lines += [f"problem: {p}" for p in self.problems]
        lines += [f"refused: {r}" for r in self.refusals]
        return lines


@dataclass
class _Prepared:
    plan: ImportPlan
    document: dict[str, Any] | None = None
    incoming: dict[str, Any] | None = None
    user_ids: dict[str, int] = field(default_factory=dict)
    user_map: dict[str, str] = field(default_factory=dict)
    merge: MergeResult | None = None


def _installed_apps(conn: Connection) -> dict[str, tuple[str, int]]:
    a = models.apps
    return {row.key: (row.source, row.version) for row in conn.execute(sa.select(a.c.key, a.c.source, a.c.version))}


def _last_import(conn: Connection, app_key: str) -> Any:
    b = models.bundle_imports
    return conn.execute(
        sa.select(b.c.version, b.c.document, b.c.user_map, b.c.bundle_version).where(b.c.app == app_key).order_by(b.c.id.desc()).limit(1)
    ).first()


def _first_document(conn: Connection, app_key: str) -> dict[str, Any] | None:
    v = models.app_versions
    row = conn.execute(sa.select(v.c.document).where(v.c.app == app_key).order_by(v.c.version).limit(1)).first()
    return dict(row.document) if row is not None else None


def _migration_plan(conn: Connection, document: Mapping[str, Any], choices: Mapping[str, Any] | None) -> tuple[Plan, bool]:
    """The migration plan `apps.apply_document` will follow, and whether nothing changes."""
    _, migration, _, _, unchanged = apps.plan_change(conn, document, dict(choices or {}))
    return migration, unchanged


def _users_by(conn: Connection, column: sa.Column[Any], values: Iterable[str]) -> dict[str, tuple[int, str]]:
    wanted = sorted({v for v in values if v})
    if not wanted:
        return {}
    u = models.users
    rows = conn.execute(sa.select(u.c.id, u.c.username, column.label("match")).where(column.in_(wanted)))
    return {row.match: (row.id, row.username) for row in rows}


def _prepare(
    conn: Connection,
    info: BundleInfo,
    *,
    as_key: str | None,
    user_map: Mapping[str, str] | None,
    resolutions: Mapping[str, str] | None,
    choices: Mapping[str, Any] | None,
    files_dir: Path | None,
) -> _Prepared:
    assert info.document is not None and info.app_key is not None and info.source is not None
    bundle_key, bundle_source = info.app_key, info.source
    if as_key == bundle_key:
        as_key = None
    plan = ImportPlan(
        kind=COPY if as_key else NEW,
        app_key=as_key or bundle_key,
        source=copy_source(bundle_source, as_key) if as_key else bundle_source,
        bundle_key=bundle_key,
        bundle_source=bundle_source,
        bundle_version=info.app_version,
        exported_at=info.exported_at,
        format_version=info.format_version or FORMAT_VERSION,
        roles=list(info.roles),
        records=info.record_counts(),
        files=len(info.files),
    )
    prepared = _Prepared(plan=plan)
    if as_key is not None and (not _APP_KEY.match(as_key) or len(as_key) > 20):
        plan.refusals.append(f"{as_key!r} is not a valid app key: use up to 20 lowercase letters, digits and single underscores")
        return prepared
    installed = _installed_apps(conn)
    same_source = sorted(key for key, (source, _) in installed.items() if source == plan.source)
    remembered: dict[str, str] = {}
    if same_source:
        plan.kind = UPGRADE
        plan.app_key = plan.app_key if plan.app_key in same_source else same_source[0]
        plan.current_version = installed[plan.app_key][1]
    elif plan.app_key in installed:
        plan.kind = REFUSED
        plan.refusals.append(
            f'an app with key "{plan.app_key}" is already installed from another source ({installed[plan.app_key][0]}); '
            f'this bundle comes from "{bundle_source}". Import it as a copy under a new key (--as NEW_KEY, as_key=...)'
        )
        return prepared
    last = _last_import(conn, plan.app_key) if plan.kind == UPGRADE else None
    if last is not None and isinstance(last.user_map, dict):
        remembered = {str(k): str(v) for k, v in last.user_map.items()}

    incoming = with_source(info.document, plan.source, plan.app_key)
    plan.imports_records = bool(info.records) and plan.kind in (NEW, COPY)
    if info.records and not plan.imports_records:
        plan.warnings.append("the bundle holds records; an upgrade keeps this app's own records and does not import them")

    # -- users ---------------------------------------------------------------------------
    bundle_users = {u.username: u for u in info.users}
    referenced = list(approval_usernames(incoming))
    if plan.imports_records:
        referenced += sorted(_record_usernames(info) - set(referenced))
    targets = [*(user_map or {}).values(), *remembered.values()]
    by_username = _users_by(conn, models.users.c.username, [*referenced, *(v for v in targets if v != CREATE)])
    by_email = _users_by(conn, models.users.c.email, [(bundle_users[n].email or "").lower() for n in referenced if n in bundle_users])
    explicit = dict(user_map or {})
    everyone = explicit.pop(ALL_USERS, None)
    if everyone not in (None, CREATE):
        plan.refusals.append(f'user map: "{ALL_USERS}" can only be mapped to "{CREATE}" (create every missing user)')
    for name in sorted(set(explicit) - set(referenced)):
        plan.warnings.append(f"user map: the bundle does not refer to {name!r}; ignored")
    for name in referenced:
        user = bundle_users.get(name, BundleUser(name, name, None))
        target = explicit.get(name)
        if target is None and remembered.get(name) in by_username:
            target = remembered[name]  # the mapping given at the last import from this source
        email = (user.email or "").lower()
        if target is None and name not in by_username and email in by_email:
            uid, local = by_email[email]
            prepared.user_map[name] = local
            prepared.user_ids[name] = uid
            plan.user_matches[name] = f"{local} (same email)"
            continue
        if target is None and name not in by_username:
            target = everyone
        if target is None or (target == CREATE and name in by_username):
            if name in by_username:
                prepared.user_map[name] = name
                prepared.user_ids[name] = by_username[name][0]
                if target == CREATE:
                    plan.warnings.append(f"user {name} already exists here; it is used instead of creating it")
            else:
                plan.missing_users.append(user)
        elif target == CREATE:
            plan.users_to_create.append(user)
            prepared.user_map[name] = name
        elif target not in by_username:
            plan.refusals.append(f"user map: {name} -> {target}: there is no local user {target!r}")
        else:
            prepared.user_map[name] = target
            prepared.user_ids[name] = by_username[target][0]
            plan.user_matches[name] = target
    rename_approval_users(incoming, prepared.user_map)
    prepared.incoming = incoming

    # -- the document: as it comes, or merged with the local edits -------------------------
    document = incoming
    if plan.kind == UPGRADE:
        local = _installed(conn, plan.app_key)
        assert local is not None
        if last is not None:
            base: dict[str, Any] | None = dict(last.document)
            plan.base = f"the bundle version {last.bundle_version} imported as local version {last.version}"
        else:
            base = _first_document(conn, plan.app_key)
            plan.base = "local version 1 (no earlier import from this source is recorded)"
        try:
            merged = merge_documents(base, local.document, incoming, resolutions=resolutions)
        except UnknownResolution as exc:
            plan.refusals.append(str(exc))
            return prepared
        prepared.merge = merged
        plan.conflicts = merged.conflicts
        plan.unresolved = merged.unresolved
        if plan.unresolved:
            plan.warnings.append("until every conflict is resolved, the migration plan below assumes the local side")
        document = merged.document
    elif resolutions:
        plan.warnings.append("resolutions are only used by upgrades; ignored")
    prepared.document = document
    plan.document = document

    # -- roles, files, migration -------------------------------------------------------------
    plan.roles = [
        {"key": key, **{k: v for k, v in spec.items() if k in ("label", "description")}}
        for key, spec in (document.get("roles") or {}).items()
        if isinstance(spec, Mapping)
    ]
    if plan.imports_records:
        absent = sorted(sha for sha in _record_files(info) if sha not in info.files)
        if absent and files_dir is not None:
            absent = [sha for sha in absent if not files.blob_path(files_dir, sha).exists()]
        if absent:
            plan.warnings.append(
                f"{len(absent)} attached file(s) are neither in the bundle nor in this instance's files; those attachments are left empty"
            )
    try:
        migration, unchanged = _migration_plan(conn, document, choices)
    except SchemaInvalid as exc:
        where = "the merged document" if plan.kind == UPGRADE else "the document"
        plan.problems += [f"{where}: {p}" for p in exc.problems]
        return prepared
    plan.unchanged = unchanged
    plan.migration = [step.description for step in migration.steps]
    plan.migration_refusals = list(migration.refusals)
    plan.questions = list(migration.questions)
    plan.unanswered = list(migration.unanswered)
    return prepared


def _record_usernames(info: BundleInfo) -> set[str]:
    app = info.app
    assert app is not None
    names: set[str] = set()
    for key, lines in info.records.items():
        entity = app.entity(key)
        if entity is None:
            continue
        user_fields = [f for f in entity.fields if f.type == "user"]
        tables = [(f, [c for c in f.fields if c.type == "user"]) for f in entity.fields if f.is_table]
        for line in lines:
            for who in (line.get("created_by"), line.get("updated_by")):
                if isinstance(who, str):
                    names.add(who)
            values = line["values"]
            for fld in user_fields:
                value = values.get(fld.key)
                names.update(v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str))
            for fld, columns in tables:
                for row in values.get(fld.key) or []:
                    if isinstance(row, dict):
                        names.update(row[c.key] for c in columns if isinstance(row.get(c.key), str))
    return names


def _record_files(info: BundleInfo) -> set[str]:
    app = info.app
    assert app is not None
    found: set[str] = set()

    def add(value: Any) -> None:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and isinstance(item.get("sha256"), str):
                found.add(item["sha256"])

    for key, lines in info.records.items():
        entity = app.entity(key)
        if entity is None:
            continue
        for line in lines:
            for fld in entity.fields:
                value = line["values"].get(fld.key)
                if fld.type == "attachment":
                    add(value)
                elif fld.is_table:
                    for row in value or []:
                        if isinstance(row, dict):
                            for child in fld.fields:
                                if child.type == "attachment":
                                    add(row.get(child.key))
    return found


def plan_import(
    conn: Connection,
    data: bytes,
    *,
    as_key: str | None = None,
    user_map: Mapping[str, str] | None = None,
    resolutions: Mapping[str, str] | None = None,
    choices: Mapping[str, Any] | None = None,
    files_dir: Path | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> ImportPlan:
    """What importing `data` would do. Raises BundleInvalid for a bad bundle; everything
    else (a refusal, missing users, conflicts, questions) is listed in the plan."""
    info = checked_bundle(data, limits=limits)
    return _prepare(conn, info, as_key=as_key, user_map=user_map, resolutions=resolutions, choices=choices, files_dir=files_dir).plan


# -- importing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    plan: ImportPlan
    kind: str
    app_key: str
    version: int
    applied: bool
    dry_run: bool
    users_created: list[str]
    roles_granted: list[tuple[str, str]]
    records: dict[str, int]
    files: int


class _DryRun(Exception):
    def __init__(self, result: ImportResult) -> None:
        self.result = result


class _InTransaction:
    """Hands `apps.apply_document` the import's own open transaction, so the document, the
    users, the grants and the records commit together or not at all."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name

    def run(self, work: Callable[[Connection], T], *, write: bool = True) -> T:
        return work(self.conn)

    def read(self, work: Callable[[Connection], T]) -> T:
        return work(self.conn)


def import_bundle(
    db: Database,
    data: bytes,
    *,
    actor: Actor,
    as_key: str | None = None,
    role_map: Mapping[str, Iterable[str]] | None = None,
    user_map: Mapping[str, str] | None = None,
    choices: Mapping[str, Any] | None = None,
    resolutions: Mapping[str, str] | None = None,
    dry_run: bool = False,
    files_dir: Path | None = None,
    message: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> ImportResult:
    """Import a bundle in one transaction (on `dry_run`, everything is done and rolled back,
    so a dry run also finds bad records). Raises BundleInvalid, ImportRefused,
    ImportNeedsMapping, MergeConflicts, and what applying the document raises (SchemaInvalid,
    MigrationRefused, and the planner's questions when choices are missing)."""
    if not actor.is_admin:
        raise Forbidden("only administrators can import bundles")
    info = checked_bundle(data, limits=limits)
    roles_wanted = {role: [u.strip().lower() for u in names if u.strip()] for role, names in (role_map or {}).items()}

    def work(conn: Connection) -> ImportResult:
        prepared = _prepare(conn, info, as_key=as_key, user_map=user_map, resolutions=resolutions, choices=choices, files_dir=files_dir)
        plan = prepared.plan
        if plan.refusals or plan.problems:
            raise ImportRefused(plan.refusals + plan.problems)
        if plan.missing_users:
            raise ImportNeedsMapping(plan.missing_users)
        if plan.unresolved:
            raise MergeConflicts(plan.unresolved)
        document = prepared.document
        assert document is not None and prepared.incoming is not None
        _check_role_map(conn, document, roles_wanted, {u.username for u in plan.users_to_create})
        created = _create_users(conn, plan.users_to_create, prepared)
        result = apps.apply_document(
            _InTransaction(conn),  # type: ignore[arg-type]
            document,
            actor=actor,
            message=message or f"imported from bundle {plan.bundle_source} version {plan.bundle_version}",
            choices=dict(choices or {}),
        )
        conn.execute(
            models.bundle_imports.insert().values(
                app=plan.app_key,
                version=result.version,
                kind=plan.kind,
                bundle_source=plan.bundle_source,
                bundle_version=int(plan.bundle_version or 0),
                bundle_checksum=str(info.manifest.get("checksum")),
                document=prepared.incoming,
                user_map={k: v for k, v in prepared.user_map.items() if k != v},
                imported_by=actor.user_id,
                imported_at=dt.datetime.now(dt.UTC),
            )
        )
        audit.bundle_imported(conn, actor, plan.app_key, plan.bundle_source, result.version, plan.kind)
        granted = _grant_roles(conn, plan.app_key, roles_wanted)
        counts: dict[str, int] = {}
        blobs: list[str] = []
        if plan.imports_records:
            loader = _RecordLoader(conn, build_app_tables(result.app), info, prepared, actor, files_dir)
            counts = loader.run()
            blobs = loader.blobs_needed
        if not dry_run and blobs:
            _store_blobs(info, blobs, files_dir)
        outcome = ImportResult(
            plan=plan,
            kind=plan.kind,
            app_key=plan.app_key,
            version=result.version,
            applied=result.applied,
            dry_run=dry_run,
            users_created=created,
            roles_granted=granted,
            records=counts,
            files=len(blobs),
        )
        if dry_run:
            raise _DryRun(outcome)
        return outcome

    try:
        return db.run(work)
    except _DryRun as done:
        return done.result


def _check_role_map(conn: Connection, document: Mapping[str, Any], wanted: Mapping[str, list[str]], creating: set[str]) -> None:
    roles = set(document.get("roles") or {})
    problems = [f"role map: the app has no role {role!r} (roles: {', '.join(sorted(roles))})" for role in wanted if role not in roles]
    names = {n for names in wanted.values() for n in names}
    known = set(_users_by(conn, models.users.c.username, names)) | creating
    problems += [f"role map: there is no local user {name!r}" for name in sorted(names - known)]
    if problems:
        raise ImportRefused(problems)


def _create_users(conn: Connection, wanted: list[BundleUser], prepared: _Prepared) -> list[str]:
    created = []
    for user in wanted:
        email = (user.email or "").strip().lower() or None
        if email and conn.execute(sa.select(models.users.c.id).where(models.users.c.email == email)).first():
            email = None
        try:
            uid = users.create_user(conn, user.username, password=None, display_name=user.display_name[:120], email=email)
        except RecordInvalid as exc:
            raise ImportRefused([f"cannot create user {user.username}: {exc}"]) from None
        conn.execute(models.users.update().where(models.users.c.id == uid).values(is_active=False))
        prepared.user_ids[user.username] = uid
        created.append(user.username)
    return created


def _grant_roles(conn: Connection, app_key: str, wanted: Mapping[str, list[str]]) -> list[tuple[str, str]]:
    ids = _users_by(conn, models.users.c.username, {n for names in wanted.values() for n in names})
    granted = []
    for role, names in wanted.items():
        for name in names:
            users.grant_role(conn, ids[name][0], app_key, role)
            granted.append((role, name))
    return granted


def _store_blobs(info: BundleInfo, blobs: list[str], files_dir: Path | None) -> None:
    if files_dir is None:
        raise ImportRefused(["importing files needs the files folder (FLOWDECK_FILES_DIR)"])
    with zipfile.ZipFile(io.BytesIO(info.data)) as archive:
        for sha in blobs:
            entry = archive.getinfo(f"files/{sha}")
            with archive.open(entry) as stream:
                stored, _ = files.save_blob(files_dir, stream, entry.file_size)  # type: ignore[arg-type]
            if stored != sha:  # checked by inspect_bundle; the bytes cannot have changed since
                raise BundleInvalid([f"entry files/{sha}: its content does not match its name"])


class _BadRecord(Exception):
    pass


class _RecordLoader:
    """Inserts the bundle's records into the new app's tables, keeping values, states,
    versions and line items; references are remapped from exported ids to new ones."""

    def __init__(
        self, conn: Connection, tables: AppTables, info: BundleInfo, prepared: _Prepared, actor: Actor, files_dir: Path | None
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
        self.where = ""

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
            raise BundleInvalid([f"{self.where}: {exc}"]) from None
        except IntegrityError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
            raise BundleInvalid([f"{self.where}: the database refused the record ({reason})"]) from None
        return counts

    def insert_rows(self, et: EntityTables, lines: list[dict[str, Any]]) -> None:
        entity = et.entity
        mapping = self.ids.setdefault(entity.key, {})
        states = set(entity.workflow.state_keys()) if entity.workflow else set()
        unknown_fields = {}
        for line in lines:
            self.where = f"records/{entity.key}.jsonl line {line['_line']}"
            unknown_fields = set(line["values"]) - {f.key for f in entity.fields}
            if unknown_fields:
                raise _BadRecord(f"{entity.key} has no field {', '.join(sorted(unknown_fields))}")
            if line["id"] in mapping:
                raise _BadRecord(f"record id {line['id']} appears twice")
            version = line.get("version")
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                raise _BadRecord("version must be a whole number from 1")
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
                    raise _BadRecord(f"state {state!r} is not a state of {entity.key}")
                row["state"] = state
            for fld in entity.stored_fields():
                if fld.type != "reference":
                    row[fld.key] = self.value(fld, line["values"].get(fld.key))
            new_id = self.conn.execute(et.table.insert().values(row)).inserted_primary_key[0]
            mapping[line["id"]] = int(new_id)

    def fill_references(self, et: EntityTables, lines: list[dict[str, Any]]) -> None:
        entity = et.entity
        mapping = self.ids[entity.key]
        references = [f for f in entity.stored_fields() if f.type == "reference"]
        for line in lines:
            self.where = f"records/{entity.key}.jsonl line {line['_line']}"
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
                    raise _BadRecord(f"{key} must be a list of rows")
                for position, item in enumerate(rows):
                    if not isinstance(item, dict):
                        raise _BadRecord(f"{key}[{position}] must be a row")
                    extra = set(item) - {c.key for c in fld.fields}
                    if extra:
                        raise _BadRecord(f"{key}[{position}] has no column {', '.join(sorted(extra))}")
                    data = {c.key: self.value(c, item.get(c.key), f"{key}[{position}].{c.key}") for c in fld.fields}
                    self.conn.execute(child.insert().values(parent_id=record_id, position=position, **data))
            history.add_entry(
                self.conn,
                app=entity.app,
                entity=entity.key,
                record_id=record_id,
                actor_id=self.actor.user_id,
                action="imported",
                comment=f"imported from bundle {self.prepared.plan.bundle_source} (record #{line['id']} there)",
            )

    def counters(self) -> None:
        c = models.counters
        app = self.prepared.plan.app_key
        for index, item in enumerate(self.info.counters):
            self.where = f"counters.json[{index}]"
            entity, fld, period, value = item.get("entity"), item.get("field"), item.get("period"), item.get("value")
            if not (isinstance(entity, str) and isinstance(fld, str) and isinstance(period, str) and isinstance(value, int)):
                raise _BadRecord("a counter needs entity, field, period and value")
            key = (c.c.app == app) & (c.c.entity == entity) & (c.c.field == fld) & (c.c.period == period)
            self.conn.execute(c.delete().where(key))
            self.conn.execute(c.insert().values(app=app, entity=entity, field=fld, period=period, value=value))

    # -- values --------------------------------------------------------------------------------

    def moment(self, raw: Any, what: str) -> dt.datetime:
        try:
            return resolve_datetime(raw) if isinstance(raw, str) else _fail(f"{what} must be a date and time")
        except ValueError:
            raise _BadRecord(f"{what} must be a date and time") from None

    def user(self, name: Any, what: str = "user") -> int | None:
        if name is None:
            return None
        if not isinstance(name, str) or name not in self.prepared.user_ids:
            raise _BadRecord(f"{what}: unknown user {name!r}")
        return self.prepared.user_ids[name]

    def value(self, fld: Field, raw: Any, where: str | None = None) -> Any:
        where = where or fld.key
        if fld.is_many:
            if raw is None:
                return []
            if not isinstance(raw, list):
                raise _BadRecord(f"{where} must be a list")
            values = [self.scalar(fld, item, where) for item in raw]
            return list(dict.fromkeys(v for v in values if v is not None))
        return self.scalar(fld, raw, where)

    def scalar(self, fld: Field, raw: Any, where: str) -> Any:
        if raw is None:
            return None
        kind = fld.value_type
        try:
            if fld.type == "user":
                return self.user(raw, where)
            if fld.type == "reference":
                assert fld.to is not None
                if not isinstance(raw, int) or raw not in self.ids.get(fld.to, {}):
                    raise _BadRecord(f"{where} refers to {fld.to} #{raw}, which is not in the bundle")
                return self.ids[fld.to][raw]
            if fld.type == "attachment":
                return self.attachment(raw, where)
            if kind in ("decimal", "money", "percent"):
                if isinstance(raw, bool) or not isinstance(raw, (str, int)):
                    raise _BadRecord(f"{where} must be a number")
                return Decimal(str(raw))
            if kind == "integer":
                if isinstance(raw, bool) or not isinstance(raw, int):
                    raise _BadRecord(f"{where} must be a whole number")
                return raw
            if kind == "boolean":
                if not isinstance(raw, bool):
                    raise _BadRecord(f"{where} must be true or false")
                return raw
            if kind == "date":
                return dt.date.fromisoformat(raw) if isinstance(raw, str) else _fail(f"{where} must be a date")
            if kind == "datetime":
                return resolve_datetime(raw) if isinstance(raw, str) else _fail(f"{where} must be a date and time")
            if not isinstance(raw, str):
                raise _BadRecord(f"{where} must be text")
            if fld.type in ("select", "multiselect") and fld.option(raw) is None:
                raise _BadRecord(f"{where}: {raw!r} is not one of the options ({', '.join(fld.option_keys())})")
            return raw
        except (ValueError, InvalidOperation):
            raise _BadRecord(f"{where}: {raw!r} is not a valid {kind}") from None

    def attachment(self, raw: Any, where: str) -> int | None:
        if not (
            isinstance(raw, dict)
            and isinstance(raw.get("sha256"), str)
            and re.fullmatch(r"[0-9a-f]{64}", raw["sha256"])
            and isinstance(raw.get("filename"), str)
            and isinstance(raw.get("size"), int)
        ):
            raise _BadRecord(f"{where} must be an attachment (filename, sha256, size)")
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


def _fail(message: str) -> Any:
    raise _BadRecord(message)
