"""Schedules on a real database with a clock moved by hand: occurrences of rules and
presets, non-working days, catch-up after downtime, manual runs, exactly once under racing
workers, failures that end in "needs attention" and keep the schedule going."""

from __future__ import annotations

import copy
import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from flowdeck.engine import models, schedules
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.permissions import Actor
from flowdeck.engine.recurrence import Recurrence
from flowdeck.engine.registry import registry_for
from flowdeck.engine.schema.loader import check_document

SH = ZoneInfo("Asia/Shanghai")
R = models.schedule_runs
J = models.jobs


def local(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=SH).astimezone(dt.UTC)


DOC = {
    "key": "pm",
    "label": "PM",
    "roles": {"lead": {}},
    "entities": {
        "project": {
            "fields": {"name": {"type": "text", "required": True}, "active": {"type": "boolean"}},
        },
        "report": {
            "fields": {
                "title": {"type": "text", "required": True},
                "project": {"type": "reference", "to": "project"},
                "week": {"type": "text"},
                "day": {"type": "date"},
            },
        },
    },
    "schedules": [
        {
            "key": "weekly",
            "label": {"en": "Weekly report", "zh": "周报"},
            "create": {
                "entity": "report",
                "for_each": {"entity": "project", "where": "active == true"},
                "values": {"title": "name + ' ' + week_key(today())", "project": "id", "week": "week_key(today())", "day": "today()"},
            },
            "repeat": {"rrule": "FREQ=WEEKLY;BYDAY=FR;BYHOUR=16;BYMINUTE=0"},
            "catch_up": "once",
        }
    ],
}


class Clock:
    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now


def _runs(db, key="weekly"):
    return db.read(lambda c: [dict(r) for r in c.execute(sa.select(R).where(R.c.schedule == key).order_by(R.c.occurrence)).mappings()])


def _reports(db):
    return db.read(lambda c: [dict(r) for r in c.execute(sa.text("SELECT title, week, project FROM pm__report ORDER BY id")).mappings()])


def _setup(db, install, document=DOC, projects=(("Alpha", True), ("Beta", False))):
    install(copy.deepcopy(document))
    tables = db.read(registry_for)

    def add(conn):
        from flowdeck.engine.records import create_record

        for name, active in projects:
            create_record(conn, tables.entity("pm", "project"), {"name": name, "active": active}, actor=Actor.system())

    db.run(add)
    return tables


def test_rrule_and_presets_fall_on_the_right_local_moments():
    """Do a weekly RRULE, every working day and the last working day of the month (on the China calendar) give the expected local times?"""
    weekly = Recurrence(rrule="FREQ=WEEKLY;BYDAY=FR;BYHOUR=16;BYMINUTE=0")
    assert weekly.after(local(2026, 12, 7, 10, 0), 3) == [local(2026, 12, 11, 16), local(2026, 12, 18, 16), local(2026, 12, 25, 16)]
    daily = Recurrence(preset="every_working_day", at=dt.time(9, 0))
    assert daily.after(local(2026, 12, 11, 10, 0), 2) == [local(2026, 12, 14, 9), local(2026, 12, 15, 9)]
    last = Recurrence(preset="last_working_day_of_month", at=dt.time(17, 30))
    # Saturday 28 February 2026 is a make-up working day (调休) of the China calendar: the month's last working day.
    assert last.after(local(2026, 1, 1), 3) == [local(2026, 1, 30, 17, 30), local(2026, 2, 28, 17, 30), local(2026, 3, 31, 17, 30)]
    first = Recurrence(preset="first_working_day_of_month", at=dt.time(9, 0))
    assert first.next_after(local(2026, 10, 15)) == local(2026, 11, 2, 9)


def test_non_working_days_are_skipped_or_rolled():
    """Does an occurrence on a Saturday skip, roll forward to Monday, or back to Friday as asked?"""
    rule = "FREQ=MONTHLY;BYMONTHDAY=1;BYHOUR=9;BYMINUTE=0"  # 2026-08-01 is a Saturday
    start = local(2026, 7, 15)
    assert Recurrence(rrule=rule, shift="run").next_after(start) == local(2026, 8, 1, 9)
    assert Recurrence(rrule=rule, shift="skip").next_after(start) == local(2026, 9, 1, 9)
    assert Recurrence(rrule=rule, shift="forward").next_after(start) == local(2026, 8, 3, 9)
    assert Recurrence(rrule=rule, shift="back").next_after(start) == local(2026, 7, 31, 9)


