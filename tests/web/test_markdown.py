"""User-written Markdown as HTML: sanitized on every path, short texts kept per process."""

from __future__ import annotations

import random

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


PLAIN_PROSE = [
    "x",
    "Crash on login.",
    "Two paragraphs.\n\nThe second, with marks: yes? Yes!",
    "修复登录页面。\n\n第二段，有标点：是的！",
    "Über naïve café 42 times",
    "A  double  space; kept",
]
MARKDOWN_SYNTAX = [
    "1. a list",
    "2024.",
    "- item",
    "snake_case",
    "*x*",
    "a  \nb",
    "line\nbreak",
    "a\n\n\nb",
    "trailing ",
    " leading",
    "a & b",
    "a < b",
    "`code`",
    "# head",
    "a\n\n",
    "a\u00a0b",
    "x\\y",
    "[x](y)",
    "a | b",
    "~~s~~",
    "> q",
    "it's",
    'say "hi"',
]


@pytest.mark.parametrize("text", PLAIN_PROSE)
def test_plain_prose_is_built_directly_as_the_parser_would(text):
    """Is prose without Markdown syntax given the HTML the parser and sanitizer give?"""
    assert markdown.PLAIN.fullmatch(text)
    assert str(render_markdown(text)) == str(markdown._html(text))


@pytest.mark.parametrize("text", MARKDOWN_SYNTAX)
def test_text_with_markdown_syntax_goes_to_the_parser(text):
    """Does anything Markdown (or HTML escaping) could change leave the direct path?"""
    assert not markdown.PLAIN.fullmatch(text)


def test_random_prose_gives_what_the_parser_gives():
    """Do random texts of words, marks and syntax render the same on either path?"""
    rng = random.Random(10)
    tokens = ["word", "Ünï", "中文", "42", " ", " ", ".", ",", "!", "?", ":", ";", "。", "\n\n", "\n", "_", "*", "1.", "-", "#", "&"]
    direct = 0
    for _ in range(3000):
        text = "".join(rng.choice(tokens) for _ in range(rng.randint(1, 12)))
        direct += bool(markdown.PLAIN.fullmatch(text))
        assert str(render_markdown(text)) == str(markdown._html(text)), text
    assert direct > 50
