"""User-written Markdown as HTML: sanitized on every path, short texts kept per process."""

from __future__ import annotations

import pytest

from flowdeck.views import markdown
from flowdeck.views.markdown import CACHED_SOURCE, render_markdown

HOSTILE = '**bold** <script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror="alert(1)">'


@pytest.mark.parametrize("padding", [0, CACHED_SOURCE], ids=["kept", "too-long-to-keep"])
def test_markdown_is_sanitized_whether_kept_or_not(padding):
    html = str(render_markdown(HOSTILE + "\n\n" + "x" * padding))
    assert "<strong>bold</strong>" in html
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;" in html


def test_short_texts_are_kept_and_long_ones_are_not():
    markdown._cached_html.cache_clear()
    short = "A *short* description"
    assert render_markdown(short) is render_markdown(short)
    assert markdown._cached_html.cache_info().currsize == 1
    long = "p " * CACHED_SOURCE
    assert str(render_markdown(long)).startswith("<p>p p")
    assert markdown._cached_html.cache_info().currsize == 1


def test_an_edited_text_is_rendered_anew():
    assert "<em>one</em>" in render_markdown("*one*")
    assert "<strong>one</strong>" in render_markdown("**one**")
