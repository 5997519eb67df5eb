"""Importing a bundle in one transaction: the users created for the mapping, the app
document (through `apps.apply_document` on the same transaction), the role grants, the
records with their line items, links and history, and the attachments commit together or
not at all. A dry run does all of it and rolls it back, so it also finds bad records.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import apps, audit, clock, files, models, timed, users
from flowdeck.engine.bundles.errors import BundleInvalid, ImportNeedsMapping, ImportRefused, MergeConflicts
from flowdeck.engine.bundles.format import DEFAULT_LIMITS, BundleUser, Limits
from flowdeck.engine.bundles.plan import ImportPlan
from flowdeck.engine.bundles.planner import Prepared, prepare, users_by
from flowdeck.engine.bundles.reader import BundleInfo, checked_bundle, content_mismatch
from flowdeck.engine.bundles.records import RecordLoader
from flowdeck.engine.db import Database
from flowdeck.engine.errors import Forbidden, RecordInvalid
from flowdeck.engine.messages import M
from flowdeck.engine.permissions import Actor
from flowdeck.engine.sla.imported import start_imported
from flowdeck.engine.storage.tables import build_app_tables

T = TypeVar("T")


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
        raise Forbidden(M("only administrators can import bundles"))
    info = checked_bundle(data, limits=limits)
    roles_wanted = {role: [u.strip().lower() for u in names if u.strip()] for role, names in (role_map or {}).items()}

    def work(conn: Connection) -> ImportResult:
        prepared = prepare(conn, info, as_key=as_key, user_map=user_map, resolutions=resolutions, choices=choices, files_dir=files_dir)
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
        reason = M("imported from bundle %(source)s version %(version)s", source=plan.bundle_source, version=plan.bundle_version)
        result = apps.apply_document(
            _InTransaction(conn),  # type: ignore[arg-type]
            document,
            actor=actor,
            message=message or reason,
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
                imported_at=clock.now(),
            )
        )
        audit.bundle_imported(conn, actor, plan.app_key, plan.bundle_source, result.version, plan.kind)
        granted = _grant_roles(conn, plan.app_key, roles_wanted)
        counts: dict[str, int] = {}
        blobs: list[str] = []
        if plan.imports_records:
            tables = build_app_tables(result.app)
            loader = RecordLoader(conn, tables, info, prepared, actor, files_dir)
            counts = loader.run()
            timed.arm_app(conn, tables)  # imported records waiting in a state (no event armed them)
            start_imported(
                conn, tables, {k: m.values() for k, m in loader.ids.items()}, clock.now()
            )  # and their SLA clocks (no event started them)
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
    roles = sorted(document.get("roles") or {})
    problems = [
        M("role map: the app has no role %(role)s (roles: %(roles)s)", role=repr(role), roles=roles) for role in wanted if role not in roles
    ]
    names = {n for names in wanted.values() for n in names}
    known = set(users_by(conn, models.users.c.username, names)) | creating
    problems += [M("role map: there is no local user %(user)s", user=repr(name)) for name in sorted(names - known)]
    if problems:
        raise ImportRefused(problems)


def _create_users(conn: Connection, wanted: list[BundleUser], prepared: Prepared) -> list[str]:
    created = []
    for user in wanted:
        email = (user.email or "").strip().lower() or None
        if email and conn.execute(sa.select(models.users.c.id).where(models.users.c.email == email)).first():
            email = None
        try:
            uid = users.create_user(conn, user.username, password=None, display_name=user.display_name[:120], email=email)
        except RecordInvalid as exc:
            raise ImportRefused([M("cannot create user %(user)s: %(reason)s", user=user.username, reason=exc.message)]) from None
        conn.execute(models.users.update().where(models.users.c.id == uid).values(is_active=False))
        prepared.user_ids[user.username] = uid
        created.append(user.username)
    return created


def _grant_roles(conn: Connection, app_key: str, wanted: Mapping[str, list[str]]) -> list[tuple[str, str]]:
    ids = users_by(conn, models.users.c.username, {n for names in wanted.values() for n in names})
    granted = []
    for role, names in wanted.items():
        for name in names:
            users.grant_role(conn, ids[name][0], app_key, role)
            granted.append((role, name))
    return granted


def _store_blobs(info: BundleInfo, blobs: list[str], files_dir: Path | None) -> None:
    if files_dir is None:
        raise ImportRefused([M("importing files needs the files folder (FLOWDECK_FILES_DIR)")])
    with zipfile.ZipFile(io.BytesIO(info.data)) as archive:
        for sha in blobs:
            entry = archive.getinfo(f"files/{sha}")
            with archive.open(entry) as stream:
                stored, _ = files.save_blob(files_dir, stream, entry.file_size)  # type: ignore[arg-type]
            if stored != sha:  # checked by inspect_bundle; the bytes cannot have changed since
                raise BundleInvalid([content_mismatch(f"files/{sha}")])
