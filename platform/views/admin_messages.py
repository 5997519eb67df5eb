"""The engine's texts for admins in the user's language: migration plans, version
differences and schema problems.

The engine writes these in plain English (docs/architecture.md): the steps, refusals and
questions of a migration plan (`engine/storage/plan.py`, with the reasons of
`engine/storage/convert.py`), the summaries of `engine/versions.diff_documents`, and the
problems `engine/schema/shape.py` and `engine/schema/loader.py` report at a JSON path
(with the expression and filter errors the loader passes on). `translate(message)`
matches a text against the patterns below, like `engine_messages.translate` does for the
texts every user sees, and falls back to that module for everything else.

What the admin typed or the data holds stays as it is: keys, paths, type names, counts,
values and table names. Only the words around them are translated, and the few pieces the
engine composes from words of its own (a field's kind of value, what a document change is
about, a suggestion such as `(did you mean "date"?)`) are put together in the current
language. A state's or an option's English label in a choice is shown in the current
language when an installed app has it. In English every text is returned unchanged.

    translate("adds field due to task")  # zh: "为 task 新增字段 due"
"""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import has_request_context
from flask_babel import LazyString, pgettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from flowdeck.engine.schema.model import Entity
from flowdeck.views import engine_messages
from flowdeck.views.engine_messages import Rule
from flowdeck.views.i18n import lang

# -- pieces of patterns -------------------------------------------------------------------------

# A kind of value as the planner and the differ write it: `decimal`, `many user`,
# `reference to customer`, `computed money`, `decimal with 4 decimal places`.
TYPE = r"(?:many )?(?:computed )?[a-z_?]+(?: to [a-z0-9_]+)?(?: with \d+ decimal places)?"
# What a document change is about (versions.py).
WHAT = r"the app|(?:role|entity|state|view|field|transition) \S+|option \S+ of field \S+"
# A JSON value as shape.py quotes it: a string in double quotes, or a bare value.
QUOTED = r'"(?:[^"\\]|\\.)*"|[^\s"]+'
# `(did you mean "x"?)` after a name, and the listing of what there is.
HINT = r'(?P<hint> \(did you mean "[^"]*"\?\))?'
LISTING = r"(?P<listing>\((?:(?:roles|entities|states|columns): [^()]*|no (?:roles|entities|states|columns) defined)\))"
CHANGE = rf"changes field \S+ of \S+ from {TYPE} to {TYPE}"
GOT = r"null|true/false|a number|text|a list|an object"
KIND = r"an object|a list|text|a whole number|a number|true or false|null"
KIND_OF_FIELD = r"an? [a-z]+ field"
TITLE_RULE = r"a single text, autonumber, email, phone, url, select, integer or date"
SWIMLANES = r"swimlanes need a single select, user, reference or boolean field"
LOSS_VERB = r"round them|keep only the date|keep the first value of each"
VALUE_KIND = r"[A-Za-z_]+"


def _rule(pattern: str, text: LazyString) -> Rule:
    return Rule(re.compile(pattern, re.DOTALL), text)


