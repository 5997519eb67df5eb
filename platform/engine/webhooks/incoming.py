"""Incoming webhooks: a URL per hook (`/a/<app>/hooks/<key>`) that another system (a
monitoring tool opening incidents, say) calls with the hook's token in the
`X-Flowdeck-Token` header. A hook creates a record of its entity with fields taken from
JSON paths of the payload, or finds the record whose field holds a payload value (an alert
id) and updates it or performs a transition on it, acting as its configured user with that
user's permissions. Every call is kept (`fd_webhook_calls`) whatever its outcome: the
outcome in the call's own transaction, a refusal in a second one after the rollback.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import clock, models, records, users, workflow
from flowdeck.engine.db import Database
from flowdeck.engine.errors import Conflict, FlowdeckError, Forbidden, FormInvalid, NotFound, RecordInvalid, TransitionRefused
from flowdeck.engine.messages import M, Message, render
from flowdeck.engine.storage.tables import EntityTables

H = models.webhook_hooks
C = models.webhook_calls
ACTIONS = ("create", "update", "transition")
RATE_LIMIT = 60
"""Calls a hook takes per minute; more are answered 429 (and kept in the log)."""
BODY_LIMIT = 256 * 1024
LOGGED_BODY = 4096
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class HookInvalid(FormInvalid):
    """A hook that cannot be saved."""


@dataclass(frozen=True)
class Hook:
    id: int
    app: str
    key: str
    name: str
    token_hint: str
    entity: str
    action: str
    mapping: dict[str, str]
    match_field: str | None
    match_path: str | None
    transition: str | None
    run_as: int | None
    enabled: bool


@dataclass(frozen=True)
class Answer:
    """What the caller is answered: the HTTP status and the JSON body."""

    status: int
    body: dict[str, Any]


def _hook(row: Any) -> Hook:
    return Hook(
        row.id, row.app, row.key, row.name, row.token_hint, row.entity, row.action, dict(row.mapping or {}), row.match_field,
        row.match_path, row.transition, row.run_as, bool(row.enabled),
    )  # fmt: skip


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def path_ok(path: str) -> bool:
    text = path.strip().removeprefix("$").lstrip(".")
    return bool(text) and "".join(m.group(0) for m in _STEP.finditer(text)).replace(".", "") == text.replace(".", "")


def pick(payload: Any, path: str) -> Any:
    """The value at a JSON path such as `alert.id`, `$.alerts[0].labels.severity`; None
    when the payload has nothing there."""
    value = payload
    for match in _STEP.finditer(path.strip().removeprefix("$").lstrip(".")):
        name, index = match.groups()
        if name is not None and isinstance(value, dict):
            value = value.get(name)
        elif index is not None and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return None
    return value


def list_hooks(conn: Connection, app: str) -> list[Hook]:
    return [_hook(row) for row in conn.execute(sa.select(H).where(H.c.app == app).order_by(H.c.id))]


def get_hook(conn: Connection, app: str, hook_id: int) -> Hook:
    row = conn.execute(sa.select(H).where((H.c.id == hook_id) & (H.c.app == app))).first()
    if row is None:
        raise NotFound(M("no incoming webhook %(id)s", id=hook_id))
    return _hook(row)


def _checked(conn: Connection, et: EntityTables, values: Mapping[str, Any]) -> dict[str, Any]:
    entity = et.entity
    errors: dict[str, list[Message]] = {}
    name = str(values.get("name") or "").strip()
    if not name or len(name) > 200:
        errors["name"] = [M("enter a name of at most 200 characters")]
    action = values.get("action")
    if action not in ACTIONS:
        errors["action"] = [M("choose what the hook does")]
    mapping = {str(k).strip(): str(v).strip() for k, v in dict(values.get("mapping") or {}).items() if str(k).strip()}
    for key, path in mapping.items():
        if entity.field(key) is None:
            errors.setdefault("mapping", []).append(M("the entity has no field %(field)s", field=key))
        elif not path_ok(path):
            errors.setdefault("mapping", []).append(M("%(path)s is not a JSON path such as alert.labels.severity", path=path))
    if action == "create" and not mapping:
        errors["mapping"] = [M("map at least one field from the payload")]
    match_field = str(values.get("match_field") or "").strip() or None
    match_path = str(values.get("match_path") or "").strip() or None
    if action in ("update", "transition"):
        found = entity.field(match_field) if match_field is not None else None
        if found is None or found.is_table or found.is_many:
            errors["match_field"] = [M("choose the field that identifies the record")]
        if match_path is None or not path_ok(match_path):
            errors["match_path"] = [M("enter the JSON path of the value that identifies the record")]
    transition = str(values.get("transition") or "").strip() or None
    if action == "transition":
        keys = [t.key for t in entity.workflow.transitions] if entity.workflow else []
        if transition not in keys:
            errors["transition"] = [M("choose a transition of the entity")]
    run_as = values.get("run_as")
    row = conn.execute(sa.select(models.users.c.is_active).where(models.users.c.id == run_as)).first() if isinstance(run_as, int) else None
    if row is None or not row.is_active:
        errors["run_as"] = [M("choose an active user the hook acts as")]
    if errors:
        raise HookInvalid(errors)
    finding = action != "create"
    return {
        "name": name, "entity": entity.key, "action": action, "mapping": mapping, "match_field": match_field if finding else None,
        "match_path": match_path if finding else None, "transition": transition if action == "transition" else None,
        "run_as": run_as, "enabled": bool(values.get("enabled", True)),
    }  # fmt: skip


def create_hook(
    conn: Connection, et: EntityTables, values: Mapping[str, Any], *, actor_id: int | None, now: dt.datetime
) -> tuple[int, str]:
    """Save a hook; returns its id and its token, which is shown only now."""
    checked = _checked(conn, et, values)
    token = "fdh_" + secrets.token_urlsafe(24)
    hook_id = conn.execute(
        H.insert()
        .values(
            **checked,
            app=et.entity.app,
            key=secrets.token_urlsafe(12),
            token_hash=_hash(token),
            token_hint=token[-4:],
            created_by=actor_id,
            created_at=now,
            updated_at=now,
        )
        .returning(H.c.id)
    ).scalar_one()
    return int(hook_id), token


def update_hook(conn: Connection, et: EntityTables, hook_id: int, values: Mapping[str, Any], *, now: dt.datetime) -> None:
    get_hook(conn, et.entity.app, hook_id)
    conn.execute(H.update().where(H.c.id == hook_id).values(**_checked(conn, et, values), updated_at=now))


def rotate_token(conn: Connection, app: str, hook_id: int, *, now: dt.datetime) -> str:
    get_hook(conn, app, hook_id)
    token = "fdh_" + secrets.token_urlsafe(24)
    conn.execute(H.update().where(H.c.id == hook_id).values(token_hash=_hash(token), token_hint=token[-4:], updated_at=now))
    return token


def delete_hook(conn: Connection, app: str, hook_id: int) -> None:
    get_hook(conn, app, hook_id)
    conn.execute(C.delete().where(C.c.hook_id == hook_id))
    conn.execute(H.delete().where(H.c.id == hook_id))


def recent_calls(conn: Connection, hook_id: int, *, limit: int = 50) -> list[dict[str, Any]]:
    """The hook's last calls, newest first, each with its refusal as a Message (`error`)."""
    rows = conn.execute(sa.select(C).where(C.c.hook_id == hook_id).order_by(C.c.id.desc()).limit(limit))
    return [{**row._mapping, "error": Message.from_json(row.error_json) if row.error_json else None} for row in rows]


