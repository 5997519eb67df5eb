"""Personal saved views: a user's own named list settings for one entity.

A saved view stores the list page's query string (filters, search, sort, columns, page
size) and the schema view it was saved from, not a parsed filter: the web layer parses it
again when the view is opened, so a saved view follows later schema changes the same way
a bookmarked URL does, and a stale one shows a message instead of breaking.

Saved views are private: every function takes the actor and only ever touches that
actor's rows. Someone else's view answers NotFound, the same as one that does not exist,
so ids reveal nothing. Saving under a name the user already has replaces that view.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import models
from flowdeck.engine.errors import Forbidden, NotFound, RecordInvalid
from flowdeck.engine.messages import M, Message
from flowdeck.engine.permissions import Actor

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
MAX_NAME = 80
MAX_QUERY = 2000
MAX_PER_ENTITY = 50


@dataclass(frozen=True)
class SavedView:
    id: int
    name: str
    view: str | None
    query: str


def _user(actor: Actor) -> int:
    if actor.user_id is None:
        raise Forbidden(M("only a signed-in user has personal views"))
    return actor.user_id


def _from_row(row: sa.Row) -> SavedView:
    params = row.params if isinstance(row.params, dict) else {}
    view = params.get("view")
    return SavedView(id=row.id, name=row.name, view=view if isinstance(view, str) and view else None, query=str(params.get("query", "")))


_t = models.saved_views
_LIST = (
    sa.select(_t.c.id, _t.c.name, _t.c.params)
    .where((_t.c.user_id == sa.bindparam("user_id")) & (_t.c.app == sa.bindparam("app")) & (_t.c.entity == sa.bindparam("entity")))
    .order_by(_t.c.name, _t.c.id)
)


def list_saved_views(conn: Connection, app: str, entity: str, *, actor: Actor) -> list[SavedView]:
    """The actor's saved views of one entity, by name."""
    rows = conn.execute(_LIST, {"user_id": _user(actor), "app": app, "entity": entity})
    return [_from_row(row) for row in rows]


def get_saved_view(conn: Connection, saved_id: int, *, actor: Actor) -> SavedView:
    """One of the actor's saved views; NotFound for any other id."""
    t = models.saved_views
    row = conn.execute(sa.select(t.c.id, t.c.name, t.c.params).where((t.c.id == saved_id) & (t.c.user_id == _user(actor)))).first()
    if row is None:
        raise NotFound(M("there is no saved view %(id)s", id=saved_id))
    return _from_row(row)


def _check(name: str, query: str) -> str:
    errors: dict[str, list[Message | str]] = {}
    clean = " ".join(_CONTROL_CHARS.sub(" ", name).split())
    if not clean:
        errors["name"] = [M("give the view a name")]
    elif len(clean) > MAX_NAME:
        errors["name"] = [M("must be at most %(max)s characters (got %(got)s)", max=MAX_NAME, got=len(clean))]
    if len(query) > MAX_QUERY:
        errors["query"] = [M("the view's settings are too long (at most %(max)s characters)", max=MAX_QUERY)]
    if errors:
        raise RecordInvalid(errors)
    return clean


def save_view(conn: Connection, app: str, entity: str, name: str, *, view: str | None, query: str, actor: Actor) -> SavedView:
    """Store the list settings under `name` for the actor, replacing a view of the same name.

    Raises RecordInvalid for a blank or overlong name, overlong settings, or when the user
    already keeps the maximum number of views for this entity.
    """
    user_id = _user(actor)
    clean = _check(name, query)
    t = models.saved_views
    mine = (t.c.user_id == user_id) & (t.c.app == app) & (t.c.entity == entity)
    params = {"view": view or "", "query": query}
    existing = conn.execute(sa.select(t.c.id).where(mine & (t.c.name == clean))).scalar()
    if existing is not None:
        conn.execute(t.update().where(t.c.id == existing).values(params=params))
        return SavedView(id=existing, name=clean, view=view or None, query=query)
    count = conn.execute(sa.select(sa.func.count()).select_from(t).where(mine)).scalar() or 0
    if count >= MAX_PER_ENTITY:
        raise RecordInvalid({"name": [M("you already keep %(count)s views here; delete one first", count=MAX_PER_ENTITY)]})
    new_id = conn.execute(
        t.insert().values(user_id=user_id, app=app, entity=entity, name=clean, params=params, created_at=models.utcnow()).returning(t.c.id)
    ).scalar_one()
    return SavedView(id=new_id, name=clean, view=view or None, query=query)


def delete_saved_view(conn: Connection, saved_id: int, *, actor: Actor) -> SavedView:
    """Delete one of the actor's saved views and return it; NotFound for any other id."""
    saved = get_saved_view(conn, saved_id, actor=actor)
    t = models.saved_views
    conn.execute(t.delete().where((t.c.id == saved_id) & (t.c.user_id == _user(actor))))
    return saved
