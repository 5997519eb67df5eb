"""Outgoing webhooks: each record event an endpoint wants becomes a delivery row and a
`webhook.deliver` job in the event's own transaction (so a delivery exists exactly when the
change committed, and a rolled-back change sends nothing), with its body fixed then, byte
for byte. The job signs and sends it; a failed attempt is kept on the delivery and the next
one is queued after the job engine's backoff; a delivery whose attempts are used up counts
against its endpoint, which is turned off after `DISABLE_AFTER` of them in a row, or when it
has failed for `DISABLE_AFTER_TIME` without a success, and the app's admins are told.

A replay is a new delivery of the same body with the same `webhook-id` (Standard Webhooks:
the id is the same when a message is sent again, so receivers can ignore a duplicate), and
a new timestamp and signature (the spec's receivers refuse timestamps older than a few
minutes, so the old one would not verify).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import secrets
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import events, models
from flowdeck.engine.jobs import queue
from flowdeck.engine.jobs.kinds import JobContext, JobKind, register
from flowdeck.engine.messages import Mn, Mp
from flowdeck.engine.notifications import notify
from flowdeck.engine.registry import registry_for
from flowdeck.engine.webhooks.addresses import AddressPolicy, AddressRefused, check_url
from flowdeck.engine.webhooks.endpoints import Endpoint, endpoint_from, set_enabled
from flowdeck.engine.webhooks.sending import SendFailed, post, signed_headers

if TYPE_CHECKING:  # the registry's loader imports the listeners
    from flowdeck.engine.registry import Registry

E = models.webhook_endpoints
D = models.webhook_deliveries
JOB = "webhook.deliver"
MAX_ATTEMPTS = 12
"""Attempts per delivery: with the job engine's backoff (10 s doubling, at most an hour)
the last is about 3.5 hours after the first."""
DISABLE_AFTER = 10
"""Deliveries in a row whose attempts were all used up before an endpoint is turned off."""
DISABLE_AFTER_TIME = dt.timedelta(days=3)
"""... or how long an endpoint may fail without one success."""
FINAL = ("delivered", "failed", "skipped")
STATUSES = ("pending", "retrying", "delivered", "failed", "skipped")
ERROR_LIMIT = 2000


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def encode(payload: Mapping[str, Any]) -> str:
    """The body as sent: compact JSON, UTF-8, keys in the order given."""
    return json.dumps(payload, default=_jsonable, ensure_ascii=False, separators=(",", ":"))


def _actor(conn: Connection, actor_id: int | None) -> dict[str, Any] | None:
    if actor_id is None:
        return None
    row = conn.execute(sa.select(models.users.c.username, models.users.c.display_name).where(models.users.c.id == actor_id)).first()
    return {"id": actor_id, "username": row.username if row else None, "name": row.display_name if row else None}


def event_payload(conn: Connection, event: events.Event) -> dict[str, Any]:
    """What an endpoint is told about an event: Standard Webhooks' `type`, `timestamp` and
    `data` (the record's values after the change; for updates and transitions the changed
    keys and their values before; for a delete the values it had)."""
    data: dict[str, Any] = {"app": event.app, "entity": event.entity, "record_id": event.record_id}
    data["state"] = event.state_after if event.kind != "record.deleted" else event.state_before
    data["values"] = dict(event.after) if event.kind != "record.deleted" else dict(event.before)
    if event.kind in ("record.updated", "record.transitioned"):
        changed = sorted(event.changed)
        data["changed"] = changed
        data["before"] = {key: event.before.get(key) for key in changed if key != "state"}
    if event.transition is not None or event.kind == "record.transitioned":
        data.update(transition=event.transition, state_before=event.state_before)
    if event.data:
        data["detail"] = dict(event.data)
    data["actor"] = _actor(conn, event.actor_id)
    if event.cause is not None:
        data["cause"] = {"kind": event.cause.kind, "key": event.cause.key, "run_id": event.cause.run_id}
    return {"type": event.kind, "timestamp": event.at.astimezone(dt.UTC).isoformat(), "data": data}


def new_message_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def enqueue_delivery(
    conn: Connection,
    endpoint: Endpoint | int,
    event_type: str,
    payload: Mapping[str, Any],
    *,
    entity: str | None = None,
    record_id: int | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Store a delivery of `payload` to `endpoint` and queue its job, in the caller's
    transaction (what an automation's "call a webhook" action uses too). Returns its id."""
    endpoint_id = endpoint.id if isinstance(endpoint, Endpoint) else endpoint
    app = endpoint.app if isinstance(endpoint, Endpoint) else conn.execute(sa.select(E.c.app).where(E.c.id == endpoint_id)).scalar_one()
    return _store(conn, endpoint_id, app, event_type, encode(payload), new_message_id(), entity, record_id, now or queue.now_utc())


