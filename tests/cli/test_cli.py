"""The `flowdeck` command: init, validate, apply, user create."""

import json

import pytest
from click.testing import CliRunner

from flowdeck.cli import main
from tests.support.documents import minimal_app


@pytest.fixture
def runner(db, monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWDECK_DATABASE_URL", db.url)
    monkeypatch.setenv("FLOWDECK_INSTANCE", str(tmp_path / "instance"))
    return CliRunner()


def test_validate_reports_each_problem_with_file_and_path(tmp_path):
    """Does `flowdeck validate` print every problem with its file and JSON path and exit 1?"""
    doc = minimal_app()
    doc["entities"]["task"]["workflow"]["transitions"][0]["to"] = "doign"
    doc["entities"]["task"]["fields"]["title"]["type"] = "txt"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    good = tmp_path / "good.json"
    good.write_text(json.dumps(minimal_app()))
    result = CliRunner().invoke(main, ["validate", str(good), str(bad)])
    assert result.exit_code == 1
    assert f"{good}: ok" in result.output
    assert f'{bad}: entities.task.fields.title.type: unknown field type "txt"' in result.output


def test_validate_passes_the_bundled_apps():
    """Do the bundled app documents validate?"""
    from flowdeck.engine.apps import bundled_documents

    paths = [str(p) for p in bundled_documents()]
    assert len(paths) == 2
    result = CliRunner().invoke(main, ["validate", *paths])
    assert result.exit_code == 0, result.output


def test_apply_dry_run_prints_the_plan_and_changes_nothing(runner, tmp_path, db):
    """Does `flowdeck apply --dry-run` print the plan without creating tables?"""
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(minimal_app()))
    result = runner.invoke(main, ["apply", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "adds entity task (table demo__task)" in result.output
    assert "dry run: nothing applied" in result.output
    import sqlalchemy as sa

    assert "demo__task" not in sa.inspect(db.engine).get_table_names()
    result = runner.invoke(main, ["apply", str(path)])
    assert "applied as version 1" in result.output
    assert "demo__task" in sa.inspect(db.engine).get_table_names()


def test_apply_refuses_an_unsafe_change_with_reasons(runner, tmp_path, db):
    """Does `flowdeck apply` refuse a type change that cannot convert the values, say why, and exit 1?"""
    path = tmp_path / "demo.json"
    doc = minimal_app()
    path.write_text(json.dumps(doc))
    assert runner.invoke(main, ["apply", str(path)]).exit_code == 0
    from flowdeck.engine import records
    from flowdeck.engine.permissions import Actor
    from flowdeck.engine.registry import Catalog

    et = Catalog(db).current().entity("demo", "task")
    db.run(lambda c: records.create_record(c, et, {"title": "a", "estimate": "1.5"}, actor=Actor.system()))
    doc["entities"]["task"]["fields"]["estimate"]["type"] = "date"
    path.write_text(json.dumps(doc))
    result = runner.invoke(main, ["apply", str(path)])
    assert result.exit_code == 1
    assert "refused: changes field estimate of task from decimal to date" in result.output


def test_init_is_idempotent_and_creates_an_admin(runner, monkeypatch):
    """Does `flowdeck init` install the bundled apps and an admin once, and again change nothing?"""
    monkeypatch.setenv("FLOWDECK_ADMIN_PASSWORD", "s3cret-admin")
    first = runner.invoke(main, ["init"])
    assert first.exit_code == 0, first.output
    assert "app project: installed as version 1" in first.output
    assert "admin user: admin / password: from FLOWDECK_ADMIN_PASSWORD" in first.output
    second = runner.invoke(main, ["init"])
    assert second.exit_code == 0, second.output
    assert "app project: version 1 (installed; left as it is)" in second.output
    assert "admin user: admin (exists)" in second.output


def test_user_create_grants_known_roles_only(runner):
    """Does `flowdeck user create` refuse an unknown role and grant a known one?"""
    assert runner.invoke(main, ["init"]).exit_code == 0
    bad = runner.invoke(main, ["user", "create", "li.lei", "--password", "password123", "--role", "project:wizard"])
    assert bad.exit_code == 1
    assert "unknown role 'project:wizard'" in bad.output
    ok = runner.invoke(main, ["user", "create", "li.lei", "--name", "李雷", "--password", "password123", "--role", "project:member"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["roles"] == ["project:member"]


def test_unreachable_database_gives_one_clear_line(monkeypatch, tmp_path):
    """Does an unreachable database give one line naming the URL with the password hidden?"""
    monkeypatch.setenv("FLOWDECK_DATABASE_URL", "postgresql://flow:topsecret@127.0.0.1:9/nowhere")
    monkeypatch.setenv("FLOWDECK_INSTANCE", str(tmp_path))
    result = CliRunner().invoke(main, ["init"])
    assert result.exit_code == 1
    assert "cannot connect to the database at postgresql://flow:***@127.0.0.1:9/nowhere" in result.output
    assert "topsecret" not in result.output
    assert "Traceback" not in result.output