def test_a_recurrence_is_told_in_words():
    """Are presets, common RRULEs and the non-working-day policies worded, and any other rule shown as written?"""
    from flowdeck.engine.recurrence_words import describe, non_working_day_policy

    weekly = Recurrence(rrule="FREQ=WEEKLY;BYDAY=MO,FR;BYHOUR=16;BYMINUTE=30", shift="back")
    assert str(describe(weekly)) == "every week on Monday, Friday at 16:30"
    assert str(non_working_day_policy(weekly)) == "moved to the working day before"
    assert str(describe(Recurrence(rrule="FREQ=DAILY;INTERVAL=2;BYHOUR=8,14"))) == "every 2 days at 08:00, 14:00"
    assert str(describe(Recurrence(rrule="FREQ=MONTHLY;BYMONTHDAY=1;BYHOUR=9"))) == "every month on day 1 at 09:00"
    assert str(describe(Recurrence(rrule="FREQ=YEARLY;BYMONTH=3;BYHOUR=9"))) == "by the rule FREQ=YEARLY;BYMONTH=3;BYHOUR=9"
    preset = Recurrence(preset="last_working_day_of_month", at=dt.time(17, 30))
    assert str(describe(preset)) == "on the last working day of each month at 17:30"
    assert str(non_working_day_policy(preset)) == "falls on working days only"
    assert str(non_working_day_policy(Recurrence(rrule="FREQ=DAILY;BYHOUR=9", shift="skip"))) == "skipped on non-working days"


def test_bad_schedules_are_refused_at_their_json_paths():
    """Does a document with a bad rule, an unknown entity or field and a bad window list each problem at its path?"""
    bad = copy.deepcopy(DOC)
    bad["schedules"][0]["repeat"] = {"rrule": "FREQ=MINUTELY"}
    bad["schedules"][0]["create"]["values"]["nope"] = "1"
    bad["schedules"][0]["catch_up_window"] = "P"
    bad["schedules"].append({"key": "x", "create": {"entity": "ghost"}, "repeat": {"preset": "every_day", "at": "25:00"}})
    assert [(p.path, str(p.message)) for p in check_document(bad)] == [
        ("schedules[1].repeat.at", '"25:00" is not a time of day such as 09:00 or 16:30')
    ]
    bad["schedules"][1]["repeat"]["at"] = "08:00"
    paths = {p.path for p in check_document(bad)}
    assert {
        "schedules[0].repeat.rrule",
        "schedules[0].create.values.nope",
        "schedules[0].catch_up_window",
        "schedules[1].create.entity",
    } <= paths


def test_an_occurrence_creates_one_record_per_matching_record_and_arms_the_next(db, install):
    """Does the Friday occurrence create a report for each active project with the week key, and arm the next Friday?"""
    _setup(db, install)
    clock = Clock(local(2026, 12, 11, 16, 0, 5))
    db.run(lambda c: schedules.arm_app(c, registry_for(c).apps["pm"].app, now=local(2026, 12, 7)))
    assert Runner(db, clock=clock).run_due() == {"done": 1}
    assert _reports(db) == [{"title": "Alpha 2026-W50", "week": "2026-W50", "project": 1}]
    assert [r["status"] for r in _runs(db)] == ["done"]
    keys = db.read(lambda c: set(c.execute(sa.select(J.c.dedupe_key).where(J.c.status == "queued")).scalars()))
    assert schedules.occurrence_key("pm", "weekly", local(2026, 12, 18, 16)) in keys


def test_run_now_does_not_consume_the_next_occurrence(db, install):
    """Does a manual run create records at once and leave the coming occurrence armed and run as usual?"""
    tables = _setup(db, install)
    app = tables.apps["pm"].app
    clock = Clock(local(2026, 12, 9, 10))
    db.run(lambda c: schedules.arm_app(c, app, now=clock.now))
    db.run(lambda c: schedules.run_now(c, app, app.schedule("weekly"), actor=Actor.system(), now=clock.now))
    assert Runner(db, clock=clock).run_due() == {"done": 1}
    assert len(_reports(db)) == 1
    clock.now = local(2026, 12, 11, 16, 1)
    assert Runner(db, clock=clock).run_due() == {"done": 1}
    assert len(_reports(db)) == 2
    assert [r["occurrence"].startswith("manual:") for r in _runs(db)] == [False, True]


