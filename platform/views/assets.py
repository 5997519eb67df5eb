"""Static files with content fingerprints in their URLs, cached by browsers for a year.

`static_url("app.js")` gives `/static/app.js?v=<hash of the file>`: a changed file gets a
new URL, so far-future caching never serves a stale script.

Templates' `url_for` builds each URL shape once per process: the same endpoint with the
same text arguments always gives the same URL, and whole numbers (record ids) are put
into a URL built once with stand-ins (werkzeug's URL building is a tenth of a page's time
otherwise: a record page has a dozen links).
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path
from typing import Any

from flask import Flask, Response, request, url_for
from flask.globals import _cv_request

from flowdeck.engine.registry import Registry
from flowdeck.views.auth import login_required
from flowdeck.views.lifecycle import registry

ONE_YEAR = 365 * 24 * 3600


@cache
def _digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def static_url(filename: str) -> str:
    """The file's fingerprinted URL (worked out once per process and file)."""
    ctx = _cv_request.get()
    cached = _fixed_urls(ctx.app)
    key = ("static", filename, ctx.request.root_path)
    found = cached.get(key)
    if found is None:
        folder = ctx.app.static_folder
        assert folder is not None
        found = cached[key] = url_for("static", filename=filename, v=_digest(str(Path(folder) / filename)))
    return found  # type: ignore[no-any-return]


def _fixed_urls(app: Flask) -> dict[Any, Any]:
    return app.extensions.setdefault("flowdeck_fixed_urls", {})  # type: ignore[no-any-return]


STAND_IN = 7_390_000_000_000_000_001
"""A whole number no URL holds otherwise, standing in for the record ids of a URL shape."""
URL_SHAPES_KEPT = 4096


def template_url_for(endpoint: str, **values: Any) -> str:
    """`url_for` for templates, with each URL shape built once: the endpoint and its text
    arguments are the key, whole-number arguments are filled into the URL built with
    stand-ins. Relative endpoints (".x") and other values go to `url_for` itself. The
    request's context is read directly (a dozen calls a page: the proxies were a third
    of the cost)."""
    ctx = _cv_request.get(None)
    if ctx is None or endpoint[0] == ".":
        return url_for(endpoint, **values)
    parts: list[Any] = [endpoint, ctx.request.root_path]
    for k, v in values.items():
        kind = type(v)
        if kind is int:
            parts.append((k, None))
        elif kind is str:
            parts.append((k, v))
        else:
            return url_for(endpoint, **values)
    cached = _fixed_urls(ctx.app)
    key = tuple(parts)
    shape = cached.get(key)
    if shape is None:
        numbers = [k for k, v in values.items() if type(v) is int]
        stand_ins = {k: STAND_IN + i for i, k in enumerate(numbers)}
        built = url_for(endpoint, **{k: stand_ins.get(k, v) for k, v in values.items()})
        if any(built.count(str(n)) != 1 for n in stand_ins.values()):
            return url_for(endpoint, **values)  # not a plain path or query value: no shape
        if len(cached) > URL_SHAPES_KEPT:
            cached.clear()
        shape = cached[key] = (built, [(str(n), k) for k, n in stand_ins.items()])
    url, fills = shape
    for stand_in, name in fills:
        url = url.replace(stand_in, str(values[name]))
    return url  # type: ignore[no-any-return]


# -- the schema's colours as a stylesheet ----------------------------------------------------

COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def badge_class(color: str | None) -> str:
    """The class that gives a badge a schema colour (`bc-1e88e5`), with a leading space, or
    "" for no (or no valid) colour: the colours come from a stylesheet, never from a style
    attribute, so the Content Security Policy allows no inline styles."""
    if not color or not COLOR.match(color):
        return ""
    return " bc-" + color[1:].lower()


def _colors(reg: Registry) -> set[str]:
    found: set[str] = set()
    for tables in reg.apps.values():
        for entity in tables.app.entities:
            if entity.workflow is not None:
                found.update(s.color for s in entity.workflow.states if s.color)
            for fld in entity.fields:
                found.update(o.color for o in fld.options if o.color)
                for child in fld.fields:
                    found.update(o.color for o in child.options if o.color)
    return {c.lower() for c in found if COLOR.match(c)}


def badge_stylesheet(reg: Registry) -> tuple[str, str]:
    """(the CSS giving every colour of the registry's states and options its badge class,
    its fingerprint), made once per registry."""
    found = reg.memo.get("badge-css")
    if found is None:
        css = "".join(f".badge.bc-{c[1:]}{{--badge:{c}}}\n" for c in sorted(_colors(reg)))
        found = reg.memo["badge-css"] = (css, hashlib.sha256(css.encode()).hexdigest()[:12])
    return found  # type: ignore[return-value]


def badge_css_url() -> str:
    """The colours' stylesheet at a fingerprinted URL (a new schema version with other
    colours gets a new URL), for base.html."""
    return template_url_for("badge_css") + "?v=" + badge_stylesheet(registry())[1]


@login_required
def badge_css() -> Response:
    """`GET /badges.css?v=<fingerprint>`: far-future cached when the fingerprint is the
    current one; another (an older page) gets the current colours, not cached. Like every
    page, for signed-in users (and the guest) only."""
    css, digest = badge_stylesheet(registry())
    response = Response(css, mimetype="text/css")
    if request.args.get("v") == digest:
        response.headers["Cache-Control"] = f"private, max-age={ONE_YEAR}, immutable"
    else:
        response.headers["Cache-Control"] = "no-cache"
    return response


def init_app(app: Flask) -> None:
    app.jinja_env.globals["static_url"] = static_url
    app.jinja_env.globals["url_for"] = template_url_for
    app.jinja_env.globals["badge_css_url"] = badge_css_url
    app.jinja_env.filters["badge_class"] = badge_class
    app.add_url_rule("/badges.css", "badge_css", badge_css)

    def max_age(filename: str | None) -> int | None:
        return ONE_YEAR if request.args.get("v") else 0

    app.get_send_file_max_age = max_age  # type: ignore[method-assign]
