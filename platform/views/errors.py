"""Engine and HTTP errors mapped to answers in one place: a page, or for htmx requests a
toast (HX-Trigger) with the same message."""

from __future__ import annotations

import json

from flask import Flask, Response, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from flowdeck.engine.errors import Conflict, Forbidden, NotFound, TransitionRefused
from flowdeck.views.i18n import say


def _titles() -> dict[int, str]:
    return {
        400: _("Bad request"),
        401: _("Please sign in"),
        403: _("Not allowed"),
        404: _("Not found"),
        405: _("Not allowed this way"),
        409: _("Changed by someone else"),
        413: _("Too large"),
        422: _("Not possible"),
        429: _("Too many attempts"),
        500: _("Something went wrong"),
    }


def error_response(code: int, message: str) -> Response:
    if request.headers.get("HX-Request") == "true":
        response = make_response(message, code)
        response.headers["HX-Trigger"] = json.dumps({"flowdeck:toast": {"message": message, "kind": "error"}})
        return response
    body = render_template("error.html", code=code, title=_titles().get(code, _("Error")), message=message)
    return make_response(body, code)


def init_app(app: Flask) -> None:
    @app.errorhandler(NotFound)
    def not_found(exc: NotFound) -> Response:
        return error_response(404, say(exc.message))

    @app.errorhandler(Forbidden)
    def forbidden(exc: Forbidden) -> Response:
        return error_response(403, say(exc.message))

    @app.errorhandler(Conflict)
    def conflict(exc: Conflict) -> Response:
        return error_response(409, say(exc.message))

    @app.errorhandler(TransitionRefused)
    def refused(exc: TransitionRefused) -> Response:
        return error_response(422, say(exc.message))

    @app.errorhandler(CSRFError)
    def csrf(exc: CSRFError) -> Response:
        return error_response(400, _("The form expired or did not come from this site. Reload the page and try again."))

    @app.errorhandler(HTTPException)
    def http(exc: HTTPException) -> Response:
        code = exc.code or 500
        if code == 401 and request.headers.get("HX-Request") != "true":
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))  # type: ignore[return-value]
        if code == 429:
            return error_response(429, _("Too many attempts. Wait a minute and try again."))
        messages = {
            404: _("There is no page at this address."),
            403: _("You may not see or do this."),
            405: _("This address does not accept that request."),
        }
        if code not in messages and exc.description == type(exc).description:
            # Werkzeug's own English words: say it in the user's language instead.
            messages = {
                400: _("The request could not be understood. Reload the page and try again."),
                500: _("Something went wrong on the server. Please try again later."),
            }
        return error_response(code, messages.get(code, exc.description or ""))
