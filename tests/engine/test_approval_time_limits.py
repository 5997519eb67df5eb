"""Approval steps on the clock: a time limit in working hours on the China calendar with its
escalation chain (remind, hand over to the approver's superior, tell the app admins) armed
as jobs when the step opens, walked minute by minute with a held clock; a decision making
later stages do nothing; two runners racing; catching up after downtime; every `if_nobody`
policy; the checks of the new keys; steps with `due_hours` as before."""

from __future__ import annotations

import copy
import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from flowdeck.engine import approvals, clock, models, users
from flowdeck.engine.bundles.format import approval_usernames, rename_approval_users
from flowdeck.engine.errors import TransitionRefused
from flowdeck.engine.jobs.runner import Runner
from flowdeck.engine.schema.loader import check_document
from tests.support.approval_flow import Flow, app_doc

SH = ZoneInfo("Asia/Shanghai")
J = models.jobs


def local(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=SH).astimezone(dt.UTC)


# Opened Wednesday 30 September 2026 10:00. The cn calendar works 09:00-12:00 and
# 13:30-18:00; 1-7 October are the National Day holidays and Saturday 10 October is a
# make-up working day. 6.5 h on the 30th + 7.5 h on the 8th + 2 h on the 9th = 16 h.
OPENED = local(2026, 9, 30, 10, 0)
REMIND = local(2026, 10, 9, 11, 0)  # 16 working hours
HAND_OVER = local(2026, 10, 10, 11, 30)  # 24: on the make-up Saturday
ADMINS = local(2026, 10, 12, 12, 0)  # 32: Sunday the 11th is not counted
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


@pytest.fixture(autouse=True)
def held_clock() -> Iterator[None]:
    clock.set_now(OPENED)
    yield
    clock.set_now(None)


@pytest.fixture
def flow(install, db):
    def build(approval: dict[str, Any]) -> Flow:
        built = Flow(db, install(app_doc(approval)))
        built.ids["root"] = db.run(lambda c: users.create_user(c, "root", password="password123", display_name="Root", is_admin=True))
        built.names[built.ids["root"]] = "root"
        return built

    return build


def periodic_pass(f: Flow) -> int:
    """What `flowdeck tick` does before running due jobs (the older steps' overdue pass)."""
    return f.db.run(lambda c: approvals.escalate_overdue(c, f.registry))


def run_at(f: Flow, moment: dt.datetime) -> dict[str, int]:
    clock.set_now(moment)
    return Runner(f.db, clock=clock.now).run_due()


def stage_actions(f: Flow, record_id: int) -> list[str]:
    wanted = {"reminded", "handed_over", "handover_failed", "admins_notified", "overdue"}
    return [a for a in f.actions(record_id) if a in wanted]


def test_the_chain_minute_by_minute_on_the_china_calendar(flow):
    """Remind at 16 working hours, hand each task to the manager or department head at 24, tell the admins at 32, not a minute early?"""
    f = flow(CHAIN)
    out = f.submit("grace", amount="1.00")
    record_id = out.record.id
    assert f.rounds(record_id)[0].steps[0].due_at == HAND_OVER
    keys = f.db.read(lambda c: sorted(c.execute(sa.select(J.c.dedupe_key).where(J.c.kind == "approval.stage")).scalars()))
    assert [k.split(":")[2] for k in keys] == ["0", "1", "2"]
    assert run_at(f, REMIND - MINUTE) == {}
    assert stage_actions(f, record_id) == []
    assert run_at(f, REMIND) == {"done": 1}
    assert stage_actions(f, record_id) == ["reminded"]
    assert sum(m.startswith("Reminder: step “Finance”") for m in f.notes("alice")) == 1
    assert sum(m.startswith("Reminder") for m in f.notes("dave")) == 1
    assert run_at(f, HAND_OVER - MINUTE) == {}
    assert f.tasks(record_id, "finance") == {"alice": "pending", "dave": "pending"}
    assert run_at(f, HAND_OVER) == {"done": 1}
    # Alice's manager is Mia; Dave has no manager: the head of Finance, Carol.
    assert f.tasks(record_id, "finance") == {"alice": "handed_over", "dave": "handed_over", "mia": "pending", "carol": "pending"}
    views = f.task_views(record_id, "finance")
    assert str(views["alice"].note) == "handed over to Mia: no decision within 24 working hours"
    assert str(views["mia"].note) == "handed over from Alice: no decision within 24 working hours"
    handed = [str(e.message) for e in f.entries(record_id) if e.action == "handed_over"]
    assert sorted(handed) == [
        "step “Finance”: from Alice to Mia, no decision within 24 working hours",
        "step “Finance”: from Dave to Carol, no decision within 24 working hours",
    ]
    assert [m for m in f.notes("mia") if m.startswith("Approval handed to you")] == [
        f"Approval handed to you: step “Finance” of record #{record_id}, from Alice (no decision within 24 working hours)"
    ]
    assert f.waiting("mia") == ["finance"] and f.waiting("alice") == []
    assert [i.task_status for i in f.db.read(lambda c: approvals.decided_by(c, f.ids["alice"]))] == ["handed_over"]
    assert run_at(f, ADMINS - MINUTE) == {}
    assert run_at(f, ADMINS) == {"done": 1}
    assert stage_actions(f, record_id) == ["reminded", "handed_over", "handed_over", "admins_notified"]
    assert sum(m.startswith("Approval stuck") for m in f.notes("root")) == 1
    assert f.decide(out.request_id, "mia").status == "approved"
    assert f.state(record_id) == "approved"


