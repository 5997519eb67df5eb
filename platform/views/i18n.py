"""Languages: English and Simplified Chinese, from the user's choice, else the browser.

Schema labels carry both languages (`Label.get(lang)`); the UI's own words go through
Flask-Babel catalogs in `platform/translations` (`catalogs.py`). Dates and numbers are formatted by Babel
for the chosen locale, in the instance's time zone (`FLOWDECK_TIMEZONE`).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from babel import Locale, dates
from babel.support import NullTranslations
from flask import Flask, current_app, g, request, session
from flask.globals import _cv_request
from flask_babel import Babel, format_datetime, get_locale, get_timezone, get_translations
from jinja2 import pass_eval_context
from jinja2.nodes import EvalContext
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from flowdeck.catalogs import CATALOGS, CatalogTranslator
from flowdeck.engine.messages import ENGLISH, Message, Translator, render
from flowdeck.engine.schema.model import Label

LANGUAGES = ("en", "zh")
LANGUAGE_NAMES = {"en": "English", "zh": "中文"}
TRANSLATIONS = CATALOGS


def select_locale() -> str:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    actor_locale = getattr(g.get("user"), "locale", None)
    if actor_locale in LANGUAGES:
        return actor_locale
    return request.accept_languages.best_match(["en", "zh", "zh-CN", "zh-Hans", "zh-TW"], default="en")[:2]


class _Language(NamedTuple):
    code: str
    translations: NullTranslations
    translator: CatalogTranslator
    """The same catalog as `translations`, for rendering engine messages (`say`)."""
    tz: str
    words: dict[str, Markup]
    """`_()` of templates without arguments, as given back (per language, for the process)."""
    locale: Locale
    tzinfo: dt.tzinfo


_LANGUAGES: dict[tuple[str, str, str], _Language] = {}


def _language() -> _Language | None:
    """The request's language, catalog and time zone, worked out once per request (Flask-
    Babel looks them up again on every call: hundreds of times on a list page) and kept
    on the request's context. None outside a request. The catalog and the words of each
    language are kept for the process (per translations folder and time zone)."""
    ctx = _cv_request.get(None)
    if ctx is None:
        return None
    try:
        return ctx._flowdeck_language  # type: ignore[no-any-return]
    except AttributeError:
        config = ctx.app.config
        key = (select_locale()[:2], str(config.get("BABEL_TRANSLATION_DIRECTORIES")), str(config.get("BABEL_DEFAULT_TIMEZONE")))
        found = _LANGUAGES.get(key)
        if found is None:
            catalog = get_translations()
            found = _LANGUAGES[key] = _Language(
                key[0], catalog, CatalogTranslator(catalog, key[0]), str(get_timezone()), {}, get_locale(), get_timezone()
            )
        ctx._flowdeck_language = found
        return found


def lang() -> str:
    """The current UI language: "en" or "zh"."""
    found = _language()
    return found.code if found is not None else "en"


def time_zone() -> str:
    """The current time zone's name (FLOWDECK_TIMEZONE)."""
    found = _language()
    return found.tz if found is not None else str(get_timezone())


def tr(label: Label | None, fallback: str = "") -> str:
    """A schema label in the current language."""
    if label is None:
        return fallback
    return label.get(lang())


def translator() -> Translator:
    """The request's catalog as an engine-message `Translator` (English outside a request)."""
    found = _language()
    return found.translator if found is not None else ENGLISH


def say(message: Message | str | None) -> str:
    """An engine message in the request's language (`{{ message|say }}` in templates). A
    plain `str` is a text stored before messages were data: it is shown as it is."""
    return render(message, translator())


def say_errors(errors: Mapping[str, Sequence[Message | str]]) -> dict[str, list[str]]:
    """`RecordInvalid.errors` (field key -> messages) in the request's language, keys kept."""
    return {key: [say(message) for message in messages] for key, messages in errors.items()}


def gettext(string: str, **variables: Any) -> str:
    """Flask-Babel's `gettext` with the request's catalog looked up once per request."""
    found = _language()
    text = found.translations.ugettext(string) if found is not None else string
    return text % variables if variables else text


@pass_eval_context
def _template_gettext(eval_ctx: EvalContext, string: str, **variables: Any) -> str:
    """`_()` in templates: Jinja's new-style gettext (escaped, always %-formatted). Words
    without arguments are kept per language: a page has dozens of them."""
    found = _language()
    if not variables and eval_ctx.autoescape and found is not None:
        word = found.words.get(string)
        if word is None:
            word = found.words[string] = Markup(found.translations.ugettext(string)) % {}  # noqa: S704 -- the catalog's text
        return word
    text = found.translations.ugettext(string) if found is not None else string
    if eval_ctx.autoescape:
        text = Markup(text)  # noqa: S704 -- the catalog's own text, as Jinja's gettext does
    return text % variables


