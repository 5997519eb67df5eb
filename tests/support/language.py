"""The zh/en completeness checker: finds UI text of the other language on a page.

A page is read as its text pieces (text nodes, and the title, placeholder, aria-label and
alt attributes). The instance's own data is taken out first: record values, people,
departments, comments and the apps' labels in the page's language, gathered from every
table of the database (`instance_texts`). What is left is the UI's own words, and:

- on a Chinese page, a run of two or more Latin words of which two neighbours also stand
  next to each other in an English msgid of the catalog (`messages.pot`), or a piece that
  is a whole msgid whose Chinese differs from it, is an untranslated UI text;
- on an English page, any CJK character is.

Code (`code`, `kbd`, `samp`: keys, paths, commands), `translate="no"` (documents shown as
JSON), Latin words the Chinese catalog keeps (“flowdeck init”) and the builder's option
lines (`key | English | 中文 | #colour`, a format holding both languages) are not UI words.

The browser test collects the pieces with `PAGE_TEXTS_JS`; a unit test uses `html_texts`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from html.parser import HTMLParser
from itertools import pairwise
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from babel.messages.pofile import read_po

TRANSLATIONS = Path(__file__).resolve().parents[2] / "platform" / "translations"
POT = TRANSLATIONS / "messages.pot"
ZH_PO = TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po"
ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")
LANGUAGE_NAMES = ("English", "中文")
"""The language switcher names each language in its own words, on every page."""

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
WORD = r"[A-Za-z][A-Za-z'’]*(?:-[A-Za-z]+)*"
LATIN_RUN = re.compile(rf"{WORD}(?:[ \t]+{WORD})+")
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%[sd]|\{[a-z_]+\}")
OPTION_LINES = re.compile(r"^[a-z0-9_]+ \| [^|]+ \| [^|]+ \| #[0-9a-f]{6}(\s+[a-z0-9_]+ \| [^|]+ \| [^|]+ \| #[0-9a-f]{6})*$")
"""The builder's example of select options: one line per option, in both languages."""
SINGLE_WORD = re.compile(r"[A-Za-z][\w.'’-]*")
MARKDOWN_MARKS = re.compile(r"^\s*(?:[-*+>]|\d+[.)]|#{1,6})\s+")
NOT_WORDS = re.compile(r"\S+@\S+|https?://\S+|/\S*")
"""E-mail addresses, links and paths: never UI words."""

PAGE_TEXTS_JS = """
() => {
  const skip = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'TEXTAREA']);
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || skip.has(parent.tagName) || parent.closest('code, kbd, samp, [translate="no"]')) continue;
    const text = node.nodeValue.replace(/\\s+/g, ' ').trim();
    if (text) out.push(text);
  }
  for (const el of document.querySelectorAll('[title], [placeholder], [aria-label], [alt]')) {
    for (const name of ['title', 'placeholder', 'aria-label', 'alt']) {
      const value = (el.getAttribute(name) || '').trim();
      if (value) out.push(value);
    }
  }
  for (const el of document.querySelectorAll('input[type=submit], input[type=button]')) {
    if (el.value.trim()) out.push(el.value.trim());
  }
  if (document.title.trim()) out.push(document.title.trim());
  return out;
}
"""


@dataclass(frozen=True)
class UiCatalog:
    """The English msgids and the Chinese of each, for telling UI words from data."""

    pairs: frozenset[tuple[str, str]]
    """Neighbouring words (lowercase) of the msgids, placeholders taken out."""
    whole: dict[str, str]
    """msgid -> its Chinese, for msgids translated to something else than themselves."""

    def untranslated(self, text: str) -> list[str]:
        """The pieces of a Chinese page's `text` (data already taken out) that are English UI."""
        found = []
        if self.whole.get(text.strip(" :：")):
            found.append(text.strip())
        for run in LATIN_RUN.finditer(NOT_WORDS.sub(" ", text)):
            words = run.group(0).lower().split()
            if any(pair in self.pairs for pair in pairwise(words)) and run.group(0) not in found:
                found.append(run.group(0))
        return found


def load_ui_catalog(pot: Path = POT, po: Path = ZH_PO) -> UiCatalog:
    with pot.open("rb") as f:
        template = read_po(f)
    with po.open("rb") as f:
        chinese = read_po(f)
    pairs: set[tuple[str, str]] = set()
    for message in template:
        for msgid in message.id if isinstance(message.id, tuple) else (message.id,):
            for run in LATIN_RUN.finditer(PLACEHOLDER.sub(" ", msgid)):
                words = run.group(0).lower().split()
                pairs.update(pairwise(words))
    whole = {}
    for message in chinese:
        for string in message.string if isinstance(message.string, tuple) else (message.string,):
            for run in LATIN_RUN.finditer(PLACEHOLDER.sub(" ", string or "")):
                words = run.group(0).lower().split()
                pairs.difference_update(pairwise(words))  # kept in Latin by the Chinese catalog too
        msgid, string = message.id, message.string
        if msgid and isinstance(msgid, str) and isinstance(string, str) and string and string != msgid and not PLACEHOLDER.search(msgid):
            whole[msgid] = string
    return UiCatalog(frozenset(pairs), whole)


