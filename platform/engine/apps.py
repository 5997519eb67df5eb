"""Installing and changing apps: validate the document, plan the migration, apply it.

Applying runs in one transaction: every table change, every data move, the new version row
and the schema generation bump commit together or not at all (PostgreSQL and SQLite both
have transactional DDL). A process killed in the middle leaves the previous version as it
was. A document equal to the current version applies nothing.

A plan may ask questions (records in a removed state, values that cannot be converted, a
removed option in use); `choices` answers them by question id. Until every question has
a valid answer nothing is applied: `ChoicesNeeded` lists the open ones.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck import bundled
from flowdeck.engine import audit, clock, models, schedules
from flowdeck.engine.calendars import book as calendar_book
from flowdeck.engine.calendars.storage import load_book
from flowdeck.engine.db import Database
from flowdeck.engine.errors import ChoicesNeeded, Forbidden, MigrationRefused
from flowdeck.engine.messages import M, Message
from flowdeck.engine.migrate import Plan, make_plan
from flowdeck.engine.permissions import Actor
from flowdeck.engine.schema.loader import load_app
from flowdeck.engine.schema.model import App
from flowdeck.engine.storage.tables import build_app_tables
from flowdeck.engine.system import bump_schema_generation


@dataclass(frozen=True)
class ApplyResult:
    app: App
    plan: Plan
    version: int
    applied: bool


def checksum(document: Mapping[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _current(conn: Connection, key: str) -> tuple[int, dict[str, Any] | None, str | None, str | None]:
    a, v = models.apps, models.app_versions
    query = (
        sa.select(a.c.version, a.c.source, v.c.document, v.c.checksum)
        .join(v, (v.c.app == a.c.key) & (v.c.version == a.c.version))
        .where(a.c.key == key)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=a)
    row = conn.execute(query).first()
    if row is None:
        return 0, None, None, None
    return row.version, row.document, row.source, row.checksum


def plan_change(
    conn: Connection,
    document: Mapping[str, Any],
    choices: Mapping[str, str] | None = None,
    *,
    actor: Actor | None = None,
    lock: bool = False,
) -> tuple[App, Plan, str | None, int, bool]:
    """Validate and plan; returns (app, plan, source, new version, unchanged).

    Never raises for the plan itself: refusals, questions and invalid answers are in the
    plan (`plan.refusals`, `plan.questions`, `plan.answers`). `lock` (for a real apply)
    first stops writes to the app's tables on PostgreSQL, so the counts the plan shows are
    the data the apply changes; SQLite's write transaction already does that.
    """
    calendar_book.install(load_book(conn))  # the calendars the document may name, as stored now
    app = load_app(document)
    version, old_document, source, old_checksum = _current(conn, app.key)
    if lock and old_document is not None:
        _lock_app_tables(conn, app.key)
    old_app = load_app(old_document, name=app.key) if old_document is not None else None
    tables = build_app_tables(app)
    actor_id = actor.user_id if actor is not None else None
    plan = make_plan(conn, old_app, tables, version + 1, choices, actor_id=actor_id)
    return app, plan, source, version + 1, old_checksum == checksum(document)


def _lock_app_tables(conn: Connection, app: str) -> None:
    if conn.dialect.name != "postgresql":
        return
    names = [name for name in sa.inspect(conn).get_table_names() if name.startswith(f"{app}__")]
    if names:
        quote = conn.dialect.identifier_preparer.quote
        conn.exec_driver_sql(f"LOCK TABLE {', '.join(quote(n) for n in sorted(names))} IN SHARE ROW EXCLUSIVE MODE")


def apply_document(
    db: Database,
    document: Mapping[str, Any],
    *,
    actor: Actor,
    message: Message | str | None = None,
    dry_run: bool = False,
    choices: Mapping[str, str] | None = None,
) -> ApplyResult:
    """Apply an app document (install or change) as a new version.

    Raises SchemaInvalid for a bad document, ChoicesNeeded while a question of the plan has
    no answer, MigrationRefused for an answer that is not one of its question's choices
    (or a question id the plan does not ask), a "stop" answer, or a change that cannot be
    done; Forbidden unless `actor` is an administrator. Nothing is applied in these cases.
    On `dry_run` it only plans (and raises the same way), inside a transaction that is
    rolled back. History entries of records moved by the plan name `actor`.

    `message` says why: a Message is the system's reason (`M("bundled app")`), kept as JSON
    and worded in the reader's language; a `str` is the admin's own words, kept as typed.
    """
    if not actor.is_admin:
        raise Forbidden(M("only administrators can change apps"))
    reason, words = (message.to_json(), None) if isinstance(message, Message) else (None, message)
    answers = dict(choices or {})

    def work(conn: Connection) -> ApplyResult:
        app, plan, source, version, unchanged = plan_change(conn, document, answers, actor=actor, lock=not dry_run)
        if not plan.ok:
            raise MigrationRefused(plan.refusals, plan=plan)
        if plan.unanswered:
            raise ChoicesNeeded(plan.unanswered, plan=plan)
        if dry_run or unchanged:
            return ApplyResult(app, plan, version - 1, applied=False)
        for step in plan.steps:
            step.run(conn)
        source = source or app.source or f"local:{uuid.uuid4()}"
        conn.execute(
            models.app_versions.insert().values(
                app=app.key,
                version=version,
                document=dict(document),
                checksum=checksum(document),
                author_id=actor.user_id,
                message=words,
                reason=sa.null() if reason is None else reason,
            )
        )
        if version == 1:
            conn.execute(models.apps.insert().values(key=app.key, source=source, version=version))
        else:
            conn.execute(models.apps.update().where(models.apps.c.key == app.key).values(version=version, updated_at=clock.now()))
        bump_schema_generation(conn)
        schedules.arm_app(conn, app, now=clock.now())
        audit.schema_applied(conn, actor, app.key, version, message)
        return ApplyResult(app, plan, version, applied=True)

    return db.run(work, write=not dry_run)


def bundled_documents() -> list[Path]:
    """The app documents shipped with Flowdeck (the repository's `schemas/`)."""
    folders = [Path(p) for p in bundled.__path__]
    return sorted(path for folder in folders for path in folder.glob("*.json") if not path.name.endswith(".schema.json"))


def read_document(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def install_bundled(db: Database, *, actor: Actor) -> list[ApplyResult]:
    return [apply_document(db, read_document(path), actor=actor, message=M("bundled app")) for path in bundled_documents()]