@pytest.mark.parametrize(("policy", "expected"), [("all", 4), ("once", 1), ("skip", 0)])
def test_catch_up_after_downtime_follows_the_policy(db, install, policy, expected):
    """After four missed Fridays, does `all` run four, `once` run the newest, and `skip` none (each recorded)?"""
    document = copy.deepcopy(DOC)
    document["schedules"][0].update(catch_up=policy, catch_up_window="P60D")
    tables = _setup(db, install, document)
    db.run(lambda c: schedules.arm_app(c, tables.apps["pm"].app, now=local(2026, 12, 7)))
    clock = Clock(local(2027, 1, 4, 12))  # Fridays 11, 18, 25 Dec and 1 Jan went by
    Runner(db, clock=clock).run_due()
    assert len(_reports(db)) == expected
    runs = _runs(db)
    assert len(runs) == (4 if policy == "all" else 2)  # once and skip jump to the newest missed one
    assert sum(r["status"] == "done" for r in runs) == expected


def test_racing_workers_run_each_occurrence_exactly_once(db, install):
    """Do three workers and a tick, racing over hundreds of due occurrences, create each occurrence's record once?"""
    document = copy.deepcopy(DOC)
    document["schedules"][0].update(
        repeat={"rrule": "FREQ=DAILY;BYHOUR=0,3,6,9,12,15,18,21;BYMINUTE=0"}, catch_up="all", catch_up_window="P60D"
    )
    tables = _setup(db, install, document)
    db.run(lambda c: schedules.arm_app(c, tables.apps["pm"].app, now=local(2026, 11, 1)))
    clock = Clock(local(2026, 12, 1, 0, 30))  # 30 days x 8 occurrences came due
    Runner(db, clock=clock).run_one()  # the first occurrence arms every missed one
    errors: list[BaseException] = []

    def work():
        try:
            Runner(db, clock=clock).run_due()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    runs = _runs(db)
    assert len(runs) == 240
    assert len({r["occurrence"] for r in runs}) == 240
    assert all(r["status"] == "done" for r in runs)
    assert len(_reports(db)) == 240


def test_a_failing_occurrence_retries_then_needs_attention_and_keeps_the_next(db, install, make_user):
    """Does a failing occurrence retry with backoff, then show "needs attention", notify the admins and still arm the next one?"""
    document = copy.deepcopy(DOC)
    document["schedules"][0]["create"]["values"]["title"] = "name + 1"  # text + number: fails when it runs
    document["schedules"][0]["catch_up_window"] = "P30D"
    tables = _setup(db, install, document)
    admin = make_user("boss", is_admin=True)
    db.run(lambda c: schedules.arm_app(c, tables.apps["pm"].app, now=local(2026, 12, 7)))
    clock = Clock(local(2026, 12, 11, 16, 0, 1))
    runner = Runner(db, clock=clock)
    for attempt in range(schedules.MAX_ATTEMPTS):
        assert runner.run_due() == ({"queued": 1} if attempt < schedules.MAX_ATTEMPTS - 1 else {"done": 1})
        assert _runs(db) == [] or attempt == schedules.MAX_ATTEMPTS - 1
        clock.now += dt.timedelta(hours=2)
    runs = _runs(db)
    assert [r["status"] for r in runs] == ["needs_attention"]
    said = schedules.read_note(runs[0]["error"]).error
    assert said is not None and not isinstance(said, str)  # a message, worded by whoever shows it
    assert "Error" not in str(said) and "text" in str(said)  # no class name: what went wrong
    notices = db.read(lambda c: c.execute(sa.select(models.notifications.c.user_id, models.notifications.c.kind)).all())
    assert (admin.user_id, "schedule_failed") in notices
    keys = db.read(lambda c: set(c.execute(sa.select(J.c.dedupe_key).where(J.c.status == "queued")).scalars()))
    assert schedules.occurrence_key("pm", "weekly", local(2026, 12, 18, 16)) in keys


