"""Planning an import: what kind it is, who the users it names are here, the three-way merge
of an upgrade, and the migration that applying the result will run.

The kind: a NEW app; an UPGRADE of the app installed from the same source (three-way merge
of the document the team installed, their current one and the incoming one, `merge.py`);
or a COPY under a new key (`as_key`); REFUSED when the key is taken by another source.
Users are matched by username, then by email, then by the mapping given (or the one given
at the last import from the same source); the rest must be mapped or created.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import apps, files, models
from flowdeck.engine.bundles.errors import at, schema_problem
from flowdeck.engine.bundles.export import installed_app
from flowdeck.engine.bundles.format import (
    ALL_USERS,
    APP_KEY,
    COPY,
    CREATE,
    DEFAULT_LIMITS,
    FORMAT_VERSION,
    NEW,
    REFUSED,
    UPGRADE,
    BundleUser,
    Limits,
    approval_usernames,
    copy_source,
    rename_approval_users,
    with_source,
)
from flowdeck.engine.bundles.plan import ImportPlan
from flowdeck.engine.bundles.reader import BundleInfo, checked_bundle
from flowdeck.engine.errors import SchemaInvalid
from flowdeck.engine.merge import MergeResult, UnknownResolution, merge_documents
from flowdeck.engine.messages import M, Message, Mn, plain
from flowdeck.engine.storage.plan import Plan


@dataclass
class Prepared:
    """A plan with what the import needs to carry it out: the document to apply, the
    incoming one as it arrived (the base of the next upgrade), the users by bundle name."""

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


def users_by(conn: Connection, column: sa.Column[Any], values: Iterable[str]) -> dict[str, tuple[int, str]]:
    """Local users whose `column` (username or email) is one of `values`: value -> (id, username)."""
    wanted = sorted({v for v in values if v})
    if not wanted:
        return {}
    u = models.users
    rows = conn.execute(sa.select(u.c.id, u.c.username, column.label("match")).where(column.in_(wanted)))
    return {row.match: (row.id, row.username) for row in rows}


def prepare(
    conn: Connection,
    info: BundleInfo,
    *,
    as_key: str | None,
    user_map: Mapping[str, str] | None,
    resolutions: Mapping[str, str] | None,
    choices: Mapping[str, Any] | None,
    files_dir: Path | None,
) -> Prepared:
    """The plan of importing `info` here, with what carrying it out needs."""
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
    prepared = Prepared(plan=plan)
    if as_key is not None and (not APP_KEY.match(as_key) or len(as_key) > 20):
        plan.refusals.append(
            M("%(key)s is not a valid app key: use up to 20 lowercase letters, digits and single underscores", key=repr(as_key))
        )
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
            M(
                'an app with key "%(app)s" is already installed from another source (%(source)s); '
                'this bundle comes from "%(bundle_source)s". Import it as a copy under a new key (--as NEW_KEY, as_key=...)',
                app=plan.app_key,
                source=installed[plan.app_key][0],
                bundle_source=bundle_source,
            )
        )
        return prepared
    last = _last_import(conn, plan.app_key) if plan.kind == UPGRADE else None
    if last is not None and isinstance(last.user_map, dict):
        remembered = {str(k): str(v) for k, v in last.user_map.items()}

    incoming = with_source(info.document, plan.source, plan.app_key)
    plan.imports_records = bool(info.records) and plan.kind in (NEW, COPY)
    if info.records and not plan.imports_records:
        plan.warnings.append(M("the bundle holds records; an upgrade keeps this app's own records and does not import them"))

    _map_users(conn, info, incoming, prepared, dict(user_map or {}), remembered)
    document = _document(conn, prepared, incoming, last, resolutions)
    if document is None:
        return prepared
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
                Mn(
                    "%(num)s attached file is neither in the bundle nor in this instance's files; that attachment is left empty",
                    "%(num)s attached files are neither in the bundle nor in this instance's files; those attachments are left empty",
                    len(absent),
                )
            )
    try:
        migration, unchanged = _migration_plan(conn, document, choices)
    except SchemaInvalid as exc:
        where = M("the merged document") if plan.kind == UPGRADE else M("the document")
        plan.problems += [at(where, schema_problem(p)) for p in exc.problems]
        return prepared
    plan.unchanged = unchanged
    plan.migration = [step.description for step in migration.steps]
    plan.migration_refusals = list(migration.refusals)
    plan.questions = list(migration.questions)
    plan.unanswered = list(migration.unanswered)
    return prepared


def _map_users(
    conn: Connection,
    info: BundleInfo,
    incoming: dict[str, Any],
    prepared: Prepared,
    explicit: dict[str, str],
    remembered: Mapping[str, str],
) -> None:
    """Who each user the bundle names is here: the same username, the mapping given (or the
    one given at the last import from this source), the same email, or created on request;
    the others are missing. Approval steps of `incoming` are renamed accordingly."""
    plan = prepared.plan
    bundle_users = {u.username: u for u in info.users}
    referenced = list(approval_usernames(incoming))
    if plan.imports_records:
        referenced += sorted(_record_usernames(info) - set(referenced))
    targets = [*explicit.values(), *remembered.values()]
    by_username = users_by(conn, models.users.c.username, [*referenced, *(v for v in targets if v != CREATE)])
    by_email = users_by(conn, models.users.c.email, [(bundle_users[n].email or "").lower() for n in referenced if n in bundle_users])
    everyone = explicit.pop(ALL_USERS, None)
    if everyone not in (None, CREATE):
        plan.refusals.append(M('user map: "*" can only be mapped to "create" (create every missing user)'))
    for name in sorted(set(explicit) - set(referenced)):
        plan.warnings.append(M("user map: the bundle does not refer to %(name)s; ignored", name=repr(name)))
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
            plan.user_matches[name] = M("%(user)s (same email)", user=local)
            continue
        if target is None and name not in by_username:
            target = everyone
        if target is None or (target == CREATE and name in by_username):
            if name in by_username:
                prepared.user_map[name] = name
                prepared.user_ids[name] = by_username[name][0]
                if target == CREATE:
                    plan.warnings.append(M("user %(name)s already exists here; it is used instead of creating it", name=name))
            else:
                plan.missing_users.append(user)
        elif target == CREATE:
            plan.users_to_create.append(user)
            prepared.user_map[name] = name
        elif target not in by_username:
            plan.refusals.append(
                M("user map: %(name)s -> %(target)s: there is no local user %(user)s", name=name, target=target, user=repr(target))
            )
        else:
            prepared.user_map[name] = target
            prepared.user_ids[name] = by_username[target][0]
            plan.user_matches[name] = target
    rename_approval_users(incoming, prepared.user_map)
    prepared.incoming = incoming


def _document(
    conn: Connection, prepared: Prepared, incoming: dict[str, Any], last: Any, resolutions: Mapping[str, str] | None
) -> dict[str, Any] | None:
    """The document to apply: the incoming one, or for an upgrade the three-way merge of the
    document the last import brought (else local version 1), the local one and the incoming
    one. None when the resolutions given do not fit the merge (the plan says why)."""
    plan = prepared.plan
    document = incoming
    if plan.kind == UPGRADE:
        local = installed_app(conn, plan.app_key)
        assert local is not None
        if last is not None:
            base: dict[str, Any] | None = dict(last.document)
            plan.base = M(
                "the bundle version %(bundle)s imported as local version %(local)s", bundle=last.bundle_version, local=last.version
            )
        else:
            base = _first_document(conn, plan.app_key)
            plan.base = M("local version 1 (no earlier import from this source is recorded)")
        try:
            merged = merge_documents(base, local.document, incoming, resolutions=resolutions)
        except UnknownResolution as exc:
            plan.refusals.append(exc.message if isinstance(exc.message, Message) else plain(exc.message))
            return None
        prepared.merge = merged
        plan.conflicts = merged.conflicts
        plan.unresolved = merged.unresolved
        if plan.unresolved:
            plan.warnings.append(M("until every conflict is resolved, the migration plan below assumes the local side"))
        document = merged.document
    elif resolutions:
        plan.warnings.append(M("resolutions are only used by upgrades; ignored"))
    return document


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
    return prepare(conn, info, as_key=as_key, user_map=user_map, resolutions=resolutions, choices=choices, files_dir=files_dir).plan
