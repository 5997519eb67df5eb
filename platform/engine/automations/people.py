"""The actions about people: `assign` (a user field from another field, round robin or
least loaded among a role's members) and `notify` (users from fields, roles, the record's
watchers and requester, the managers of people in user fields, the person who caused the
event; in the app and mail and/or posted to chat channels, with a message in both
languages filled from the record).

The round-robin cursor is kept per rule in `fd_automation_state` and read locked, so two
runs at once never pick the same next person; least loaded counts the records of the
entity each member holds in that field and that are not finished."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from flowdeck.engine import models, notifications, org, users, watchers
from flowdeck.engine.automations import writes
from flowdeck.engine.automations.base import ActionFailed, CheckContext, RunContext
from flowdeck.engine.automations.templates import check_template, fill_label
from flowdeck.engine.channels import store
from flowdeck.engine.messages import M, plain
from flowdeck.engine.schema.checks import Path, unknown_field
from flowdeck.engine.schema.label import Label

STRATEGIES = ("round_robin", "least_loaded")
FINISHED = ("done",)
S = models.automation_state
DIGEST_PLACES = {"count": {}}
"""What a digest's message may fill: how many records it lists."""


def _user_field(ctx: CheckContext, path: Path, key: Any, *, many: bool = True) -> str | None:
    field = ctx.fields.get(key) if isinstance(key, str) else None
    if field is None or field.get("type") != "user" or (field.get("many") and not many):
        users_ = [k for k, f in ctx.fields.items() if f.get("type") == "user"]
        ctx.checks.problem(path, unknown_field(str(key), users_) if field is None else M("“%(key)s” is not a single user field", key=key))
        return None
    return key


def _check_assign(ctx: CheckContext, path: Path, spec: Mapping[str, Any]) -> Any:
    target = _user_field(ctx, (*path, "field"), spec.get("field"), many=False)
    if "from" in spec:
        source = _user_field(ctx, (*path, "from"), spec["from"], many=False)
        if "role" in spec:
            ctx.checks.problem((*path, "role"), M("give “from” or “role”, not both"))
        return {"field": target, "from": source}
    role = spec.get("role")
    if role not in ctx.checks.role_keys:
        ctx.checks.unknown_role((*path, "role"), str(role))
    strategy = spec.get("strategy", "round_robin")
    if strategy not in STRATEGIES:
        ctx.checks.problem((*path, "strategy"), M("must be one of %(choices)s", choices=list(STRATEGIES)))
    return {"field": target, "role": role, "strategy": strategy}


def _round_robin(run: RunContext, members: list[int], slot: str) -> int:
    key = {"app": run.app.key, "rule": run.rule_key}
    query = sa.select(S.c.cursor).where((S.c.app == key["app"]) & (S.c.rule == key["rule"]))
    if run.conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = run.conn.execute(query).first()
    if row is None:
        run.conn.execute(S.insert().values(**key, failures=0, paused=False, cursor={}))
        cursor: dict[str, Any] = {}
    else:
        cursor = dict(row.cursor or {})
    last = cursor.get(slot)
    after = [m for m in members if last is not None and m > last]
    chosen = after[0] if after else members[0]
    cursor[slot] = chosen
    run.conn.execute(S.update().where((S.c.app == key["app"]) & (S.c.rule == key["rule"])).values(cursor=cursor))
    return chosen


def _least_loaded(run: RunContext, members: list[int], field: str) -> int:
    table = run.et.table
    open_ = sa.true()
    workflow = run.et.entity.workflow
    if workflow is not None:
        open_ = table.c.state.not_in(workflow.states_in(set(FINISHED)) or ("",))
    counts = dict(
        run.conn.execute(
            sa.select(table.c[field], sa.func.count()).where(table.c[field].in_(members) & open_).group_by(table.c[field])
        ).all()
    )
    return min(members, key=lambda m: (counts.get(m, 0), m))


def _run_assign(run: RunContext, settings: Any) -> None:
    if run.record is None:
        raise ActionFailed(M("the record is gone: no one can be assigned"))
    field = settings["field"]
    if "from" in settings:
        chosen = run.values().get(settings["from"])
        if chosen is None:
            raise ActionFailed(M("“%(key)s” is empty: no one to assign", key=settings["from"]))
    else:
        active = sa.select(models.users.c.id).where(models.users.c.is_active)
        members = sorted(set(users.users_with_role(run.conn, run.app.key, settings["role"])) & {r[0] for r in run.conn.execute(active)})
        if not members:
            raise ActionFailed(M("no active user holds the role “%(role)s”", role=settings["role"]))
        pick = _round_robin if settings["strategy"] == "round_robin" else _least_loaded
        chosen = pick(run, members, field)
    writes.update(run, run.et, run.record.id, {field: chosen}, "assign")
    run.reload and run.reload()


RECIPIENT_KINDS = ("fields", "roles", "actor", "watchers", "managers_of", "created_by")
IN_APP = "in_app"
CHAT = "chat:"


def _check_channels(ctx: CheckContext, path: Path, spec: Any) -> tuple[str, ...]:
    if spec is None:
        return (IN_APP,)
    if not isinstance(spec, list) or not spec:
        ctx.checks.problem(path, M('must be a list such as ["in_app", "chat:ops-duty"]'))
        return (IN_APP,)
    found: list[str] = []
    for index, item in enumerate(spec):
        ok = item == IN_APP or (isinstance(item, str) and item.startswith(CHAT) and store.KEY.match(item[len(CHAT) :]))
        if not ok:
            ctx.checks.problem((*path, index), M("“%(value)s” is not a channel: use “in_app” or “chat:<channel key>”", value=item))
        elif item in found:
            ctx.checks.problem((*path, index), M("“%(value)s” is given twice", value=item))
        else:
            found.append(item)
    return tuple(found)


