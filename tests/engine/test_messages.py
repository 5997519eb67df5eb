"""Messages as data: rendered in the reader's language at display time, stored as JSON."""

from __future__ import annotations

from decimal import Decimal

from flowdeck.catalogs import say, translator
from flowdeck.engine.messages import ENGLISH, M, Message, Mn, Mp, plain, render
from flowdeck.engine.schema.label import Label

APPROVE = Label({"en": "Approve", "zh": "批准"})
LEAD = Label({"en": "Lead", "zh": "负责人"})


def test_english_is_the_msgid_with_its_parameters():
    """Does a message read in English as its msgid filled with its parameters, labels in English?"""
    message = M("you may not perform “%(transition)s” (roles: %(roles)s)", transition=APPROVE, roles=[LEAD, "auditor"])
    assert str(message) == "you may not perform “Approve” (roles: Lead, auditor)"
    assert render(message, ENGLISH) == str(message)


def test_chinese_uses_the_catalog_and_the_labels_chinese():
    """Is a message worded from the Chinese catalog, with the labels' Chinese and a Chinese list separator?"""
    message = M("you may not perform “%(transition)s” (roles: %(roles)s)", transition=APPROVE, roles=[LEAD, "auditor"])
    assert say(message, "zh") == "你无权执行“批准”（需要角色：负责人、auditor）"


def test_stored_form_round_trips_nested_messages_labels_lists_and_numbers():
    """Does to_json/from_json keep nested messages, labels, lists and decimals, so old entries re-render?"""
    inner = M("must be at most %(max)s characters (got %(got)s)", max=200, got=250)
    message = M("%(value)s does not fit this field: %(detail)s", value=Decimal("1.50"), detail=inner)
    back = Message.from_json(message.to_json())
    assert str(back) == "1.50 does not fit this field: must be at most 200 characters (got 250)"
    labelled = Message.from_json(M("x %(what)s", what=[APPROVE, LEAD]).to_json())
    assert labelled.params["what"] == (APPROVE, LEAD)


def test_a_translation_with_wrong_placeholders_falls_back_to_english():
    """Does a catalog entry whose placeholders do not fit fall back to the English text instead of failing?"""

    class Broken:
        language = "zh"

        def ugettext(self, message):
            return "坏的 %(nope)s"

        def upgettext(self, context, message):
            return message

        def ungettext(self, singular, plural, num):
            return singular

    assert render(M("needs at least %(rows)s rows", rows=2), Broken()) == "needs at least 2 rows"


def test_plurals_and_contexts():
    """Are plural forms chosen by num and contextual msgids looked up with their context?"""
    assert str(Mn("%(num)s row", "%(num)s rows", 1)) == "1 row"
    assert str(Mn("%(num)s row", "%(num)s rows", 3)) == "3 rows"
    assert say(Mp("between the items of a list of names", ", "), "zh") == "、"


def test_plain_texts_and_strings_are_shown_as_they_are():
    """Is a person's own text (or a stored pre-message string) shown unchanged in every language?"""
    assert say(plain("100% done: %(x)s"), "zh") == "100% done: %(x)s"
    assert render("an old English note", translator("zh")) == "an old English note"
    assert render(None) == ""