def _refusal(status: int, outcome: str, message: Message, **extra: Any) -> tuple[Answer, str, Message]:
    return Answer(status, {"ok": False, "error": render(message), **extra}), outcome, message


def _find(conn: Connection, et: EntityTables, hook: Hook, payload: Any) -> int:
    value = pick(payload, hook.match_path or "")
    if value is None or isinstance(value, dict | list):
        raise _Refused(*_refusal(422, "no_match_value", M("the payload has no value at %(path)s", path=hook.match_path)))
    column = et.table.c[hook.match_field]
    ids = conn.execute(sa.select(et.table.c.id).where(column == value).order_by(et.table.c.id.desc()).limit(2)).scalars().all()
    if not ids:
        raise _Refused(*_refusal(404, "no_record", M("no record has %(field)s = %(value)s", field=hook.match_field, value=str(value))))
    return int(ids[0])


class _Refused(Exception):
    def __init__(self, answer: Answer, outcome: str, message: Message) -> None:
        self.answer, self.outcome, self.message = answer, outcome, message


def _act(conn: Connection, et: EntityTables, hook: Hook, payload: Any, now: dt.datetime) -> tuple[Answer, int]:
    if hook.run_as is None:
        raise _Refused(*_refusal(409, "no_user", M("the hook's user is gone: choose another on its admin page")))
    actor = users.actor_for(conn, hook.run_as)
    raw = {key: pick(payload, path) for key, path in hook.mapping.items()}
    raw = {key: value for key, value in raw.items() if value is not None}
    if hook.action == "create":
        record = records.create_record(conn, et, raw, actor=actor, now=now)
        return Answer(201, {"ok": True, "action": "created", "record_id": record.id}), record.id
    record_id = _find(conn, et, hook, payload)
    if hook.action == "update":
        records.update_record(conn, et, record_id, raw, actor=actor, expected_version=None, now=now)
        return Answer(200, {"ok": True, "action": "updated", "record_id": record_id}), record_id
    moved = workflow.transition_record(conn, et, record_id, hook.transition or "", actor=actor, values=raw, now=now)
    return Answer(200, {"ok": True, "action": "transitioned", "record_id": record_id, "state": moved.state}), record_id