# Order matters where patterns overlap: the more specific one comes first. Every pattern
# must match a whole text.
RULES: tuple[Rule, ...] = (
    # -- the migration plan: steps --------------------------------------------------------------
    _rule(r"adds entity (?P<entity>\S+) \(table (?P<table>\S+)\)", _l("adds entity %(entity)s (table %(table)s)")),
    _rule(r"restores entity (?P<entity>\S+) \(table (?P<table>\S+)\)", _l("restores entity %(entity)s (table %(table)s)")),
    _rule(r"creates tables: (?P<tables>.+)", _l("creates tables: %(tables)s")),
    _rule(
        r"renames field (?P<old>\S+) to (?P<new>\S+) in (?P<entity>\S+) \(data kept\)",
        _l("renames field %(old)s to %(new)s in %(entity)s (data kept)"),
    ),
    _rule(
        r"adds field (?P<field>\S+) to (?P<entity>\S+) \(link table (?P<table>\S+)\)",
        _l("adds field %(field)s to %(entity)s (link table %(table)s)"),
    ),
    _rule(
        r"adds field (?P<field>\S+) to (?P<entity>\S+) \(line-item table (?P<table>\S+)\)",
        _l("adds field %(field)s to %(entity)s (line-item table %(table)s)"),
    ),
    _rule(
        r"adds field (?P<field>\S+) to (?P<entity>\S+) as unique with a default, but its (?P<count>\d+) existing records would all "
        r"get the same value; add it without a default",
        _l(
            "adds field %(field)s to %(entity)s as unique with a default, but its %(count)s existing records would all get the "
            "same value; add it without a default"
        ),
    ),
    _rule(r"adds field (?P<field>\S+) to (?P<entity>\S+)", _l("adds field %(field)s to %(entity)s")),
    _rule(r"adds column (?P<column>\S+) to (?P<owner>\S+)", _l("adds column %(column)s to %(owner)s")),
    _rule(
        r"restores field (?P<field>\S+) of (?P<entity>\S+) from the archive", _l("restores field %(field)s of %(entity)s from the archive")
    ),
    _rule(
        r"puts the (?P<count>\d+) existing (?P<entity>\S+) records in state (?P<state>\S+)",
        _l("puts the %(count)s existing %(entity)s records in state %(state)s"),
    ),
    _rule(
        r"puts the (?P<count>\d+) (?P<entity>\S+) records that have no state in state (?P<state>\S+)",
        _l("puts the %(count)s %(entity)s records that have no state in state %(state)s"),
    ),
    _rule(
        r"fills field (?P<field>\S+) of the (?P<count>\d+) existing (?P<entity>\S+) records with its default",
        _l("fills field %(field)s of the %(count)s existing %(entity)s records with its default"),
    ),
    _rule(
        r"renames column (?P<old>\S+) to (?P<new>\S+) of (?P<owner>\S+) \(data kept\)",
        _l("renames column %(old)s to %(new)s of %(owner)s (data kept)"),
    ),
    _rule(r"adds index (?P<index>\S+)", _l("adds index %(index)s")),
    _rule(
        r"drops index (?P<index>\S+) \(no longer indexed or unique; no data is lost\)",
        _l("drops index %(index)s (no longer indexed or unique; no data is lost)"),
    ),
    _rule(
        r"withdraws the (?P<count>\d+) pending approval requests of transition (?P<transition>\S+) of (?P<entity>\S+) \(it is removed\)",
        _l("withdraws the %(count)s pending approval requests of transition %(transition)s of %(entity)s (it is removed)"),
    ),
    _rule(
        r"withdraws the (?P<count>\d+) pending approval requests of transition (?P<transition>\S+) of (?P<entity>\S+) "
        r"\(it no longer asks for approval\)",
        _l("withdraws the %(count)s pending approval requests of transition %(transition)s of %(entity)s (it no longer asks for approval)"),
    ),
    _rule(
        r"removes state (?P<state>\S+) of (?P<entity>\S+) \(no records are in it\)",
        _l("removes state %(state)s of %(entity)s (no records are in it)"),
    ),
    _rule(
        r"moves the (?P<count>\d+) (?P<entity>\S+) records in state (?P<state>\S+) to (?P<target>\S+); each gets a history entry; "
        r"the (?P<pending>\d+) pending approval requests of these records are withdrawn",
        _l(
            "moves the %(count)s %(entity)s records in state %(state)s to %(target)s; each gets a history entry; the %(pending)s "
            "pending approval requests of these records are withdrawn"
        ),
    ),
    _rule(
        r"moves the (?P<count>\d+) (?P<entity>\S+) records in state (?P<state>\S+) to (?P<target>\S+); each gets a history entry",
        _l("moves the %(count)s %(entity)s records in state %(state)s to %(target)s; each gets a history entry"),
    ),
    _rule(
        r"clears option (?P<option>\S+) of (?P<field>\S+) in (?P<count>\d+) records; each gets a history entry",
        _l("clears option %(option)s of %(field)s in %(count)s records; each gets a history entry"),
    ),
    _rule(
        r"replaces option (?P<option>\S+) of (?P<field>\S+) with (?P<target>\S+) in (?P<count>\d+) records; each gets a history entry",
        _l("replaces option %(option)s of %(field)s with %(target)s in %(count)s records; each gets a history entry"),
    ),
    _rule(
        r"removes option (?P<options>.+) of (?P<field>\S+) \(no records use it\)",
        _l("removes option %(options)s of %(field)s (no records use it)"),
    ),
    _rule(
        r"recomputes (?P<fields>.+) for the (?P<count>\d+) existing (?P<entity>\S+) records",
        _l("recomputes %(fields)s for the %(count)s existing %(entity)s records"),
    ),
    _rule(
        r"removes entity (?P<entity>\S+): its (?P<count>\d+) records are archived, not deleted; re-adding it restores them",
        _l("removes entity %(entity)s: its %(count)s records are archived, not deleted; re-adding it restores them"),
    ),
    _rule(
        r"removes field (?P<field>\S+) of (?P<entity>\S+): its (?P<count>\d+) values are archived, not deleted; "
        r"re-adding (?P=field) restores them",
        _l("removes field %(field)s of %(entity)s: its %(count)s values are archived, not deleted; re-adding it restores them"),
    ),
    _rule(
        r"removes field (?P<field>\S+) of (?P<entity>\S+): its (?P<count>\d+) rows are archived, not deleted; "
        r"re-adding (?P=field) restores them",
        _l("removes field %(field)s of %(entity)s: its %(count)s rows are archived, not deleted; re-adding it restores them"),
    ),
    _rule(r"takes (?P<key>\S+) out of the archive", _l("takes %(key)s out of the archive")),
    # -- the migration plan: type changes ---------------------------------------------------------
    _rule(
        rf"(?P<change>{CHANGE}): (?P<count>\d+) values are converted, (?P<losses>.+) \(listed\): choose to (?P<verbs>.+), or clear them; "
        r"the old values are archived",
        _l(
            "%(change)s: %(count)s values are converted, %(losses)s (listed): choose to %(verbs)s, or clear them; "
            "the old values are archived"
        ),
    ),
    _rule(
        rf"changes field (?P<field>\S+) of (?P<entity>\S+) from (?P<old_type>{TYPE}) to (?P<new_type>{TYPE})",
        _l("changes field %(field)s of %(entity)s from %(old_type)s to %(new_type)s"),
    ),
    _rule(rf"(?P<change>{CHANGE}) \(no values to convert\)", _l("%(change)s (no values to convert)")),
    _rule(rf"(?P<change>{CHANGE}): (?P<detail>.+)", _l("%(change)s: %(detail)s")),
    _rule(r"stopped by the answer to (?P<question_id>\S+): (?P<change>.+)", _l("stopped by the answer to %(question_id)s: %(change)s")),
    _rule(
        r"a table field cannot change its type \((?P<count>\d+) records have a value\); add a new field instead",
        _l("a table field cannot change its type (%(count)s records have a value); add a new field instead"),
    ),
    _rule(
        r"a table named (?P<table>\S+) is already there; give the field another key",
        _l("a table named %(table)s is already there; give the field another key"),
    ),
    _rule(
        r"a column named (?P<column>\S+) is already there; give the field another key",
        _l("a column named %(column)s is already there; give the field another key"),
    ),
    _rule(
        r"the archive name (?P<archive>\S+) is taken; apply the change again as a new version",
        _l("the archive name %(archive)s is taken; apply the change again as a new version"),
    ),
    _rule(
        rf"(?P<old_type>{TYPE}) values cannot be converted to (?P<new_type>{TYPE}) \((?P<count>\d+) records have a value\); "
        r"add a new field instead",
        _l("%(old_type)s values cannot be converted to %(new_type)s (%(count)s records have a value); add a new field instead"),
    ),
    _rule(
        r"its values are computed again for every record; the (?P<count>\d+) old values are kept in (?P<place>.+)",
        _l("its values are computed again for every record; the %(count)s old values are kept in %(place)s"),
    ),
    _rule(r"its values are computed again for every record", _l("its values are computed again for every record")),
    _rule(
        r"(?P<count>\d+) converted values would appear more than once, but the field is unique; fix them first",
        _l("%(count)s converted values would appear more than once, but the field is unique; fix them first"),
    ),
    _rule(
        r"(?P<count>\d+) values come back from (?P<archive>\S+) \(archived in version (?P<version>\d+)\)",
        _l("%(count)s values come back from %(archive)s (archived in version %(version)s)"),
    ),
    _rule(r"(?P<count>\d+) values are converted", _l("%(count)s values are converted")),
    _rule(r"(?P<count>\d+) are rounded", _l("%(count)s are rounded")),
    _rule(r"(?P<count>\d+) are cut to their date", _l("%(count)s are cut to their date")),
    _rule(r"(?P<count>\d+) are cut to their first value", _l("%(count)s are cut to their first value")),
    _rule(
        r"(?P<count>\d+) are cleared \(each record gets a history entry\)", _l("%(count)s are cleared (each record gets a history entry)")
    ),
    _rule(r"no values to convert", _l("no values to convert")),
    _rule(r"the old values are kept in (?P<place>.+)", _l("the old values are kept in %(place)s")),
    # what the type question counts (joined by " and ") and what it offers (joined by ", ")
    _rule(r"(?P<count>\d+) values cannot be converted", _l("%(count)s values cannot be converted")),
    _rule(r"(?P<count>\d+) values would be rounded", _l("%(count)s values would be rounded")),
    _rule(r"(?P<count>\d+) values would lose their time of day", _l("%(count)s values would lose their time of day")),
    _rule(r"(?P<count>\d+) records have more than one value", _l("%(count)s records have more than one value")),
    _rule(r"stop", _l("stop")),
    _rule(r"round them", _l("round them")),
    _rule(r"keep only the date", _l("keep only the date")),
    _rule(r"keep the first value of each", _l("keep the first value of each")),
    # -- the migration plan: questions, their choices and the answers --------------------------------
    _rule(
        r"removes state (?P<state>\S+) of (?P<entity>\S+), but (?P<count>\d+) records are in it: choose the state they move to",
        _l("removes state %(state)s of %(entity)s, but %(count)s records are in it: choose the state they move to"),
    ),
    _rule(r"move them to (?P<state>\S+) \((?P<label>.*)\)", _l("move them to %(state)s (%(label)s)")),
    _rule(
        r"removes option (?P<option>\S+) of (?P<field>\S+), but (?P<count>\d+) records use it: choose a replacement, or clear it",
        _l("removes option %(option)s of %(field)s, but %(count)s records use it: choose a replacement, or clear it"),
    ),
    _rule(r"replace it with (?P<option>\S+) \((?P<label>.*)\)", _l("replace it with %(option)s (%(label)s)")),
    _rule(r"clear it", _l("clear it")),
    _rule(r"stop: apply nothing", _l("stop: apply nothing")),
    _rule(
        rf"(?P<detail>{LOSS_VERB}) and clear the ones that cannot be converted",
        _l("%(detail)s and clear the ones that cannot be converted"),
    ),
    _rule(
        r"clear them \(the old values are archived and can be restored\)",
        _l("clear them (the old values are archived and can be restored)"),
    ),
    _rule(
        r"(?P<question_id>(?:state|type|option):\S+) needs an answer: (?P<question>.+) \(choices: (?P<choices>[^()]*)\)",
        _l("%(question_id)s needs an answer: %(question)s (choices: %(choices)s)"),
    ),
    _rule(
        r"(?P<question_id>(?:state|type|option):\S+): (?P<question>.+) \(choices: (?P<choices>[^()]*)\)",
        _l("%(question_id)s: %(question)s (choices: %(choices)s)"),
    ),
    _rule(r"QUESTION (?P<question>.+); needs an answer", _l("QUESTION %(question)s; needs an answer")),
    _rule(r"QUESTION (?P<question>.+); answer: (?P<answer>[^;]*)", _l("QUESTION %(question)s; answer: %(answer)s")),
    _rule(r"REFUSED: (?P<detail>.+)", _l("REFUSED: %(detail)s")),
    _rule(r"no changes to the tables", _l("no changes to the tables")),
    # why a value cannot be converted (convert.py; in a question's examples)
    _rule(r"is not one of the options \((?P<options>.*)\)", _l("is not one of the options (%(options)s)")),
    _rule(r"is not a number", _l("is not a number")),
    _rule(r"has the time (?P<time>\d\d:\d\d)", _l("has the time %(time)s")),
    _rule(r"would be rounded to whole numbers", _l("would be rounded to whole numbers")),
    _rule(r"would be rounded to (?P<places>\d+) decimal places", _l("would be rounded to %(places)s decimal places")),
    _rule(r"has (?P<count>\d+) values", _l("has %(count)s values")),
    # -- the migration plan: refusals ---------------------------------------------------------
    _rule(
        r"there is no question (?P<question_id>\S+) in this plan \(questions: (?P<questions>.+)\)",
        _l("there is no question %(question_id)s in this plan (questions: %(questions)s)"),
    ),
    _rule(
        r"there is no question (?P<question_id>\S+) in this plan \(this plan asks nothing\)",
        _l("there is no question %(question_id)s in this plan (this plan asks nothing)"),
    ),
    _rule(
        r'"(?P<answer>.*)" is not a choice for (?P<question_id>\S+) \(choices: (?P<choices>[^()]*)\)',
        _l("“%(answer)s” is not a choice for %(question_id)s (choices: %(choices)s)"),
    ),
    _rule(
        rf"re-adds field (?P<field>\S+) of (?P<entity>\S+) as (?P<new_type>{TYPE}), but its archived values are (?P<old_type>{TYPE}): "
        r"type changes are not supported yet; give the new field another key",
        _l(
            "re-adds field %(field)s of %(entity)s as %(new_type)s, but its archived values are %(old_type)s: type changes are not "
            "supported yet; give the new field another key"
        ),
    ),
    _rule(
        r"makes field (?P<field>\S+) of (?P<entity>\S+) unique, but (?P<count>\d+) values appear more than once; fix them first",
        _l("makes field %(field)s of %(entity)s unique, but %(count)s values appear more than once; fix them first"),
    ),
    _rule(
        rf"changes column (?P<column>\S+) of (?P<owner>\S+) from (?P<old_type>{TYPE}) to (?P<new_type>{TYPE}): "
        r"type changes are not supported yet",
        _l("changes column %(column)s of %(owner)s from %(old_type)s to %(new_type)s: type changes are not supported yet"),
    ),
    # -- differences between two documents (versions.py) --------------------------------------------------
    _rule(r"adds entity (?P<entity>\S+)", _l("adds entity %(entity)s")),
    _rule(r"removes entity (?P<entity>\S+)", _l("removes entity %(entity)s")),
    _rule(r"adds role (?P<key>\S+)", _l("adds role %(key)s")),
    _rule(r"removes role (?P<key>\S+)", _l("removes role %(key)s")),
    _rule(r"adds state (?P<key>\S+)", _l("adds state %(key)s")),
    _rule(r"removes state (?P<key>\S+)", _l("removes state %(key)s")),
    _rule(r"adds view (?P<key>\S+)", _l("adds view %(key)s")),
    _rule(r"removes view (?P<key>\S+)", _l("removes view %(key)s")),
    _rule(r"renames field (?P<old>\S+) to (?P<new>\S+)", _l("renames field %(old)s to %(new)s")),
    _rule(rf"adds field (?P<field>\S+) \((?P<type>{TYPE})\)", _l("adds field %(field)s (%(type)s)")),
    _rule(r"removes field (?P<field>\S+)", _l("removes field %(field)s")),
    _rule(
        rf"changes the type of field (?P<field>\S+) from (?P<old_type>{TYPE}) to (?P<new_type>{TYPE})",
        _l("changes the type of field %(field)s from %(old_type)s to %(new_type)s"),
    ),
    _rule(r"changes the options of field (?P<field>\S+)", _l("changes the options of field %(field)s")),
    _rule(r"adds option (?P<option>\S+) to field (?P<field>\S+)", _l("adds option %(option)s to field %(field)s")),
    _rule(r"removes option (?P<option>\S+) of field (?P<field>\S+)", _l("removes option %(option)s of field %(field)s")),
    _rule(r"reorders the options of field (?P<field>\S+)", _l("reorders the options of field %(field)s")),
    _rule(r"adds a workflow to entity (?P<entity>\S+)", _l("adds a workflow to entity %(entity)s")),
    _rule(r"removes the workflow of entity (?P<entity>\S+)", _l("removes the workflow of entity %(entity)s")),
    _rule(
        r"changes the initial state of entity (?P<entity>\S+) from (?P<old>\S+) to (?P<new>\S+)",
        _l("changes the initial state of entity %(entity)s from %(old)s to %(new)s"),
    ),
    _rule(r"changes the field rules of entity (?P<entity>\S+)", _l("changes the field rules of entity %(entity)s")),
    _rule(r"changes the transitions", _l("changes the transitions")),
    _rule(r"adds transition (?P<key>\S+)", _l("adds transition %(key)s")),
    _rule(r"removes transition (?P<key>\S+)", _l("removes transition %(key)s")),
    _rule(
        rf'changes the (?P<member>.+?) of (?P<what>{WHAT}) from (?P<old>"(?:[^"\\]|\\.)*"|.*?) to (?P<new>.*)',
        _l("changes the %(member)s of %(what)s from %(old)s to %(new)s"),
    ),
    _rule(rf"sets the (?P<member>.+?) of (?P<what>{WHAT}) to (?P<new>.*)", _l("sets the %(member)s of %(what)s to %(new)s")),
    _rule(rf"changes the (?P<member>.+?) of (?P<what>{WHAT})", _l("changes the %(member)s of %(what)s")),
    _rule(rf"removes the (?P<member>.+?) of (?P<what>{WHAT})", _l("removes the %(member)s of %(what)s")),
    # -- schema problems: reading the text and its shape (shape.py) ----------------------------------------
    _rule(r"nested too deeply \(more than (?P<max>\d+) levels\)", _l("nested too deeply (more than %(max)s levels)")),
    _rule(r"duplicate key: it appears more than once in this object", _l("duplicate key: it appears more than once in this object")),
    _rule(r"document too large \((?P<size>\d+) bytes; limit (?P<max>\d+)\)", _l("document too large (%(size)s bytes; limit %(max)s)")),
    _rule(r"document too large \(limit (?P<max>\d+) bytes\)", _l("document too large (limit %(max)s bytes)")),
    _rule(r"not UTF-8 text \(byte (?P<byte>\d+)\)", _l("not UTF-8 text (byte %(byte)s)")),
    _rule(
        r"not valid JSON: (?P<detail>.+) at line (?P<line>\d+), column (?P<column>\d+)",
        _l("not valid JSON: %(detail)s at line %(line)s, column %(column)s"),
    ),
    # Python's words for JSON that does not parse
    _rule(r"Expecting value", _l("Expecting value")),
    _rule(r"Expecting property name enclosed in double quotes", _l("Expecting property name enclosed in double quotes")),
    _rule(r"Expecting ':' delimiter", _l("Expecting ':' delimiter")),
    _rule(r"Expecting ',' delimiter", _l("Expecting ',' delimiter")),
    _rule(r"Unterminated string starting at", _l("Unterminated string starting at")),
    _rule(r"Invalid control character at", _l("Invalid control character at")),
    _rule(r"Invalid \\escape", _l("Invalid \\escape")),
    _rule(r"Invalid \\uXXXX escape", _l("Invalid \\uXXXX escape")),
    _rule(r"Extra data", _l("Extra data")),
    _rule(r"Illegal trailing comma before end of object", _l("Illegal trailing comma before end of object")),
    _rule(r"Illegal trailing comma before end of array", _l("Illegal trailing comma before end of array")),
    _rule(
        rf'must be text or an object with "en" and/or "zh" texts \(got (?P<got>{GOT})\)',
        _l("must be text or an object with “en” and/or “zh” texts (got %(got)s)"),
    ),
    _rule(
        rf'must be an option key \(lowercase\) or \{{"key": \.\.\., "label": \.\.\., "color": \.\.\.\}} \(got (?P<got>{GOT})\)',
        _l('must be an option key (lowercase) or {"key": ..., "label": ..., "color": ...} (got %(got)s)'),
    ),
    _rule(
        rf"must be a value, a list of values, or an object of operators \((?P<operators>[^()]*)\) \(got (?P<got>{GOT})\)",
        _l("must be a value, a list of values, or an object of operators (%(operators)s) (got %(got)s)"),
    ),
    _rule(
        rf'must be a state key, a list of state keys, or "\*" \(got (?P<got>{GOT})\)',
        _l("must be a state key, a list of state keys, or “*” (got %(got)s)"),
    ),
    _rule(rf"has the wrong form \(got (?P<got>{GOT})\)", _l("has the wrong form (got %(got)s)")),
    _rule(r'missing required key "(?P<key>[^"]*)"', _l("missing required key “%(key)s”")),
    _rule(
        rf"unknown key{HINT}(?: (?P<listing>\(allowed: [^()]*\)))?",
        _l("unknown key%(hint)s%(listing)s"),
    ),
    _rule(rf"must be (?P<kinds>(?:{KIND})(?: or (?:{KIND}))*) \(got (?P<got>{GOT})\)", _l("must be %(kinds)s (got %(got)s)")),
    _rule(
        rf"unknown field type (?P<value>{QUOTED}){HINT}; expected one of: (?P<options>.*)",
        _l("unknown field type %(value)s%(hint)s; expected one of: %(options)s"),
    ),
    _rule(
        rf"unknown view type (?P<value>{QUOTED}){HINT}; expected one of: (?P<options>.*)",
        _l("unknown view type %(value)s%(hint)s; expected one of: %(options)s"),
    ),
    _rule(
        rf"unknown value (?P<value>{QUOTED}){HINT}; expected one of: (?P<options>.*)",
        _l("unknown value %(value)s%(hint)s; expected one of: %(options)s"),
    ),
    _rule(r'must be (?P<value>"(?:[^"\\]|\\.)*")', _l("must be %(value)s")),
    _rule(rf"(?P<value>{QUOTED}) is not a valid key: (?P<detail>.+)", _l("%(value)s is not a valid key: %(detail)s")),
    _rule(
        r"use lowercase ASCII letters, digits and single underscores, starting with a letter",
        _l("use lowercase ASCII letters, digits and single underscores, starting with a letter"),
    ),
    _rule(r"at most (?P<max>\d+) characters", _l("at most %(max)s characters")),
    _rule(
        rf"(?P<value>{QUOTED}) is not a colour; write it as #rrggbb, e\.g\. #1f77b4",
        _l("%(value)s is not a colour; write it as #rrggbb, e.g. #1f77b4"),
    ),
    _rule(
        rf"(?P<value>{QUOTED}) is not a valid option key: use lowercase letters, digits, _ and -",
        _l("%(value)s is not a valid option key: use lowercase letters, digits, _ and -"),
    ),
    _rule(rf'(?P<value>{QUOTED}) is not a file extension such as "\.pdf"', _l("%(value)s is not a file extension such as “.pdf”")),
    _rule(
        rf'(?P<value>{QUOTED}) is not a field key \(prefix "-" for descending order\)',
        _l("%(value)s is not a field key (prefix “-” for descending order)"),
    ),
    _rule(rf"(?P<value>{QUOTED}) is not a currency code such as CNY or USD", _l("%(value)s is not a currency code such as CNY or USD")),
    _rule(
        rf"(?P<value>{QUOTED}) is not a valid source id \(letters, digits, \. _ : -\)",
        _l("%(value)s is not a valid source id (letters, digits, . _ : -)"),
    ),
    _rule(r"must not be empty", _l("must not be empty")),
    _rule(r"is too long \((?P<length>\d+) characters; at most (?P<max>\d+)\)", _l("is too long (%(length)s characters; at most %(max)s)")),
    _rule(r"must have at least (?P<count>\d+) items", _l("must have at least %(count)s items")),
    _rule(r"must have at least (?P<count>\d+) entrys", _l("must have at least %(count)s entries")),
    _rule(r"has too many items \((?P<count>\d+); at most (?P<max>\d+)\)", _l("has too many items (%(count)s; at most %(max)s)")),
    _rule(r"has too many entries \((?P<count>\d+); at most (?P<max>\d+)\)", _l("has too many entries (%(count)s; at most %(max)s)")),
    _rule(r"lists (?P<value>.+) more than once", _l("lists %(value)s more than once")),
    _rule(r"must be at least (?P<limit>\S+) \(got (?P<value>.+)\)", _l("must be at least %(limit)s (got %(value)s)")),
    _rule(r"must be more than (?P<limit>\S+) \(got (?P<value>.+)\)", _l("must be more than %(limit)s (got %(value)s)")),
    _rule(r"must be at most (?P<limit>\S+) \(got (?P<value>.+)\)", _l("must be at most %(limit)s (got %(value)s)")),
    _rule(r"must be less than (?P<limit>\S+) \(got (?P<value>.+)\)", _l("must be less than %(limit)s (got %(value)s)")),
    # -- schema problems: meaning (loader.py) -----------------------------------------------------------------
    _rule(rf'unknown role "(?P<key>[^"]*)"{HINT} {LISTING}', _l("unknown role “%(key)s”%(hint)s %(listing)s")),
    _rule(rf'unknown entity "(?P<key>[^"]*)"{HINT} {LISTING}', _l("unknown entity “%(key)s”%(hint)s %(listing)s")),
    _rule(rf'unknown state "(?P<key>[^"]*)"{HINT} {LISTING}', _l("unknown state “%(key)s”%(hint)s %(listing)s")),
    _rule(
        rf'unknown field "(?P<key>[^"]*)"{HINT}; a board groups by "state" or a select field',
        _l("unknown field “%(key)s”%(hint)s; a board groups by “state” or a select field"),
    ),
    _rule(rf'unknown field "(?P<key>[^"]*)"{HINT}', _l("unknown field “%(key)s”%(hint)s")),
    _rule(
        rf'has no field that can be its title; add {TITLE_RULE} field \(or name one in "title"\)',
        _l(
            "has no field that can be its title; add a single text, autonumber, email, phone, url, select, integer or date field "
            "(or name one in “title”)"
        ),
    ),
    _rule(
        rf'"(?P<key>[^"]*)" is (?P<field_kind>{KIND_OF_FIELD}); a title must be {TITLE_RULE} field',
        _l("“%(key)s” is %(field_kind)s; a title must be a single text, autonumber, email, phone, url, select, integer or date field"),
    ),
    _rule(
        r'"(?P<key>[^"]*)" must be a single reference to "(?P<entity>[^"]*)" itself \(to hold the parent\)',
        _l("“%(key)s” must be a single reference to “%(entity)s” itself (to hold the parent)"),
    ),
    _rule(
        rf'"(?P<key>[^"]*)" is (?P<field_kind>{KIND_OF_FIELD}); only text fields can be searched',
        _l("“%(key)s” is %(field_kind)s; only text fields can be searched"),
    ),
    _rule(r'"(?P<key>[^"]*)" is already in sections\[(?P<index>\d+)\]', _l("“%(key)s” is already in sections[%(index)s]")),
    _rule(r"names the field's own key; remove it or give the old key", _l("names the field's own key; remove it or give the old key")),
    _rule(
        r'"(?P<key>[^"]*)" is still a field of this entity; a renamed field cannot keep its old key',
        _l("“%(key)s” is still a field of this entity; a renamed field cannot keep its old key"),
    ),
    _rule(r'"(?P<key>[^"]*)" is already renamed to "(?P<new>[^"]*)"', _l("“%(key)s” is already renamed to “%(new)s”")),
    _rule(r'"(?P<key>[^"]*)" is a reserved name; choose another key', _l("“%(key)s” is a reserved name; choose another key")),
    _rule(rf"does not apply to (?P<field_kind>{KIND_OF_FIELD})", _l("does not apply to %(field_kind)s")),
    _rule(
        rf"(?P<field_kind>{KIND_OF_FIELD}) cannot be used inside a table's rows", _l("%(field_kind)s cannot be used inside a table's rows")
    ),
    _rule(r"many-valued fields cannot be used inside a table's rows", _l("many-valued fields cannot be used inside a table's rows")),
    _rule(r"does not apply inside a table's rows", _l("does not apply inside a table's rows")),
    _rule(r"a many-valued field cannot be unique", _l("a many-valued field cannot be unique")),
    _rule(r"is larger than max_rows \((?P<max>\d+)\)", _l("is larger than max_rows (%(max)s)")),
    _rule(r"is larger than max_length \((?P<max>\d+)\)", _l("is larger than max_length (%(max)s)")),
    _rule(r"is larger than max \((?P<max>.*)\)", _l("is larger than max (%(max)s)")),
    _rule(r"is not a valid regular expression: (?P<error>.+)", _l("is not a valid regular expression: %(error)s")),
    _rule(r'applies only when "result" is "money"', _l("applies only when “result” is “money”")),
    _rule(r'option "(?P<key>[^"]*)" is listed twice', _l("option “%(key)s” is listed twice")),
    _rule(
        r'unknown token "\{(?P<token>[^"]*)\}"; use \{YYYY\}, \{YY\}, \{MM\}, \{DD\}, \{YYYYMM\}, \{YYYYMMDD\} and one \{###\}',
        _l("unknown token “{%(token)s}”; use {YYYY}, {YY}, {MM}, {DD}, {YYYYMM}, {YYYYMMDD} and one {###}"),
    ),
    _rule(
        r"must contain exactly one counter such as \{####\} \(found (?P<count>\d+)\)",
        _l("must contain exactly one counter such as {####} (found %(count)s)"),
    ),
    _rule(r"has an unmatched \{ or \}", _l("has an unmatched { or }")),
    _rule(
        r"must be a date \(YYYY-MM-DD\) or today, today\+N, today-N \(got (?P<value>.*)\)",
        _l("must be a date (YYYY-MM-DD) or today, today+N, today-N (got %(value)s)"),
    ),
    _rule(
        r"must be a date and time \(YYYY-MM-DDTHH:MM\), now, or today, today\+N, today-N \(local midnight\) \(got (?P<value>.*)\)",
        _l("must be a date and time (YYYY-MM-DDTHH:MM), now, or today, today+N, today-N (local midnight) (got %(value)s)"),
    ),
    _rule(r"must be a number \(got (?P<value>.*)\)", _l("must be a number (got %(value)s)")),
    _rule(rf"(?P<field_kind>{KIND_OF_FIELD}) cannot have a default", _l("%(field_kind)s cannot have a default")),
    _rule(
        r'does not fit the field: (?P<detail>.+); "today", "today\+N" or "today-N" is also accepted',
        _l("does not fit the field: %(detail)s; “today”, “today+N” or “today-N” is also accepted"),
    ),
    _rule(
        r'does not fit the field: (?P<detail>.+); "now" is also accepted', _l("does not fit the field: %(detail)s; “now” is also accepted")
    ),
    _rule(
        r'does not fit the field: (?P<detail>.+); "me" is also accepted', _l("does not fit the field: %(detail)s; “me” is also accepted")
    ),
    _rule(r"does not fit the field: (?P<detail>.+)", _l("does not fit the field: %(detail)s")),
    _rule(rf"does not fit (?P<field_kind>{KIND_OF_FIELD}): out of range", _l("does not fit %(field_kind)s: out of range")),
    _rule(rf"does not fit (?P<field_kind>{KIND_OF_FIELD})", _l("does not fit %(field_kind)s")),
    _rule(r"formula cycle: (?P<cycle>.+)", _l("formula cycle: %(cycle)s")),
    _rule(
        r'transition "(?P<key>[^"]*)" is already defined at transitions\[(?P<index>\d+)\]',
        _l("transition “%(key)s” is already defined at transitions[%(index)s]"),
    ),
    _rule(
        r'"(?P<key>[^"]*)" is (?P<kind>computed|autonumber): it is filled by the system, not at a step',
        _l("“%(key)s” is %(kind)s: it is filled by the system, not at a step"),
    ),
    _rule(r'needs a "guard" to explain', _l("needs a “guard” to explain")),
    _rule(
        r'says nothing: give "hidden", "read_only" or "required" fields',
        _l("says nothing: give “hidden”, “read_only” or “required” fields"),
    ),
    _rule(
        r'step "(?P<key>[^"]*)" is already defined at steps\[(?P<index>\d+)\]',
        _l("step “%(key)s” is already defined at steps[%(index)s]"),
    ),
    _rule(
        r'"(?P<key>[^"]*)" is a (?P<kind>\S+) field; approvers come from a user field',
        _l("“%(key)s” is a %(kind)s field; approvers come from a user field"),
    ),
    _rule(r'mode "quorum" needs a "quorum" number', _l("mode “quorum” needs a “quorum” number")),
    _rule(
        r'applies only with mode "quorum" \(mode is "(?P<mode>[^"]*)"\)',
        _l("applies only with mode “quorum” (mode is “%(mode)s”)"),
    ),
    _rule(
        r"is larger than the group: (?P<quorum>\d+) approvals needed, (?P<count>\d+) approvers listed",
        _l("is larger than the group: %(quorum)s approvals needed, %(count)s approvers listed"),
    ),
    _rule(
        r'"escalate" needs an "escalation_role" whose members are added as approvers',
        _l("“escalate” needs an “escalation_role” whose members are added as approvers"),
    ),
    _rule(r'overdue handling needs "due_hours"', _l("overdue handling needs “due_hours”")),
    _rule(
        r'"(?P<key>[^"]*)" is where the transition goes: a rejection would do what approval does',
        _l("“%(key)s” is where the transition goes: a rejection would do what approval does"),
    ),
    _rule(
        r'"state_category" can filter but not sort; sort by "state" \(workflow order\)',
        _l("“state_category” can filter but not sort; sort by “state” (workflow order)"),
    ),
    _rule(r'"(?P<key>[^"]*)" holds many values, so it cannot be sorted', _l("“%(key)s” holds many values, so it cannot be sorted")),
    _rule(
        rf'"(?P<key>[^"]*)" is (?P<field_kind>{KIND_OF_FIELD}), which cannot be sorted',
        _l("“%(key)s” is %(field_kind)s, which cannot be sorted"),
    ),
    _rule(
        r"this entity has no workflow, so a board cannot group by state",
        _l("this entity has no workflow, so a board cannot group by state"),
    ),
    _rule(
        rf'"(?P<key>[^"]*)" is (?P<field_kind>{KIND_OF_FIELD}); a board groups by "state" or a select field',
        _l("“%(key)s” is %(field_kind)s; a board groups by “state” or a select field"),
    ),
    _rule(
        rf'"(?P<key>[^"]*)" is a system field; {SWIMLANES} of this entity',
        _l("“%(key)s” is a system field; swimlanes need a single select, user, reference or boolean field of this entity"),
    ),
    _rule(
        rf'"(?P<key>[^"]*)" holds many values; {SWIMLANES}',
        _l("“%(key)s” holds many values; swimlanes need a single select, user, reference or boolean field"),
    ),
    _rule(
        rf'"(?P<key>[^"]*)" is (?P<field_kind>{KIND_OF_FIELD}); {SWIMLANES}',
        _l("“%(key)s” is %(field_kind)s; swimlanes need a single select, user, reference or boolean field"),
    ),
    _rule(rf'"(?P<key>[^"]*)" is not a column of this board {LISTING}', _l("“%(key)s” is not a column of this board %(listing)s")),
    _rule(r"applies only to board views", _l("applies only to board views")),
    _rule(r'applies only to list views \(a board shows "card" fields\)', _l("applies only to list views (a board shows “card” fields)")),
    _rule(r"has a value out of range", _l("has a value out of range")),
    _rule(
        r'"(?P<key>[^"]*)" is a table field; views cannot show, sort or filter by it',
        _l("“%(key)s” is a table field; views cannot show, sort or filter by it"),
    ),
    # filters of views (filters.py, reported by the loader)
    _rule(r'"empty" takes true or false', _l("“empty” takes true or false")),
    _rule(r'"(?P<operator>[^"]*)" takes a list of values', _l("“%(operator)s” takes a list of values")),
    _rule(r'use \{"empty": true\} to find records without a value', _l('use {"empty": true} to find records without a value')),
    _rule(r'"contains" on (?P<kind>\S+) needs text', _l("“contains” on %(kind)s needs text")),
    _rule(
        rf'operator "(?P<operator>[^"]*)" does not apply to (?P<field_kind>{KIND_OF_FIELD}|"[^"]*") \(operators: (?P<operators>[^()]*)\)',
        _l("operator “%(operator)s” does not apply to %(field_kind)s (operators: %(operators)s)"),
    ),
    # expressions (formula, show_if, required_if, guard, when)
    _rule(rf'unknown name "(?P<key>[^"]*)"{HINT}', _l("unknown name “%(key)s”%(hint)s")),
    _rule(r"syntax error: (?P<detail>.+) at column (?P<column>\d+)", _l("syntax error: %(detail)s at column %(column)s")),
    _rule(r"syntax error: (?P<detail>.+) at the end", _l("syntax error: %(detail)s at the end")),
    _rule(r"syntax error: (?P<detail>.+)", _l("syntax error: %(detail)s")),
    # Python's words for an expression that does not parse
    _rule(r"invalid syntax", _l("invalid syntax")),
    _rule(r"invalid syntax\. Perhaps you forgot a comma\?", _l("invalid syntax. Perhaps you forgot a comma?")),
    _rule(r"'(?P<bracket>.)' was never closed", _l("'%(bracket)s' was never closed")),
    _rule(r"unmatched '(?P<bracket>.)'", _l("unmatched '%(bracket)s'")),
    _rule(
        r"unterminated string literal \(detected at line (?P<line>\d+)\)",
        _l("unterminated string literal (detected at line %(line)s)"),
    ),
    _rule(r"invalid decimal literal", _l("invalid decimal literal")),
    _rule(r"expression is empty", _l("expression is empty")),
    _rule(r"an expression must be text", _l("an expression must be text")),
    _rule(
        r"expression too long \((?P<length>\d+) characters; limit (?P<max>\d+)\)",
        _l("expression too long (%(length)s characters; limit %(max)s)"),
    ),
    _rule(r'names with "__" are not allowed', _l("names with “__” are not allowed")),
    _rule(
        r'the name "(?P<key>[^"]*)" is not allowed \(names may not start with "_"\)',
        _l("the name “%(key)s” is not allowed (names may not start with “_”)"),
    ),
    _rule(r'"(?P<key>[^"]*)" is a function: call it as (?P<call>.+)', _l("“%(key)s” is a function: call it as %(call)s")),
    _rule(
        rf'unknown function "(?P<key>[^"]*)"{HINT}; functions: (?P<functions>.+)',
        _l("unknown function “%(key)s”%(hint)s; functions: %(functions)s"),
    ),
    _rule(r"(?P<function>\w+)\(\) takes no named arguments", _l("%(function)s() takes no named arguments")),
    _rule(
        r"(?P<function>\w+)\(\) takes (?P<min>\d+) to (?P<max>\d+) argument(?:\(s\)|s), got (?P<count>\d+)",
        _l("%(function)s() takes %(min)s to %(max)s arguments, got %(count)s"),
    ),
    _rule(
        r"(?P<function>\w+)\(\) takes (?P<expected>\d+) argument\(s\), got (?P<count>\d+)",
        _l("%(function)s() takes %(expected)s argument(s), got %(count)s"),
    ),
    _rule(
        rf'"(?P<table>[^"]*)" has no column "(?P<column>[^"]*)"{HINT}',
        _l("“%(table)s” has no column “%(column)s”%(hint)s"),
    ),
    _rule(
        r'"(?P<table>[^"]*)" has no column "(?P<column>[^"]*)" \(columns: (?P<columns>[^()]*)\)',
        _l("“%(table)s” has no column “%(column)s” (columns: %(columns)s)"),
    ),
    _rule(
        r"attribute access is not allowed \(only child-table columns such as items\.amount\)",
        _l("attribute access is not allowed (only child-table columns such as items.amount)"),
    ),
    _rule(
        r"only plain function calls such as sum\(items\.amount\) are allowed",
        _l("only plain function calls such as sum(items.amount) are allowed"),
    ),
    _rule(r"the operator (?P<operator>.+) is not allowed", _l("the operator %(operator)s is not allowed")),
    _rule(
        r"the comparison (?P<operator>.+) is not allowed \(use == or !=\)", _l("the comparison %(operator)s is not allowed (use == or !=)")
    ),
    _rule(r"\* arguments are not allowed", _l("* arguments are not allowed")),
    _rule(
        r"the value (?P<value>.+) is not allowed \(use numbers, text, true, false or null\)",
        _l("the value %(value)s is not allowed (use numbers, text, true, false or null)"),
    ),
    _rule(r"expression too complex \(limit (?P<max>\d+) parts\)", _l("expression too complex (limit %(max)s parts)")),
    _rule(r"expression nested too deeply \(limit (?P<max>\d+) levels\)", _l("expression nested too deeply (limit %(max)s levels)")),
    _rule(r"list too long \(limit (?P<max>\d+) items\)", _l("list too long (limit %(max)s items)")),
    # what a formula of constants computes while it is checked
    _rule(r"division by zero", _l("division by zero")),
    _rule(r"number too large \(limit 10\^30\)", _l("number too large (limit 10^30)")),
    _rule(r"number too large", _l("number too large")),
    _rule(r"text too long \(limit (?P<max>\d+) characters\)", _l("text too long (limit %(max)s characters)")),
    _rule(r"exponent too large \(limit (?P<max>\d+)\)", _l("exponent too large (limit %(max)s)")),
    _rule(r"exponent must be a whole number", _l("exponent must be a whole number")),
    _rule(r"power too large", _l("power too large")),
    _rule(r"invalid arithmetic", _l("invalid arithmetic")),
    _rule(rf"cannot add (?P<left>{VALUE_KIND}) and (?P<right>{VALUE_KIND})", _l("cannot add %(left)s and %(right)s")),
    _rule(rf"cannot subtract (?P<right>{VALUE_KIND}) from (?P<left>{VALUE_KIND})", _l("cannot subtract %(right)s from %(left)s")),
    _rule(rf"cannot compare (?P<left>{VALUE_KIND}) with (?P<right>{VALUE_KIND})", _l("cannot compare %(left)s with %(right)s")),
    _rule(
        rf"'(?P<operator>[^']+)' needs numbers, got (?P<left>{VALUE_KIND}) and (?P<right>{VALUE_KIND})",
        _l("'%(operator)s' needs numbers, got %(left)s and %(right)s"),
    ),
    _rule(rf"cannot negate (?P<left>{VALUE_KIND})", _l("cannot negate %(left)s")),
    _rule(r"(?P<construct>.+) is not allowed", _l("%(construct)s is not allowed")),
)