def _check_notify(ctx: CheckContext, path: Path, spec: Mapping[str, Any]) -> Any:
    channels = _check_channels(ctx, (*path, "channels"), spec.get("channels"))
    to = spec.get("to")
    if IN_APP not in channels and to is None:
        to = {}
    elif not isinstance(to, Mapping) or not to:
        ctx.checks.problem((*path, "to"), M('must say who: {"fields": [...], "roles": [...], "watchers": true, "actor": true}'))
        return None
    for key in to:
        if key not in RECIPIENT_KINDS:
            ctx.checks.problem(
                (*path, "to", key), M("“%(key)s” is not a kind of recipient (%(kinds)s)", key=key, kinds=", ".join(RECIPIENT_KINDS))
            )
    for key in ("actor", "watchers", "created_by"):
        if key in to and not isinstance(to[key], bool):
            ctx.checks.problem((*path, "to", key), M("must be true or false"))
    fields = [f for i, f in enumerate(to.get("fields") or []) if _user_field(ctx, (*path, "to", "fields", i), f)]
    managers = [f for i, f in enumerate(to.get("managers_of") or []) if _user_field(ctx, (*path, "to", "managers_of", i), f)]
    roles = ctx.checks.roles((*path, "to", "roles"), to.get("roles")) or ()
    digest = spec.get("digest", False)
    if digest is not False and (digest is not True or ctx.trigger != "scheduled"):
        said = M("true sends one message listing the records, and only a scheduled rule has a list to send")
        ctx.checks.problem((*path, "digest"), said)
        digest = False
    message = check_template(replace(ctx, fields=DIGEST_PLACES) if digest else ctx, (*path, "message"), spec.get("message"))
    return {
        "fields": tuple(fields), "roles": tuple(roles), "actor": to.get("actor") is True, "watchers": to.get("watchers") is True,
        "managers_of": tuple(managers), "created_by": to.get("created_by") is True, "message": message, "channels": channels,
        "digest": digest,
    }  # fmt: skip


def _user_ids(value: Any) -> list[int]:
    return [v for v in (value if isinstance(value, list) else [value]) if v is not None]


def recipients(run: RunContext, settings: Any) -> list[int]:
    """Who the rule tells. People named by a field or a role are told even when they caused
    the event (as before: the admin named them); the implied audiences (watchers, managers,
    the requester) never hear of the actor's own change unless `actor: true` names them."""
    values = run.values()
    found: list[int] = []
    for key in settings["fields"]:
        found += _user_ids(values.get(key))
    for role in settings["roles"]:
        found += users.users_with_role(run.conn, run.app.key, role)
    implied: list[int] = []
    created_by = run.record.created_by if run.record is not None else None
    if settings.get("created_by") and created_by is not None:
        implied.append(created_by)
    if settings.get("watchers") and run.record is not None:
        implied += watchers.watcher_ids(run.conn, run.app.key, run.et.entity.key, run.record.id, created_by)
    for key in settings.get("managers_of", ()):
        for user in _user_ids(values.get(key)):
            chain = org.manager_chain(run.conn, user)
            implied += chain[1:2]
    found += [u for u in implied if u != run.event_actor]
    if settings["actor"] and run.event_actor is not None:
        found.append(run.event_actor)
    return list(dict.fromkeys(found))


def _post_chat(run: RunContext, key: str, text: Label) -> dict[str, Any]:
    link = f"/a/{run.app.key}/{run.et.entity.key}/{run.record.id}" if run.record is not None else None
    delivery = store.post(run.conn, key, plain(text), link=link, now=run.now)
    return (
        {"channel": f"{CHAT}{key}", "delivery": delivery} if delivery is not None else {"channel": f"{CHAT}{key}", "skipped": "no_channel"}
    )


def _run_notify(run: RunContext, settings: Any) -> None:
    if settings.get("digest"):
        return  # sent once for the occurrence's records (automations/scheduled.py)
    values = {**run.values(), "id": run.record.id if run.record else None, "state": run.record.state if run.record else None}
    text = fill_label(settings["message"], values)
    channels = settings.get("channels", (IN_APP,))
    to = recipients(run, settings) if IN_APP in channels else []
    record_id = run.record.id if run.record is not None else None
    if to:
        notifications.notify(
            run.conn, to, kind="automation", message=plain(text), app=run.app.key, entity=run.et.entity.key, record_id=record_id,
            actor_id=run.event_actor, dedupe=f"automation:{run.run_id}:{len(run.sent)}" if run.run_id else None,
        )  # fmt: skip
    chats = [_post_chat(run, c[len(CHAT) :], text) for c in channels if c.startswith(CHAT)]
    sent: dict[str, Any] = {"action": "notify", "to": to, "message": dict(text.texts)}
    if chats:
        sent["chat"] = chats
    run.sent.append(sent)


ASSIGN = ("assign", M("assign someone"), frozenset({"field", "from", "role", "strategy"}), _check_assign, _run_assign)
NOTIFY = ("notify", M("notify people"), frozenset({"to", "message", "channels", "digest"}), _check_notify, _run_notify)
