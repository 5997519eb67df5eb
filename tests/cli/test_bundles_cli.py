"""`flowdeck export` and `flowdeck import`: plans, user and role mapping, conflicts, damaged files."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from flowdeck.cli import main
from flowdeck.engine import models
from flowdeck.engine.apps import apply_document
from tests.support.bundles import SYSTEM, _flip_byte, _upstream_v2, add_user, count, document, export, seed, tracker_doc


@pytest.fixture
def cli(monkeypatch, tmp_path):
    def run(db, *args):
        monkeypatch.setenv("FLOWDECK_DATABASE_URL", db.url)
        monkeypatch.setenv("FLOWDECK_INSTANCE", str(tmp_path / "instance"))
        monkeypatch.setenv("FLOWDECK_FILES_DIR", str(tmp_path / f"files-{abs(hash(db.url))}"))
        return CliRunner().invoke(main, list(args))

    return run


def test_cli_export_and_import_with_mapping_and_roles(db, other_db, cli, tmp_path):
    """flowdeck export then import: a plan and the missing users with what to add (exit 1), then an import with --user and --role?"""
    seed(db)
    bundle = tmp_path / "tracker.zip"
    out = cli(db, "export", "tracker", "-o", str(bundle), "--records")
    assert out.exit_code == 0, out.output
    assert "exported app tracker (document, records)" in out.output
    add_user(other_db, "wang.fang")
    out = cli(other_db, "import", str(bundle), "--dry-run")
    assert out.exit_code == 1
    assert 'import: install a new app "tracker"' in out.output
    assert (
        "to do: user ann (Ann Admin, ann@example.com) does not exist here: add --user ann=LOCAL_USERNAME or --user ann=create" in out.output
    )
    out = cli(
        other_db, "import", str(bundle), "--user", "*=create", "--user", "erin=wang.fang", "--role", "lead=wang.fang,ann", "--dry-run"
    )
    assert out.exit_code == 0, out.output
    assert "dry run, nothing imported" in out.output and count(other_db, models.apps) == 0
    out = cli(other_db, "import", str(bundle), "--user", "*=create", "--user", "erin=wang.fang", "--role", "lead=wang.fang,ann")
    assert out.exit_code == 0, out.output
    assert "imported app tracker version 1 (new); records: 2 task, 2 note" in out.output
    assert "users created (inactive): ann, frank" in out.output and "roles granted: lead=wang.fang, lead=ann" in out.output


def test_cli_import_resolves_conflicts_from_options_or_an_answers_file(db, other_db, cli, tmp_path):
    """An upgrade with a conflict: exit 1 naming --resolve, then resolved from an answers file?"""
    apply_document(db, tracker_doc(), actor=SYSTEM)
    bundle = tmp_path / "v1.zip"
    assert cli(db, "export", "tracker", "-o", str(bundle)).exit_code == 0
    assert cli(other_db, "import", str(bundle), "--user", "erin=create").exit_code == 0
    local = document(other_db, "tracker")
    local["entities"]["task"]["fields"]["title"]["label"] = "Summary"
    apply_document(other_db, local, actor=SYSTEM)
    apply_document(db, _upstream_v2(document(db, "tracker")), actor=SYSTEM)
    assert cli(db, "export", "tracker", "-o", str(bundle)).exit_code == 0
    out = cli(other_db, "import", str(bundle))
    assert out.exit_code == 1
    assert "conflict (UNRESOLVED) at entities.task.fields.title.label:" in out.output
    assert '      local    "Summary"' in out.output and '      incoming "Headline"' in out.output
    assert "add --resolve 'entities.task.fields.title.label=local'" in out.output
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"resolutions": {"entities.task.fields.title.label": "incoming"}}))
    out = cli(other_db, "import", str(bundle), "--answers", str(answers))
    assert out.exit_code == 0, out.output
    assert "imported app tracker version 3 (upgrade)" in out.output
    assert document(other_db, "tracker")["entities"]["task"]["fields"]["title"]["label"] == "Headline"


def test_cli_refuses_a_damaged_bundle(db, other_db, cli, tmp_path):
    """flowdeck import of a damaged file: each problem printed with the file name, exit 1?"""
    apply_document(db, tracker_doc(), actor=SYSTEM)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(_flip_byte(export(db), "app.json"))
    out = cli(other_db, "import", str(bad))
    assert out.exit_code == 1
    assert f"{bad}: entry app.json is damaged" in out.output