# -- the pieces the engine composes ---------------------------------------------------------------

_TYPE_PARTS = re.compile(
    r"(?P<many>many )?(?P<computed>computed )?(?P<base>[a-z_?]+)(?: to (?P<to>[a-z0-9_]+))?(?: with (?P<places>\d+) decimal places)?"
)


def type_words(text: str) -> str:
    """A kind of value (`many reference to customer`) with the type keys kept."""
    found = _TYPE_PARTS.fullmatch(text)
    if found is None:
        return text
    words = found["base"]
    if found["computed"]:
        words = _("computed %(type)s", type=words)
    if found["many"]:
        words = _("many %(type)s", type=words)
    if found["to"]:
        words = _("%(type)s to %(entity)s", type=words, entity=found["to"])
    if found["places"]:
        words = _("%(type)s with %(places)s decimal places", type=words, places=found["places"])
    return words


def _what(text: str) -> str:
    """What a document change is about: `field task.due`, `option high of field task.priority`."""
    if text == "the app":
        return pgettext("what a document change is about", "the app")
    option = re.fullmatch(r"option (\S+) of field (\S+)", text)
    if option is not None:
        return _spaced(_("option %(option)s of field %(field)s", option=option[1], field=option[2]))
    noun, _sep, key = text.partition(" ")
    words = {
        "role": _l("role %(key)s"),
        "entity": _l("entity %(key)s"),
        "state": _l("state %(key)s"),
        "view": _l("view %(key)s"),
        "field": _l("field %(key)s"),
        "transition": _l("transition %(key)s"),
    }
    return _spaced(str(words[noun]) % {"key": key}) if noun in words else text


