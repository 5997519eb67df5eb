"""The `flowdeck` command. Each command loads only what it needs, so `flowdeck --help`
works even when the configuration or the database is broken."""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import click

from flowdeck import config


def _database() -> Any:
    from flowdeck.engine.db import Database
    from flowdeck.engine.errors import DatabaseUnavailable

    db = Database(config.database_url())
    context = click.get_current_context(silent=True)
    if context is not None:
        # Close pooled connections when the command ends (the process may live on, as in tests).
        context.call_on_close(db.dispose)
    try:
        db.check()
    except DatabaseUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    return db


def _prepare_sqlite_folder() -> None:
    url = config.database_url()
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Flowdeck: forms, boards and approvals from JSON app documents.

    Configuration comes from the environment: FLOWDECK_DATABASE_URL (default: SQLite in
    ./instance), FLOWDECK_INSTANCE, FLOWDECK_SECRET_KEY, FLOWDECK_ADMIN_PASSWORD.
    """


@main.command()
@click.option("--demo", is_flag=True, help="Also load demo users and records for the bundled apps.")
@click.option("--admin", "admin_name", default="admin", show_default=True, help="Username of the first admin.")
def init(demo: bool, admin_name: str) -> None:
    """Create the database, apply the bundled apps and create an admin (idempotent)."""
    from flowdeck.engine import users
    from flowdeck.engine.apps import install_bundled
    from flowdeck.engine.permissions import Actor
    from flowdeck.engine.system import upgrade_system_tables

    _prepare_sqlite_folder()
    db = _database()
    upgrade_system_tables(db)
    for result in install_bundled(db, actor=Actor.system()):
        status = f"version {result.version}" + ("" if result.applied else " (up to date)")
        click.echo(f"app {result.app.key}: {status}")
    existing = db.read(lambda conn: users.find_user(conn, admin_name))
    if existing is None:
        password = os.environ.get("FLOWDECK_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        db.run(lambda conn: users.create_user(conn, admin_name, password=password, display_name="Administrator", is_admin=True))
        shown = "from FLOWDECK_ADMIN_PASSWORD" if os.environ.get("FLOWDECK_ADMIN_PASSWORD") else password
        click.echo(f"admin user: {admin_name} / password: {shown}")
    else:
        click.echo(f"admin user: {admin_name} (exists)")
    if demo:
        from flowdeck.demo import DEMO_PASSWORD, load_demo

        summary = load_demo(db, actor=Actor.system(), password=DEMO_PASSWORD)
        click.echo(f"demo data: {summary.describe()}")
    click.echo(f"database: {db.describe()}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn worker processes")
def run(host: str, port: int, workers: int) -> None:
    """Serve the web app with gunicorn."""
    from gunicorn.app.base import BaseApplication

    from flowdeck.app import create_app
    from flowdeck.serving import post_worker_init

    db = _database()
    db.dispose()
    app = create_app()

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("accesslog", "-")
            shm = Path("/dev/shm")  # noqa: S108 -- gunicorn's heartbeat files, not user data
            self.cfg.set("worker_tmp_dir", str(shm) if shm.is_dir() else None)
            self.cfg.set("post_worker_init", post_worker_init)

        def load(self) -> Any:
            return app

    click.echo(f"Flowdeck on http://{host}:{port}/ ({db.describe()})")
    Server().run()


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check app documents; print every problem with its file and JSON path."""
    from flowdeck.engine.schema.loader import check_document

    failed = False
    for path in files:
        try:
            text = path.read_bytes()
        except OSError as exc:
            click.echo(f"{path}: cannot read: {exc.strerror}", err=True)
            failed = True
            continue
        problems = check_document(text)
        for problem in problems:
            click.echo(f"{path}: {problem}", err=True)
        if problems:
            failed = True
        else:
            click.echo(f"{path}: ok")
    if failed:
        sys.exit(1)