def test_a_changed_rule_or_removed_schedule_leaves_old_occurrences_doing_nothing(db, install):
    """After the rule moves to Thursdays, does the armed Friday occurrence do nothing while Thursday
    is armed; and after removal, does nothing run?"""
    _setup(db, install)
    db.run(lambda c: schedules.arm_app(c, registry_for(c).apps["pm"].app, now=local(2026, 12, 7)))
    moved = copy.deepcopy(DOC)
    moved["schedules"][0]["repeat"] = {"rrule": "FREQ=WEEKLY;BYDAY=TH;BYHOUR=16;BYMINUTE=0"}
    install(moved)
    db.run(lambda c: schedules.arm_app(c, registry_for(c).apps["pm"].app, now=local(2026, 12, 7)))
    clock = Clock(local(2026, 12, 11, 16, 1))
    assert Runner(db, clock=clock).run_due() == {"done": 2}  # Thursday ran, Friday did nothing
    assert len(_reports(db)) == 1
    results = db.read(lambda c: sorted(str(r) for r in c.execute(sa.select(J.c.result).where(J.c.status == "done")).scalars()))
    assert any("not_an_occurrence_any_more" in r for r in results)
    removed = copy.deepcopy(moved)
    del removed["schedules"]
    install(removed)
    clock.now = local(2026, 12, 17, 16, 1)
    assert Runner(db, clock=clock).run_due() == {"done": 1}
    assert len(_reports(db)) == 1


def test_the_plan_names_added_changed_and_removed_schedules_and_reminders(db, install):
    """Does the migration plan of a document change list the schedule and reminder changes with the next occurrence?"""
    from flowdeck.engine.apps import apply_document

    install(copy.deepcopy(DOC))
    changed = copy.deepcopy(DOC)
    changed["schedules"][0]["catch_up"] = "all"
    changed["schedules"].append(
        {"key": "daily", "create": {"entity": "report", "values": {"title": "'x'"}}, "repeat": {"preset": "every_day"}}
    )
    changed["entities"]["report"]["reminders"] = [{"key": "r", "after": {"field": "day", "days": 1}, "to": ["created_by"]}]
    result = apply_document(db, changed, actor=Actor.system(), dry_run=True)
    lines = [str(m) for m in result.plan.describe()]
    assert any(line.startswith("Change schedule “weekly” (next occurrence ") for line in lines)
    assert any(line.startswith("Add schedule “daily” (first occurrence ") and "09:00" in line for line in lines)
    assert any(line.startswith("Add reminder “r” to report") for line in lines)


def test_the_bundled_project_app_drafts_weekly_reports_for_active_projects(bundled_db):
    """Does the bundled project app's Friday occurrence draft one status report per project in a working state, with the week key?"""
    db = bundled_db
    tables = db.read(registry_for)
    projects = tables.entity("project", "project")

    def add(conn):  # the projects' rows as a migration would leave them: only what the schedule reads
        for name, state in (("Project P1", "execution"), ("Project P2", "archived")):
            at = local(2026, 12, 1)
            conn.execute(projects.table.insert().values(name=name, state=state, version=1, created_at=at, updated_at=at))

    db.run(add)
    moment = local(2026, 12, 11, 16)
    db.run(lambda c: schedules.arm_app(c, tables.apps["project"].app, now=local(2026, 12, 10)))
    assert set(Runner(db, clock=Clock(moment + dt.timedelta(seconds=5))).run_due()) == {"done"}  # the operations digest runs too
    titles = db.read(lambda c: c.execute(sa.text("SELECT title FROM project__status_report")).scalars().all())
    assert titles == ["Project P1 2026-W50"]


def test_the_bundled_weekly_report_skips_a_project_already_reported_this_week(bundled_db):
    """When one project already has this week's status report, does the Friday occurrence create
    the others' reports, end `done`, and keep the one skip with its reason as a message?"""
    from flowdeck.engine.records import create_record

    db = bundled_db
    tables = db.read(registry_for)
    projects = tables.entity("project", "project")

    def add(conn):
        at = local(2026, 12, 1)
        for name in ("Project P1", "Project P2", "Project P3"):
            conn.execute(projects.table.insert().values(name=name, state="execution", version=1, created_at=at, updated_at=at))
        values = {"title": "P2 early", "project": 2, "report_date": dt.date(2026, 12, 9), "summary": "on track"}
        create_record(conn, tables.entity("project", "status_report"), values, actor=Actor.system())

    db.run(add)
    db.run(lambda c: schedules.arm_app(c, tables.apps["project"].app, now=local(2026, 12, 10)))
    assert set(Runner(db, clock=Clock(local(2026, 12, 11, 16, 0, 5))).run_due()) == {"done"}
    titles = db.read(lambda c: c.execute(sa.text("SELECT title FROM project__status_report ORDER BY id")).scalars().all())
    assert titles == ["P2 early", "Project P1 2026-W50", "Project P3 2026-W50"]
    runs = _runs(db, "weekly_status_report")
    assert [(r["status"], r["records_created"]) for r in runs] == [("done", 2)]
    note = schedules.read_note(runs[0]["error"])
    assert (note.error, note.skipped) == (None, 1)
    assert [str(reason) for reason in note.reasons] == [
        "Project #2: One status report per project and week: Status report #1 “P2 early” already has the same Project, Week"
    ]