def _spaced(words: str) -> str:
    """Words that end in a key, followed by a word of their own: a space between (Chinese
    writes one between its characters and a Latin word, and none between its characters)."""
    return f"{words} " if words[-1:].isascii() and words[-1:].isalnum() else words


# Names versions.py gives to members of the document; other members are named by their key.
def _members() -> dict[str, str]:
    return {
        "label": pgettext("a member of an app document", "label"),
        "plural": pgettext("a member of an app document", "plural label"),
        "description": pgettext("a member of an app document", "description"),
        "help": pgettext("a member of an app document", "help text"),
        "guard_message": pgettext("a member of an app document", "condition message"),
        "filter": pgettext("a member of an app document", "filter"),
        "sections": pgettext("a member of an app document", "form sections"),
        "rules": pgettext("a member of an app document", "rules"),
        "target state": pgettext("a member of an app document", "target state"),
        "source states": pgettext("a member of an app document", "source states"),
        "required fields": pgettext("a member of an app document", "required fields"),
        "comment rule": pgettext("a member of an app document", "comment rule"),
        "colour": pgettext("a member of an app document", "colour"),
        "required flag": pgettext("a member of an app document", "required flag"),
        "read-only flag": pgettext("a member of an app document", "read-only flag"),
    }


def _member(text: str) -> str:
    """A member's name; a key (`max_length`) between spaces, for the words around it."""
    word = _members().get(text)
    return word if word is not None else f" {text} "


