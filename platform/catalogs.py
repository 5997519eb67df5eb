"""The translation catalogs (`translations/<lang>/LC_MESSAGES/messages.po`, compiled to .mo)
and a `Translator` per language, for words said outside a web request: mail and chat in the
recipient's language, the worker, the CLI. The web uses the same catalogs through
Flask-Babel (`views/i18n.py`).

`make translations` extracts the views' `_()` and the engine's `M()`, `Mp()`, `Mn()`
(`KEYWORDS`) into the catalog; translate what is new in the .po and run it again.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from babel.support import NullTranslations, Translations

from flowdeck.engine.messages import ENGLISH, Message, Translator, render

CATALOGS = Path(__file__).with_name("translations")
LANGUAGES = ("en", "zh")
KEYWORDS = {"M": None, "Mp": ((1, "c"), 2), "Mn": (1, 2)}
"""The engine's message markers, as `babel.messages.extract` keywords (the Makefile passes the
same as `-k M -k Mp:1c,2 -k Mn:1,2`)."""


class CatalogTranslator:
    """A Babel catalog with the language it speaks (what `engine.messages.render` needs)."""

    def __init__(self, translations: NullTranslations, language: str) -> None:
        self.translations = translations
        self.language = language
        self.ugettext = translations.ugettext
        self.upgettext = translations.upgettext
        self.ungettext = translations.ungettext


@lru_cache(maxsize=8)
def translator(language: str) -> Translator:
    """The catalog of `language` ("zh"), or English for "en" and anything unknown."""
    code = (language or "en")[:2]
    if code not in LANGUAGES or code == "en":
        return ENGLISH
    return CatalogTranslator(Translations.load(str(CATALOGS), [code]), code)


def say(message: Message | str | None, language: str = "en") -> str:
    """`message` in `language`, outside a request (mail, chat, the worker)."""
    return render(message, translator(language))
