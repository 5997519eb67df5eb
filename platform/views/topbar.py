"""The top bar of every page, rendered once and reused.

It is the same for everyone of a language, a kind of user (admin, member, guest, signed
out), a current section and the same badge counts, but for four values of the request: the
CSRF token, the page's own address (the language switch returns to it), the search words
and the user's name. So `_topbar.html` is rendered with stand-ins for those, kept for the
process (it reads no schema), and each request fills them in, escaped. A record page saves
the twenty-odd template calls of the bar this way (issue #10's W3, docs/performance.md).
"""

from __future__ import annotations

from flask import Flask, current_app, g, render_template, request, url_for
from markupsafe import Markup, escape

from flowdeck.views.approvals import nav_counts
from flowdeck.views.i18n import lang

STAND_INS = {
    "csrf": "\ue000csrf\ue000",
    "next": "\ue000next\ue000",
    "query": "\ue000query\ue000",
    "name": "\ue000name\ue000",
    "login": "\ue000login\ue000",
}
"""Private-use characters around a word: escaping leaves them as they are, and no text of
a page holds them."""
KEPT = 256
_MARKED = ("home.my_work", "approvals.inbox", "approvals.notification_list")
_SECTIONS = ("admin.", "org.", "schema_admin.")


def _current() -> str:
    """The part of the endpoint the bar marks: one of its links, or one of its sections."""
    endpoint = request.endpoint or ""
    if endpoint in _MARKED:
        return endpoint
    return next((section + "*" for section in _SECTIONS if endpoint.startswith(section)), "")


def topbar(csrf: str) -> Markup:
    actor = g.get("actor")
    counts = nav_counts() if actor is not None else {"approvals": 0, "notifications": 0}
    kind = "guest" if g.get("guest") else ("admin" if actor is not None and actor.is_admin else ("member" if actor else "anonymous"))
    current = _current()
    key = ("topbar", kind, lang(), request.script_root, current, counts["approvals"], counts["notifications"])
    memo = current_app.extensions.setdefault("flowdeck_topbars", {})
    shape = memo.get(key)
    if shape is None:
        if len(memo) > KEPT:
            memo.clear()
        shape = memo[key] = render_template("_topbar.html", STAND_INS=STAND_INS, current=current, counts=counts)
    here = request.full_path.rstrip("?")
    user = g.get("user")
    values = {
        "csrf": escape(csrf),
        "next": escape(here),
        "query": escape(request.args.get("q", "")) if request.endpoint == "home.search" else "",
        "name": escape(user.display_name) if user is not None and actor is not None else "",
        "login": escape(url_for("auth.login", next=here)) if kind == "guest" else "",
    }
    html = shape
    for name, stand_in in STAND_INS.items():
        html = html.replace(stand_in, values[name])
    return Markup(html)  # noqa: S704 -- a rendered template; the filled-in values are escaped above


def init_app(app: Flask) -> None:
    app.jinja_env.globals["topbar"] = topbar