def _store(
    conn: Connection,
    endpoint_id: int,
    app: str,
    event_type: str,
    body: str,
    message_id: str,
    entity: str | None,
    record_id: int | None,
    now: dt.datetime,
    replay_of: int | None = None,
) -> int:
    delivery_id = int(
        conn.execute(
            D.insert()
            .values(
                endpoint_id=endpoint_id, app=app, event_type=event_type[:60], message_id=message_id, entity=entity, record_id=record_id,
                body=body, status="pending", attempts=0, replay_of=replay_of, created_at=now, next_attempt_at=now,
            )
            .returning(D.c.id)
        ).scalar_one()
    )  # fmt: skip
    queue.enqueue(conn, JOB, {"delivery": delivery_id}, run_at=now)
    return delivery_id


_ENABLED = sa.select(E.c.id, E.c.app, E.c.events, E.c.entities).where(E.c.enabled).order_by(E.c.id)
_KEY = "webhooks.endpoints"
Wanted = dict[tuple[str, str], tuple[tuple[int, frozenset[str]], ...]]


def endpoint_index(conn: Connection, registry: Registry) -> Wanted:
    """Per (app, event kind), the enabled endpoints that want it with the entities they name
    (empty: all): read once per registry, since a change of endpoints bumps the generation."""
    found = registry.memo.get(_KEY)
    if found is None:
        wanted: dict[tuple[str, str], list[tuple[int, frozenset[str]]]] = {}
        for row in conn.execute(_ENABLED):
            for kind in row.events or ():
                wanted.setdefault((row.app, kind), []).append((int(row.id), frozenset(row.entities or ())))
        found = registry.memo[_KEY] = {key: tuple(endpoints) for key, endpoints in wanted.items()}
    return found  # type: ignore[return-value]


def interest(conn: Connection, registry: Registry) -> Iterable[tuple[str, str, str]]:
    """The (app, entity, kind) some enabled endpoint wants."""
    for (app, kind), endpoints in endpoint_index(conn, registry).items():
        known = registry.apps[app].entities if app in registry.apps else {}
        for _, entities in endpoints:
            for entity in entities or known:
                yield app, entity, kind


@events.listens(interest)
def on_event(conn: Connection, event: events.Event) -> None:
    """The listener: one delivery per enabled endpoint of the app that wants this event."""
    endpoints = endpoint_index(conn, registry_for(conn)).get((event.app, event.kind), ())
    wanted = [endpoint_id for endpoint_id, entities in endpoints if not entities or event.entity in entities]
    if not wanted:
        return
    body = encode(event_payload(conn, event))
    for endpoint_id in wanted:
        _store(conn, endpoint_id, event.app, event.kind, body, new_message_id(), event.entity, event.record_id, event.at)


def replay(conn: Connection, app: str, delivery_id: int, *, now: dt.datetime | None = None) -> int | None:
    """Send a delivery's stored body again, as a new delivery with the same `webhook-id`.
    None when there is no such delivery in the app."""
    row = conn.execute(sa.select(D).where((D.c.id == delivery_id) & (D.c.app == app))).first()
    if row is None:
        return None
    return _store(conn, row.endpoint_id, app, row.event_type, row.body, row.message_id, row.entity, row.record_id,
                  now or queue.now_utc(), replay_of=row.replay_of or row.id)  # fmt: skip


def app_admins(conn: Connection, app: str) -> list[int]:
    """Who is told about an app's webhooks: its admins (every active site admin: an app has
    no admins of its own yet)."""
    U = models.users
    return [int(uid) for uid in conn.execute(sa.select(U.c.id).where(U.c.is_admin & U.c.is_active).order_by(U.c.id)).scalars()]


