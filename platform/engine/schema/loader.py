"""From document to `App`: shape first, then meaning, then the frozen model.

Meaning checks resolve every name the document uses (entities, fields, states, roles,
views, expression names), reject formula cycles and defaults that do not fit their field,
and report all problems at once with their JSON paths.
"""

from __future__ import annotations

import json
import keyword
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from difflib import get_close_matches
from typing import Any

from flowdeck.engine.errors import SchemaInvalid, SchemaProblem
from flowdeck.engine.expressions import Expression, ExpressionError, Scope, compile_expression
from flowdeck.engine.fieldtypes import FIELD_TYPES, InvalidValue, is_many, resolve_date, resolve_datetime
from flowdeck.engine.filters import FilterError, normalize_condition
from flowdeck.engine.schema.model import (
    App,
    Approval,
    ApprovalStep,
    ApproverSource,
    Entity,
    Field,
    FieldRule,
    Label,
    Option,
    Permissions,
    Role,
    Section,
    State,
    Transition,
    View,
    WipLimit,
    Workflow,
    humanize,
)
from flowdeck.engine.schema.shape import check_shape, format_path, parse_document

SYSTEM_COLUMNS = ("id", "state", "version", "created_at", "created_by", "updated_at", "updated_by")
CHILD_SYSTEM_COLUMNS = ("id", "parent_id", "position")
RESERVED_KEYS = frozenset(
    {*SYSTEM_COLUMNS, *CHILD_SYSTEM_COLUMNS, "me", "true", "false", "null", "none"} | {k.lower() for k in keyword.kwlist}
)
SYSTEM_FIELD_TYPES = {
    "id": "integer",
    "state": "state",
    "created_at": "datetime",
    "updated_at": "datetime",
    "created_by": "user",
    "updated_by": "user",
}
_AUTONUMBER_TOKEN = re.compile(r"\{([^{}]*)\}")
_AUTONUMBER_DATE_TOKENS = {"YYYY", "YY", "MM", "DD", "YYYYMM", "YYYYMMDD"}
TITLE_TYPES = {"text", "autonumber", "email", "phone", "url", "select", "integer", "date"}
TITLE_RULE = "a single text, autonumber, email, phone, url, select, integer or date"
SWIMLANE_TYPES = {"select", "user", "reference", "boolean"}

Path = tuple[str | int, ...]


def load_app(source: str | bytes | Mapping[str, Any], *, name: str | None = None) -> App:
    """Load an app document (JSON text or parsed) or raise SchemaInvalid listing every problem."""
    if isinstance(source, (str, bytes)):
        document, problems = parse_document(source)
        if problems:
            raise SchemaInvalid(problems, name)
    else:
        document = source
    problems = check_shape(document)
    if problems:
        raise SchemaInvalid(problems, name)
    builder = _Builder(document)
    app = builder.build()
    if builder.problems:
        raise SchemaInvalid(builder.problems, name)
    return app


