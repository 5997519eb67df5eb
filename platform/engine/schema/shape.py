"""Reading a document's text and checking its shape against the JSON meta-schema.

jsonschema finds the problems; this module says them in plain words, at the JSON path of
the offending value (`entities.task.fields.due.type: unknown field type "dat" (did you
mean "date"?)`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from difflib import get_close_matches
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from flowdeck.engine.errors import SchemaProblem

META_SCHEMA_PATH = Path(__file__).with_name("app.schema.json")
MAX_DOCUMENT_BYTES = 2_000_000
MAX_DEPTH = 24

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
KEY_RULE = "use lowercase ASCII letters, digits and single underscores, starting with a letter"


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


def _walk(value: Any, path: list[str | int], depth: int, problems: list[SchemaProblem]) -> None:
    if depth > MAX_DEPTH:
        problems.append(SchemaProblem(format_path(path), f"nested too deeply (more than {MAX_DEPTH} levels)"))
        return
    if isinstance(value, dict):
        for key in getattr(value, "duplicates", []):
            problems.append(SchemaProblem(format_path([*path, key]), "duplicate key: it appears more than once in this object"))
        for key, item in value.items():
            _walk(item, [*path, key], depth + 1, problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, [*path, index], depth + 1, problems)


def parse_document(text: str | bytes) -> tuple[Any, list[SchemaProblem]]:
    """Parse JSON text; returns the document and the problems found while reading it."""
    if isinstance(text, bytes):
        if len(text) > MAX_DOCUMENT_BYTES:
            return None, [SchemaProblem("", f"document too large ({len(text)} bytes; limit {MAX_DOCUMENT_BYTES})")]
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, [SchemaProblem("", f"not UTF-8 text (byte {exc.start})")]
    if len(text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        return None, [SchemaProblem("", f"document too large (limit {MAX_DOCUMENT_BYTES} bytes)")]
    try:
        document = json.loads(text, object_pairs_hook=_pairs)
    except json.JSONDecodeError as exc:
        return None, [SchemaProblem("", f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")]
    except RecursionError:
        return None, [SchemaProblem("", f"nested too deeply (more than {MAX_DEPTH} levels)")]
    problems: list[SchemaProblem] = []
    _walk(document, [], 0, problems)
    return document, problems


_TYPE_WORDS = {
    "object": "an object",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _quote(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _suggest(word: Any, choices: Sequence[str]) -> str:
    if not isinstance(word, str):
        return ""
    close = get_close_matches(word, list(choices), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _describe_anyof(error: ValidationError) -> str:
    schema = error.schema
    defs = meta_schema()["$defs"]
    if schema is defs["label"] or schema is defs["longLabel"]:
        return 'must be text or an object with "en" and/or "zh" texts'
    if schema is defs["option"]:
        return 'must be an option key (lowercase) or {"key": ..., "label": ..., "color": ...}'
    if schema is defs["filterCondition"]:
        return "must be a value, a list of values, or an object of operators (eq, ne, in, not_in, contains, gt, gte, lt, lte, empty)"
    if "from" in error.absolute_path:
        return 'must be a state key, a list of state keys, or "*"'
    return "has the wrong form"


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
        yield SchemaProblem(where, f"{_describe_anyof(error)} (got {_json_type(instance)})")
    elif validator == "required":
        for key in value:
            if isinstance(instance, dict) and key not in instance:
                yield SchemaProblem(where, f'missing required key "{key}"')
    elif validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        for key in instance:
            if key not in allowed:
                hint = _suggest(key, allowed)
                listing = f" (allowed: {', '.join(allowed)})" if not hint and len(allowed) <= 14 else ""
                yield SchemaProblem(format_path([*path, key]), f"unknown key{hint}{listing}")
    elif validator == "type":
        wanted = value if isinstance(value, list) else [value]
        words = " or ".join(_TYPE_WORDS[w] for w in wanted)
        yield SchemaProblem(where, f"must be {words} (got {_json_type(instance)})")
    elif validator == "enum":
        if path and path[-1] == "type" and len(path) >= 2 and path[-3:-2] == ["fields"]:
            what = "field type"
        elif path and path[-1] == "type":
            what = "view type"
        else:
            what = "value"
        options = ", ".join(str(v) for v in value)
        yield SchemaProblem(
            where, f"unknown {what} {_quote(instance)}{_suggest(instance, [str(v) for v in value])}; expected one of: {options}"
        )
    elif validator == "const":
        yield SchemaProblem(where, f"must be {_quote(value)}")
    elif "propertyNames" in error.schema_path:
        yield SchemaProblem(format_path([*path, instance]), f"{_quote(instance)} is not a valid key: {_key_rule(error)}")
    elif validator == "pattern":
        yield SchemaProblem(where, _pattern_message(error))
    elif validator == "minLength":
        yield SchemaProblem(where, "must not be empty" if value == 1 else f"must be at least {value} characters")
    elif validator == "maxLength":
        yield SchemaProblem(where, f"is too long ({len(instance)} characters; at most {value})")
    elif validator in ("minItems", "minProperties"):
        what = "item" if validator == "minItems" else "entry"
        yield SchemaProblem(where, "must not be empty" if value == 1 else f"must have at least {value} {what}s")
    elif validator in ("maxItems", "maxProperties"):
        what = "items" if validator == "maxItems" else "entries"
        yield SchemaProblem(where, f"has too many {what} ({len(instance)}; at most {value})")
    elif validator == "uniqueItems":
        seen: list[Any] = []
        dup = next((v for v in instance if v in seen or seen.append(v)), None)
        yield SchemaProblem(where, f"lists {_quote(dup)} more than once")
    elif validator in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {"minimum": "at least", "exclusiveMinimum": "more than", "maximum": "at most", "exclusiveMaximum": "less than"}
        yield SchemaProblem(where, f"must be {words[validator]} {value} (got {_quote(instance)})")
    else:
        yield SchemaProblem(where, error.message)


def _key_rule(error: ValidationError) -> str:
    if error.validator == "maxLength":
        return f"at most {error.validator_value} characters"
    if error.validator == "type":
        return "must be text"
    return KEY_RULE


def _pattern_message(error: ValidationError) -> str:
    instance, path = error.instance, list(error.absolute_path)
    defs = meta_schema()["$defs"]
    if error.validator_value == defs["color"]["pattern"]:
        return f"{_quote(instance)} is not a colour; write it as #rrggbb, e.g. #1f77b4"
    if error.validator_value == defs["optionKey"]["pattern"]:
        return f"{_quote(instance)} is not a valid option key: use lowercase letters, digits, _ and -"
    if path and path[-2:-1] == ["accept"]:
        return f'{_quote(instance)} is not a file extension such as ".pdf"'
    if "sort" in path:
        return f'{_quote(instance)} is not a field key (prefix "-" for descending order)'
    if path and path[-1] == "currency":
        return f"{_quote(instance)} is not a currency code such as CNY or USD"
    if path and path[-1] == "source":
        return f"{_quote(instance)} is not a valid source id (letters, digits, . _ : -)"
    return f"{_quote(instance)} is not a valid key: {KEY_RULE}"


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