def _endpoint_failed(conn: Connection, endpoint: Endpoint, now: dt.datetime) -> None:
    failures = endpoint.failures + 1
    since = endpoint.failing_since or now
    conn.execute(E.update().where(E.c.id == endpoint.id).values(failures=failures, failing_since=since))
    if not endpoint.enabled or (failures < DISABLE_AFTER and now - since < DISABLE_AFTER_TIME):
        return
    reason = Mn("turned off after %(num)s failed delivery", "turned off after %(num)s failed deliveries in a row", failures)
    set_enabled(conn, endpoint.app, endpoint.id, False, now=now, reason=reason)
    notify(
        conn,
        app_admins(conn, endpoint.app),
        kind="webhook_disabled",
        message=Mn(
            "The webhook to %(url)s was turned off after %(num)s failed delivery",
            "The webhook to %(url)s was turned off after %(num)s failed deliveries in a row",
            failures,
            url=endpoint.url,
        ),
        app=endpoint.app,
        dedupe=f"webhook-disabled:{endpoint.id}:{now.isoformat()}",
    )


def _load(conn: Connection, delivery_id: Any, *, lock: bool = False) -> tuple[Any, Any]:
    """The delivery and its endpoint's row (None for either that is gone)."""
    if not isinstance(delivery_id, int):
        return None, None
    query = sa.select(D).where(D.c.id == delivery_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    found = conn.execute(sa.select(E).where(E.c.id == row.endpoint_id)).first() if row is not None else None
    return row, found


def _attempt(row: Any, found: Any, context: JobContext) -> dict[str, Any]:
    """One attempt, sent outside any transaction: what to record about it."""
    if row is None:
        return {"skip": "delivery_gone"}
    if row.status in FINAL:
        return {"skip": "already_" + row.status}
    if found is None or not found.enabled:
        return {"skip": "endpoint_off"}
    now = context.now
    body = row.body.encode("utf-8")
    headers = signed_headers(found.secret, row.message_id, now, body)
    tried: dict[str, Any] = {"attempts": row.attempts + 1, "last_attempt_at": now.isoformat(), "request_headers": headers}
    tried.update(response_code=None, response_headers=None, response_body=None, last_error=None, duration_ms=None, ok=False, final=False)
    try:
        sent = post(check_url(found.url, AddressPolicy.from_settings(context.settings)), body, headers)
    except AddressRefused as exc:
        tried.update(last_error=str(exc)[:ERROR_LIMIT], final=True)
    except SendFailed as exc:
        tried.update(last_error=str(exc)[:ERROR_LIMIT], duration_ms=exc.duration_ms)
    else:
        tried.update(response_code=sent.status, response_headers=sent.headers, response_body=sent.body, duration_ms=sent.duration_ms)
        tried.update(ok=sent.ok, last_error=None if sent.ok else f"HTTP {sent.status}")
    return tried


def send_delivery(db: Any, payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    """The job's `prepare`: read the delivery, sign and send it, with no transaction open
    (a receiver taking seconds to answer must not hold SQLite's write lock)."""
    row, found = db.read(lambda conn: _load(conn, payload.get("delivery")))
    return _attempt(row, found, context)


def deliver(conn: Connection, payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    """The `webhook.deliver` job: record the attempt `send_delivery` made on the delivery
    (retry, delivered, failed) in the job's transaction."""
    row, found = _load(conn, payload.get("delivery"), lock=True)
    tried = context.prepared if context.prepared is not None else _attempt(row, found, context)
    if "skip" in tried:
        if tried["skip"] == "endpoint_off" and row is not None and row.status not in FINAL:
            conn.execute(D.update().where(D.c.id == row.id).values(status="skipped", next_attempt_at=None, last_error="endpoint off"))
        return {"skipped": tried["skip"]}
    if row is None or row.status in FINAL or row.attempts + 1 != tried["attempts"]:
        return {"skipped": "changed_meanwhile"}
    now = context.now
    endpoint = endpoint_from(found)
    ok, final = tried.pop("ok"), tried.pop("final")
    values = {**tried, "last_attempt_at": dt.datetime.fromisoformat(tried["last_attempt_at"])}
    attempt = values["attempts"]
    if ok:
        values.update(status="delivered", next_attempt_at=None)
        conn.execute(E.update().where(E.c.id == endpoint.id).values(failures=0, failing_since=None))
    elif final or attempt >= MAX_ATTEMPTS:
        values.update(status="failed", next_attempt_at=None)
        _endpoint_failed(conn, endpoint, now)
    else:
        due = now + queue.backoff(attempt)
        values.update(status="retrying", next_attempt_at=due)
        queue.enqueue(conn, JOB, {"delivery": row.id}, run_at=due)
    conn.execute(D.update().where(D.c.id == row.id).values(**values))
    return {"delivery": row.id, "status": values["status"], "code": values["response_code"], "attempt": attempt}


register(JobKind(JOB, Mp("a kind of job", "Webhook delivery"), deliver, max_attempts=3, prepare=send_delivery))