@pass_eval_context
def _template_ngettext(eval_ctx: EvalContext, singular: str, plural: str, num: int, **variables: Any) -> str:
    variables.setdefault("num", num)
    found = _language()
    text = found.translations.ungettext(singular, plural, num) if found is not None else (singular if num == 1 else plural)
    if eval_ctx.autoescape:
        text = Markup(text)  # noqa: S704 -- the catalog's own text, as Jinja's gettext does
    return text % variables


@lru_cache(maxsize=4096)
def _datetime_text(value: dt.datetime, fmt: str, code: str, tz: str) -> str:
    """`value` in the request's language and zone; `code` and `tz` are those of the request
    (they decide its locale and zone) and make the cache key."""
    found = _language()
    assert found is not None and (found.code, found.tz) == (code, tz)
    return dates.format_datetime(value, fmt, tzinfo=found.tzinfo, locale=found.locale)


SPLIT_FORMATS = ("short", "medium")
"""Formats whose time part shows only the clock (no zone, no fraction of a second): drawn
as Babel draws them, from a date part and a clock part kept apart (`_split_text`)."""
_UNSPLIT = frozenset("zZvVOXxSA")
"""Pattern letters of a time part that read more than the hour, minute and second."""


@lru_cache(maxsize=64)
def _splits(fmt: str, code: str) -> str | None:
    """The datetime pattern (`{1}` the date, `{0}` the time) of `fmt` in language `code`,
    when its time part shows the clock alone; else None (formatted whole)."""
    locale = Locale.parse(code)
    if fmt not in SPLIT_FORMATS or _UNSPLIT & set(dates.get_time_format(fmt, locale).pattern):
        return None
    return str(dates.get_datetime_format(fmt, locale=locale)).replace("'", "")


@lru_cache(maxsize=4096)
def _date_part(day: dt.date, fmt: str, code: str) -> str:
    return dates.format_date(day, fmt, locale=Locale.parse(code))


@lru_cache(maxsize=4096)
def _clock_part(clock: dt.time, fmt: str, code: str) -> str:
    return dates.format_time(clock, fmt, locale=Locale.parse(code))


def datetimeformat(value: dt.datetime | None, fmt: str = "medium") -> str:
    """Flask-Babel's `datetimeformat` filter, each (time, format, language, zone) formatted
    once per process. Babel is called with the request's locale and zone directly: Flask-
    Babel looks both up again on each call, half the cost of a time no page showed before.
    Flowdeck sets no `date_formats` of Flask-Babel, so the names (short, medium...) are Babel's.
    A short or medium time is put together as Babel does it, from its day and its clock kept
    apart: a record page shows a time no page showed before (each record's own), whose day
    and clock other pages did show."""
    found = _language()
    if found is None or value is None:
        return format_datetime(value, fmt)
    pattern = _splits(fmt, found.code)
    if pattern is None:
        return _datetime_text(value, fmt, found.code, found.tz)
    local = (value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)).astimezone(found.tzinfo)
    clock = dt.time(local.hour, local.minute, local.second)
    return pattern.replace("{0}", _clock_part(clock, fmt, found.code)).replace("{1}", _date_part(local.date(), fmt, found.code))


CLIENT_WORDS = "\0client-words"
"""Where `client_words` keeps its JSON among a language's words (no msgid starts with NUL)."""


def client_words() -> Markup:
    """The words `app.js` shows by itself (base.html's `i18n` script), as `tojson` writes
    them: the same on every page of a language, so made once per language."""
    found = _language()
    if found is not None and CLIENT_WORDS in found.words:
        return found.words[CLIENT_WORDS]
    words = {
        "forbidden": gettext("You may not do this."),
        "error": gettext("Something went wrong (error {status}). Please try again."),
        "network": gettext("The server could not be reached. Check your connection and try again."),
    }
    text = htmlsafe_json_dumps(words, dumps=current_app.json.dumps)
    if found is not None:
        found.words[CLIENT_WORDS] = text
    return text


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", os.environ.get("FLOWDECK_TIMEZONE", "Asia/Shanghai"))
    Babel(app, locale_selector=select_locale)
    # Flask-Babel's own template callables look the catalog up again on every `_()` call.
    app.jinja_env.globals.update(gettext=_template_gettext, _=_template_gettext, ngettext=_template_ngettext)
    app.jinja_env.filters["datetimeformat"] = datetimeformat
    app.jinja_env.filters["tr"] = tr
    app.jinja_env.filters["say"] = say
    app.jinja_env.globals.update(lang=lang, LANGUAGES=LANGUAGES, LANGUAGE_NAMES=LANGUAGE_NAMES, client_words=client_words)

    @app.context_processor
    def html_lang() -> dict[str, Any]:
        return {"html_lang": "zh-CN" if lang() == "zh" else "en"}


def markup_label(label: Label | None) -> Markup:
    """An escaped label, safe to embed in HTML built in Python."""
    return Markup.escape(tr(label))