def test_refusals_in_a_batch_of_occurrences_skip_only_the_refused_records(db, install):
    """Run together in one transaction, do occurrences where one record is refused by a rule across
    records still create every other record, each run `done` with its skip counted?"""
    from flowdeck.engine.records import create_record

    document = copy.deepcopy(DOC)
    document["schedules"][0].update(catch_up="all", catch_up_window="P60D")
    document["entities"]["report"]["constraints"] = [
        {"key": "once", "message": {"en": "One report a week", "zh": "每周一份"}, "unique": ["project", "week"]}
    ]
    tables = _setup(db, install, document, projects=(("Alpha", True), ("Gamma", True)))
    report = tables.entity("pm", "report")
    db.run(lambda c: create_record(c, report, {"title": "early", "project": 2, "week": "2026-W51"}, actor=Actor.system()))
    db.run(lambda c: schedules.arm_app(c, tables.apps["pm"].app, now=local(2026, 12, 7)))
    clock = Clock(local(2026, 12, 28, 12))  # Fridays 11, 18 and 25 December went by
    runner = Runner(db, clock=clock)
    runner.run_one()  # the first arms the missed ones: they are due together
    assert runner.run_due() == {"done": 2}  # the Fridays 18 and 25 December, in one transaction first
    runs = _runs(db)
    assert [(r["status"], r["records_created"], schedules.read_note(r["error"]).skipped) for r in runs] == [
        ("done", 2, 0), ("done", 1, 1), ("done", 2, 0),
    ]  # fmt: skip
    assert len(_reports(db)) == 1 + 5


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY;INTERVAL=3;BYHOUR=8;BYMINUTE=30",
        "FREQ=WEEKLY;INTERVAL=2;BYHOUR=10;BYMINUTE=0",
        "FREQ=MONTHLY;INTERVAL=5;BYHOUR=9;BYMINUTE=0",
        "FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=16;BYMINUTE=0",
        "FREQ=YEARLY;INTERVAL=2;BYMONTH=3;BYMONTHDAY=15;BYHOUR=9;BYMINUTE=0",
    ],
)
def test_occurrences_far_from_the_start_keep_the_rules_phase(rule):
    """Are occurrences years after the rule's start the same as dateutil counting from the start (intervals keep their phase)?"""
    from dateutil.rrule import rrulestr

    recurrence = Recurrence(rrule=rule, starts=dt.date(2024, 1, 3))
    after = local(2027, 5, 17, 12)
    naive = after.astimezone(SH).replace(tzinfo=None)
    full = rrulestr(rule, dtstart=dt.datetime(2024, 1, 3))
    expected, moment = [], naive
    for _ in range(5):
        moment = full.after(moment)
        expected.append(moment.replace(tzinfo=SH).astimezone(dt.UTC))
    assert recurrence.after(after, 5) == expected


def test_the_locks_say_whether_they_took_the_row(db):
    """`_lock` and `timers.arm` report a second insert of the same key as not taken on both
    databases (psycopg gives -1 as the row count of `INSERT ... ON CONFLICT DO NOTHING`, so a
    row count would say "taken" twice and the occurrence would run twice)."""
    from flowdeck.engine.timers import arm

    values = {"app": "pm", "schedule": "weekly", "occurrence": "20261211T0800Z", "status": "ran", "records_created": 0}
    assert db.run(lambda c: schedules._lock(c, values)) is True
    assert db.run(lambda c: schedules._lock(c, values)) is False
    moment = local(2026, 12, 11, 16, 0)
    job = ("lock-probe:1", {"n": 1}, moment)
    assert db.run(lambda c: arm(c, "lock.probe", [job, ("lock-probe:2", {"n": 2}, moment)])) == 2
    assert db.run(lambda c: arm(c, "lock.probe", [job, ("lock-probe:3", {"n": 3}, moment)])) == 1
    assert db.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(J).where(J.c.dedupe_key.like("lock-probe:%"))).scalar()) == 3
