"""A business calendar changed under open approval steps, with a held clock: the
`calendars.recompute` job moves a step's due time and its stages not yet run that count
working time on the changed calendar; the old moments do nothing, a stage already run is
not run again, clock-time limits stay, and a stage job claimed before the move does nothing
while its replacement runs once with runners racing.

The chain of `test_approval_time_limits` (step opened Wednesday 30 September 2026 10:00 on
`cn`: remind at 16 working hours, hand over at 24, admins at 32). Thursday 8 October made a
company day off pushes each stage one working day (7.5 h) later: 6.5 h on the 30th + 7.5 h
on the 9th + 2 h on the make-up Saturday 10th = 16 h at Saturday 11:00; 24 h at Monday 12th
11:30; 32 h at Tuesday 13th 12:00."""

from __future__ import annotations

import copy
import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from flowdeck.engine import clock, models, users
from flowdeck.engine.calendars import book as calendar_book
from flowdeck.engine.calendars import storage
from flowdeck.engine.calendars.storage import RECOMPUTE_JOB
from flowdeck.engine.jobs.runner import Runner
from tests.support.approval_flow import Flow, app_doc

J = models.jobs
SH = ZoneInfo("Asia/Shanghai")


def local(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=SH).astimezone(dt.UTC)


OPENED = local(2026, 9, 30, 10, 0)
REMIND = local(2026, 10, 9, 11, 0)
HAND_OVER = local(2026, 10, 10, 11, 30)
ADMINS = local(2026, 10, 12, 12, 0)
MINUTE = dt.timedelta(minutes=1)
CHAIN = {
    "steps": [
        {
            "key": "finance",
            "approvers": {"users": ["alice", "dave"]},
            "time_limit": {"working_hours": 24, "calendar": "cn"},
            "escalation": [
                {"after": {"working_hours": 16}, "do": "remind"},
                {"after": {"working_hours": 24}, "do": "hand_to_superior"},
                {"after": {"working_hours": 32}, "do": "notify_admins"},
            ],
        }
    ]
}
THURSDAY = dt.date(2026, 10, 8)
NEW_REMIND = local(2026, 10, 10, 11, 0)
NEW_DUE = local(2026, 10, 12, 11, 30)
NEW_ADMINS = local(2026, 10, 13, 12, 0)


@pytest.fixture(autouse=True)
def held() -> Iterator[None]:
    clock.set_now(OPENED)
    yield
    clock.set_now(None)
    calendar_book.install(calendar_book.CalendarBook({"cn": calendar_book.builtin_calendar()}))


@pytest.fixture
def flow(install, db):
    def build(approval: dict[str, Any]) -> Flow:
        built = Flow(db, install(app_doc(approval)))
        built.ids["root"] = db.run(lambda c: users.create_user(c, "root", password="password123", display_name="Root", is_admin=True))
        built.names[built.ids["root"]] = "root"
        return built

    return build


def run_at(f: Flow, moment: dt.datetime) -> dict[str, int]:
    clock.set_now(moment)
    return Runner(f.db, clock=clock.now).run_due()


def day_off(f: Flow, at: dt.datetime, day: dt.date = THURSDAY) -> dict[str, Any]:
    """The admin makes `day` a company day off at `at`; the recompute job runs; its result."""
    clock.set_now(at)
    f.db.run(lambda c: storage.set_days(c, "cn", [storage.DayEdit(day, False, "Company day off")]))
    Runner(f.db, clock=clock.now).run_due()
    query = sa.select(J.c.status, J.c.result).where(J.c.kind == RECOMPUTE_JOB).order_by(J.c.id.desc())
    status, result = f.db.read(lambda c: c.execute(query).first())
    assert status == "done"
    return result["approvals"]


def stage_actions(f: Flow, record_id: int) -> list[str]:
    wanted = {"reminded", "handed_over", "handover_failed", "admins_notified", "overdue"}
    return [a for a in f.actions(record_id) if a in wanted]


def stage_jobs(f: Flow) -> list[tuple[str, dt.datetime, str, Any]]:
    query = sa.select(J.c.dedupe_key, J.c.run_at, J.c.status, J.c.result).where(J.c.kind == "approval.stage").order_by(J.c.id)
    return [tuple(row) for row in f.db.read(lambda c: c.execute(query).all())]


def test_a_day_off_moves_the_due_time_and_every_stage_later(flow):
    """Thursday made a day off on 2 October: does the panel's due time move to Monday 11:30, does
    nothing happen at the old moments, and each stage run at its new moment, not a minute early?"""
    f = flow(CHAIN)
    record_id = f.submit("grace", amount="1.00").record.id
    assert f.rounds(record_id)[0].steps[0].due_at == HAND_OVER
    moved = day_off(f, local(2026, 10, 2, 10, 0))
    assert moved == {"read": 1, "moved": 1, "jobs_moved": 3, "jobs": 0, "unknown": 0}
    assert f.rounds(record_id)[0].steps[0].due_at == NEW_DUE
    jobs = stage_jobs(f)
    assert [run for _, run, _, _ in jobs] == [NEW_REMIND, NEW_DUE, NEW_ADMINS]
    assert all(key.endswith(":20261012T0330Z") for key, _, _, _ in jobs)  # the keys name the new due time
    assert run_at(f, REMIND) == {} and run_at(f, NEW_REMIND - MINUTE) == {}
    assert stage_actions(f, record_id) == []
    assert run_at(f, NEW_REMIND) == {"done": 1}
    assert stage_actions(f, record_id) == ["reminded"]
    assert run_at(f, HAND_OVER) == {} and run_at(f, NEW_DUE - MINUTE) == {}
    assert f.tasks(record_id, "finance") == {"alice": "pending", "dave": "pending"}
    assert run_at(f, NEW_DUE) == {"done": 1}
    assert f.tasks(record_id, "finance") == {"alice": "handed_over", "dave": "handed_over", "mia": "pending", "carol": "pending"}
    assert run_at(f, ADMINS) == {} and run_at(f, NEW_ADMINS) == {"done": 1}
    assert stage_actions(f, record_id) == ["reminded", "handed_over", "handed_over", "admins_notified"]
    assert sum(m.startswith("Reminder") for m in f.notes("alice")) == 1