def _hint(text: str) -> str:
    """` (did you mean "date"?)`."""
    found = re.fullmatch(r' \(did you mean "([^"]*)"\?\)', text)
    return _(" (did you mean “%(key)s”?)", key=found[1]) if found is not None else text


LISTINGS = {
    "allowed": (_l("(allowed: %(keys)s)"), None),
    "roles": (_l("(roles: %(keys)s)"), _l("(no roles defined)")),
    "entities": (_l("(entities: %(keys)s)"), _l("(no entities defined)")),
    "states": (_l("(states: %(keys)s)"), _l("(no states defined)")),
    "columns": (_l("(columns: %(keys)s)"), _l("(no columns defined)")),
}


def _listing(text: str) -> str:
    """`(roles: lead, member)`, `(no roles defined)`: what there is, keys kept."""
    found = re.fullmatch(r"\((\w+): (.*)\)", text)
    if found is not None and found[1] in LISTINGS:
        return str(LISTINGS[found[1]][0]) % {"keys": found[2]}
    empty = re.fullmatch(r"\(no (\w+) defined\)", text)
    if empty is not None and LISTINGS.get(empty[1], (None, None))[1] is not None:
        return str(LISTINGS[empty[1]][1])
    return text


def _place(text: str) -> str:
    """Where old values are kept: `table demo__task__tags__v1`, `column due__v1 of demo__task`."""
    table = re.fullmatch(r"table (\S+)", text)
    if table is not None:
        return _("table %(table)s", table=table[1])
    column = re.fullmatch(r"column (\S+) of (\S+)", text)
    if column is not None:
        return _("column %(column)s of table %(table)s", column=column[1], table=column[2])
    return text