def _choice_options(choice_items: tuple[str, ...], answers_file: Path | None) -> dict[str, str]:
    """Answers to a migration plan's questions: an answers file ({ID: VALUE}, or
    {"choices": {ID: VALUE}}), then each --choice ID=VALUE (which wins)."""
    choices: dict[str, str] = {}
    if answers_file is not None:
        try:
            loaded = json.loads(answers_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise click.BadParameter(f"cannot read {answers_file}: {exc}", param_hint="--answers") from None
        if isinstance(loaded, dict) and isinstance(loaded.get("choices"), dict):
            loaded = loaded["choices"]
        if not isinstance(loaded, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()):
            raise click.BadParameter(f'{answers_file}: expected a JSON object {{"question id": "answer", ...}}', param_hint="--answers")
        choices.update(loaded)
    for item in choice_items:
        question, sep, value = item.rpartition("=")
        if not sep or not question.strip() or not value.strip():
            raise click.BadParameter(f"{item!r}: expected ID=VALUE, such as state:task:review=doing", param_hint="--choice")
        choices[question.strip()] = value.strip()
    return choices


def _actor(db: Any, username: str | None) -> Any:
    """The system, or the named administrator (named in the version and in history entries)."""
    from flowdeck.engine import users
    from flowdeck.engine.permissions import Actor

    if username is None:
        return Actor.system()
    found = db.read(lambda conn: users.find_user(conn, username))
    if found is None:
        raise click.ClickException(f"there is no user {username!r}")
    actor = db.read(lambda conn: users.actor_for(conn, found.id))
    if not actor.is_admin:
        raise click.ClickException(f"{username} is not an administrator; only administrators can change apps")
    return actor


def _print_migration_plan(app_key: str, plan: Any) -> None:
    click.echo(f"plan for app {app_key}:")
    if not plan.steps and not plan.questions:
        click.echo("  - no changes to the tables")
    for step in plan.steps:
        click.echo(f"  - {step.description}")
    if plan.questions:
        click.echo("questions:")
    for question in plan.questions:
        click.echo(f"  {question.id} ({question.count} records or values)")
        click.echo(f"    {question.text}")
        for sample in question.samples:
            click.echo(f"      {sample}")
        if question.count > len(question.samples):
            click.echo(f"      ... and {question.count - len(question.samples)} more")
        click.echo("    choices:")
        for value, label in question.choices:
            click.echo(f"      {value}: {label}")
        answer = plan.answers.get(question.id)
        click.echo(f"    answer: {answer}" if answer is not None else "    answer: (none yet)")


def _explain_refusal(exc: Any) -> None:
    """Print why a plan was not applied, and how to answer its open questions."""
    from flowdeck.engine.errors import ChoicesNeeded

    if isinstance(exc, ChoicesNeeded):
        click.echo(f"{len(exc.questions)} questions need answers before anything is applied:", err=True)
        for question in exc.questions:
            click.echo(f"  --choice {question.id}={'|'.join(question.values())}", err=True)
        click.echo(
            'give each answer with --choice ID=VALUE, or put them in a JSON file {"ID": "VALUE", ...} and add --answers FILE',
            err=True,
        )
        return
    for reason in exc.reasons:
        click.echo(f"refused: {reason}", err=True)


def _run_apply(label: str, apply: Any) -> Any:
    """Run an apply, print its plan, and exit 1 on refusals or open questions."""
    from flowdeck.engine.errors import Forbidden, MigrationRefused, NotFound, SchemaInvalid

    try:
        result = apply()
    except SchemaInvalid as exc:
        for problem in exc.problems:
            click.echo(f"{label}: {problem}", err=True)
        sys.exit(1)
    except MigrationRefused as exc:
        if exc.plan is not None:
            _print_migration_plan(exc.plan.app, exc.plan)
        _explain_refusal(exc)
        click.echo("nothing applied", err=True)
        sys.exit(1)
    except (Forbidden, NotFound) as exc:
        raise click.ClickException(str(exc)) from None
    _print_migration_plan(result.app.key, result.plan)
    return result


def _applied(result: Any, dry_run: bool) -> None:
    if dry_run:
        click.echo("dry run: nothing applied")
    elif result.applied:
        click.echo(f"applied as version {result.version}")
    else:
        click.echo(f"unchanged: version {result.version} is current")


_CHOICE_HELP = "Answer a question of the migration plan (repeatable), e.g. state:task:review=doing."
_ANSWERS_HELP = 'A JSON file of answers: {"question id": "answer", ...}.'


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print the migration plan without applying it.")
@click.option("-m", "--message", default=None, help="Why this version was applied.")
@click.option("--choice", "choice_items", multiple=True, metavar="ID=VALUE", help=_CHOICE_HELP)
@click.option("--answers", "answers_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help=_ANSWERS_HELP)
@click.option("--author", default=None, metavar="USERNAME", help="The administrator named in the version and history entries.")
def apply(
    file: Path, dry_run: bool, message: str | None, choice_items: tuple[str, ...], answers_file: Path | None, author: str | None
) -> None:
    """Apply an app document: print the migration plan, then apply it in one transaction.

    When the plan asks questions (records in a removed state, values that cannot be
    converted, a removed option in use), each is printed with its choices, and nothing is
    applied until every one is answered with --choice or --answers.
    """
    from flowdeck.engine.apps import apply_document
    from flowdeck.engine.schema.shape import parse_document
    from flowdeck.engine.system import upgrade_system_tables

    document, problems = parse_document(file.read_bytes())
    for problem in problems:
        click.echo(f"{file}: {problem}", err=True)
    if problems:
        sys.exit(1)
    choices = _choice_options(choice_items, answers_file)
    _prepare_sqlite_folder()
    db = _database()
    upgrade_system_tables(db)
    actor = _actor(db, author)
    result = _run_apply(str(file), lambda: apply_document(db, document, actor=actor, message=message, dry_run=dry_run, choices=choices))
    _applied(result, dry_run)


@main.command()
@click.argument("app_key", metavar="APP")
@click.option("--diff", "diff_versions", nargs=2, type=int, default=None, metavar="A B", help="What changed from version A to B.")
def versions(app_key: str, diff_versions: tuple[int, int] | None) -> None:
    """List the versions of an app (who, when, why), or the difference between two."""
    from flowdeck.engine import versions as app_versions
    from flowdeck.engine.errors import NotFound

    db = _database()
    try:
        if diff_versions is not None:
            first, second = diff_versions
            old = db.read(lambda conn: app_versions.get_document(conn, app_key, first))
            new = db.read(lambda conn: app_versions.get_document(conn, app_key, second))
            changes = app_versions.diff_documents(old, new)
            click.echo(f"app {app_key}, version {first} -> {second}: {len(changes)} changes")
            for change in changes:
                click.echo(f"  - {change.summary}  [{change.path}]")
            return
        listed = db.read(lambda conn: app_versions.list_versions(conn, app_key))
    except NotFound as exc:
        raise click.ClickException(str(exc)) from None
    for info in listed:
        when = info.created_at.strftime("%Y-%m-%d %H:%M UTC")
        click.echo(f"v{info.version}  {when}  {info.author_name or 'system'}  {info.message or ''}".rstrip())


@main.command()
@click.argument("app_key", metavar="APP")
@click.argument("version", type=int)
@click.option("--dry-run", is_flag=True, help="Print the migration plan without applying it.")
@click.option("--choice", "choice_items", multiple=True, metavar="ID=VALUE", help=_CHOICE_HELP)
@click.option("--answers", "answers_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help=_ANSWERS_HELP)
@click.option("--author", default=None, metavar="USERNAME", help="The administrator named in the version and history entries.")
def rollback(
    app_key: str, version: int, dry_run: bool, choice_items: tuple[str, ...], answers_file: Path | None, author: str | None
) -> None:
    """Apply an earlier version's document again, as a new version ("rollback to vN").

    Its migration plan is printed and may ask questions like any change.
    """
    from flowdeck.engine import versions as app_versions
    from flowdeck.engine.apps import apply_document
    from flowdeck.engine.errors import NotFound

    choices = _choice_options(choice_items, answers_file)
    db = _database()
    actor = _actor(db, author)
    try:
        document = db.read(lambda conn: app_versions.get_document(conn, app_key, version))
    except NotFound as exc:
        raise click.ClickException(str(exc)) from None
    if dry_run:
        result = _run_apply(f"{app_key} v{version}", lambda: apply_document(db, document, actor=actor, dry_run=True, choices=choices))
    else:
        result = _run_apply(f"{app_key} v{version}", lambda: app_versions.rollback(db, app_key, version, actor=actor, choices=choices))
    _applied(result, dry_run)


@main.command("export")
@click.argument("app_key", metavar="APP")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The bundle file to write.")
@click.option("--records", is_flag=True, help="Include every record (users named by username and email).")
@click.option("--files", "with_files", is_flag=True, help="Include the attachments' bytes (implies --records).")
def export_cmd(app_key: str, output: Path, records: bool, with_files: bool) -> None:
    """Write an app's configuration bundle (an admin tool: it reads every record).

    The bundle is a ZIP file: the app document, its roles, the users it names, and with
    --records / --files the records and attachments, with a checksum of every entry.
    """
    from flowdeck.engine.bundles import ExportFailed, export_app

    db = _database()
    files_dir = Path(config.settings()["FLOWDECK_FILES_DIR"])
    try:
        data = export_app(db, app_key, include_records=records, include_files=with_files, files_dir=files_dir)
    except ExportFailed as exc:
        raise click.ClickException(str(exc)) from None
    temp = output.with_name(f".{output.name}.part")
    temp.write_bytes(data)
    temp.replace(output)
    what = "document" + (", records" if records or with_files else "") + (", files" if with_files else "")
    click.echo(f"exported app {app_key} ({what}) to {output}: {len(data):,} bytes")


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    pairs = {}
    for item in values:
        name, sep, value = item.rpartition("=")
        if not sep or not name.strip() or not value.strip():
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE", param_hint=option)
        pairs[name.strip()] = value.strip()
    return pairs


def _import_answers(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        answers = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="--answers") from None
    known = {"as", "roles", "users", "choices", "resolutions"}
    if not isinstance(answers, dict) or set(answers) - known:
        raise click.BadParameter(f"{path}: expected an object with keys among {', '.join(sorted(known))}", param_hint="--answers")
    return answers


def _print_import_plan(plan: Any) -> None:
    for line in plan.describe():
        click.echo(f"  {line}")
    for conflict in plan.conflicts:
        state = "resolved" if conflict not in plan.unresolved else "UNRESOLVED"
        click.echo(f"  conflict ({state}) at {conflict.path}:")
        shown = conflict.to_json()
        for side in ("base", "local", "incoming"):
            value = json.dumps(shown[side], ensure_ascii=False, sort_keys=True) if shown[f"{side}_present"] else "(absent)"
            click.echo(f"      {side:<8} {value}")
    for question in plan.questions:
        answered = "" if question in plan.unanswered else " (answered)"
        click.echo(f"  question {question.id}{answered}: {question.text}")
        for sample in getattr(question, "samples", []):
            click.echo(f"      e.g. {sample}")
        for value, label in getattr(question, "choices", []):
            click.echo(f"      choice {value}: {label}")


def _import_instructions(plan: Any) -> list[str]:
    lines = []
    for user in plan.missing_users:
        name = user.username
        lines.append(f"user {user.describe()} does not exist here: add --user {name}=LOCAL_USERNAME or --user {name}=create")
    if plan.missing_users:
        lines.append("or create every missing user (inactive, no password): --user '*=create'")
    for conflict in plan.unresolved:
        lines.append(f"conflict at {conflict.path}: add --resolve '{conflict.path}=local' or --resolve '{conflict.path}=incoming'")
    for question in plan.unanswered:
        values = "|".join(str(value) for value, _ in getattr(question, "choices", []))
        lines.append(f"question {question.id}: add --choice '{question.id}={values}'")
    return lines


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Do everything in a transaction that is rolled back; print the plan.")
@click.option("--as", "as_key", default=None, metavar="NEW_KEY", help="Install a copy under a new app key (a new source id).")
@click.option("--role", "roles", multiple=True, metavar="ROLE=user1,user2", help="Grant a role of the app to local users (repeatable).")
@click.option("--user", "user_pairs", multiple=True, metavar="BUNDLEUSER=LOCALUSER|create", help="Map a user the bundle names.")
@click.option("--choice", "choice_pairs", multiple=True, metavar="ID=VALUE", help="Answer a question of the migration plan.")
@click.option("--resolve", "resolve_pairs", multiple=True, metavar="PATH=local|incoming", help="Decide an upgrade conflict.")
@click.option("--answers", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="A JSON file of answers.")
def import_cmd(
    file: Path,
    dry_run: bool,
    as_key: str | None,
    roles: tuple[str, ...],
    user_pairs: tuple[str, ...],
    choice_pairs: tuple[str, ...],
    resolve_pairs: tuple[str, ...],
    answers: Path | None,
) -> None:
    """Import a configuration bundle: a new app, an upgrade of the app installed from the
    same source (keeping local edits by a three-way merge), or a copy (--as NEW_KEY).

    Prints the plan, and exits 1 with what to add when something must be answered. The
    answers file holds {"as": KEY, "roles": {ROLE: [USER...]}, "users": {NAME: LOCAL|"create"},
    "choices": {ID: VALUE}, "resolutions": {PATH: "local"|"incoming"}}; options override it.
    An admin tool: it runs as the system and changes apps, users and role grants.
    """
    from flowdeck.engine import bundles, errors
    from flowdeck.engine.permissions import Actor
    from flowdeck.engine.system import upgrade_system_tables

    given = _import_answers(answers)
    as_key = as_key or given.get("as")
    role_map: dict[str, list[str]] = {k: list(v) for k, v in (given.get("roles") or {}).items()}
    role_map.update({role: [u for u in names.split(",") if u.strip()] for role, names in _pairs(roles, "--role").items()})
    user_map = {**(given.get("users") or {}), **_pairs(user_pairs, "--user")}
    choices = {**(given.get("choices") or {}), **_pairs(choice_pairs, "--choice")}
    resolutions = {**(given.get("resolutions") or {}), **_pairs(resolve_pairs, "--resolve")}
    size = file.stat().st_size
    if size > bundles.DEFAULT_LIMITS.max_bundle_bytes:
        raise click.ClickException(f"{file}: {size:,} bytes; a bundle may be at most {bundles.DEFAULT_LIMITS.max_bundle_bytes:,}")
    data = file.read_bytes()
    info = bundles.inspect_bundle(data)
    if not info.ok:
        for problem in info.problems:
            click.echo(f"{file}: {problem}", err=True)
        sys.exit(1)
    _prepare_sqlite_folder()
    db = _database()
    upgrade_system_tables(db)
    files_dir = Path(config.settings()["FLOWDECK_FILES_DIR"])
    try:
        plan = db.read(
            lambda conn: bundles.plan_import(
                conn, data, as_key=as_key, user_map=user_map, resolutions=resolutions, choices=choices, files_dir=files_dir
            )
        )
    except bundles.BundleInvalid as exc:
        for problem in exc.problems:
            click.echo(f"{file}: {problem}", err=True)
        sys.exit(1)
    click.echo(f"plan for {file}:")
    _print_import_plan(plan)
    if not plan.ready:
        for line in plan.refusals + plan.problems + plan.migration_refusals:
            click.echo(f"cannot import: {line}", err=True)
        for line in _import_instructions(plan):
            click.echo(f"to do: {line}", err=True)
        click.echo("nothing imported", err=True)
        sys.exit(1)
    try:
        result = bundles.import_bundle(
            db,
            data,
            actor=Actor.system(),
            as_key=as_key,
            role_map=role_map,
            user_map=user_map,
            choices=choices,
            resolutions=resolutions,
            dry_run=dry_run,
            files_dir=files_dir,
        )
    except (bundles.BundleError, errors.SchemaInvalid, errors.MigrationRefused, errors.RecordInvalid) as exc:
        click.echo(f"cannot import: {exc}", err=True)
        click.echo("nothing imported", err=True)
        sys.exit(1)
    records = ", ".join(f"{n} {k}" for k, n in result.records.items()) or "none"
    summary = f"app {result.app_key} version {result.version} ({result.kind}); records: {records}; files: {result.files}"
    if result.users_created:
        summary += f"; users created (inactive): {', '.join(result.users_created)}"
    if result.roles_granted:
        summary += "; roles granted: " + ", ".join(f"{r}={u}" for r, u in result.roles_granted)
    click.echo(f"dry run, nothing imported: {summary}" if dry_run else f"imported {summary}")


@main.command()
def tick() -> None:
    """Periodic work (run it from cron every few minutes): escalate overdue approval steps
    and send pending notification mail when FLOWDECK_SMTP_HOST is set."""
    from flowdeck.engine.approvals import escalate_overdue
    from flowdeck.engine.registry import Catalog
    from flowdeck.views.mailer import send_once, smtp_settings

    db = _database()
    registry = Catalog(db).current()
    escalated = db.run(lambda conn: escalate_overdue(conn, registry))
    click.echo(f"overdue approval steps handled: {escalated}")
    smtp = smtp_settings()
    if smtp is None:
        click.echo("mail: FLOWDECK_SMTP_HOST is not set; nothing sent")
    else:
        click.echo(f"mail sent: {send_once(db, smtp, os.environ.get('FLOWDECK_BASE_URL', ''))}")


@main.group()
def user() -> None:
    """Manage users."""


@user.command("create")
@click.argument("username")
@click.option("--name", "display_name", default=None, help="Display name")
@click.option("--email", default=None)
@click.option("--admin", "is_admin", is_flag=True, help="Make an administrator")
@click.option("--role", "roles", multiple=True, metavar="APP:ROLE", help="Grant a role (repeatable)")
@click.option("--password", default=None, help="Default: FLOWDECK_USER_PASSWORD, else asked for")
def user_create(
    username: str, display_name: str | None, email: str | None, is_admin: bool, roles: tuple[str, ...], password: str | None
) -> None:
    """Create a user and grant roles."""
    from flowdeck.engine import users
    from flowdeck.engine.errors import RecordInvalid
    from flowdeck.engine.registry import Catalog

    db = _database()
    registry = Catalog(db).current()
    grants = []
    for item in roles:
        app, _, role = item.partition(":")
        if app not in registry.apps or role not in registry.app(app).app.role_keys():
            known = ", ".join(f"{a}:{r}" for a, t in registry.apps.items() for r in t.app.role_keys())
            raise click.ClickException(f"unknown role {item!r} (roles: {known})")
        grants.append((app, role))
    password = password or os.environ.get("FLOWDECK_USER_PASSWORD")
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)

    def work(conn: Any) -> int:
        uid = users.create_user(conn, username, password=password, display_name=display_name, email=email, is_admin=is_admin)
        for app, role in grants:
            users.grant_role(conn, uid, app, role)
        return uid

    try:
        uid = db.run(work)
    except RecordInvalid as exc:
        raise click.ClickException("; ".join(f"{k}: {', '.join(v)}" for k, v in exc.errors.items())) from None
    click.echo(json.dumps({"id": uid, "username": username.lower(), "roles": [f"{a}:{r}" for a, r in grants]}))