def _log(conn: Connection, hook_id: int, now: dt.datetime, answer: Answer, outcome: str, *, record_id: int | None = None,
         error: Message | None = None, remote: str | None, body: bytes) -> None:  # fmt: skip
    conn.execute(
        C.insert().values(
            hook_id=hook_id, at=now, status_code=answer.status, outcome=outcome[:20], record_id=record_id,
            error_json=error.to_json() if error else None, remote_addr=(remote or "")[:64] or None,
            body=body[:LOGGED_BODY].decode("utf-8", "replace"),
        )
    )  # fmt: skip


def _engine_error(exc: FlowdeckError) -> tuple[Answer, str, Message]:
    said = exc.message if isinstance(exc.message, Message) else M("the change was refused")
    if isinstance(exc, RecordInvalid):
        fields = {key: [render(m) for m in problems] for key, problems in exc.errors.items()}
        return _refusal(422, "invalid", M("the record was refused: see fields"), fields=fields)
    if isinstance(exc, Forbidden):
        return _refusal(403, "forbidden", said)
    if isinstance(exc, TransitionRefused):
        return _refusal(409, "refused", said)
    if isinstance(exc, Conflict):
        return _refusal(409, "conflict", said)
    return _refusal(404 if isinstance(exc, NotFound) else 422, "refused", said)


def call_hook(
    db: Database, entity_tables: Callable[[str, str], EntityTables], app: str, key: str, token: str | None, body: bytes,
    *, remote: str | None = None, now: dt.datetime | None = None,
) -> Answer:  # fmt: skip
    """Answer one call of `/a/<app>/hooks/<key>`: check the token, the rate and the payload,
    act, and keep the call."""
    now = now or clock.now()
    row = db.read(lambda conn: conn.execute(sa.select(H).where((H.c.key == key) & (H.c.app == app))).first())
    if row is None:
        return Answer(404, {"ok": False, "error": "no such webhook"})
    hook = _hook(row)
    problem: tuple[Answer, str, Message] | None = None
    if not token:
        problem = _refusal(401, "no_token", M("send the hook's token in the X-Flowdeck-Token header"))
    elif not hmac.compare_digest(_hash(token), row.token_hash):
        problem = _refusal(403, "bad_token", M("the token is wrong"))
    elif not hook.enabled:
        problem = _refusal(409, "off", M("this webhook is turned off"))
    elif len(body) > BODY_LIMIT:
        problem = _refusal(413, "too_large", M("the payload is larger than %(limit)s bytes", limit=BODY_LIMIT))
    payload: Any = None
    if problem is None:
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            problem = _refusal(400, "bad_json", M("the payload is not JSON: %(problem)s", problem=str(exc)))

    def work(conn: Connection) -> Answer:
        recent = conn.execute(sa.select(sa.func.count()).where((C.c.hook_id == hook.id) & (C.c.at > now - dt.timedelta(minutes=1))))
        if recent.scalar_one() >= RATE_LIMIT:
            raise _Refused(*_refusal(429, "rate_limited", M("more than %(count)s calls a minute: wait a moment", count=RATE_LIMIT)))
        answer, record_id = _act(conn, entity_tables(app, hook.entity), hook, payload, now)
        _log(conn, hook.id, now, answer, answer.body["action"], record_id=record_id, remote=remote, body=body)
        return answer

    if problem is None:
        try:
            return db.run(work)
        except _Refused as refused:
            problem = (refused.answer, refused.outcome, refused.message)
        except FlowdeckError as exc:
            problem = _engine_error(exc)
    answer, outcome, message = problem
    db.run(lambda conn: _log(conn, hook.id, now, answer, outcome, error=message, remote=remote, body=body))
    return answer