def _field_kind(text: str) -> str:
    """`a text field`, `an integer field` (the type key kept)."""
    found = re.fullmatch(r"an? ([a-z]+) field", text)
    return _("%(type)s field", type=found[1]) if found is not None else text


def _kinds_of_values() -> dict[str, str]:
    """The kinds of JSON values shape.py names, and the kinds of values in expressions."""
    return {
        "null": pgettext("a kind of value", "null"),
        "true/false": pgettext("a kind of value", "true/false"),
        "boolean": pgettext("a kind of value", "true/false"),
        "a number": pgettext("a kind of value", "a number"),
        "number": pgettext("a kind of value", "a number"),
        "a whole number": pgettext("a kind of value", "a whole number"),
        "text": pgettext("a kind of value", "text"),
        "a list": pgettext("a kind of value", "a list"),
        "list": pgettext("a kind of value", "a list"),
        "an object": pgettext("a kind of value", "an object"),
        "true or false": pgettext("a kind of value", "true or false"),
        "date": pgettext("a kind of value", "a date"),
        "datetime": pgettext("a kind of value", "a date and time"),
    }


def _got(text: str) -> str:
    return _kinds_of_values().get(text, text)


def _kinds(text: str) -> str:
    """`an object or a list`: the JSON kinds a value may have."""
    kinds = re.findall(KIND, text)
    return pgettext("between alternatives", " or ").join(_got(k) for k in kinds)


