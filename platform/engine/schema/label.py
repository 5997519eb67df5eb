"""Bilingual texts of app documents (labels, help, messages an admin wrote): their own module
because engine messages carry them as parameters, below everything that parses documents."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

LANGUAGES = ("en", "zh")


@dataclass(frozen=True)
class Label:
    """A bilingual text: `get("zh")` falls back to English, then to any language given."""

    texts: Mapping[str, str]

    def get(self, lang: str = "en") -> str:
        if lang in self.texts:
            return self.texts[lang]
        if "en" in self.texts:
            return self.texts["en"]
        return next(iter(self.texts.values()), "")

    def __str__(self) -> str:
        return self.get("en")

    def to_json(self) -> str | dict[str, str]:
        return dict(self.texts)

    @classmethod
    def of(cls, value: str | Mapping[str, str] | None, fallback: str = "") -> Label:
        if value is None:
            return cls({"en": fallback})
        if isinstance(value, str):
            return cls({"en": value})
        return cls(dict(value))
