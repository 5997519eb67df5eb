"""`flowdeck apply` with questions: printed choices, exit codes, answers from options or a file."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from flowdeck.cli import main
from tests.support.migrations import entries, to_decimal, version_of, wbs_without_pending_review


@pytest.fixture
def cli(db, monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWDECK_DATABASE_URL", db.url)
    monkeypatch.setenv("FLOWDECK_INSTANCE", str(tmp_path / "instance"))
    return CliRunner()


def test_cli_apply_prints_questions_and_needs_answers(db, budgets, cli, tmp_path):
    """Does `flowdeck apply` print each question (id, text, samples, choices), exit 1 saying how to answer, and apply with --choice?"""
    demo, ids, _ = budgets
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(to_decimal(demo)), encoding="utf-8")
    result = cli.invoke(main, ["apply", str(path)])
    assert result.exit_code == 1
    out = result.output
    assert "type:task:budget (3 records or values)" in out
    assert "changes field budget of task from text to decimal: 4 values are converted, 3 values cannot be converted" in out
    assert f'#{ids[2]}: "abc" (is not a number)' in out
    assert "stop: stop: apply nothing" in out and "clear: clear them" in out
    assert "--choice type:task:budget=stop|clear" in out
    assert "--answers FILE" in out and "nothing applied" in out
    assert version_of(db) == 1
    dry = cli.invoke(main, ["apply", str(path), "--dry-run", "--choice", "type:task:budget=clear"])
    assert dry.exit_code == 0, dry.output
    assert "answer: clear" in dry.output and "dry run: nothing applied" in dry.output
    assert version_of(db) == 1
    done = cli.invoke(main, ["apply", str(path), "--choice", "type:task:budget=clear", "-m", "budget as a number"])
    assert done.exit_code == 0, done.output
    assert "applied as version 2" in done.output
    assert demo.values(ids[0])["budget"] == Decimal("12.50")


def test_cli_apply_reads_an_answers_file_and_refuses_a_bad_answer(db, wbs, cli, tmp_path):
    """Does `flowdeck apply --answers` apply the S5 mapping (with --author naming the admin), and a wrong answer exit 1 with the reason?"""
    _, tasks, ivan = wbs
    path = tmp_path / "wbs.json"
    path.write_text(json.dumps(wbs_without_pending_review()), encoding="utf-8")
    bad = cli.invoke(main, ["apply", str(path), "--choice", "state:task:pending_review=done"])
    assert bad.exit_code == 1
    assert "refused: “done” is not a choice for state:task:pending_review (choices: open, working, completed, cancelled)" in bad.output
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"state:task:pending_review": "working"}), encoding="utf-8")
    good = cli.invoke(main, ["apply", str(path), "--answers", str(answers), "--author", "ivan"])
    assert good.exit_code == 0, good.output
    assert "moves the 2 task records in state pending_review to working" in good.output
    assert entries(db, "wbs", "task", tasks["接口设计 API design"])[-1].actor_id == ivan.user_id
    peggy = cli.invoke(main, ["apply", str(path), "--author", "peggy"])
    assert peggy.exit_code == 1 and "peggy is not an administrator" in peggy.output


def test_cli_apply_rerun_after_commit_ignores_answers_no_longer_asked(db, budgets, cli, tmp_path):
    """Does re-running a committed `apply --choice` exit 0 (nothing to apply), and an unknown answer to a plan that asks stays an error?"""
    demo, _ids, _ = budgets
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(to_decimal(demo)), encoding="utf-8")
    unknown = cli.invoke(main, ["apply", str(path), "--choice", "type:task:budget=clear", "--choice", "type:task:nothing=clear"])
    assert unknown.exit_code == 1
    assert "there is no question type:task:nothing in this plan (questions: type:task:budget)" in unknown.output
    assert version_of(db) == 1
    done = cli.invoke(main, ["apply", str(path), "--choice", "type:task:budget=clear"])
    assert done.exit_code == 0, done.output
    assert version_of(db) == 2
    again = cli.invoke(main, ["apply", str(path), "--choice", "type:task:budget=clear"])
    assert again.exit_code == 0, again.output
    assert "ignored answers to questions this plan does not ask: type:task:budget" in again.output
    assert "nothing to apply: version 2 is current" in again.output
    assert version_of(db) == 2
