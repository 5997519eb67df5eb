"""Scheduled automations (`"trigger": {"on": "scheduled", "every": ...}`): at each
occurrence of the recurrence, the rule's actions run once for each record of its entity
that `where` (and the rule's `condition`) holds for, at most `at_most` of them.

Arming and catching up are a schedule's (`timers.follow_ups`): only the next occurrence is
armed, as a job keyed `auto:{app}:{rule}:{moment}`; applying a document, each worker's
periodic pass and `flowdeck tick` arm it (`schedules.arm_app` calls `arm_rules`), and each
occurrence arms the one after. Exactly once across workers: the occurrence's row in
`fd_schedule_runs` (schedule `automation:{rule}`) is written in the job's transaction with
the actions' changes, and a second job for the same occurrence finds it and does nothing.

Each record gets a run row of its own (event `scheduled`) run by `runs.execute`, so its
actions run in a savepoint, a failing record is logged as failed without undoing the others,
and the admin's runs log and pausing work as for any rule. "Run now" (the admin's button)
is a job of its own with no dedupe key, locked as `manual:{job id}` and tried once: it never
takes the place of a coming occurrence, which stays armed. An occurrence that fails (the
records' query itself, not one record's actions) is retried; its last attempt records it as
"needs attention", tells the site admins and keeps the next occurrence it armed, so the rule
never stops by itself. A `notify` with `digest: true`
does not run per record: after them, each recipient gets one message listing the records
(`#id title link`, its text filled with `{count}`), and each chat channel one post.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import events, models, notifications
from flowdeck.engine.automations import runs
from flowdeck.engine.automations.listener import log_run
from flowdeck.engine.automations.people import CHAT, IN_APP, recipients
from flowdeck.engine.automations.templates import fill_label
from flowdeck.engine.automations.triggers import Every
from flowdeck.engine.channels import store
from flowdeck.engine.expressions import CLOCK_KEY
from flowdeck.engine.jobs.kinds import JobContext, JobKind, PermanentError, register
from flowdeck.engine.jobs.queue import enqueue
from flowdeck.engine.messages import M, Message, Mp, plain
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import registry_for
from flowdeck.engine.schema.label import Label
from flowdeck.engine.schema.model import App, Automation, AutomationAction
from flowdeck.engine.storage.tables import AppTables
from flowdeck.engine.timers import arm, follow_ups, insert_once, stamp

JOB = "automation.scheduled"
TRIGGER = "scheduled"
MAX_ATTEMPTS = 5
R = models.schedule_runs


def lock_name(rule: str) -> str:
    """The rule's name in `fd_schedule_runs` (beside the app's schedules)."""
    return f"automation:{rule}"


def occurrence_key(app: str, rule: str, moment: dt.datetime) -> str:
    return f"auto:{app}:{rule}:{stamp(moment)}"


def _job(app: str, rule: str, moment: dt.datetime) -> tuple[str, dict[str, Any], dt.datetime]:
    return occurrence_key(app, rule, moment), {"app": app, "rule": rule, "at": moment.isoformat()}, moment


def scheduled_rules(app: App) -> list[Automation]:
    return [r for r in app.automations if r.trigger == TRIGGER and r.enabled and isinstance(r.trigger_settings, Every)]


def arm_rules(conn: Connection, app: App, *, now: dt.datetime) -> int:
    """Arm each enabled scheduled rule's next occurrence after `now` (idempotent)."""
    jobs = []
    for rule in scheduled_rules(app):
        moment = rule.trigger_settings.recurrence.next_after(now)
        if moment is not None:
            jobs.append(_job(app.key, rule.key, moment))
    return arm(conn, JOB, jobs)


def run_now(conn: Connection, app: App, rule: Automation, *, actor: Actor, now: dt.datetime) -> int:
    """Queue a manual run (the admin's button): one attempt, due now, no dedupe key, so the
    armed next occurrence stays as it is."""
    payload = {"app": app.key, "rule": rule.key, "manual": True, "actor": actor.user_id}
    job_id = enqueue(conn, JOB, payload, run_at=now, max_attempts=1)
    assert job_id is not None  # no dedupe key: always added
    return job_id


def matching(conn: Connection, tables: AppTables, rule: Automation, at: dt.datetime) -> list[int]:
    """The ids of the records the occurrence `at` runs for (oldest first, at most `at_most`).
    Expressions see the occurrence's moment as `now()` and `today()`."""
    every: Every = rule.trigger_settings
    table = tables.get(rule.entity).table
    found: list[int] = []
    for row in conn.execute(sa.select(table).order_by(table.c.id)).mappings():
        values = dict(row)
        env = {**values, "old": values, "new": values, CLOCK_KEY: at}
        if every.where is not None and not every.where.test(env):
            continue
        if rule.condition is not None and not rule.condition.test(env):
            continue
        found.append(int(row["id"]))
        if len(found) >= every.at_most:
            break
    return found


def _digest(action: AutomationAction) -> bool:
    return action.type == "notify" and bool(action.settings and action.settings.get("digest"))


@dataclass(frozen=True)
class _Row:
    """A run row as `runs.run_context` reads it, for a digest's look at one record."""

    id: None
    record_id: int
    actor_id: None
    inputs: dict[str, Any]


