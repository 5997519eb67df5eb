"""Reading a document's text and checking its shape against the JSON meta-schema.

jsonschema finds the problems; this module says them as Messages for the admin, at the
JSON path of the offending value (`entities.task.fields.due.type: unknown field type "dat"
(did you mean "date"?)`).
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from flowdeck.engine.errors import SchemaProblem
from flowdeck.engine.messages import M, Message
from flowdeck.engine.phrases import Words, json_kind, or_joined, schema_kind, suggestion

META_SCHEMA_PATH = Path(__file__).with_name("app.schema.json")
MAX_DOCUMENT_BYTES = 2_000_000
MAX_DEPTH = 24

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
KEY_RULE = M("use lowercase ASCII letters, digits and single underscores, starting with a letter")


@cache
def meta_schema() -> dict[str, Any]:
    return json.loads(META_SCHEMA_PATH.read_text(encoding="utf-8"))


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(meta_schema())


def format_path(parts: Sequence[str | int]) -> str:
    """`["entities", "task", "workflow", "transitions", 2, "to"]` -> `entities.task.workflow.transitions[2].to`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out


class _DuplicateTracking(dict[str, Any]):
    """A JSON object that remembers keys it saw twice (json would keep only the last)."""

    duplicates: list[str]


def _pairs(pairs: list[tuple[str, Any]]) -> _DuplicateTracking:
    obj = _DuplicateTracking()
    obj.duplicates = []
    for key, value in pairs:
        if key in obj and key not in obj.duplicates:
            obj.duplicates.append(key)
        obj[key] = value
    return obj


class _LongNumber:
    """A JSON integer with more digits than Python turns into an int (`sys.int_info`); kept
    as its digit count so the problem can name its place."""

    def __init__(self, digits: int) -> None:
        self.digits = digits


def _max_digits() -> int:
    return sys.get_int_max_str_digits() or sys.int_info.default_max_str_digits


def _parse_int(text: str) -> int | _LongNumber:
    digits = len(text.lstrip("-"))
    return _LongNumber(digits) if digits > _max_digits() else int(text)


# Lone surrogates are not characters (UTF-8 cannot write them); PostgreSQL's JSON cannot hold NUL.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


_LONG = "a number of %(digits)s digits is too long"
_NOT_A_CHARACTER = "holds %(code)s, which is not a character that can be stored"
_UNUSABLE = (_LONG, _NOT_A_CHARACTER)


def _unstorable(text: str, path: list[str | int], problems: list[SchemaProblem]) -> None:
    found = _UNSTORABLE.search(text)
    if found:
        code = f"U+{ord(found.group()):04X}"
        problems.append(SchemaProblem(format_path(path), M("holds %(code)s, which is not a character that can be stored", code=code)))


def _walk(value: Any, path: list[str | int], depth: int, problems: list[SchemaProblem]) -> None:
    if depth > MAX_DEPTH:
        problems.append(SchemaProblem(format_path(path), M("nested too deeply (more than %(max)s levels)", max=MAX_DEPTH)))
        return
    if isinstance(value, _LongNumber) or (isinstance(value, int) and value.bit_length() > _max_digits() * math.log2(10)):
        digits = value.digits if isinstance(value, _LongNumber) else int(value.bit_length() * math.log10(2)) + 1
        problems.append(SchemaProblem(format_path(path), M("a number of %(digits)s digits is too long", digits=digits)))
    elif isinstance(value, str):
        _unstorable(value, path, problems)
    elif isinstance(value, dict):
        for key in getattr(value, "duplicates", []):
            problems.append(SchemaProblem(format_path([*path, key]), M("duplicate key: it appears more than once in this object")))
        for key, item in value.items():
            if isinstance(key, str):
                _unstorable(key, [*path, key], problems)
            _walk(item, [*path, key], depth + 1, problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, [*path, index], depth + 1, problems)