def check_document(source: str | bytes | Mapping[str, Any]) -> list[SchemaProblem]:
    """All problems of a document; empty when it loads."""
    try:
        load_app(source)
    except SchemaInvalid as exc:
        return exc.problems
    return []


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = get_close_matches(word, list(choices), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _listing(what: str, choices: Sequence[str]) -> str:
    return f"({what}: {', '.join(choices)})" if choices else f"(no {what} defined)"


def _json(value: Any) -> str:
    """A value as the document writes it: `"10"`, `NaN`, `[1, 2]`."""
    return json.dumps(value, ensure_ascii=False, default=str)


def _a(field_type: str) -> str:
    """`a text field`, `an integer field`."""
    return f"{'an' if field_type in ('integer', 'email', 'attachment', 'autonumber') else 'a'} {field_type} field"


class _Builder:
    """Checks meaning while building the model; collects problems instead of stopping."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.doc = document
        self.problems: list[SchemaProblem] = []
        self.role_keys: tuple[str, ...] = tuple(document["roles"])
        self.entity_keys: tuple[str, ...] = tuple(document["entities"])

    def problem(self, path: Path, message: str) -> None:
        self.problems.append(SchemaProblem(format_path(path), message))

    def build(self) -> App:
        doc = self.doc
        roles = tuple(
            Role(key, Label.of(spec.get("label"), humanize(key)), _opt_label(spec.get("description"))) for key, spec in doc["roles"].items()
        )
        entities = tuple(self.entity(key, spec) for key, spec in doc["entities"].items())
        return App(
            key=doc["key"],
            label=Label.of(doc["label"]),
            roles=roles,
            entities=entities,
            source=doc.get("source"),
            description=_opt_label(doc.get("description")),
            document=doc,
        )

    # -- roles and names -------------------------------------------------------------

    def roles(self, path: Path, keys: Sequence[str] | None) -> tuple[str, ...] | None:
        if keys is None:
            return None
        for index, key in enumerate(keys):
            if key not in self.role_keys:
                self.problem((*path, index), f'unknown role "{key}"{_suggest(key, self.role_keys)} {_listing("roles", self.role_keys)}')
        return tuple(keys)

    def field_names(self, path: Path, keys: Sequence[str], fields: Mapping[str, Any], *, allow_system: bool = False) -> tuple[str, ...]:
        known = list(fields) + (list(SYSTEM_FIELD_TYPES) if allow_system else [])
        for index, key in enumerate(keys):
            if key not in known:
                self.problem((*path, index), f'unknown field "{key}"{_suggest(key, known)}')
        return tuple(keys)

    # -- entities --------------------------------------------------------------------

    def entity(self, key: str, spec: Mapping[str, Any]) -> Entity:
        path: Path = ("entities", key)
        raw_fields: Mapping[str, Any] = spec["fields"]
        scope = _entity_scope(raw_fields, has_workflow="workflow" in spec)
        fields = tuple(self.field((*path, "fields", fk), fk, fs, scope, key, raw_fields) for fk, fs in raw_fields.items())
        self.check_renames(path, raw_fields)
        self.check_cycles((*path, "fields"), fields)
        by_key = {f.key: f for f in fields}

        can_title = [f.key for f in fields if f.type in TITLE_TYPES and not f.many]
        title = spec.get("title") or next((f.key for f in fields if f.type == "text"), can_title[0] if can_title else fields[0].key)
        if title not in by_key:
            self.problem((*path, "title"), f'unknown field "{title}"{_suggest(title, list(by_key))}')
        elif title not in can_title and "title" not in spec:
            self.problem(path, f'has no field that can be its title; add {TITLE_RULE} field (or name one in "title")')
        elif title not in can_title:
            self.problem((*path, "title"), f'"{title}" is {_a(by_key[title].type)}; a title must be {TITLE_RULE} field')

        sections = self.sections((*path, "sections"), spec.get("sections", []), raw_fields)
        tree = spec.get("tree")
        if tree is not None:
            target = by_key.get(tree)
            if target is None:
                self.problem((*path, "tree"), f'unknown field "{tree}"{_suggest(tree, list(by_key))}')
            elif target.type != "reference" or target.to != key or target.many:
                self.problem((*path, "tree"), f'"{tree}" must be a single reference to "{key}" itself (to hold the parent)')

        workflow = self.workflow((*path, "workflow"), spec["workflow"], raw_fields, scope) if "workflow" in spec else None
        perms = spec.get("permissions", {})
        permissions = Permissions(
            **{action: self.roles((*path, "permissions", action), perms.get(action)) for action in ("read", "create", "update", "delete")}
        )
        views = tuple(self.view((*path, "views", vk), vk, vs, by_key, workflow) for vk, vs in spec.get("views", {}).items())
        search = spec.get("search")
        if search is None:
            search_fields = tuple(f.key for f in fields if FIELD_TYPES[f.type].searchable and f.type != "markdown")
        else:
            search_fields = self.field_names((*path, "search"), search, raw_fields)
            for index, fk in enumerate(search_fields):
                field = by_key.get(fk)
                if field is not None and not FIELD_TYPES[field.type].searchable:
                    self.problem((*path, "search", index), f'"{fk}" is {_a(field.type)}; only text fields can be searched')
        return Entity(
            key=key,
            app=self.doc["key"],
            label=Label.of(spec.get("label"), humanize(key)),
            plural=Label.of(spec.get("plural") or spec.get("label"), humanize(key)),
            title=title,
            fields=fields,
            sections=sections,
            tree=tree,
            workflow=workflow,
            permissions=permissions,
            views=views,
            search=search_fields,
            description=_opt_label(spec.get("description")),
            computed_order=formula_order(fields),
        )

    def sections(self, path: Path, specs: Sequence[Mapping[str, Any]], fields: Mapping[str, Any]) -> tuple[Section, ...]:
        seen: dict[str, int] = {}
        sections = []
        for index, spec in enumerate(specs):
            keys = self.field_names((*path, index, "fields"), spec["fields"], fields)
            for position, fk in enumerate(keys):
                if fk in seen:
                    self.problem((*path, index, "fields", position), f'"{fk}" is already in sections[{seen[fk]}]')
                seen.setdefault(fk, index)
            sections.append(Section(Label.of(spec.get("label"), f"Section {index + 1}"), keys))
        return tuple(sections)

    def check_renames(self, path: Path, fields: Mapping[str, Any]) -> None:
        olds: dict[str, str] = {}
        for key, spec in fields.items():
            was = spec.get("was")
            if was is None:
                continue
            where = (*path, "fields", key, "was")
            if was == key:
                self.problem(where, "names the field's own key; remove it or give the old key")
            elif was in fields:
                self.problem(where, f'"{was}" is still a field of this entity; a renamed field cannot keep its old key')
            elif was in olds:
                self.problem(where, f'"{was}" is already renamed to "{olds[was]}"')
            olds.setdefault(was, key)

    # -- fields ----------------------------------------------------------------------

    def field(
        self,
        path: Path,
        key: str,
        spec: Mapping[str, Any],
        scope: Scope,
        entity_key: str,
        siblings: Mapping[str, Any],
        *,
        in_child: bool = False,
    ) -> Field:
        ftype = spec["type"]
        kind = FIELD_TYPES[ftype]
        reserved = RESERVED_KEYS if not in_child else RESERVED_KEYS | set(CHILD_SYSTEM_COLUMNS)
        if key in reserved:
            self.problem(path, f'"{key}" is a reserved name; choose another key')
        for extra in sorted(set(spec) - kind.keys):
            self.problem((*path, extra), f"does not apply to {_a(ftype)}")
        # Keys that do not apply were reported once; checking their values too would only add noise.
        spec = {k: v for k, v in spec.items() if k in kind.keys}
        if in_child and not kind.in_child_rows:
            self.problem((*path, "type"), f"{_a(ftype)} cannot be used inside a table's rows")
        if in_child and spec.get("many"):
            self.problem((*path, "many"), "many-valued fields cannot be used inside a table's rows")
        if in_child:
            row_only = ("unique", "indexed", "was", "read_only", "show_if")
            for name in row_only:
                if name in spec:
                    self.problem((*path, name), "does not apply inside a table's rows")
            spec = {k: v for k, v in spec.items() if k not in row_only}
        if spec.get("unique") and spec.get("many"):
            self.problem((*path, "unique"), "a many-valued field cannot be unique")

        options = self.options((*path, "options"), spec.get("options", ()))
        to = spec.get("to")
        if to is not None and to not in self.entity_keys:
            self.problem((*path, "to"), f'unknown entity "{to}"{_suggest(to, self.entity_keys)} {_listing("entities", self.entity_keys)}')

        children: tuple[Field, ...] = ()
        if ftype == "table" and "fields" in spec:
            child_scope = Scope(names=frozenset(spec["fields"]) | {"me"})
            children = tuple(
                self.field((*path, "fields", ck), ck, cs, child_scope, entity_key, spec["fields"], in_child=True)
                for ck, cs in spec["fields"].items()
            )
            self.check_cycles((*path, "fields"), children)
            if spec.get("min_rows") is not None and spec.get("max_rows") is not None and spec["min_rows"] > spec["max_rows"]:
                self.problem((*path, "min_rows"), f"is larger than max_rows ({spec['max_rows']})")

        if ftype == "autonumber" and "format" in spec:
            self.autonumber_format((*path, "format"), spec["format"])
        if spec.get("pattern") is not None:
            try:
                re.compile(spec["pattern"])
            except re.error as exc:
                self.problem((*path, "pattern"), f"is not a valid regular expression: {exc}")
        result = spec.get("result")
        if ftype == "computed" and result is None:
            result = "decimal"
        if "currency" in spec and ftype == "computed" and result != "money":
            self.problem((*path, "currency"), 'applies only when "result" is "money"')

        field = Field(
            key=key,
            type=ftype,
            label=Label.of(spec.get("label"), humanize(key)),
            help=_opt_label(spec.get("help")),
            required=bool(spec.get("required", False)),
            required_if=self.expression((*path, "required_if"), spec.get("required_if"), scope),
            show_if=self.expression((*path, "show_if"), spec.get("show_if"), scope),
            unique=bool(spec.get("unique", False)),
            indexed=bool(spec.get("indexed", False)),
            read_only=bool(spec.get("read_only", False)),
            min=spec.get("min"),
            max=spec.get("max"),
            min_length=spec.get("min_length"),
            max_length=spec.get("max_length"),
            pattern=spec.get("pattern"),
            options=options,
            many=bool(spec.get("many", False)),
            to=to,
            currency=spec.get("currency") or ("CNY" if ftype == "money" or result == "money" else None),
            scale=spec.get("scale"),
            format=spec.get("format"),
            formula=self.expression((*path, "formula"), spec.get("formula"), scope),
            result=result,
            fields=children,
            min_rows=spec.get("min_rows"),
            max_rows=spec.get("max_rows"),
            accept=tuple(spec.get("accept", ())),
            max_size_mb=spec.get("max_size_mb"),
            was=spec.get("was"),
            computed_order=formula_order(children),
        )
        bounds_ok = self.check_bounds(path, field)
        if "default" in spec:
            # With unusable bounds the default can still be checked for its type, not its range.
            checked = field if bounds_ok else replace(field, min=None, max=None)
            field = _with_default(field, self.default((*path, "default"), checked, spec["default"]))
        if field.min_length is not None and field.max_length is not None and field.min_length > field.max_length:
            self.problem((*path, "min_length"), f"is larger than max_length ({field.max_length})")
        return field

    def options(self, path: Path, specs: Sequence[Any]) -> tuple[Option, ...]:
        options = []
        seen: set[str] = set()
        for index, spec in enumerate(specs):
            item = {"key": spec} if isinstance(spec, str) else spec
            if item["key"] in seen:
                self.problem((*path, index), f'option "{item["key"]}" is listed twice')
            seen.add(item["key"])
            options.append(Option(item["key"], Label.of(item.get("label"), humanize(item["key"])), item.get("color")))
        return tuple(options)

    def autonumber_format(self, path: Path, pattern: str) -> None:
        counters = 0
        for token in _AUTONUMBER_TOKEN.findall(pattern):
            if re.fullmatch(r"#{1,10}", token):
                counters += 1
            elif token not in _AUTONUMBER_DATE_TOKENS:
                self.problem(
                    path, f'unknown token "{{{token}}}"; use {{YYYY}}, {{YY}}, {{MM}}, {{DD}}, {{YYYYMM}}, {{YYYYMMDD}} and one {{###}}'
                )
        if counters != 1:
            self.problem(path, f"must contain exactly one counter such as {{####}} (found {counters})")
        if _AUTONUMBER_TOKEN.sub("", pattern).count("{") or _AUTONUMBER_TOKEN.sub("", pattern).count("}"):
            self.problem(path, "has an unmatched { or }")

    def check_bounds(self, path: Path, field: Field) -> bool:
        """Report unusable or crossed min/max; False when a bound cannot be used at all."""
        vtype = field.value_type
        bounds = {}
        ok = True
        for name in ("min", "max"):
            raw = getattr(field, name)
            if raw is None:
                continue
            try:
                if vtype == "date":
                    bounds[name] = resolve_date(raw)
                elif vtype == "datetime":
                    bounds[name] = resolve_datetime(raw)
                elif isinstance(raw, (int, float)) and not isinstance(raw, bool) and math.isfinite(raw):
                    bounds[name] = raw
                else:
                    raise ValueError
            except (ValueError, TypeError, OverflowError):
                ok = False
                wanted = {
                    "date": "a date (YYYY-MM-DD) or today, today+N, today-N",
                    "datetime": "a date and time (YYYY-MM-DDTHH:MM), now, or today, today+N, today-N (local midnight)",
                }.get(vtype, "a number")
                self.problem((*path, name), f"must be {wanted} (got {_json(raw)})")
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            self.problem((*path, "min"), f"is larger than max ({_json(field.max)})")
        return ok

    def default(self, path: Path, field: Field, raw: Any) -> Any:
        if field.type == "user" and raw == "me":
            return "me"
        if field.type == "date" and isinstance(raw, str) and re.fullmatch(r"today([+-]\d{1,4}d?)?", raw):
            return raw
        if field.type == "datetime" and raw == "now":
            return raw
        if field.type in ("reference", "attachment") or field.is_table:
            self.problem(path, f"{_a(field.type)} cannot have a default")
            return None
        try:
            return FIELD_TYPES[field.type].parse(field, raw)
        except InvalidValue as exc:
            also = {"date": '"today", "today+N" or "today-N"', "datetime": '"now"', "user": '"me"'}.get(field.type)
            self.problem(path, f"does not fit the field: {exc}" + (f"; {also} is also accepted" if also else ""))
        except (TypeError, ValueError):
            self.problem(path, f"does not fit {_a(field.type)}")
        except ArithmeticError:  # e.g. a datetime whose offset moves it before year 1
            self.problem(path, f"does not fit {_a(field.type)}: out of range")
        return None

    def expression(self, path: Path, source: str | None, scope: Scope) -> Expression | None:
        if source is None:
            return None
        try:
            return compile_expression(source, scope)
        except ExpressionError as exc:
            self.problem(path, str(exc))
            return None

    def check_cycles(self, path: Path, fields: Sequence[Field]) -> None:
        formulas = {f.key: f.formula.names for f in fields if f.formula is not None}
        reported: set[frozenset[str]] = set()
        done: set[str] = set()  # fully explored: without this, chains like c2 = c1 + c0 take exponential time

        def visit(key: str, trail: list[str]) -> None:
            for dep in sorted(formulas.get(key, ())):
                if dep in trail:
                    cycle = [*trail[trail.index(dep) :], dep]
                    if frozenset(cycle) not in reported:
                        reported.add(frozenset(cycle))
                        self.problem((*path, cycle[0], "formula"), f"formula cycle: {' → '.join(cycle)}")
                elif dep in formulas and dep not in done:
                    visit(dep, [*trail, dep])
            done.add(key)

        for key in formulas:
            if key not in done:
                visit(key, [key])

    # -- workflows -------------------------------------------------------------------

    def workflow(self, path: Path, spec: Mapping[str, Any], fields: Mapping[str, Any], scope: Scope) -> Workflow:
        state_keys = tuple(spec["states"])
        states = tuple(State(k, Label.of(s.get("label"), humanize(k)), s["category"], s.get("color")) for k, s in spec["states"].items())
        initial = spec.get("initial", state_keys[0])
        if initial not in state_keys:
            self.problem((*path, "initial"), self.unknown_state(initial, state_keys))

        transitions = []
        seen: dict[str, int] = {}
        for index, tspec in enumerate(spec.get("transitions", [])):
            tpath = (*path, "transitions", index)
            key = tspec["key"]
            if key in seen:
                self.problem((*tpath, "key"), f'transition "{key}" is already defined at transitions[{seen[key]}]')
            seen.setdefault(key, index)
            raw_from = tspec["from"]
            if raw_from == "*":
                sources = tuple(s for s in state_keys if s != tspec["to"])
            else:
                sources = (raw_from,) if isinstance(raw_from, str) else tuple(raw_from)
                for position, state in enumerate(sources):
                    if state not in state_keys:
                        where = (*tpath, "from") if isinstance(raw_from, str) else (*tpath, "from", position)
                        self.problem(where, self.unknown_state(state, state_keys))
            if tspec["to"] not in state_keys:
                self.problem((*tpath, "to"), self.unknown_state(tspec["to"], state_keys))
            require = self.field_names((*tpath, "require"), tspec.get("require", []), fields)
            for position, fk in enumerate(require):
                if fk in fields and fields[fk]["type"] in ("computed", "autonumber"):
                    self.problem(
                        (*tpath, "require", position), f'"{fk}" is {fields[fk]["type"]}: it is filled by the system, not at a step'
                    )
            approval = (
                self.approval((*tpath, "approval"), tspec["approval"], fields, scope, state_keys, tspec) if "approval" in tspec else None
            )
            transitions.append(
                Transition(
                    key=key,
                    label=Label.of(tspec.get("label"), humanize(key)),
                    sources=sources,
                    to=tspec["to"],
                    roles=self.roles((*tpath, "roles"), tspec.get("roles")),
                    guard=self.expression((*tpath, "guard"), tspec.get("guard"), scope),
                    guard_message=_opt_label(tspec.get("guard_message")),
                    require=require,
                    comment=tspec.get("comment", "none"),
                    approval=approval,
                )
            )
            if "guard_message" in tspec and "guard" not in tspec:
                self.problem((*tpath, "guard_message"), 'needs a "guard" to explain')

        rules = []
        for index, rspec in enumerate(spec.get("rules", [])):
            rpath = (*path, "rules", index)
            for position, state in enumerate(rspec.get("states", [])):
                if state not in state_keys:
                    self.problem((*rpath, "states", position), self.unknown_state(state, state_keys))
            if not any(rspec.get(k) for k in ("hidden", "read_only", "required")):
                self.problem(rpath, 'says nothing: give "hidden", "read_only" or "required" fields')
            rules.append(
                FieldRule(
                    states=tuple(rspec["states"]) if "states" in rspec else None,
                    roles=self.roles((*rpath, "roles"), rspec.get("roles")),
                    hidden=frozenset(self.field_names((*rpath, "hidden"), rspec.get("hidden", []), fields)),
                    read_only=frozenset(self.field_names((*rpath, "read_only"), rspec.get("read_only", []), fields)),
                    required=frozenset(self.field_names((*rpath, "required"), rspec.get("required", []), fields)),
                )
            )
        return Workflow(initial=initial, states=states, transitions=tuple(transitions), rules=tuple(rules))

    def approval(
        self,
        path: Path,
        spec: Mapping[str, Any],
        fields: Mapping[str, Any],
        scope: Scope,
        state_keys: Sequence[str],
        transition: Mapping[str, Any],
    ) -> Approval:
        steps = []
        seen: dict[str, int] = {}
        for index, sspec in enumerate(spec["steps"]):
            spath = (*path, "steps", index)
            key = sspec["key"]
            if key in seen:
                self.problem((*spath, "key"), f'step "{key}" is already defined at steps[{seen[key]}]')
            seen.setdefault(key, index)
            raw_sources = sspec["approvers"] if isinstance(sspec["approvers"], list) else [sspec["approvers"]]
            sources = []
            for position, source in enumerate(raw_sources):
                where = (*spath, "approvers", position) if isinstance(sspec["approvers"], list) else (*spath, "approvers")
                role = source.get("role")
                if role is not None and role not in self.role_keys:
                    self.problem(
                        (*where, "role"), f'unknown role "{role}"{_suggest(role, self.role_keys)} {_listing("roles", self.role_keys)}'
                    )
                if "field" in source:
                    fk = source["field"]
                    if fk not in fields:
                        self.problem((*where, "field"), f'unknown field "{fk}"{_suggest(fk, list(fields))}')
                    elif fields[fk]["type"] != "user":
                        self.problem((*where, "field"), f'"{fk}" is a {fields[fk]["type"]} field; approvers come from a user field')
                sources.append(
                    ApproverSource(
                        role=source.get("role"),
                        users=tuple(source.get("users", ())),
                        field=source.get("field"),
                        relation=source.get("relation"),
                    )
                )
            mode = sspec.get("mode", "quorum" if "quorum" in sspec else "any")
            quorum = sspec.get("quorum")
            if mode == "quorum" and quorum is None:
                self.problem(spath, 'mode "quorum" needs a "quorum" number')
            if quorum is not None and mode != "quorum":
                self.problem((*spath, "quorum"), f'applies only with mode "quorum" (mode is "{mode}")')
            listed = [u for src in sources for u in src.users]
            if quorum is not None and all(src.users for src in sources) and quorum > len(set(listed)):
                self.problem(
                    (*spath, "quorum"), f"is larger than the group: {quorum} approvals needed, {len(set(listed))} approvers listed"
                )
            if_nobody = sspec.get("if_nobody", "escalate")
            nobody_role = if_nobody.get("role") if isinstance(if_nobody, dict) else None
            if nobody_role is not None and nobody_role not in self.role_keys:
                self.problem(
                    (*spath, "if_nobody", "role"),
                    f'unknown role "{nobody_role}"{_suggest(nobody_role, self.role_keys)} {_listing("roles", self.role_keys)}',
                )
            escalation_role = sspec.get("escalation_role")
            if escalation_role is not None and escalation_role not in self.role_keys:
                self.problem(
                    (*spath, "escalation_role"),
                    f'unknown role "{escalation_role}"{_suggest(escalation_role, self.role_keys)} {_listing("roles", self.role_keys)}',
                )
            if sspec.get("on_overdue") == "escalate" and escalation_role is None:
                self.problem((*spath, "on_overdue"), '"escalate" needs an "escalation_role" whose members are added as approvers')
            if ("on_overdue" in sspec or "escalation_role" in sspec) and "due_hours" not in sspec:
                self.problem(spath, 'overdue handling needs "due_hours"')
            steps.append(
                ApprovalStep(
                    key=key,
                    label=Label.of(sspec.get("label"), humanize(key)),
                    approvers=tuple(sources),
                    mode=mode,
                    quorum=quorum,
                    when=self.expression((*spath, "when"), sspec.get("when"), scope),
                    if_nobody_role=nobody_role,
                    due_hours=sspec.get("due_hours"),
                    on_overdue=sspec.get("on_overdue", "notify"),
                    escalation_role=escalation_role,
                )
            )
        reject_to = spec.get("reject_to")
        if reject_to is not None and reject_to not in state_keys:
            self.problem((*path, "reject_to"), self.unknown_state(reject_to, state_keys))
        elif reject_to is not None and reject_to == transition.get("to"):
            self.problem((*path, "reject_to"), f'"{reject_to}" is where the transition goes: a rejection would do what approval does')
        pending = spec.get("while_pending", {})
        frozen_spec = pending.get("frozen")
        frozen: tuple[str, ...] | None
        if frozen_spec == "all":
            frozen = None
        elif frozen_spec is None:
            # What the approvers decide on: the step's required fields and what routes it.
            routed = {name for step in steps if step.when is not None for name in step.when.names if name in fields}
            frozen = tuple(dict.fromkeys([*transition.get("require", ()), *sorted(routed)]))
        else:
            frozen = self.field_names((*path, "while_pending", "frozen"), frozen_spec, fields)
        return Approval(
            steps=tuple(steps),
            reject_to=reject_to,
            self_approval=bool(spec.get("self_approval", False)),
            delegate=bool(spec.get("delegate", False)),
            send_back=bool(spec.get("send_back", False)),
            add_approvers=bool(spec.get("add_approvers", False)),
            frozen=frozen,
            on_edit=pending.get("on_edit", "refuse"),
        )

    @staticmethod
    def unknown_state(state: str, states: Sequence[str]) -> str:
        return f'unknown state "{state}"{_suggest(state, states)} {_listing("states", states)}'

    # -- views -----------------------------------------------------------------------

    def view(self, path: Path, key: str, spec: Mapping[str, Any], fields: Mapping[str, Field], workflow: Workflow | None) -> View:
        known = {**{k: f.type for k, f in fields.items() if not f.is_table}, **SYSTEM_FIELD_TYPES}
        if workflow is None:
            known.pop("state")
        else:
            known["state_category"] = "state_category"

        def column_names(name: str) -> tuple[str, ...]:
            keys = tuple(spec.get(name, ()))
            for index, column in enumerate(keys):
                if column not in known:
                    self.problem((*path, name, index), _unknown_column(column, fields, known))
            return keys

        sort = tuple(spec.get("sort", ()))
        for index, item in enumerate(sort):
            column = item.lstrip("-")
            if column not in known:
                self.problem((*path, "sort", index), _unknown_column(column, fields, known))
            elif column == "state_category":
                self.problem((*path, "sort", index), '"state_category" can filter but not sort; sort by "state" (workflow order)')
            elif column in fields and is_many(fields[column]):
                self.problem((*path, "sort", index), f'"{column}" holds many values, so it cannot be sorted')
            elif column in fields and not FIELD_TYPES[fields[column].type].orderable:
                self.problem((*path, "sort", index), f'"{column}" is {_a(fields[column].type)}, which cannot be sorted')

        self.filter((*path, "filter"), spec.get("filter", {}), fields, workflow, known)
        group_by = spec.get("group_by")
        swimlanes = spec.get("swimlanes")
        group_values: tuple[str, ...] = ()
        if spec["type"] == "board":
            if group_by == "state":
                if workflow is None:
                    self.problem((*path, "group_by"), "this entity has no workflow, so a board cannot group by state")
                else:
                    group_values = workflow.state_keys()
            elif group_by in fields and fields[group_by].type == "select":
                group_values = fields[group_by].option_keys()
            elif group_by in fields:
                self.problem(
                    (*path, "group_by"), f'"{group_by}" is {_a(fields[group_by].type)}; a board groups by "state" or a select field'
                )
            else:
                self.problem(
                    (*path, "group_by"),
                    f'unknown field "{group_by}"{_suggest(str(group_by), [*fields, "state"])}; a board groups by "state" or a select field',
                )
            if swimlanes is not None:
                lane = fields.get(swimlanes)
                need = "swimlanes need a single select, user, reference or boolean field"
                if lane is None and swimlanes in known:
                    self.problem((*path, "swimlanes"), f'"{swimlanes}" is a system field; {need} of this entity')
                elif lane is None:
                    self.problem((*path, "swimlanes"), f'unknown field "{swimlanes}"{_suggest(swimlanes, list(fields))}')
                elif lane.is_many:
                    self.problem((*path, "swimlanes"), f'"{swimlanes}" holds many values; {need}')
                elif lane.type not in SWIMLANE_TYPES:
                    self.problem((*path, "swimlanes"), f'"{swimlanes}" is {_a(lane.type)}; {need}')
            for name in ("wip", "collapsed"):
                for index, column in enumerate(spec.get(name, ())):
                    if group_values and column not in group_values:
                        where = (*path, name, column) if name == "wip" else (*path, name, index)
                        self.problem(where, f'"{column}" is not a column of this board {_listing("columns", group_values)}')
        else:
            for name in ("group_by", "card", "swimlanes", "wip", "collapsed"):
                if name in spec:
                    self.problem((*path, name), "applies only to board views")
        if spec["type"] == "board" and "columns" in spec:
            self.problem((*path, "columns"), 'applies only to list views (a board shows "card" fields)')
        return View(
            key=key,
            type=spec["type"],
            label=Label.of(spec.get("label"), humanize(key)),
            filter=dict(spec.get("filter", {})),
            sort=sort,
            columns=column_names("columns"),
            page_size=spec.get("page_size", 50),
            group_by=group_by,
            card=column_names("card"),
            swimlanes=swimlanes,
            wip={k: WipLimit(v["max"], v.get("enforce", "warn")) for k, v in spec.get("wip", {}).items()},
            collapsed=tuple(spec.get("collapsed", ())),
        )

    def filter(
        self, path: Path, spec: Mapping[str, Any], fields: Mapping[str, Field], workflow: Workflow | None, known: Mapping[str, str]
    ) -> None:
        for key, condition in spec.items():
            if key not in known:
                self.problem((*path, key), _unknown_column(key, fields, known))
                continue
            try:
                normalize_condition(key, condition, fields.get(key), workflow)
            except FilterError as exc:
                self.problem((*path, key), str(exc))
            except ArithmeticError:  # e.g. a datetime whose offset moves it before year 1
                self.problem((*path, key), "has a value out of range")


def _unknown_column(column: str, fields: Mapping[str, Field], known: Mapping[str, str]) -> str:
    if column in fields and fields[column].is_table:
        return f'"{column}" is a table field; views cannot show, sort or filter by it'
    return f'unknown field "{column}"{_suggest(column, list(known))}'


def formula_order(fields: Sequence[Field]) -> tuple[str, ...]:
    """Computed fields in an order where each comes after the computed fields it reads."""
    formulas = {f.key: f.formula.names for f in fields if f.formula is not None}
    order: list[str] = []
    visiting: set[str] = set()

    def visit(key: str) -> None:
        if key in order or key in visiting:
            return
        visiting.add(key)
        for dep in sorted(formulas[key]):
            if dep in formulas:
                visit(dep)
        order.append(key)

    for key in formulas:
        visit(key)
    return tuple(order)


def _entity_scope(fields: Mapping[str, Any], *, has_workflow: bool) -> Scope:
    names = {k for k, f in fields.items() if f.get("type") != "table"}
    names |= {"id", "me", "created_at", "created_by", "updated_at", "updated_by"}
    if has_workflow:
        names.add("state")
    tables = {k: frozenset(f.get("fields", {})) for k, f in fields.items() if f.get("type") == "table"}
    return Scope(names=frozenset(names), tables=tables)


def _opt_label(value: Any) -> Label | None:
    return None if value is None else Label.of(value)


def _with_default(field: Field, default: Any) -> Field:
    return replace(field, default=default)