def test_a_stage_already_run_is_not_run_again(flow):
    """The reminder ran on Friday 11:00; at noon Thursday (past) becomes a day off: is the
    reminder (now due Saturday 11:00) not sent again, while the hand-over moves to Monday?"""
    f = flow(CHAIN)
    record_id = f.submit("grace", amount="1.00").record.id
    assert run_at(f, REMIND) == {"done": 1}
    moved = day_off(f, local(2026, 10, 9, 12, 0))
    assert moved == {"read": 1, "moved": 1, "jobs_moved": 2, "jobs": 0, "unknown": 0}
    assert f.rounds(record_id)[0].steps[0].due_at == NEW_DUE
    runs = [run for key, run, status, _ in stage_jobs(f)]
    assert runs == [REMIND, NEW_DUE, NEW_ADMINS]  # the reminder's job keeps what it ran
    assert run_at(f, NEW_REMIND) == {} and run_at(f, HAND_OVER) == {}
    assert run_at(f, NEW_DUE) == {"done": 1}
    assert stage_actions(f, record_id) == ["reminded", "handed_over", "handed_over"]
    assert sum(m.startswith("Reminder") for m in f.notes("alice")) == 1


def test_clock_time_limits_are_untouched_and_a_working_stage_moves_alone(flow):
    """A limit of 400 clock hours with a reminder after 16 working hours on cn and the admins told
    at 400 hours: does the day off move only the reminder (same key: the due time stays), and
    a chain all in clock time not at all?"""
    mixed = copy.deepcopy(CHAIN)
    mixed["steps"][0]["time_limit"] = {"hours": 400}
    mixed["steps"][0]["escalation"] = [
        {"after": {"working_hours": 16, "calendar": "cn"}, "do": "remind"},
        {"after": {"hours": 400}, "do": "notify_admins"},
    ]
    f = flow(mixed)
    record_id = f.submit("grace", amount="1.00").record.id
    due = OPENED + dt.timedelta(hours=400)
    before = stage_jobs(f)
    assert day_off(f, local(2026, 10, 2, 10, 0)) == {"read": 1, "moved": 0, "jobs_moved": 1, "jobs": 0, "unknown": 0}
    after = stage_jobs(f)
    assert [(k, r) for k, r, _, _ in after] == [(before[0][0], NEW_REMIND), (before[1][0], due)]
    assert f.rounds(record_id)[0].steps[0].due_at == due
    assert run_at(f, REMIND) == {} and run_at(f, NEW_REMIND) == {"done": 1}
    assert stage_actions(f, record_id) == ["reminded"]


def test_a_chain_in_clock_time_is_not_touched(flow):
    """Hours, not working hours: does the job read no step and leave every job as it was?"""
    clocked = copy.deepcopy(CHAIN)
    clocked["steps"][0]["time_limit"] = {"hours": 24}
    clocked["steps"][0]["escalation"] = [{"after": {"hours": 16}, "do": "remind"}, {"after": {"hours": 24}, "do": "hand_to_superior"}]
    f = flow(clocked)
    record_id = f.submit("grace", amount="1.00").record.id
    before = stage_jobs(f)
    assert day_off(f, local(2026, 10, 2, 10, 0)) == {"read": 0, "moved": 0, "jobs_moved": 0, "jobs": 0, "unknown": 0}
    assert [(k, r) for k, r, _, _ in stage_jobs(f)] == [(k, r) for k, r, _, _ in before]
    assert f.rounds(record_id)[0].steps[0].due_at == OPENED + dt.timedelta(hours=24)


def test_a_stage_job_claimed_before_the_move_does_nothing_and_runners_race_its_replacement(flow, db):
    """The reminders of four steps were claimed by a worker that died (lease running until
    Saturday 11:05) when Thursday becomes a day off: are new jobs armed for them, and with
    three runners racing at Saturday 11:05 is each step reminded exactly once?"""
    f = flow(CHAIN)
    opened = [f.submit("grace", amount="1.00").record.id for _ in range(4)]
    reminders = sa.select(J.c.id).where((J.c.kind == "approval.stage") & J.c.dedupe_key.like("appr:%:0:%"))
    claimed = db.read(lambda c: list(c.execute(reminders).scalars()))
    lease = NEW_REMIND + 5 * MINUTE
    db.run(lambda c: c.execute(J.update().where(J.c.id.in_(claimed)).values(status="running", lease_token="dead", lease_until=lease)))
    moved = day_off(f, local(2026, 10, 2, 10, 0))
    assert moved == {"read": 4, "moved": 4, "jobs_moved": 8, "jobs": 4, "unknown": 0}
    clock.set_now(lease + MINUTE)
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def work() -> None:
        barrier.wait()
        try:
            Runner(db, clock=clock.now).run_due()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    for record_id in opened:
        assert stage_actions(f, record_id) == ["reminded"]
    assert sum(m.startswith("Reminder") for m in f.notes("alice")) == 4
    results = db.read(lambda c: list(c.execute(sa.select(J.c.result).where(J.c.id.in_(claimed))).scalars()))
    assert results == [{"skipped": "opened_again"}] * 4