def test_a_decision_before_a_stage_makes_its_job_do_nothing(flow):
    """Approved after the reminder: do the hand-over and admin stages run and change nothing?"""
    f = flow(CHAIN)
    out = f.submit("grace", amount="1.00")
    run_at(f, REMIND)
    clock.set_now(REMIND + dt.timedelta(hours=1))
    assert f.decide(out.request_id, "dave").status == "approved"
    assert run_at(f, ADMINS + dt.timedelta(days=3)) == {"done": 2}
    results = f.db.read(lambda c: c.execute(sa.select(J.c.result).where(J.c.kind == "approval.stage").order_by(J.c.run_at)).scalars().all())
    assert results[1:] == [{"skipped": "decided"}, {"skipped": "decided"}]
    assert stage_actions(f, out.record.id) == ["reminded"]
    assert f.tasks(out.record.id, "finance") == {"alice": "voided", "dave": "approved"}
    assert not [m for m in f.notes("root") if m.startswith("Approval stuck")]


def test_a_withdrawn_round_leaves_its_jobs_doing_nothing(flow):
    """Withdrawn and asked again a week later: do the first round's jobs do nothing and the new round's run at their times?"""
    f = flow(CHAIN)
    record_id = f.new("grace", amount="1.00")
    first = f.request(record_id, "grace")
    f.db.run(lambda c: approvals.withdraw(c, f.et, first.request_id, actor=f.actor("grace")))
    clock.set_now(local(2026, 10, 8, 9, 0))
    f.request(record_id, "grace")
    run_at(f, REMIND)
    assert stage_actions(f, record_id) == []  # the first round's reminder: withdrawn
    # 16 working hours after 8 October 09:00: 7.5 h on the 8th and 9th, 1 h on the make-up Saturday.
    assert run_at(f, local(2026, 10, 10, 9, 59)) == {}
    run_at(f, local(2026, 10, 10, 10, 0))
    assert stage_actions(f, record_id) == ["reminded"]


def test_two_runners_racing_run_each_stage_once(flow, db):
    """Two workers and a tick running the same due stages at once: one reminder, one hand-over per task, no error?"""
    f = flow(CHAIN)
    opened = [f.submit("grace", amount="1.00").record.id for _ in range(4)]
    clock.set_now(ADMINS)
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def work(tick: bool) -> None:
        barrier.wait()
        try:
            if tick:
                db.run(lambda c: approvals.escalate_overdue(c, f.registry))
            Runner(db, clock=clock.now).run_due()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i == 2,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    for record_id in opened:  # stages due together may run in any order across workers; each once
        assert sorted(stage_actions(f, record_id)) == ["admins_notified", "handed_over", "handed_over", "reminded"]
        assert f.tasks(record_id, "finance") == {"alice": "handed_over", "dave": "handed_over", "mia": "pending", "carol": "pending"}
    assert sum(m.startswith("Approval stuck") for m in f.notes("root")) == 4
    assert sum(m.startswith("Approval handed to you") for m in f.notes("mia")) == 4


def test_tick_catches_up_after_downtime_in_order(flow):
    """Nothing ran for two weeks: does one tick run every stage, in their order?"""
    f = flow(CHAIN)
    out = f.submit("grace", amount="1.00")
    clock.set_now(local(2026, 10, 20, 9, 0))
    periodic_pass(f)
    assert Runner(f.db, clock=clock.now).run_due() == {"done": 3}
    assert stage_actions(f, out.record.id) == ["reminded", "handed_over", "handed_over", "admins_notified"]


