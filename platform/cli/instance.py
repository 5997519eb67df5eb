"""Commands on the instance: init, upgrade, run, tick, worker, users."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import click

from flowdeck.cli import ConfigProblem, _database, _prepare_sqlite_folder, main, settings


def _admin_password(admin_name: str) -> tuple[str, bool]:
    """FLOWDECK_ADMIN_PASSWORD (checked against the password policy first), else a new one."""
    from flowdeck.engine import users

    given = os.environ.get("FLOWDECK_ADMIN_PASSWORD")
    if not given:
        return secrets.token_urlsafe(12), False
    problems: dict[str, list[str]] = {}
    users._check_password(given, problems)
    if problems:
        raise ConfigProblem(f"FLOWDECK_ADMIN_PASSWORD for {admin_name}: {'; '.join(str(p) for p in problems['password'])}")
    return given, True


@main.command()
@click.option("--demo", is_flag=True, help="Also load demo users and records for the bundled apps.")
@click.option("--admin", "admin_name", default="admin", show_default=True, help="Username of the first admin.")
@click.option("--apps", "app_keys", default=None, metavar="KEY[,KEY]", help="Install only these bundled apps (default: all).")
@click.option("--no-apps", is_flag=True, help="Install no bundled app.")
def init(demo: bool, admin_name: str, app_keys: str | None, no_apps: bool) -> None:
    """Create or upgrade the system tables, install the bundled apps that are missing and
    create an admin. Idempotent: an installed app is never changed (a newer bundled
    document is offered by `flowdeck upgrade-bundled`)."""
    from flowdeck.engine import bundled_apps, users
    from flowdeck.engine.permissions import Actor
    from flowdeck.engine.system import upgrade_system_tables

    if no_apps and app_keys:
        raise click.UsageError("--apps and --no-apps do not go together")
    if demo and (no_apps or app_keys):
        raise click.UsageError("--demo needs every bundled app (leave out --apps and --no-apps)")
    only = [] if no_apps else ([k.strip() for k in app_keys.split(",") if k.strip()] if app_keys else None)
    _prepare_sqlite_folder()
    db = _database()
    password, from_env = _admin_password(admin_name)
    upgrade_system_tables(db)
    try:
        installed = bundled_apps.install_missing(db, actor=Actor.system(), only=only)
    except bundled_apps.UpgradeRefused as exc:
        raise click.ClickException(str(exc)) from None
    for result in installed:
        if result.installed_now:
            click.echo(f"app {result.key}: installed as version {result.version}")
        else:
            click.echo(f"app {result.key}: version {result.version} (installed; left as it is)")
        if result.upgrade_available:
            click.echo(f"  a newer bundled document is available: flowdeck upgrade-bundled {result.key} --dry-run")
    existing = db.read(lambda conn: users.find_user(conn, admin_name))
    if existing is None:
        db.run(lambda conn: users.create_user(conn, admin_name, password=password, display_name="Administrator", is_admin=True))
        shown = "from FLOWDECK_ADMIN_PASSWORD" if from_env else password
        click.echo(f"admin user: {admin_name} / password: {shown}")
    else:
        click.echo(f"admin user: {admin_name} (exists)")
    if demo:
        from flowdeck.demo import DEMO_PASSWORD, load_demo

        summary = load_demo(db, actor=Actor.system(), password=DEMO_PASSWORD)
        click.echo(f"demo data: {summary.describe()}")
    click.echo(f"database: {db.describe()}")


@main.command()
def upgrade() -> None:
    """Run the system migrations this database has not had yet (after installing a newer
    Flowdeck; idempotent). Apps are not touched: see upgrade-bundled."""
    from flowdeck.engine.system import pending_migrations, upgrade_system_tables

    _prepare_sqlite_folder()
    db = _database()
    pending = db.read(pending_migrations)
    if not pending:
        click.echo("system tables: up to date")
        return
    upgrade_system_tables(db)
    click.echo(f"system tables: upgraded ({len(pending)} migrations: {', '.join(pending)})")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="FLOWDECK_HOST")
@click.option("--port", default=5000, show_default=True, type=int, envvar="FLOWDECK_PORT")
@click.option(
    "--workers", default=2, show_default=True, type=click.IntRange(1, 64), envvar="FLOWDECK_WORKERS", help="gunicorn worker processes"
)
def run(host: str, port: int, workers: int) -> None:
    """Serve the web app with gunicorn. Refuses a database whose system tables need
    `flowdeck upgrade` first (FLOWDECK_HOST, FLOWDECK_PORT, FLOWDECK_WORKERS set the options)."""
    from gunicorn.app.base import BaseApplication

    from flowdeck.app import create_app
    from flowdeck.engine.system import pending_migrations
    from flowdeck.serving import post_worker_init
    from flowdeck.views.auth import GuestUserRefused

    db = _database()
    pending = db.read(pending_migrations)
    db.dispose()
    if pending:
        raise click.ClickException(
            f"the database at {db.describe()} needs {len(pending)} system migrations ({', '.join(pending)}): run flowdeck upgrade first"
        )
    try:
        app = create_app()
    except GuestUserRefused as exc:
        raise ConfigProblem(str(exc)) from None

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("accesslog", "-")
            # gunicorn's heartbeat files, not user data
            shm = Path("/dev/shm")  # noqa: S108  # nosec B108
            self.cfg.set("worker_tmp_dir", str(shm) if shm.is_dir() else None)
            self.cfg.set("post_worker_init", post_worker_init)
            if app.config.get("FLOWDECK_PROXY_HOPS"):
                # The app's ProxyFix reads the forwarded headers; gunicorn need not vet them.
                self.cfg.set("forwarded_allow_ips", "*")

        def load(self) -> Any:
            return app

    click.echo(f"Flowdeck on http://{host}:{port}/ ({db.describe()})")
    Server().run()


@main.command()
def tick() -> None:
    """One pass of background work (cron mode, every few minutes, where no `flowdeck worker`
    runs): escalate overdue approval steps, then run every job that is due (notification
    mail...); prints what it did."""
    from flowdeck.views.background import periodic_work, runner_for

    checked = settings()
    db = _database()
    periodic_work(db)
    counts = runner_for(db, checked).run_due()
    click.echo("jobs: " + (", ".join(f"{status} {n}" for status, n in sorted(counts.items())) or "none due"))


@main.command()
def worker() -> None:
    """Run background jobs until stopped (SIGTERM or Ctrl-C). Any number of workers may share
    one database: each job runs once. On PostgreSQL an enqueued job wakes idle workers at
    once; on SQLite they look every few seconds."""
    import logging
    import signal
    import threading

    from flowdeck.views.background import periodic_work, runner_for

    checked = settings()
    db = _database()
    runner = runner_for(db, checked)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo(f"worker {runner.name} running jobs on {db.describe()}")
    runner.serve(stop, periodic=lambda: periodic_work(db))


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
    from flowdeck.engine import audit, users
    from flowdeck.engine.errors import RecordInvalid
    from flowdeck.engine.messages import M, Mp
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
        name = username.strip().lower()
        what = M("created administrator %(user)s", user=name) if is_admin else M("created user %(user)s", user=name)
        audit.record(conn, "user.created", what, target=f"user:{name}")
        if grants:
            granted = [f"{a}:{r}" for a, r in grants]
            message = M(
                "changed the roles of %(user)s: granted %(granted)s; taken away %(revoked)s",
                user=name,
                granted=granted,
                revoked=[Mp("no roles", "none")],
            )
            audit.record(conn, "user.roles", message, target=f"user:{name}")
        return uid

    try:
        uid = db.run(work)
    except RecordInvalid as exc:
        raise click.ClickException("; ".join(f"{k}: {', '.join(str(m) for m in v)}" for k, v in exc.errors.items())) from None
    click.echo(json.dumps({"id": uid, "username": username.lower(), "roles": [f"{a}:{r}" for a, r in grants]}))