def _construct(text: str) -> str:
    """What expressions may not use (expressions._describe); Python's own names stay."""
    words = {
        "lambda": pgettext("a part of an expression", "lambda"),
        "indexing with [...]": pgettext("a part of an expression", "indexing with [...]"),
        "a dictionary": pgettext("a part of an expression", "a dictionary"),
        "a set": pgettext("a part of an expression", "a set"),
        "a comprehension": pgettext("a part of an expression", "a comprehension"),
        "an f-string": pgettext("a part of an expression", "an f-string"),
        "assignment": pgettext("a part of an expression", "assignment"),
        "slicing": pgettext("a part of an expression", "slicing"),
    }
    word = words.get(text, text)
    return f" {word}" if word[:1].isascii() else word  # a space between Chinese and a Latin word


def _label(text: str) -> str:
    """A state's or option's English label: in the current language when an installed app has it."""
    return engine_messages._Labels(None, lang()).one(text) if text else text


def _joined(separator: str, joiner: str) -> Callable[[str], str]:
    def join(text: str) -> str:
        return joiner.join(_say(part) for part in text.split(separator))

    return join


def _value(name: str, text: str) -> str:
    if name in ("detail", "change", "question"):
        return _say(text)
    if name in ("type", "old_type", "new_type"):
        return type_words(text)
    if name == "losses":
        return _joined(" and ", pgettext("between parts of a sentence", ", "))(text)
    if name == "verbs":
        return _joined(", ", pgettext("between the items of a list of names", ", "))(text)
    handlers: dict[str, Callable[[str], str]] = {
        "what": _what,
        "member": _member,
        "hint": _hint,
        "listing": _listing,
        "place": _place,
        "field_kind": _field_kind,
        "got": _got,
        "kinds": _kinds,
        "label": _label,
        "left": _got,
        "right": _got,
        "construct": _construct,
    }
    handler = handlers.get(name)
    return handler(text) if handler is not None and text else text