def send_digest(conn: Connection, tables: AppTables, rule: Automation, action: AutomationAction, ids: list[int], at: dt.datetime) -> int:
    """One message per recipient listing their records, one post per chat channel; how many sent."""
    if not ids:
        return 0
    settings = action.settings
    channels = settings.get("channels", (IN_APP,))
    et = tables.get(rule.entity)
    base = f"/a/{tables.app.key}/{rule.entity}"
    lines: dict[int, str] = {}
    per_user: dict[int, list[int]] = {}
    for record_id in ids:
        run = runs.run_context(conn, tables, rule, _Row(None, record_id, None, {}), at)
        if run.record is None:
            continue
        lines[record_id] = f"- #{record_id} {run.record.values.get(et.entity.title) or ''} {base}/{record_id}"
        for user in recipients(run, settings) if IN_APP in channels else []:
            per_user.setdefault(user, []).append(record_id)

    def text(listed: list[int]) -> Message:
        heading = fill_label(settings["message"], {"count": len(listed)})
        listing = "".join(f"\n{lines[i]}" for i in listed)
        return plain(Label({lang: words + listing for lang, words in heading.texts.items()}))

    sent = 0
    for user, listed in per_user.items():
        dedupe = f"digest:{tables.app.key}:{rule.key}:{stamp(at)}:{action.index}:{user}"
        notifications.notify(conn, [user], kind="automation", message=text(listed), app=tables.app.key, entity=rule.entity, dedupe=dedupe)
        sent += 1
    for channel in channels:
        if channel.startswith(CHAT) and store.post(conn, channel[len(CHAT) :], text(list(lines)), link=base, now=at) is not None:
            sent += 1
    return sent


def run_rule(conn: Connection, tables: AppTables, rule: Automation, at: dt.datetime, now: dt.datetime) -> tuple[int, int]:
    """Run the occurrence `at` of a scheduled rule (in the caller's transaction): the records
    it ran for and the digests it sent."""
    ids = matching(conn, tables, rule, at)
    if any(not _digest(a) for a in rule.actions):
        for record_id in ids:
            event = events.Event(TRIGGER, tables.app.key, rule.entity, record_id, None, now, data={"occurrence": at.isoformat()})
            runs.execute(conn, log_run(conn, rule, tables.app.key, event, depth=1, status="queued"), now)
    sent = sum(send_digest(conn, tables, rule, a, ids, at) for a in rule.actions if _digest(a))
    return len(ids), sent


def run_occurrence(conn: Connection, payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    """The job of one occurrence of one scheduled rule."""
    app_key, key = payload.get("app"), payload.get("rule")
    if not isinstance(app_key, str) or not isinstance(key, str):
        raise PermanentError("the payload names no rule")
    tables = registry_for(conn).apps.get(app_key)
    rule = tables.app.automation(key) if tables is not None else None
    if tables is None or rule is None or rule not in scheduled_rules(tables.app):
        return {"skipped": "rule_removed_or_disabled"}
    every: Every = rule.trigger_settings
    now = context.now
    keys = ("app", "schedule", "occurrence")
    lock: dict[str, Any] = {"app": app_key, "schedule": lock_name(key), "job_id": context.job_id}
    manual = bool(payload.get("manual"))
    if manual:
        at, armed_count = now, 0
        lock.update(occurrence=f"manual:{context.job_id}", occurrence_at=None, actor_id=payload.get("actor"))
    else:
        at = dt.datetime.fromisoformat(str(payload.get("at")))
        if not every.recurrence.is_occurrence(at):
            return {"skipped": "not_an_occurrence_any_more"}
        decision, armed_count = follow_ups(conn, JOB, lambda m: _job(app_key, key, m), every, at, now)
        lock.update(occurrence=stamp(at), occurrence_at=at)
        if not decision.run:
            skipped = {**lock, "status": "skipped", "records_created": 0, "error": decision.reason, "finished_at": now}
            if not insert_once(conn, R, skipped, keys):
                return {"skipped": "already_ran"}
            return {"skipped": decision.reason, "armed": armed_count}
    if not insert_once(conn, R, {**lock, "status": "running", "records_created": 0}, keys):
        return {"skipped": "already_ran"}
    status, error, count, sent = "done", None, 0, 0
    try:
        with conn.begin_nested():
            count, sent = run_rule(conn, tables, rule, at, now)
    except Exception as exc:
        if context.attempt < (1 if manual else MAX_ATTEMPTS):
            raise  # rolled back whole (the lock row too); the job engine retries after its backoff
        status, error = "needs_attention", f"{type(exc).__name__}: {exc}"[:2000]
        said = M(
            "Scheduled automation “%(rule)s” of %(app)s needs attention: %(error)s", rule=rule.label, app=tables.app.label, error=error
        )
        dedupe = f"automation:{app_key}:{key}:{lock['occurrence']}"
        notifications.notify(conn, site_admins(conn), kind="schedule_failed", message=said, app=app_key, dedupe=dedupe)
    where = (R.c.app == app_key) & (R.c.schedule == lock["schedule"]) & (R.c.occurrence == lock["occurrence"])
    conn.execute(R.update().where(where).values(status=status, records_created=count, error=error, finished_at=now))
    return {"records": count, "digests": sent, "armed": armed_count, **({"error": error} if error else {})}


def site_admins(conn: Connection) -> list[int]:
    """The active admins: they are told when an occurrence needs attention."""
    users = models.users
    return [int(u) for u in conn.execute(sa.select(users.c.id).where(users.c.is_admin & users.c.is_active).order_by(users.c.id)).scalars()]


register(JobKind(JOB, Mp("a kind of job", "Scheduled automation"), run_occurrence, max_attempts=MAX_ATTEMPTS))
