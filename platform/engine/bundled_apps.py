"""The apps shipped with Flowdeck (`schemas/`): installed once, then upgraded like a bundle.

`install_missing` (what `flowdeck init` does) installs a bundled app only when no app has its
key; an installed app is never changed by it, so an admin's edits survive every restart.

A newer bundled document (a Flowdeck upgrade) is offered as an upgrade: the same three-way
merge bundle imports use (`merge.merge_documents`) of the bundled document the instance
last took (the base), the app as it is now (local: with the admin's edits) and the new
bundled document (incoming). Whatever only one side changed is taken from it; where both
changed the same thing, the local edit wins unless the admin picks the incoming side for
that path. The plan (conflicts, the migration steps, its questions) is shown first
(`flowdeck upgrade-bundled APP --dry-run`, the admin page) and applied only when asked.

The base is remembered in `fd_bundle_imports` (kind "bundled", the bundled document as
taken), so a later bundle of the same source merges from the same place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import apps, clock, models
from flowdeck.engine.db import Database
from flowdeck.engine.errors import FlowdeckError
from flowdeck.engine.merge import LOCAL, SIDES, Conflict, UnknownResolution, merge_documents
from flowdeck.engine.messages import M, Message, plain
from flowdeck.engine.permissions import Actor
from flowdeck.engine.storage.plan import Plan

KIND = "bundled"
T = TypeVar("T")


class UpgradeRefused(FlowdeckError):
    """The bundled app cannot be upgraded (not installed, installed from elsewhere, a bad
    resolution); nothing was changed."""


@dataclass(frozen=True)
class Bundled:
    """One bundled app and where this instance stands with it."""

    key: str
    document: dict[str, Any]
    installed_version: int | None = None
    installed_source: str | None = None
    upgrade_available: bool = False
    locally_changed: bool = False

    @property
    def source(self) -> str:
        return str(self.document.get("source") or f"flowdeck.bundled.{self.key}")

    @property
    def installed(self) -> bool:
        return self.installed_version is not None


def documents() -> dict[str, dict[str, Any]]:
    """The bundled documents by app key."""
    found = {}
    for path in apps.bundled_documents():
        document = apps.read_document(path)
        found[str(document["key"])] = document
    return found


class _InTransaction:
    """Lets `apps.apply_document` run in an open transaction (the base is written with it)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name

    def run(self, work: Callable[[Connection], T], *, write: bool = True) -> T:
        return work(self.conn)

    def read(self, work: Callable[[Connection], T]) -> T:
        return work(self.conn)


def _base_row(conn: Connection, key: str, source: str) -> Any:
    b = models.bundle_imports
    query = sa.select(b.c.document, b.c.version, b.c.kind).where((b.c.app == key) & (b.c.bundle_source == source))
    return conn.execute(query.order_by(b.c.id.desc()).limit(1)).first()


def _base(conn: Connection, key: str, source: str) -> tuple[dict[str, Any] | None, Message]:
    """The bundled document this instance last took, and where it comes from."""
    row = _base_row(conn, key, source)
    if row is not None:
        return dict(row.document), M("the bundled document taken as version %(version)s", version=row.version)
    v = models.app_versions
    first = conn.execute(sa.select(v.c.document).where(v.c.app == key).order_by(v.c.version).limit(1)).first()
    return (dict(first.document) if first is not None else None), M("version 1 (no later bundled document is recorded)")


def _remember(conn: Connection, key: str, version: int, document: Mapping[str, Any], actor: Actor) -> None:
    conn.execute(
        models.bundle_imports.insert().values(
            app=key,
            version=version,
            kind=KIND,
            bundle_source=str(document.get("source") or f"flowdeck.bundled.{key}"),
            bundle_version=version,
            bundle_checksum=apps.checksum(document),
            document=dict(document),
            user_map={},
            imported_by=actor.user_id,
            imported_at=clock.now(),
        )
    )


def status(conn: Connection) -> list[Bundled]:
    """Every bundled app: installed or not, a newer bundled document or not, edited here or not."""
    out = []
    for key, document in documents().items():
        installed = _installed(conn, key)
        if installed is None:
            out.append(Bundled(key, document))
            continue
        version, source, current = installed
        base, _where = _base(conn, key, source)
        same_source = source == str(document.get("source") or "")
        out.append(
            Bundled(
                key,
                document,
                installed_version=version,
                installed_source=source,
                upgrade_available=same_source and (base is None or apps.checksum(base) != apps.checksum(document)),
                locally_changed=base is not None and apps.checksum(base) != apps.checksum(current),
            )
        )
    return out


def _installed(conn: Connection, key: str) -> tuple[int, str, dict[str, Any]] | None:
    a, v = models.apps, models.app_versions
    row = conn.execute(
        sa.select(a.c.version, a.c.source, v.c.document).join(v, (v.c.app == a.c.key) & (v.c.version == a.c.version)).where(a.c.key == key)
    ).first()
    return (int(row.version), str(row.source), dict(row.document)) if row is not None else None


