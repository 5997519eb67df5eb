"""User-written text as HTML: markdown rendered and sanitized, comments with @mentions.

Markdown goes through markdown-it-py with raw HTML switched off, then through nh3 (the
ammonia sanitizer) with a short list of tags and attributes, so `<script>`, event handlers,
`style` and `hx-*` attributes never survive. Templates still put the result inside an
element with `hx-disable`, so htmx would ignore anything that slipped through.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from flowdeck.engine.comments import MENTION
from flowdeck.engine.users import UserInfo

MAX_SOURCE = 100_000
CACHED_SOURCE = 8_000
"""Texts up to this long keep their HTML per process (a record's description is shown on
every visit and changes rarely; the HTML depends on the text alone). At most
`_cached_html`'s maxsize of them: a few megabytes."""
TAGS = {
    "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "a",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
SCHEMES = {"http", "https", "mailto"}

_PARAGRAPH = r"[^\W\d_](?:[^\W_]|[ .,;:?!。，、；：？！])*+(?<! )"
PLAIN = re.compile(rf"{_PARAGRAPH}(?:\n\n{_PARAGRAPH})*")
"""Prose that Markdown shows as written: paragraphs (one line each, apart by one blank
line) of letters, digits, spaces and sentence marks, each starting with a letter (a digit
could start a list) and not ending in a space. No character of Markdown's syntax, none
HTML escapes. Its HTML is built directly (the parser and the sanitizer cost about 0.1 ms
for a few paragraphs, and a record page's description is often such prose);
tests/web/test_markdown.py checks it gives what the parser and sanitizer give."""

_parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(["table", "strikethrough"])


def render_markdown(text: str | None) -> Markup:
    """Sanitized HTML for markdown `text` (empty for nothing)."""
    if not text:
        return Markup("")
    if len(text) <= MAX_SOURCE and PLAIN.fullmatch(text):
        return Markup("".join(f"<p>{paragraph}</p>\n" for paragraph in text.split("\n\n")))  # noqa: S704 -- PLAIN: nothing to escape
    if len(text) <= CACHED_SOURCE:
        return _cached_html(text)
    return _html(text[:MAX_SOURCE])


@lru_cache(maxsize=512)
def _cached_html(text: str) -> Markup:
    return _html(text)


def _html(text: str) -> Markup:
    html = _parser.render(text)
    clean = nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, url_schemes=SCHEMES, link_rel="noopener noreferrer nofollow")
    return Markup(clean)  # noqa: S704 -- sanitized by nh3 above


def render_comment(body: str, people: Mapping[str, UserInfo]) -> Markup:
    """A comment as escaped text whose `@username` mentions of real users become links
    (to their address when they have one) showing the person's name on hover."""
    parts: list[Markup] = []
    last = 0
    for match in MENTION.finditer(body):
        person = people.get(match.group(1).lower())
        if person is None:
            continue
        parts.append(escape(body[last : match.start()]))
        parts.append(_mention(match.group(0), person))
        last = match.end()
    parts.append(escape(body[last:]))
    return Markup("").join(parts)


def _mention(text: str, person: UserInfo) -> Markup:
    if person.email:
        return Markup('<a class="mention" href="mailto:{}" title="{}">{}</a>').format(person.email, person.display_name, text)
    return Markup('<span class="mention" title="{}">{}</span>').format(person.display_name, text)
