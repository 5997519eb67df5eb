"""`flowdeck versions` and `flowdeck rollback`: listings, diffs, questions and choices."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from flowdeck.cli import main
from flowdeck.engine import versions, workflow
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog
from tests.support.documents import minimal_app
from tests.support.versions import apply, create, fetch, second_version, with_blocked


@pytest.fixture
def cli(db, monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWDECK_DATABASE_URL", db.url)
    monkeypatch.setenv("FLOWDECK_INSTANCE", str(tmp_path / "instance"))
    return CliRunner()


def test_cli_versions_lists_and_diffs(db, install, cli, make_user):
    """Does `flowdeck versions APP` list each version with author and message, and `--diff A B` print the summaries with paths?"""
    install(minimal_app())
    make_user("ivan", is_admin=True)
    apply(db, second_version(), message="due dates")
    listed = cli.invoke(main, ["versions", "demo"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].startswith("v1  ") and lines[0].endswith("system")
    assert lines[1].startswith("v2  ") and lines[1].endswith("system  due dates")
    diff = cli.invoke(main, ["versions", "demo", "--diff", "1", "2"])
    assert diff.exit_code == 0, diff.output
    assert "app demo, version 1 -> 2: 4 changes" in diff.output
    assert "  - adds field task.due (date)  [entities.task.fields.due]" in diff.output
    assert "  - removes transition approve  [entities.task.workflow.transitions[2]]" in diff.output
    missing = cli.invoke(main, ["versions", "nope"])
    assert missing.exit_code == 1 and 'there is no app "nope"' in missing.output


def test_cli_rollback_asks_then_applies_with_choices(db, install, cli, tmp_path):
    """Does `flowdeck rollback` print the plan's question and exit 1, then apply with --choice as a new version?"""
    install(minimal_app())
    apply(db, with_blocked())
    rec = create(db, {"title": "a"})
    et = Catalog(db).current().entity("demo", "task")
    for key in ("start", "block"):
        db.run(lambda c, k=key: workflow.transition_record(c, et, rec.id, k, actor=Actor.system()))
    asked = cli.invoke(main, ["rollback", "demo", "1"])
    assert asked.exit_code == 1
    assert (
        "state:task:blocked (1 records or values)" in asked.output and "--choice state:task:blocked=todo|doing|review|done" in asked.output
    )
    dry = cli.invoke(main, ["rollback", "demo", "1", "--dry-run", "--choice", "state:task:blocked=review"])
    assert dry.exit_code == 0 and "dry run: nothing applied" in dry.output
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"choices": {"state:task:blocked": "review"}}), encoding="utf-8")
    done = cli.invoke(main, ["rollback", "demo", "1", "--answers", str(answers)])
    assert done.exit_code == 0, done.output
    assert "moves the 1 task records in state blocked to review" in done.output and "applied as version 3" in done.output
    assert fetch(db, rec.id).state == "review"
    assert str(db.read(lambda c: versions.list_versions(c, "demo"))[-1].message) == "rollback to v1"
    unknown = cli.invoke(main, ["rollback", "demo", "9"])
    assert unknown.exit_code == 1 and "has no version 9" in unknown.output