def match(message: str) -> tuple[Rule, re.Match[str]] | None:
    """The rule whose pattern matches the whole message, and the match. Engine messages
    that are data quote with “”: they are matched as if quoted with "."""
    for text in dict.fromkeys((message, message.replace("“", '"').replace("”", '"'))):
        for rule in RULES:
            found = rule.pattern.fullmatch(text)
            if found is not None:
                return rule, found
    return None


def _rules(text: str) -> str | None:
    found = match(text)
    if found is None:
        return None
    rule, groups = found
    values = {name: _value(name, value or "") for name, value in groups.groupdict().items()}
    return (str(rule.text) % values).strip()


# A problem with its JSON path (`SchemaProblem` as text): `entities.task.fields.due.type: unknown ...`.
_PATH = re.compile(
    r'(?P<path>(?:key|label|description|source|roles|entities|\$schema)|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])+)'
    r": (?P<problem>.+)",
    re.DOTALL,
)
_SAMPLE = re.compile(r"#\d+: .+ \(.+\)", re.DOTALL)


def _sample(text: str) -> str | None:
    """A value that cannot be converted, as a question lists it: `#12: "abc" (is not a number)`.
    The value is JSON and may hold " (" itself: the reason is the last part that is one."""
    if not _SAMPLE.fullmatch(text):
        return None
    start = 0
    while (at := text.find(" (", start)) != -1:
        reason = _rules(text[at + 2 : -1])
        if reason is not None:
            return _("%(sample)s (%(reason)s)", sample=text[:at], reason=reason)
        start = at + 1
    return None


def _say(text: str, entity: Entity | None = None) -> str:
    """`text` in the current language: a pattern here, then the engine's own messages, then
    the text's parts ("; " between sentences, ", " between parts of one)."""
    found = _rules(text)
    if found is not None:
        return found
    sample = _sample(text)
    if sample is not None:
        return sample
    at = _PATH.fullmatch(text)
    if at is not None:
        problem = _say(at["problem"], entity)
        if problem != at["problem"]:
            return _("%(path)s: %(problem)s", path=at["path"], problem=problem)
    sentences = text.split("; ")
    if len(sentences) > 1:
        shown = [_say(part, entity) for part in sentences]
        if shown != sentences:
            return pgettext("between messages", "; ").join(shown)
    said = engine_messages.translate(text, entity)
    if said != text:
        return said
    parts = text.split(", ")
    if len(parts) > 1:
        shown = [_rules(part) or part for part in parts]
        if shown != parts:
            return pgettext("between parts of a sentence", ", ").join(shown)
    return text


def translate(message: str, entity: Entity | None = None) -> str:
    """An admin text of the engine in the current language (the engine's other messages
    through `engine_messages`); the text itself when nothing knows it, and always in English."""
    message = message if message is None else str(message)  # an engine Message: its English text
    if not message or not has_request_context() or lang() == "en":
        return message
    text = message.strip()
    said = _say(text, entity)
    return message if said == text else said
