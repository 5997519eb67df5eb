"""The operator's commands: init never undoes an admin's change, upgrade-bundled shows its
plan, upgrade runs the system migrations, run refuses a database behind on them, and every
configuration mistake is one line with a non-zero exit."""

from __future__ import annotations

import pytest
from alembic import command
from click.testing import CliRunner

from flowdeck.cli import main
from flowdeck.engine import apps, bundled_apps
from flowdeck.engine.system import alembic_config, pending_migrations
from tests.support.documents import with_task_field, with_task_name_label


@pytest.fixture
def runner(db, monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWDECK_DATABASE_URL", db.url)
    monkeypatch.setenv("FLOWDECK_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("FLOWDECK_ADMIN_PASSWORD", "s3cret-admin")
    return CliRunner()


def _project(db):
    from flowdeck.engine.registry import Catalog

    registry = Catalog(db).current()
    return registry, registry.versions.get("project")


def test_init_keeps_an_admins_change_and_installs_only_what_is_asked(runner, db, system):
    """Does init install only --apps, never change an installed app on a second run, and say a newer bundled document waits?"""
    first = runner.invoke(main, ["init", "--apps", "project"])
    assert first.exit_code == 0, first.output
    assert "app project: installed as version 1" in first.output and "operations" not in first.output
    current = bundled_apps.documents()["project"]
    apps.apply_document(db, with_task_field(current, "risk_level", "Risk level"), actor=system, message="admin edit")
    again = runner.invoke(main, ["init", "--apps", "project"])
    assert again.exit_code == 0, again.output
    assert "app project: version 2 (installed; left as it is)" in again.output
    registry, version = _project(db)
    assert version == 2 and registry.entity("project", "task").entity.field("risk_level") is not None


def test_init_without_apps(runner, db):
    """Does init --no-apps set up the instance with no app at all?"""
    result = runner.invoke(main, ["init", "--no-apps"])
    assert result.exit_code == 0, result.output
    assert "app " not in result.output
    assert _project(db)[1] is None


def test_upgrade_bundled_prints_the_plan_and_applies_only_without_dry_run(runner, db, system, monkeypatch):
    """Does upgrade-bundled --dry-run show the conflict (local kept) and the new field, change nothing, and the real run apply it?"""
    assert runner.invoke(main, ["init", "--apps", "project"]).exit_code == 0
    shipped = bundled_apps.documents()
    apps.apply_document(db, with_task_name_label(shipped["project"], "Work item"), actor=system, message="admin edit")
    newer = with_task_name_label(with_task_field(shipped["project"], "upstream_note", "Upstream note"), "Activity")
    monkeypatch.setattr(bundled_apps, "documents", lambda: {**shipped, "project": newer})
    init = runner.invoke(main, ["init", "--apps", "project"])
    assert "a newer bundled document is available: flowdeck upgrade-bundled project --dry-run" in init.output
    dry = runner.invoke(main, ["upgrade-bundled", "project", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "conflict at entities.task.fields.name.label.en: taking local (your edit)" in dry.output
    assert "upstream_note" in dry.output and "dry run: nothing applied" in dry.output
    assert _project(db)[1] == 2
    done = runner.invoke(main, ["upgrade-bundled"])
    assert done.exit_code == 0, done.output
    assert "project: upgraded as version 3" in done.output
    registry, _ = _project(db)
    task = registry.entity("project", "task").entity
    assert task.field("upstream_note") is not None and task.field("name").label.get("en") == "Work item"
    assert "every installed bundled app is up to date" in runner.invoke(main, ["upgrade-bundled"]).output


def test_upgrade_runs_pending_system_migrations_and_is_idempotent(runner, db):
    """Does flowdeck upgrade bring a database two migrations behind to the newest, and say so once done?"""
    db.run(lambda conn: command.downgrade(alembic_config(conn), "-2"))
    assert len(db.read(pending_migrations)) == 2
    first = runner.invoke(main, ["upgrade"])
    assert first.exit_code == 0, first.output
    assert "system tables: upgraded (2 migrations" in first.output
    assert db.read(pending_migrations) == []
    assert runner.invoke(main, ["upgrade"]).output.strip() == "system tables: up to date"


def test_run_refuses_a_database_behind_on_migrations(runner, db):
    """Does flowdeck run refuse to serve a database with pending system migrations, naming flowdeck upgrade?"""
    db.run(lambda conn: command.downgrade(alembic_config(conn), "-2"))
    result = runner.invoke(main, ["run", "--port", "5098"])
    assert result.exit_code == 1
    assert "needs 2 system migrations" in result.output and "run flowdeck upgrade first" in result.output


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("FLOWDECK_TIMEZONE", "Asia/Shangai", "FLOWDECK_TIMEZONE='Asia/Shangai' is not a time zone"),
        ("FLOWDECK_DATABASE_URL", "mysql://root@localhost/flowdeck", "Flowdeck runs on SQLite or PostgreSQL"),
        ("FLOWDECK_DATABASE_URL", "not a url", "FLOWDECK_DATABASE_URL is not a database URL"),
        ("FLOWDECK_DATABASE_URL", "postgresql://u:secret@db:port/x", "FLOWDECK_DATABASE_URL is not a database URL"),
        ("FLOWDECK_SMTP_PORT", "twenty-five", "FLOWDECK_SMTP_PORT='twenty-five': expected a whole number"),
        ("FLOWDECK_SMTP_SSL", "maybe", "FLOWDECK_SMTP_SSL='maybe': expected on or off"),
        ("FLOWDECK_LOGIN_LIMIT", "lots", "FLOWDECK_LOGIN_LIMIT='lots': expected limits such as"),
        ("FLOWDECK_PROXY_HOPS", "-1", "FLOWDECK_PROXY_HOPS='-1': expected a whole number of at least 0"),
        ("FLOWDECK_RATELIMIT_STORAGE", "memcached://x", "FLOWDECK_RATELIMIT_STORAGE='memcached://x'"),
    ],
)
def test_each_configuration_mistake_is_one_line_and_exit_2(runner, monkeypatch, variable, value, says):
    """Is a wrong setting one line naming it, exit code 2, and no traceback?"""
    monkeypatch.setenv(variable, value)
    if variable.startswith("FLOWDECK_SMTP"):
        monkeypatch.setenv("FLOWDECK_SMTP_HOST", "mail.example.com")
        monkeypatch.setenv("FLOWDECK_BASE_URL", "https://flowdeck.example.com")
    result = runner.invoke(main, ["init"])
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output and "secret" not in result.output


def test_smtp_without_a_base_url_is_refused(runner, monkeypatch):
    """Is mail configured without FLOWDECK_BASE_URL refused (mail could not link to records)?"""
    monkeypatch.setenv("FLOWDECK_SMTP_HOST", "mail.example.com")
    result = runner.invoke(main, ["upgrade"])
    assert result.exit_code == 2
    assert "FLOWDECK_SMTP_HOST is set but FLOWDECK_BASE_URL is not" in result.output


def test_a_short_admin_password_is_one_line(runner, monkeypatch):
    """Is an admin password under the policy's length one clear line, exit 2, with nothing created?"""
    monkeypatch.setenv("FLOWDECK_ADMIN_PASSWORD", "short")
    result = runner.invoke(main, ["init", "--no-apps"])
    assert result.exit_code == 2
    assert result.output.strip() == "Error: FLOWDECK_ADMIN_PASSWORD for admin: must be at least 8 characters"
