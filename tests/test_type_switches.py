"""Types are closed: outside the two field type registries (`engine/fieldtypes.py`,
`views/field_widgets.py`), no code lists field type names to decide behaviour. A family or a
property of several types is asked of a registry (`types_in("number")`, `LANE_TYPES`, a
`FieldWidget` attribute), so adding a type never edits the places that use it.

What the scan allows without a reason: a comparison with the name of one type whose own
behaviour it is (`fld.type == "user"`: user ids; `"attachment"`: stored files...), listed in
`OWN_BEHAVIOUR`. What it refuses: a comparison with any other type name (a number, a text
kind, a choice: those are families), and any literal holding two or more type names (a
family or a property written out again), unless `ALLOWED` names the file, the names and why.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from flowdeck.engine.fieldtypes import FIELD_TYPES

PLATFORM = Path(__file__).resolve().parent.parent / "platform"
REGISTRIES = {"engine/fieldtypes.py", "views/field_widgets.py", "engine/schema/app.schema.json"}
NAMES = frozenset(FIELD_TYPES)

OWN_BEHAVIOUR = {
    "user": "its values are user ids: names, `me`, the people pickers, active users",
    "reference": "its values are record ids of another entity, named by `to`",
    "attachment": "its values are stored files, uploaded and kept apart",
    "table": "its values are child rows with fields of their own",
    "computed": "its value comes from a formula, with a result type",
    "rollup": "its value is aggregated from related records by the database, with a derived result type",
    "autonumber": "its value is assigned from a sequence when saved",
    "markdown": "its value is rendered as Markdown, not shown as a line of text",
    "select": "a board's columns and a list's sort follow the options of one select",
    "multiselect": "the one choice that holds many options in one value",
    "date": "relative defaults (`today+3d`) and day bounds",
    "datetime": "`now`, time zones, and a day bound meaning the whole day",
    "boolean": "a checkbox: true, false or not set",
    "text": "the plain text a computed result or an unknown key falls back to",
    "lookup": "its value is read through references from a field of another record, with that field's type",
    "sla": "its value is the due time of the current cycle of one of the entity's SLAs, read from the cycles",
}

# (file under platform/, the type names of one literal) -> why it may list them.
ALLOWED = {
    ("engine/phrases.py", ("attachment", "autonumber", "email", "integer")): "English grammar: the names taking “an”",
    ("engine/phrases.py", ("boolean", "integer")): "JSON value kinds of the meta-schema, not field types",
    ("views/listbar.py", ("boolean", "date", "text", "user")): "filter control names (`FieldWidget.filter`), not types",
    ("engine/filters.py", ("integer", "user")): "system columns (`id`, `created_by`) that have no field",
    ("views/boards.py", ("datetime", "user")): "system columns (`created_at`, `created_by`) drawn as fields",
    ("engine/computed.py", ("boolean", "date", "datetime", "text")): "the kind each non-number result holds, in words",
    ("engine/schema/fields.py", ("money",)): "`currency` is money's own setting",
    ("engine/storage/ddl.py", ("date", "datetime", "user")): "the relative defaults `today`, `now` and `me` of three types",
    ("forms/webforms.py", ("attachment", "boolean")): "their templates post twice (a hidden false, the kept file)",
}


def _names(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in NAMES:
        return [node.value]
    return []


def _python_findings(path: Path) -> list[tuple[int, tuple[str, ...]]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            names = [n for e in node.elts for n in _names(e)]
            if len(names) >= 2:
                found.append((node.lineno, tuple(sorted(names))))
        elif isinstance(node, ast.Dict):
            names = [n for k in node.keys if k is not None for n in _names(k)]
            if len(names) >= 2:
                found.append((node.lineno, tuple(sorted(names))))
        elif isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                names = _names(side)
                if names and names[0] not in OWN_BEHAVIOUR:
                    found.append((node.lineno, tuple(names)))
    return found


_TEMPLATE_COMPARE = re.compile(r'(?:==|!=)\s*"(\w+)"|"(\w+)"\s*(?:==|!=)|\bin\s*\(([^)]*)\)')


def _template_findings(path: Path) -> list[tuple[int, tuple[str, ...]]]:
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for match in _TEMPLATE_COMPARE.finditer(line):
            single = match.group(1) or match.group(2)
            if single in NAMES and single not in OWN_BEHAVIOUR:
                found.append((number, (single,)))
            listed = sorted(n for n in re.findall(r'"(\w+)"', match.group(3) or "") if n in NAMES)
            if len(listed) >= 2:
                found.append((number, tuple(listed)))
    return found


def findings() -> list[str]:
    out = []
    for path in sorted(PLATFORM.rglob("*")):
        where = path.relative_to(PLATFORM).as_posix()
        if where in REGISTRIES or "/migrations/" in where:
            continue
        if path.suffix == ".py":
            found = _python_findings(path)
        elif path.suffix == ".html":
            found = _template_findings(path)
        else:
            continue
        out += [f"{where}:{line}: {', '.join(names)}" for line, names in found if (where, names) not in ALLOWED]
    return out


def test_no_code_outside_the_registries_lists_field_type_names():
    """Does no module or template compare with a family member's name or list several type names, outside the registries?"""
    assert findings() == []


def test_the_scan_sees_a_family_written_out_again(tmp_path):
    """Would the scan catch a new list of number types and a comparison with one of them?"""
    module = tmp_path / "m.py"
    module.write_text('NUMBERS = ("integer", "decimal")\nok = kind == "money"\nfine = kind == "user"\n')
    assert _python_findings(module) == [(1, ("decimal", "integer")), (2, ("money",))]
    template = tmp_path / "t.html"
    template.write_text('{% if kind == "percent" %}%{% endif %}{% if kind in ("user", "date") %}{% endif %}\n')
    assert _template_findings(template) == [(1, ("percent",)), (1, ("date", "user"))]


def test_every_allowed_exception_is_still_there():
    """Is every allow-list entry still needed, so the list only shrinks with the code?"""
    for where, names in ALLOWED:
        path = PLATFORM / where
        assert any(n == names for _, n in _python_findings(path)), f"{where}: {names} no longer listed; drop it from ALLOWED"