def test_hand_to_a_named_user_and_a_superior_fallback(flow):
    """`hand_to` gives every waiting task to the named user; with nobody above, `hand_to_superior` uses its `user`?"""
    f = flow(
        {
            "steps": [
                {
                    "key": "finance",
                    "approvers": {"users": ["erin"]},  # heads the company: nobody above
                    "time_limit": {"hours": 4},
                    "escalation": [
                        {"after": {"hours": 4}, "do": "hand_to_superior", "user": "bea"},
                        {"after": {"hours": 8}, "do": "hand_to", "user": "otto"},
                    ],
                }
            ]
        }
    )
    out = f.submit("grace", amount="1.00")
    run_at(f, OPENED + dt.timedelta(hours=4))
    assert f.tasks(out.record.id, "finance") == {"erin": "handed_over", "bea": "pending"}
    run_at(f, OPENED + dt.timedelta(hours=8))
    assert f.tasks(out.record.id, "finance") == {"erin": "handed_over", "bea": "handed_over", "otto": "pending"}
    assert stage_actions(f, out.record.id) == ["handed_over", "handed_over"]


def test_a_time_limit_without_a_chain_flags_the_step_overdue(flow):
    """time_limit alone: at the limit, are approvers and requester told once, as `due_hours` does?"""
    f = flow({"steps": [{"key": "finance", "approvers": {"users": ["dave"]}, "time_limit": {"working_hours": 2}}]})
    out = f.submit("grace", amount="1.00")
    assert run_at(f, local(2026, 9, 30, 11, 59)) == {}
    run_at(f, local(2026, 9, 30, 12, 0))
    assert stage_actions(f, out.record.id) == ["overdue"]
    for who in ("dave", "grace"):
        assert sum(m.startswith("Overdue approval: Finance") for m in f.notes(who)) == 1


# -- steps with due_hours, as before ----------------------------------------------------------


def test_due_hours_steps_arm_no_jobs_and_the_periodic_pass_handles_them(flow):
    """A step with due_hours and on_overdue escalate: no stage jobs; the tick adds the role once at the due time, as before?"""
    f = flow(
        {
            "steps": [
                {"key": "finance", "approvers": {"users": ["dave"]}, "due_hours": 8, "on_overdue": "escalate", "escalation_role": "boss"}
            ]
        }
    )
    out = f.submit("grace", amount="1.00")
    assert f.db.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(J).where(J.c.kind == "approval.stage")).scalar()) == 0
    assert f.rounds(out.record.id)[0].steps[0].due_at == OPENED + dt.timedelta(hours=8)
    clock.set_now(OPENED + dt.timedelta(hours=7, minutes=59))
    periodic_pass(f)
    assert f.tasks(out.record.id, "finance") == {"dave": "pending"}
    clock.set_now(OPENED + dt.timedelta(hours=8, minutes=1))
    periodic_pass(f)
    periodic_pass(f)
    assert f.tasks(out.record.id, "finance") == {"dave": "pending", "zed": "pending", "zoe": "pending"}
    assert f.actions(out.record.id).count("overdue") == 1


# -- if_nobody ---------------------------------------------------------------------------------


def _nobody(policy: Any, then: dict[str, Any] | None = None) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"key": "vacant", "approvers": {"role": "vacant"}, "if_nobody": policy}]
    return {"steps": steps + ([then] if then else [])}


FINANCE = {"key": "finance", "approvers": {"users": ["dave"]}}


def test_if_nobody_skip_logs_why_and_goes_on(flow):
    """if_nobody skip: is the empty step skipped with its reason in the history, and the next step asked?"""
    f = flow(_nobody("skip", FINANCE))
    out = f.submit("grace", amount="1.00")
    assert out.status == "pending" and f.waiting("dave") == ["finance"]
    assert [s.status for s in f.rounds(out.record.id)[0].steps] == ["skipped", "pending"]
    (entry,) = [e for e in f.entries(out.record.id) if e.action == "step_skipped"]
    assert str(entry.message) == "step “Vacant”: no approver found; skipped, as the step says (if_nobody: skip)"


def test_if_nobody_skip_of_the_only_step_performs_the_transition(flow):
    f = flow(_nobody("skip"))
    out = f.submit("grace", amount="1.00")
    assert out.status == "approved" and f.state(out.record.id) == "approved"