def parse_document(text: str | bytes) -> tuple[Any, list[SchemaProblem]]:
    """Parse JSON text; returns the document and the problems found while reading it."""
    if isinstance(text, bytes):
        if len(text) > MAX_DOCUMENT_BYTES:
            return None, [
                SchemaProblem("", M("document too large (%(size)s bytes; limit %(max)s)", size=len(text), max=MAX_DOCUMENT_BYTES))
            ]
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, [SchemaProblem("", M("not UTF-8 text (byte %(byte)s)", byte=exc.start))]
    if len(text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        return None, [SchemaProblem("", M("document too large (limit %(max)s bytes)", max=MAX_DOCUMENT_BYTES))]
    try:
        document = json.loads(text, object_pairs_hook=_pairs, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        said = M(
            "not valid JSON: %(detail)s at line %(line)s, column %(column)s", detail=_json_error(exc.msg), line=exc.lineno, column=exc.colno
        )
        return None, [SchemaProblem("", said)]
    except RecursionError:
        return None, [SchemaProblem("", M("nested too deeply (more than %(max)s levels)", max=MAX_DEPTH))]
    problems: list[SchemaProblem] = []
    _walk(document, [], 0, problems)
    if any(isinstance(p.message, Message) and p.message.msgid in _UNUSABLE for p in problems):
        return None, problems  # nothing may show or keep such a value: only the text is there
    return document, problems


def _json_error(text: str) -> Words:
    """Python's words for JSON that does not parse, as a Message where they are known."""
    known = {
        "Expecting value": M("Expecting value"),
        "Expecting property name enclosed in double quotes": M("Expecting property name enclosed in double quotes"),
        "Expecting ':' delimiter": M("Expecting ':' delimiter"),
        "Expecting ',' delimiter": M("Expecting ',' delimiter"),
        "Unterminated string starting at": M("Unterminated string starting at"),
        "Invalid control character at": M("Invalid control character at"),
        "Invalid \\escape": M("Invalid \\escape"),
        "Invalid \\uXXXX escape": M("Invalid \\uXXXX escape"),
        "Extra data": M("Extra data"),
        "Illegal trailing comma before end of object": M("Illegal trailing comma before end of object"),
        "Illegal trailing comma before end of array": M("Illegal trailing comma before end of array"),
    }
    return known.get(text, text)


def _quote(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _describe_anyof(error: ValidationError) -> Message:
    schema = error.schema
    defs = meta_schema()["$defs"]
    got = json_kind(error.instance)
    if schema is defs["label"] or schema is defs["longLabel"]:
        return M("must be text or an object with “en” and/or “zh” texts (got %(got)s)", got=got)
    if schema is defs["option"]:
        return M('must be an option key (lowercase) or {"key": ..., "label": ..., "color": ...} (got %(got)s)', got=got)
    if schema is defs["filterCondition"]:
        operators = ["eq", "ne", "in", "not_in", "contains", "gt", "gte", "lt", "lte", "empty"]
        return M("must be a value, a list of values, or an object of operators (%(operators)s) (got %(got)s)", operators=operators, got=got)
    if "from" in error.absolute_path:
        return M("must be a state key, a list of state keys, or “*” (got %(got)s)", got=got)
    return M("has the wrong form (got %(got)s)", got=got)


def _branch_errors(error: ValidationError) -> list[ValidationError] | None:
    """For an anyOf, the errors of the one branch that fits the value's JSON type, if any."""
    branches = error.validator_value
    instance = error.instance
    fitting = []
    for index, branch in enumerate(branches):
        target = branch.get("type")
        while target is None and "$ref" in branch:  # follow chains such as stateRef -> key
            branch = meta_schema()["$defs"][branch["$ref"].rsplit("/", 1)[1]]
            target = branch.get("type")
        types = target if isinstance(target, list) else [target]
        if (
            ("object" in types and isinstance(instance, dict))
            or ("array" in types and isinstance(instance, list))
            or ("string" in types and isinstance(instance, str))
        ):
            fitting.append(index)
    if len(fitting) != 1:
        return None
    return [e for e in (error.context or []) if e.relative_schema_path and e.relative_schema_path[0] == fitting[0]]


def _explain(error: ValidationError) -> Iterator[SchemaProblem]:
    path = list(error.absolute_path)
    validator, value, instance = error.validator, error.validator_value, error.instance
    where = format_path(path)
    if validator == "anyOf":
        inner = _branch_errors(error)
        if inner:
            for sub in inner:
                yield from _explain(sub)
            return
        yield SchemaProblem(where, _describe_anyof(error))
    elif validator == "required":
        for key in value:
            if isinstance(instance, dict) and key not in instance:
                yield SchemaProblem(where, M("missing required key “%(key)s”", key=key))
    elif validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        for key in instance:
            if key not in allowed:
                hint = suggestion(key, allowed)
                listing = M(" (allowed: %(keys)s)", keys=allowed) if not hint and len(allowed) <= 14 else ""
                yield SchemaProblem(format_path([*path, key]), M("unknown key%(hint)s%(listing)s", hint=hint, listing=listing))
    elif validator == "type":
        wanted = value if isinstance(value, list) else [value]
        yield SchemaProblem(
            where, M("must be %(kinds)s (got %(got)s)", kinds=or_joined([schema_kind(w) for w in wanted]), got=json_kind(instance))
        )
    elif validator == "enum":
        yield SchemaProblem(where, _unknown_value(path, instance, [str(v) for v in value]))
    elif validator == "const":
        yield SchemaProblem(where, M("must be %(value)s", value=_quote(value)))
    elif "propertyNames" in error.schema_path:
        said = M("%(value)s is not a valid key: %(detail)s", value=_quote(instance), detail=_key_rule(error))
        yield SchemaProblem(format_path([*path, instance]), said)
    elif validator == "pattern":
        yield SchemaProblem(where, _pattern_message(error))
    elif validator in ("minLength", "minItems", "minProperties"):
        yield SchemaProblem(where, _too_few(validator, value))
    elif validator == "maxLength":
        yield SchemaProblem(where, M("is too long (%(length)s characters; at most %(max)s)", length=len(instance), max=value))
    elif validator == "maxItems":
        yield SchemaProblem(where, M("has too many items (%(count)s; at most %(max)s)", count=len(instance), max=value))
    elif validator == "maxProperties":
        yield SchemaProblem(where, M("has too many entries (%(count)s; at most %(max)s)", count=len(instance), max=value))
    elif validator == "uniqueItems":
        seen: list[Any] = []
        dup = next((v for v in instance if v in seen or seen.append(v)), None)
        yield SchemaProblem(where, M("lists %(value)s more than once", value=_quote(dup)))
    elif validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        yield SchemaProblem(where, _out_of_bounds(validator, value, _quote(instance)))
    else:
        yield SchemaProblem(where, error.message)


def _unknown_value(path: list[Any], instance: Any, options: list[str]) -> Message:
    said = dict(value=_quote(instance), hint=suggestion(instance, options), options=options)
    if path and path[-1] == "type" and len(path) >= 2 and path[-3:-2] == ["fields"]:
        return M("unknown field type %(value)s%(hint)s; expected one of: %(options)s", **said)
    if path and path[-1] == "type":
        return M("unknown view type %(value)s%(hint)s; expected one of: %(options)s", **said)
    return M("unknown value %(value)s%(hint)s; expected one of: %(options)s", **said)


def _too_few(validator: str, value: int) -> Message:
    if value == 1:
        return M("must not be empty")
    if validator == "minLength":
        return M("must be at least %(min)s characters", min=value)
    if validator == "minItems":
        return M("must have at least %(count)s items", count=value)
    return M("must have at least %(count)s entries", count=value)


def _out_of_bounds(validator: str, limit: Any, got: str) -> Message:
    if validator == "minimum":
        return M("must be at least %(limit)s (got %(value)s)", limit=limit, value=got)
    if validator == "exclusiveMinimum":
        return M("must be more than %(limit)s (got %(value)s)", limit=limit, value=got)
    if validator == "maximum":
        return M("must be at most %(limit)s (got %(value)s)", limit=limit, value=got)
    return M("must be less than %(limit)s (got %(value)s)", limit=limit, value=got)


def _key_rule(error: ValidationError) -> Message:
    if error.validator == "maxLength":
        return M("at most %(max)s characters", max=error.validator_value)
    if error.validator == "type":
        return M("must be text")
    return KEY_RULE


def _pattern_message(error: ValidationError) -> Message:
    instance, path = _quote(error.instance), list(error.absolute_path)
    defs = meta_schema()["$defs"]
    if error.validator_value == defs["color"]["pattern"]:
        return M("%(value)s is not a colour; write it as #rrggbb, e.g. #1f77b4", value=instance)
    if error.validator_value == defs["optionKey"]["pattern"]:
        return M("%(value)s is not a valid option key: use lowercase letters, digits, _ and -", value=instance)
    if path and path[-2:-1] == ["accept"]:
        return M("%(value)s is not a file extension such as “.pdf”", value=instance)
    if "sort" in path:
        return M("%(value)s is not a field key (prefix “-” for descending order)", value=instance)
    if path and path[-1] == "currency":
        return M("%(value)s is not a currency code such as CNY or USD", value=instance)
    if path and path[-1] == "source":
        return M("%(value)s is not a valid source id (letters, digits, . _ : -)", value=instance)
    if error.validator_value == defs["timeOfDay"]["pattern"]:
        return M("%(value)s is not a time of day such as 09:00 or 16:30", value=instance)
    if path and path[-1] == "starts":
        return M("%(value)s is not a date such as 2026-01-05", value=instance)
    if path and path[-1] == "catch_up_window":
        return M("%(value)s is not a duration such as P7D, PT12H or P1DT6H", value=instance)
    return M("%(value)s is not a valid key: %(detail)s", value=instance, detail=KEY_RULE)


def check_shape(document: Any) -> list[SchemaProblem]:
    """Every shape problem of `document`, in document order."""
    # A document given already parsed never went through parse_document's depth check;
    # without it a deep value (say under a field's "default") reaches the loader.
    problems: list[SchemaProblem] = []
    _walk(document, [], 0, problems)
    if problems:
        return problems
    errors = sorted(_validator().iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors:
        for problem in _explain(error):
            if problem not in problems:
                problems.append(problem)
    return problems
