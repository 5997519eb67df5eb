"""Outgoing webhook endpoints of an app, as its admins configure them: the URL (checked
against the address policy when saved, and again at every send), which kinds of event and
which entities, the signing secret (`whsec_` + base64, shown once when made or rotated,
masked after), and on/off with the reason it went off.

Saving, turning on or off and deleting an endpoint bump the schema generation: which events
an app's endpoints want is kept per registry (`outgoing.endpoint_index`), as the rules are,
so a record write does not read the endpoints."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import events, models
from flowdeck.engine.errors import FormInvalid, NotFound
from flowdeck.engine.messages import M, Message
from flowdeck.engine.system import bump_schema_generation
from flowdeck.engine.webhooks.addresses import AddressPolicy, AddressRefused, check_url

E = models.webhook_endpoints
URL_LIMIT = 2000
DESCRIPTION_LIMIT = 500


class EndpointInvalid(FormInvalid):
    """An endpoint that cannot be saved."""


@dataclass(frozen=True)
class Endpoint:
    id: int
    app: str
    url: str
    description: str
    events: tuple[str, ...]
    entities: tuple[str, ...]
    """The entities whose events it gets; empty: every entity of the app."""
    secret: str
    enabled: bool
    disabled_reason: Message | None
    disabled_at: dt.datetime | None
    failures: int
    failing_since: dt.datetime | None
    created_at: dt.datetime

    @property
    def masked_secret(self) -> str:
        return mask(self.secret)

    def wants(self, kind: str, entity: str | None) -> bool:
        return self.enabled and kind in self.events and (not self.entities or entity in self.entities)


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def mask(secret: str) -> str:
    return f"whsec_…{secret[-4:]}"


def endpoint_from(row: Any) -> Endpoint:
    return Endpoint(
        row.id, row.app, row.url, row.description, tuple(row.events or ()), tuple(row.entities or ()), row.secret, bool(row.enabled),
        Message.from_json(row.disabled_json) if row.disabled_json else None, row.disabled_at, row.failures, row.failing_since,
        row.created_at,
    )  # fmt: skip


def list_endpoints(conn: Connection, app: str) -> list[Endpoint]:
    return [endpoint_from(row) for row in conn.execute(sa.select(E).where(E.c.app == app).order_by(E.c.id))]


def get_endpoint(conn: Connection, app: str, endpoint_id: int, *, lock: bool = False) -> Endpoint:
    query = sa.select(E).where((E.c.id == endpoint_id) & (E.c.app == app))
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(M("no webhook %(id)s", id=endpoint_id))
    return endpoint_from(row)


def _checked(
    url: str, description: str, kinds: Sequence[str], entities: Sequence[str], known_entities: Iterable[str], policy: AddressPolicy
) -> dict[str, Any]:
    errors: dict[str, list[Message]] = {}
    url = url.strip()
    if not url:
        errors["url"] = [M("enter the address to send to")]
    elif len(url) > URL_LIMIT:
        errors["url"] = [M("the address is longer than %(limit)s characters", limit=URL_LIMIT)]
    else:
        try:
            check_url(url, policy)
        except AddressRefused as exc:
            errors["url"] = [exc.message if isinstance(exc.message, Message) else M("the address is refused")]
    if len(description) > DESCRIPTION_LIMIT:
        errors["description"] = [M("the description is longer than %(limit)s characters", limit=DESCRIPTION_LIMIT)]
    unknown = [k for k in kinds if k not in events.KINDS]
    if not kinds:
        errors["events"] = [M("choose at least one kind of event")]
    elif unknown:
        errors["events"] = [M("there is no kind of event %(kind)s", kind=unknown[0])]
    known = set(known_entities)
    strangers = [e for e in entities if e not in known]
    if strangers:
        errors["entities"] = [M("the app has no entity %(entity)s", entity=strangers[0])]
    if errors:
        raise EndpointInvalid(errors)
    ordered = [k for k in events.KINDS if k in kinds]
    return {"url": url, "description": description.strip(), "events": ordered, "entities": sorted(set(entities))}


def create_endpoint(
    conn: Connection,
    app: str,
    *,
    url: str,
    description: str,
    kinds: Sequence[str],
    entities: Sequence[str],
    known_entities: Iterable[str],
    policy: AddressPolicy,
    actor_id: int | None,
    now: dt.datetime,
) -> tuple[int, str]:
    """Save a new endpoint (on); returns its id and its secret, which is shown only now."""
    values = _checked(url, description, kinds, entities, known_entities, policy)
    secret = new_secret()
    endpoint_id = conn.execute(
        E.insert()
        .values(**values, app=app, secret=secret, enabled=True, failures=0, created_by=actor_id, created_at=now, updated_at=now)
        .returning(E.c.id)
    ).scalar_one()
    bump_schema_generation(conn)  # who listens to which events changed: every process's index goes
    return int(endpoint_id), secret


def update_endpoint(
    conn: Connection,
    app: str,
    endpoint_id: int,
    *,
    url: str,
    description: str,
    kinds: Sequence[str],
    entities: Sequence[str],
    known_entities: Iterable[str],
    policy: AddressPolicy,
    now: dt.datetime,
) -> None:
    get_endpoint(conn, app, endpoint_id, lock=True)
    values = _checked(url, description, kinds, entities, known_entities, policy)
    conn.execute(E.update().where(E.c.id == endpoint_id).values(**values, updated_at=now))
    bump_schema_generation(conn)


def rotate_secret(conn: Connection, app: str, endpoint_id: int, *, now: dt.datetime) -> str:
    """A new secret (the old one stops signing at once); returned to be shown once."""
    get_endpoint(conn, app, endpoint_id, lock=True)
    secret = new_secret()
    conn.execute(E.update().where(E.c.id == endpoint_id).values(secret=secret, updated_at=now))
    return secret


def set_enabled(conn: Connection, app: str, endpoint_id: int, enabled: bool, *, now: dt.datetime, reason: Message | None = None) -> None:
    """Turn an endpoint on (its run of failures forgotten) or off (with why)."""
    get_endpoint(conn, app, endpoint_id, lock=True)
    if enabled:
        values: dict[str, Any] = {"enabled": True, "disabled_json": None, "disabled_at": None, "failures": 0, "failing_since": None}
    else:
        said = reason or M("turned off by an admin")
        values = {"enabled": False, "disabled_json": said.to_json(), "disabled_at": now}
    conn.execute(E.update().where(E.c.id == endpoint_id).values(**values, updated_at=now))
    bump_schema_generation(conn)


def delete_endpoint(conn: Connection, app: str, endpoint_id: int) -> None:
    """Forget an endpoint and its deliveries (their waiting jobs find nothing and end)."""
    get_endpoint(conn, app, endpoint_id, lock=True)
    conn.execute(models.webhook_deliveries.delete().where(models.webhook_deliveries.c.endpoint_id == endpoint_id))
    conn.execute(E.delete().where(E.c.id == endpoint_id))
    bump_schema_generation(conn)