@pytest.mark.parametrize(
    ("policy", "approver", "origin"),
    [
        ({"user": "bea"}, "bea", "fallback_user"),
        ("admins", "root", "admins"),
        ({"role": "backup"}, "bea", "fallback_role"),
        ("escalate", "erin", "escalated"),
    ],
)
def test_if_nobody_sends_the_step_to_its_fallback(flow, policy, approver, origin):
    """Each fallback policy: does the empty step go to the named user, the admins, the role or the requester's superior, with a note?"""
    f = flow(_nobody(policy))
    out = f.submit("grace", amount="1.00")
    views = f.task_views(out.record.id, "vacant")
    assert list(views) == [approver] and views[approver].origin == origin and views[approver].note is not None
    assert "escalated" in f.actions(out.record.id)
    assert f.decide(out.request_id, approver).status == "approved"


def test_if_nobody_user_who_is_gone_refuses_the_request(flow):
    f = flow(_nobody({"user": "nobody_here"}))
    with pytest.raises(TransitionRefused, match="nobody can approve"):
        f.submit("grace", amount="1.00")


# -- checks ------------------------------------------------------------------------------------


def _problems(step: dict[str, Any]) -> dict[str, str]:
    document = app_doc({"steps": [{"key": "finance", "approvers": {"role": "finance"}, **step}]})
    prefix = "entities.claim.workflow.transitions[0].approval.steps[0]"
    return {p.path.removeprefix(prefix): str(p.message) for p in check_document(copy.deepcopy(document))}


def test_the_new_keys_are_checked_at_their_json_paths():
    """Each mistake in time_limit, escalation and if_nobody: refused at its own path with a message that says why?"""
    assert _problems({"time_limit": {"working_hours": 8, "calendar": "mars"}})[".time_limit.calendar"].startswith("unknown calendar “mars”")
    assert _problems({"escalation": [{"after": {"hours": 1}, "do": "remind"}]}) == {".escalation": "an escalation chain needs “time_limit”"}
    found = _problems(
        {
            "time_limit": {"working_hours": 8},
            "due_hours": 8,
            "escalation": [
                {"after": {"working_hours": 8}, "do": "hand_to"},
                {"after": {"working_hours": 4}, "do": "remind", "user": "li.na"},
                {"after": {"hours": 9}, "do": "add_role", "role": "bosss"},
                {"after": {"hours": 1, "days": 1}, "do": "notify_admins"},
            ],
        }
    )
    assert found[".due_hours"] == "give either “time_limit” or “due_hours”, not both"
    assert found[".escalation[0]"] == "“hand_to” needs the “user” the task is handed to"
    assert found[".escalation[1].user"] == "applies only to “hand_to” and “hand_to_superior”"
    assert found[".escalation[1].after"] == "must come after the stage before it (stages run in order)"
    assert found[".escalation[2].role"].startswith("unknown role “bosss”")
    assert found[".escalation[3].after"].startswith("give exactly one of")
    assert ".if_nobody" in _problems({"if_nobody": "nobody"})
    assert ".escalation[0].do" in _problems({"time_limit": {"hours": 1}, "escalation": [{"after": {"hours": 1}, "do": "shout"}]})
    assert _problems({"time_limit": {"working_hours": 24, "calendar": "cn"}, "if_nobody": {"user": "li.na"}, **CHAIN["steps"][0]}) == {}


def test_bundles_carry_and_map_the_users_a_time_limit_names():
    """A bundle's users and its user mapping: do they include a step's fallback user and a stage's hand-over user?"""
    step = {"key": "it", "approvers": {"users": ["dave"]}, "if_nobody": {"user": "bea"}, "time_limit": {"hours": 4}}
    step["escalation"] = [{"after": {"hours": 4}, "do": "hand_to", "user": "otto"}]
    document = app_doc({"steps": [step]})
    assert approval_usernames(document) == ["dave", "bea", "otto"]
    rename_approval_users(document, {"bea": "li.na", "otto": "wang.fang"})
    renamed = document["entities"]["claim"]["workflow"]["transitions"][0]["approval"]["steps"][0]
    assert renamed["if_nobody"] == {"user": "li.na"} and renamed["escalation"][0]["user"] == "wang.fang"


# -- a step sent back and opened again ---------------------------------------------------------

HOUR = dt.timedelta(hours=1)


def _sent_back(finance: dict[str, Any]) -> dict[str, Any]:
    """`finance` (dave, with the given time keys) then `audit` (otto), sending back allowed."""
    return {"send_back": True, "steps": [{"key": "finance", "approvers": {"users": ["dave"]}, **finance},
                                         {"key": "audit", "approvers": {"users": ["otto"]}}]}  # fmt: skip


def _send_back(f: Flow, out: approvals.Outcome, decider: str) -> None:
    """`decider` approves the finance step at +3 h; otto sends it back at +4 h: open again."""
    clock.set_now(OPENED + 3 * HOUR)
    assert f.decide(out.request_id, decider).status == "pending"
    clock.set_now(OPENED + 4 * HOUR)
    f.db.run(lambda c: approvals.send_back(c, f.et, out.request_id, "finance", actor=f.actor("otto"), comment="again"))


