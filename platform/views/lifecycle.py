"""One request lifecycle for every page: load (404), check access (403), act, render.

Views call these helpers instead of repeating lookups; engine errors raised here are
mapped to responses in `views.errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Response, g, has_request_context, make_response, render_template, request
from jinja2_fragments.flask import render_block
from sqlalchemy.engine import Connection
from werkzeug.exceptions import UnprocessableEntity

from flowdeck.engine import approvals, notifications
from flowdeck.engine.errors import Forbidden
from flowdeck.engine.permissions import Actor, can, refusal
from flowdeck.engine.registry import Registry
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.views.i18n import gettext as _
from flowdeck.views.state import engine

T = TypeVar("T")

# What a request keeps on `g` once worked out (`auth._load_actor` clears them when a
# request starts): the registry, the top bar's counts, the sidebar's apps.
REQUEST_CACHES = ("_registry", "_counts", "_nav")
READ_CONNECTION = "_read_conn"
"""Where a GET request keeps the read transaction its actor was loaded in (`auth`), for
`page_read`; closed when the request ends."""


def registry() -> Registry:
    """The current registry: read with the request's actor (one read for both, in
    `auth._load_actor`) and kept for the rest of the request."""
    if not has_request_context():
        return engine().catalog.current()
    found = g.get("_registry")
    if found is None:
        found = g._registry = engine().catalog.current()
    return found


def page_read(work: Callable[[Connection], T]) -> T:
    """`work(conn)` in the request's read transaction: the one its actor was read in (a GET
    page: one transaction and one pool checkout for the whole request), else one of its own.
    Only for reads of pages that write nothing before them."""
    conn = g.get(READ_CONNECTION) if has_request_context() else None
    if conn is None:
        return engine().db.read(work)
    return work(conn)


def close_page_read(exc: BaseException | None = None) -> None:
    """Teardown: end the request's read transaction, if it kept one."""
    conn = g.pop(READ_CONNECTION, None)
    if conn is not None:
        conn.close()


def top_bar_counts(conn: Connection, user_id: int) -> dict[str, int]:
    """The top bar's badges: approvals waiting on the user and unread notifications."""
    return {"approvals": approvals.waiting_count(conn, user_id), "notifications": notifications.unread_count(conn, user_id)}


def entity_tables(app: str, entity: str, actor: Actor, action: str = "read") -> EntityTables:
    """The entity's tables, or NotFound; Forbidden if the actor may not `action` it."""
    et = registry().entity(app, entity)
    if not can(actor, et.entity, action):
        raise Forbidden(refusal(action, et.entity))
    return et


def posted_version() -> int:
    """The record version the posted change was based on (optimistic locking).

    Required on every request that changes a record: without it a change made meanwhile
    by someone else would be overwritten silently, so a request without a version (or
    with one that is not a whole number) is refused with 422 and nothing is written.
    """
    raw = request.form.get("version", "").strip()
    if not (raw.isascii() and raw.isdigit()):
        raise UnprocessableEntity(
            _("The change did not say which version of the record it was made on, so nothing was saved. Reload the record and try again.")
        )
    return int(raw)


def is_htmx() -> bool:
    """An htmx request that wants a fragment (a history restore wants the whole page)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


def render(template: str, block: str | None = None, **context: Any) -> Response:
    """The whole page, or only `block` for an htmx request; always `Vary: HX-Request`."""
    body = render_block(template, block, **context) if block is not None and is_htmx() else render_template(template, **context)
    response = make_response(body)
    response.vary.add("HX-Request")
    return response


def form_page(response: Response, errors: Mapping[str, Any]) -> Response:
    """A form page: answered 422 when it is shown again with what was wrong, so htmx and
    scripts can tell a refused save from a page to fill in."""
    if errors:
        response.status_code = 422
    return response