@lru_cache(maxsize=1)
def ui_catalog() -> UiCatalog:
    return load_ui_catalog()


# -- the instance's own data ---------------------------------------------------------------


def _strings(value: Any, lang: str) -> Iterator[str]:
    """The texts in a stored value: a label gives its `lang` text, a stored message its
    parameters (never its msgid), JSON in a text column is read."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in "[{":
            try:
                yield from _strings(json.loads(stripped), lang)
                return
            except ValueError:
                pass
        if stripped:
            yield stripped
        if "\n" in stripped:
            yield from _markdown_pieces(stripped)
    elif isinstance(value, dict):
        if value and set(value) <= {"en", "zh"} and all(isinstance(v, str) for v in value.values()):
            text = value.get(lang) or next(iter(value.values()))
            yield from _strings(text, lang)
            return
        for key, item in value.items():
            if "id" in value and key in ("id", "ctx", "plural"):
                continue
            yield from _strings(item, lang)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item, lang)


CODES = frozenset(
    {"status", "kind", "action", "decision", "mode", "state", "transition", "from_state", "to_state", "token", "password_hash"}
)
"""Columns of keys and codes: a page must show their labels, so they are not data to allow."""


def _markdown_pieces(text: str) -> Iterator[str]:
    """A multi-line text's lines and paragraphs as Markdown shows them (list marks,
    headings and emphasis gone, the lines of a paragraph joined)."""
    for paragraph in re.split(r"\n\s*\n", text):
        lines = [MARKDOWN_MARKS.sub("", line).replace("**", "").replace("`", "").strip() for line in paragraph.splitlines()]
        yield from (line for line in lines if line)
        yield " ".join(line for line in lines if line)


def instance_texts(connection: sa.Connection, lang: str) -> set[str]:
    """Every text the instance holds, as a page in `lang` may show it: the string and JSON
    columns of all tables (records, people, departments, comments, history, app documents)
    but those of codes (`CODES`)."""
    metadata = sa.MetaData()
    metadata.reflect(connection)
    texts: set[str] = set()
    for table in metadata.tables.values():
        columns = [
            c
            for c in table.columns
            if c.name not in CODES and (isinstance(c.type, (sa.String, sa.Text, sa.JSON)) or "json" in str(c.type).lower())
        ]
        if not columns:
            continue
        for row in connection.execute(sa.select(*columns)):
            for value in row:
                texts.update(_strings(value, lang))
    return texts


# -- reading a page -------------------------------------------------------------------------


SKIPPED = ("script", "style", "noscript", "template", "textarea", "code", "kbd", "samp")
VOID = ("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr")


class _Texts(HTMLParser):
    """Text pieces outside scripts, styles, text areas, code (keys, paths, commands) and
    `translate="no"` (a document shown as JSON: the instance's data in any language)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._open: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        skipped = tag in SKIPPED or ("translate", "no") in attrs
        if tag not in VOID:
            self._open.append((tag, skipped))
        for name, value in attrs:
            if name in ATTRIBUTES and value and value.strip():
                self.texts.append(value.strip())

    def handle_endtag(self, tag: str) -> None:
        for at in range(len(self._open) - 1, -1, -1):
            if self._open[at][0] == tag:
                del self._open[at:]
                break

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if text and not any(skipped for _, skipped in self._open):
            self.texts.append(text)


def html_texts(html: str) -> list[str]:
    """The text pieces of an HTML page, as `PAGE_TEXTS_JS` collects them in a browser."""
    parser = _Texts()
    parser.feed(html)
    parser.close()
    return parser.texts


def foreign_texts(texts: Iterable[str], lang: str, data: set[str], catalog: UiCatalog | None = None) -> list[str]:
    """The pieces of a page in `lang` that are UI text of the other language, once each.
    `data` is `instance_texts(...)` for `lang`: those texts are taken out first, a single
    Latin word (a key, a username: "all", "bob") only where it is the whole piece, so that
    a data word never cuts a UI sentence ("Mark all as read")."""
    catalog = catalog or ui_catalog()
    texts = list(dict.fromkeys(texts))
    page = "\n".join(texts)
    relevant = CJK.search if lang == "en" else re.compile("[A-Za-z]").search
    present = sorted((d for d in data | set(LANGUAGE_NAMES) if relevant(d) and d in page), key=len, reverse=True)
    whole = {d for d in present if SINGLE_WORD.fullmatch(d)}
    present = [d for d in present if d not in whole]
    pattern = re.compile("(?<![A-Za-z])(?:" + "|".join(map(re.escape, present)) + ")(?![A-Za-z])") if present else None
    found: list[str] = []
    for text in texts:
        if not relevant(text) or OPTION_LINES.match(text) or text in whole:
            continue
        if pattern is not None:
            text = pattern.sub(" ", text)
        if lang == "en":
            if CJK.search(text):
                found.append(text.strip())
        else:
            found.extend(catalog.untranslated(text))
    return list(dict.fromkeys(found))