def _overdue_notes(f: Flow, who: str) -> int:
    return sum(m.startswith("Overdue approval: Finance") for m in f.notes(who))


def test_a_time_limit_step_opened_again_is_flagged_overdue_again(flow):
    """A `time_limit` step flagged overdue, sent back and opened again: at its new limit, are
    the approver and requester told again?"""
    f = flow(_sent_back({"time_limit": {"hours": 2}}))
    out = f.submit("grace", amount="1.00")
    run_at(f, OPENED + 2 * HOUR)
    assert _overdue_notes(f, "dave") == 1
    _send_back(f, out, "dave")
    assert run_at(f, OPENED + 6 * HOUR - MINUTE) == {}
    run_at(f, OPENED + 6 * HOUR)
    assert stage_actions(f, out.record.id) == ["overdue", "overdue"]
    assert _overdue_notes(f, "dave") == 2 and _overdue_notes(f, "grace") == 2


def test_a_due_hours_step_opened_again_is_escalated_again(flow):
    """A `due_hours` step escalated, sent back and opened again: does the periodic pass handle
    it again at its new due time (its escalation mark cleared), telling everyone again?"""
    f = flow(_sent_back({"due_hours": 2, "on_overdue": "notify"}))
    out = f.submit("grace", amount="1.00")
    clock.set_now(OPENED + 2 * HOUR + MINUTE)
    assert periodic_pass(f) == 1
    _send_back(f, out, "dave")
    assert f.rounds(out.record.id)[0].steps[0].due_at == OPENED + 6 * HOUR
    clock.set_now(OPENED + 6 * HOUR - MINUTE)
    assert periodic_pass(f) == 0
    clock.set_now(OPENED + 6 * HOUR + MINUTE)
    assert periodic_pass(f) == 1
    assert periodic_pass(f) == 0
    assert f.actions(out.record.id).count("overdue") == 2
    assert _overdue_notes(f, "dave") == 2 and _overdue_notes(f, "grace") == 2


def _handed_to_me(f: Flow, who: str) -> int:
    return sum(m.startswith("Approval handed to you: step “Finance”") for m in f.notes(who))


def test_a_step_opened_again_is_handed_over_again_to_the_same_user(flow):
    """Handed from dave to bea, approved by bea, sent back: at the new limit, is dave's task
    handed to bea again (her voided row taken up) and is she told again?"""
    f = flow(_sent_back({"time_limit": {"hours": 2}, "escalation": [{"after": {"hours": 2}, "do": "hand_to", "user": "bea"}]}))
    out = f.submit("grace", amount="1.00")
    run_at(f, OPENED + 2 * HOUR)
    assert f.tasks(out.record.id, "finance") == {"dave": "handed_over", "bea": "pending"}
    _send_back(f, out, "bea")
    assert f.tasks(out.record.id, "finance") == {"dave": "pending", "bea": "voided"}
    run_at(f, OPENED + 6 * HOUR)
    assert f.tasks(out.record.id, "finance") == {"dave": "handed_over", "bea": "pending"}
    assert stage_actions(f, out.record.id) == ["handed_over", "handed_over"]
    assert _handed_to_me(f, "bea") == 2
    assert str(f.task_views(out.record.id, "finance")["bea"].note) == "handed over from Dave: no decision within 2 hours"
    assert f.waiting("bea") == ["finance"]
    assert f.decide(out.request_id, "bea").status == "pending"


def test_a_task_handed_back_to_whom_it_was_handed_from(flow):
    """Handed from dave to bea, then `hand_to` dave: does dave (whose own row was handed over)
    get the task back, rather than the history saying nobody could take it?"""
    f = flow({"steps": [{"key": "finance", "approvers": {"users": ["dave"]}, "time_limit": {"hours": 2},
                         "escalation": [{"after": {"hours": 2}, "do": "hand_to", "user": "bea"},
                                        {"after": {"hours": 4}, "do": "hand_to", "user": "dave"}]}]})  # fmt: skip
    out = f.submit("grace", amount="1.00")
    run_at(f, OPENED + 4 * HOUR)
    assert f.tasks(out.record.id, "finance") == {"dave": "pending", "bea": "handed_over"}
    assert stage_actions(f, out.record.id) == ["handed_over", "handed_over"]
    assert f.waiting("dave") == ["finance"] and f.waiting("bea") == []
    assert f.decide(out.request_id, "dave").status == "approved"