@dataclass(frozen=True)
class Installed:
    key: str
    version: int
    installed_now: bool
    upgrade_available: bool


def install_missing(db: Database, *, actor: Actor, only: Iterable[str] | None = None) -> list[Installed]:
    """Install each bundled app (or those in `only`) that no app's key takes yet; leave
    every installed app as it is. Raises UpgradeRefused for an unknown key in `only`."""
    catalog = documents()
    wanted = list(catalog) if only is None else list(dict.fromkeys(only))
    unknown = [k for k in wanted if k not in catalog]
    if unknown:
        raise UpgradeRefused(M("there is no bundled app %(apps)s (bundled: %(known)s)", apps=unknown, known=sorted(catalog)))
    results = []
    for key in wanted:
        document = catalog[key]

        def work(conn: Connection, key: str = key, document: dict[str, Any] = document) -> Installed:
            found = _installed(conn, key)
            if found is not None:
                current = next(b for b in status(conn) if b.key == key)
                return Installed(key, found[0], False, current.upgrade_available)
            result = apps.apply_document(_InTransaction(conn), document, actor=actor, message=M("bundled app"))  # type: ignore[arg-type]
            _remember(conn, key, result.version, document, actor)
            return Installed(key, result.version, True, False)

        results.append(db.run(work))
    return results


@dataclass
class UpgradePlan:
    """What upgrading a bundled app will do. `chosen` holds the side taken at each conflict
    (local unless asked otherwise); `migration` is None when the merged document is invalid."""

    key: str
    base: Message
    conflicts: list[Conflict] = field(default_factory=list)
    chosen: dict[str, str] = field(default_factory=dict)
    migration: Plan | None = None
    unchanged: bool = False
    problems: list[Any] = field(default_factory=list)
    document: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ready(self) -> bool:
        return self.migration is not None and not self.problems and self.migration.ok and not self.migration.unanswered


def plan_upgrade(
    conn: Connection, key: str, *, resolutions: Mapping[str, str] | None = None, choices: Mapping[str, str] | None = None
) -> UpgradePlan:
    """Merge the new bundled document into the app as it is; raises UpgradeRefused."""
    document = documents().get(key)
    if document is None:
        raise UpgradeRefused(M("there is no bundled app %(apps)s (bundled: %(known)s)", apps=[key], known=sorted(documents())))
    found = _installed(conn, key)
    if found is None:
        raise UpgradeRefused(M("the bundled app %(app)s is not installed; flowdeck init --apps %(app)s installs it", app=key))
    _version, source, local = found
    if source != document.get("source"):
        raise UpgradeRefused(M("app %(app)s was installed from %(source)s, not from the bundled document", app=key, source=source))
    base, where = _base(conn, key, source)
    asked = dict(resolutions or {})
    wrong = sorted(p for p, side in asked.items() if side not in SIDES)
    if wrong:
        raise UpgradeRefused(M("resolve each conflict with local or incoming (at %(paths)s)", paths=wrong))
    first = merge_documents(base, local, document)
    stray = sorted(set(asked) - {c.path for c in first.conflicts})
    if stray:
        raise UpgradeRefused(M("there is no conflict at %(paths)s", paths=stray))
    chosen = {c.path: asked.get(c.path, LOCAL) for c in first.conflicts}
    try:
        merged = merge_documents(base, local, document, resolutions=chosen)
    except UnknownResolution as exc:  # pragma: no cover - the paths were checked above
        raise UpgradeRefused(plain(str(exc))) from None
    plan = UpgradePlan(key, where, conflicts=merged.conflicts, chosen=chosen, document=merged.document)
    try:
        _app, migration, _source, _next, unchanged = apps.plan_change(conn, merged.document, dict(choices or {}))
    except FlowdeckError as exc:
        plan.problems = list(getattr(exc, "problems", None) or [exc.message])
        return plan
    plan.migration, plan.unchanged = migration, unchanged
    return plan


def upgrade(
    db: Database,
    key: str,
    *,
    actor: Actor,
    resolutions: Mapping[str, str] | None = None,
    choices: Mapping[str, str] | None = None,
    dry_run: bool = False,
) -> tuple[UpgradePlan, apps.ApplyResult | None]:
    """Plan, and unless `dry_run` apply the merged document and take the new bundled
    document as the next base, in one transaction. Raises what applying raises
    (SchemaInvalid, MigrationRefused, ChoicesNeeded) and UpgradeRefused."""

    def work(conn: Connection) -> tuple[UpgradePlan, apps.ApplyResult | None]:
        plan = plan_upgrade(conn, key, resolutions=resolutions, choices=choices)
        if dry_run:
            return plan, None
        result = apps.apply_document(
            _InTransaction(conn),  # type: ignore[arg-type]
            plan.document,
            actor=actor,
            message=M("upgrade of the bundled app"),
            choices=dict(choices or {}),
        )
        _remember(conn, key, result.version, documents()[key], actor)
        return plan, result

    return db.run(work, write=not dry_run)
