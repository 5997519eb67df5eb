"""Where things are in JSON text: JSON paths to lines and columns, the path at a cursor, and
rewriting a document's text after a change while keeping every untouched part as it was.

The engine names problems by JSON path (`entities.task.workflow.transitions[2].to`, see
`engine.schema.shape.format_path`); the editor shows them next to their line. `scan` reads
the text once, tracking where every value (and every object member's key) starts and ends.
It is tolerant: text that stops being JSON halfway (the admin is typing) still gives the
tree up to that point, so the path at the cursor is known while the document is broken.

    locate(text, "entities.task.fields.due.type")  # Location(line=12, column=9, exact=True)
    path_at(text, offset)                           # ["entities", "task", "fields"], ...
    rewrite(text, new_document)                     # the text with only the changes redone

No Flask here: the module works on strings and plain values only.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Part = str | int
MAX_DEPTH = 200
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_WS = " \t\n\r"
_LITERALS = ("true", "false", "null")


@dataclass
class Node:
    """One JSON value in the text: `start`..`end` (end exclusive; for a value the text stops
    inside, where reading stopped). Object members carry `key_start`, the offset of their
    key's opening quote. `children` are (key or index, node) in text order."""

    kind: str  # object, array, string, number, literal
    start: int
    end: int = -1
    key_start: int | None = None
    closed: bool = False
    children: list[tuple[Part, Node]] = field(default_factory=list)

    def child(self, part: Part) -> Node | None:
        """The member `part` (the last one when a key repeats) or the item at index `part`."""
        if self.kind == "object" and isinstance(part, str):
            found = None
            for key, node in self.children:
                if key == part:
                    found = node
            return found
        if self.kind == "array" and isinstance(part, int) and 0 <= part < len(self.children):
            return self.children[part][1]
        return None

    def contains(self, offset: int) -> bool:
        start = self.key_start if self.key_start is not None else self.start
        return start <= offset < self.end or (not self.closed and offset == self.end)


@dataclass
class Scan:
    """The result of reading a text: the root value (None when there is none) and the first
    syntax error (offset and message), if any."""

    text: str
    root: Node | None
    error: tuple[int, str] | None
    _lines: list[int] = field(default_factory=list, repr=False)

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and column of `offset` (columns count characters)."""
        if not self._lines:
            self._lines = [0] + [i + 1 for i, ch in enumerate(self.text) if ch == "\n"]
        line = bisect.bisect_right(self._lines, offset)
        return line, offset - self._lines[line - 1] + 1


class _Stop(Exception):
    def __init__(self, offset: int, message: str) -> None:
        self.offset = offset
        self.message = message


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in _WS:
            pos += 1
        self.pos = pos

    def fail(self, message: str) -> None:
        raise _Stop(self.pos, message)

    def value(self, depth: int, parent: Node | None, part: Part | None, key_start: int | None = None) -> Node:
        self.skip()
        if self.pos >= len(self.text):
            self.fail("the text ends where a value should be")
        ch = self.text[self.pos]
        node = Node(kind="", start=self.pos, key_start=key_start)
        if parent is not None:
            parent.children.append((part if part is not None else len(parent.children), node))
        if ch == "{":
            node.kind = "object"
            self.container(node, depth, "}")
        elif ch == "[":
            node.kind = "array"
            self.container(node, depth, "]")
        elif ch == '"':
            node.kind = "string"
            self.string(node)
        elif ch in "-0123456789":
            node.kind = "number"
            match = _NUMBER.match(self.text, self.pos)
            if match is None:
                node.end = self.pos
                self.fail("not a number")
            assert match is not None
            self.pos = node.end = match.end()
            node.closed = True
        else:
            for word in _LITERALS:
                if self.text.startswith(word, self.pos):
                    node.kind = "literal"
                    self.pos = node.end = self.pos + len(word)
                    node.closed = True
                    return node
            node.kind, node.end = "literal", self.pos
            self.fail("not a JSON value")
        return node

    def string(self, node: Node) -> None:
        text, pos = self.text, self.pos + 1
        while pos < len(text):
            ch = text[pos]
            if ch == '"':
                self.pos = node.end = pos + 1
                node.closed = True
                return
            if ch == "\\":
                pos += 2
                continue
            if ch == "\n":
                break
            pos += 1
        self.pos = node.end = min(pos, len(text))
        self.fail("a text value is not closed")

    def container(self, node: Node, depth: int, closer: str) -> None:
        if depth >= MAX_DEPTH:
            node.end = self.pos
            self.fail("nested too deeply")
        self.pos += 1
        node.end = self.pos
        self.skip()
        if self.pos < len(self.text) and self.text[self.pos] == closer:
            self.pos += 1
            node.end, node.closed = self.pos, True
            return
        while True:
            try:
                if closer == "}":
                    self.member(node, depth)
                else:
                    self.value(depth + 1, node, None)
            finally:
                node.end = self.pos
            self.skip()
            node.end = self.pos
            if self.pos >= len(self.text):
                self.fail(f'"{closer}" is missing')
            ch = self.text[self.pos]
            if ch == ",":
                self.pos += 1
                continue
            if ch == closer:
                self.pos += 1
                node.end, node.closed = self.pos, True
                return
            self.fail(f'expected "," or "{closer}"')

    def member(self, node: Node, depth: int) -> None:
        self.skip()
        if self.pos >= len(self.text) or self.text[self.pos] != '"':
            self.fail("expected a key in double quotes")
        key_start = self.pos
        probe = Node(kind="string", start=self.pos)
        self.string(probe)
        raw = self.text[key_start : probe.end]
        try:
            key = json.loads(raw)
        except ValueError:
            key = raw[1:-1]
        self.skip()
        if self.pos >= len(self.text) or self.text[self.pos] != ":":
            # remember the key alone, so a cursor on it still knows where it is
            node.children.append((key, Node(kind="missing", start=self.pos, end=self.pos, key_start=key_start)))
            self.fail('expected ":" after the key')
        self.pos += 1
        self.value(depth + 1, node, key, key_start)


def scan(text: str) -> Scan:
    """Read `text`, tracking positions; never raises for bad JSON (see `Scan.error`)."""
    scanner = _Scanner(text)
    root: Node | None = None
    holder = Node(kind="array", start=0)
    error: tuple[int, str] | None = None
    try:
        scanner.skip()
        if scanner.pos < len(text):
            root = scanner.value(0, holder, 0)
            scanner.skip()
            if scanner.pos < len(text):
                scanner.fail("more text after the end of the document")
        else:
            scanner.fail("the document is empty")
    except _Stop as stop:
        error = (stop.offset, stop.message)
        root = holder.children[0][1] if holder.children else None
        _close_open(root, stop.offset)
    return Scan(text, root, error)


def _close_open(node: Node | None, offset: int) -> None:
    """Nodes the text stopped inside end where reading stopped."""
    while node is not None and not node.closed:
        node.end = max(node.end, offset)
        node = node.children[-1][1] if node.children else None


# -- paths ----------------------------------------------------------------------------------

_PATH_TOKEN = re.compile(r'\.?([A-Za-z_$][A-Za-z0-9_$-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|\[([^\]]*)\]')


def parse_path(path: str) -> list[Part]:
    """`entities.task.transitions[2].to` -> ["entities", "task", "transitions", 2, "to"];
    `views["my board"]` -> ["views", "my board"]. `[approve]` (merge paths) is a key."""
    parts: list[Part] = []
    pos = 0
    while pos < len(path):
        match = _PATH_TOKEN.match(path, pos)
        if match is None or match.end() == pos:
            break
        name, index, quoted, bare = match.groups()
        if name is not None:
            parts.append(name)
        elif index is not None:
            parts.append(int(index))
        elif quoted is not None:
            parts.append(json.loads(quoted))
        else:
            parts.append(bare)
        pos = match.end()
    return parts


def format_path(parts: Sequence[Part]) -> str:
    """The inverse of `parse_path`, as the engine writes paths."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out


@dataclass(frozen=True)
class Location:
    """Where a path is: line and column (1-based) of the member's key (or the value, for
    list items and the root); `exact` is False when only a leading part was found."""

    line: int
    column: int
    exact: bool
    offset: int


def find(root: Node | None, parts: Sequence[Part]) -> tuple[Node | None, int]:
    """The deepest node along `parts` and how many parts it matched."""
    node, matched = root, 0
    for part in parts:
        if node is None:
            break
        nxt = node.child(part)
        if nxt is None and isinstance(part, str) and part.isdigit():
            nxt = node.child(int(part))
        if nxt is None:
            break
        node, matched = nxt, matched + 1
    return node, matched


_SYNTAX_AT = re.compile(r"at line (\d+), column (\d+)")


def locate(text: str | Scan, path: str | Sequence[Part], message: str = "") -> Location:
    """The line and column of `path` in `text`. Problems about JSON syntax (no path, the
    position in `message`) are placed where the message says."""
    found = text if isinstance(text, Scan) else scan(text)
    parts = parse_path(path) if isinstance(path, str) else list(path)
    if not parts:
        syntax = _SYNTAX_AT.search(message)
        if syntax:
            line, column = int(syntax.group(1)), int(syntax.group(2))
            return Location(line, column, True, _offset(found, line, column))
        if found.error is not None and message.startswith("not valid JSON"):
            line, column = found.line_col(found.error[0])
            return Location(line, column, True, found.error[0])
    node, matched = find(found.root, parts)
    if node is None:
        return Location(1, 1, not parts, 0)
    offset = node.key_start if node.key_start is not None else node.start
    line, column = found.line_col(offset)
    return Location(line, column, matched == len(parts), offset)


def _offset(found: Scan, line: int, column: int) -> int:
    found.line_col(0)
    lines = found._lines
    if line - 1 >= len(lines):
        return len(found.text)
    return min(lines[line - 1] + column - 1, len(found.text))


@dataclass(frozen=True)
class Cursor:
    """What is at a cursor: the path of the innermost object or list around it (`container`),
    and when the cursor is on a member or an item, that member's path (`member`, else None)
    and whether it is on the member's key."""

    container: list[Part]
    member: list[Part] | None
    on_key: bool


def path_at(text: str | Scan, offset: int) -> Cursor:
    """The JSON path around `offset` (works on broken text too)."""
    found = text if isinstance(text, Scan) else scan(text)
    node = found.root
    container: list[Part] = []
    if node is None or not node.contains(offset) or node.kind not in ("object", "array"):
        return Cursor([], None, False)
    while True:
        inner = None
        for part, child in node.children:
            if child.contains(offset):
                inner = (part, child)
        if inner is None:
            return Cursor(container, None, False)
        part, child = inner
        if child.kind in ("object", "array") and child.start < offset and (offset < child.end or not child.closed):
            container = [*container, part]
            node = child
            continue
        on_key = child.key_start is not None and offset < child.start and offset <= _key_end(found.text, child.key_start)
        return Cursor(container, [*container, part], on_key)


def _key_end(text: str, key_start: int) -> int:
    probe = _Scanner(text)
    probe.pos = key_start
    node = Node(kind="string", start=key_start)
    with contextlib.suppress(_Stop):
        probe.string(node)
    return node.end


# -- writing --------------------------------------------------------------------------------

COMPACT_WIDTH = 100


def same(a: Any, b: Any) -> bool:
    """Equal as JSON text would be: types matter (1 is not true) and so does key order."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _depth(value: Any) -> int:
    if isinstance(value, Mapping):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _one_line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def dumps(value: Any, indent: str = "", unit: str = "  ") -> str:
    """JSON text in Flowdeck's document style: objects and lists of more than two levels, or
    too long for one line, one member per line; small ones (a label, a field of a few
    settings, a list of keys) on one line."""
    if not isinstance(value, (Mapping, list)) or not value:
        return _one_line(value)
    line = _one_line(value)
    if _depth(value) <= 2 and len(line) + len(indent) <= COMPACT_WIDTH and "\n" not in line:
        return line
    inner = indent + unit
    if isinstance(value, Mapping):
        members = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {dumps(v, inner, unit)}" for k, v in value.items()]
        return "{\n" + ",\n".join(members) + "\n" + indent + "}"
    items = [f"{inner}{dumps(v, inner, unit)}" for v in value]
    return "[\n" + ",\n".join(items) + "\n" + indent + "]"


def indent_unit(text: str) -> str:
    """The text's indentation step (two spaces when it cannot tell)."""
    widths = [len(line) - len(line.lstrip(" ")) for line in text.splitlines() if line.strip() and line.startswith(" ")]
    if any(line.startswith("\t") for line in text.splitlines()):
        return "\t"
    return " " * min(widths) if widths else "  "


class _Writer:
    def __init__(self, text: str, unit: str) -> None:
        self.text = text
        self.unit = unit
        self._lines = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]

    def line_indent(self, offset: int) -> str:
        start = self._lines[bisect.bisect_right(self._lines, offset) - 1]
        line = self.text[start:offset]
        return line[: len(line) - len(line.lstrip(" \t"))]

    def emit(self, new: Any, old: Any, node: Node | None, indent: str) -> str:
        if node is not None and node.closed and same(new, old):
            return self.text[node.start : node.end]
        if node is not None and node.closed and isinstance(new, Mapping) and isinstance(old, Mapping) and node.kind == "object":
            return self.emit_object(new, old, node, indent)
        if node is not None and node.closed and isinstance(new, list) and isinstance(old, list) and node.kind == "array":
            return self.emit_array(new, old, node, indent)
        return dumps(new, indent, self.unit)

    def layout(self, node: Node, indent: str) -> tuple[str | None, str]:
        """The member indentation and closing indentation of a container as written (None
        for a container written on one line)."""
        body = self.text[node.start : node.end]
        if "\n" not in body or not node.children:
            return None, indent
        first = node.children[0][1]
        first_at = first.key_start if first.key_start is not None else first.start
        member = self.line_indent(first_at) if "\n" in self.text[node.start : first_at] else indent + self.unit
        closing = self.line_indent(node.end - 1) if "\n" in self.text[node.children[-1][1].end : node.end] else indent
        return member, closing

    def join(self, opener: str, closer: str, parts: list[str], member: str | None, closing: str, indent: str) -> str:
        if not parts:
            return opener + closer
        if member is None:
            line = opener + ", ".join(parts) + closer
            if "\n" not in line and len(line) + len(indent) <= COMPACT_WIDTH:
                return line
            member, closing = indent + self.unit, indent
        return opener + "\n" + ",\n".join(member + p for p in parts) + "\n" + closing + closer

    def emit_object(self, new: Mapping[str, Any], old: Mapping[str, Any], node: Node, indent: str) -> str:
        member, closing = self.layout(node, indent)
        inner = member if member is not None else indent + self.unit
        parts = []
        for key, value in new.items():
            counterpart, child = old.get(key, _MISSING), node.child(key)
            if child is None and isinstance(value, Mapping) and isinstance(value.get("was"), str):
                was = value["was"]
                if isinstance(old.get(was), Mapping) and was not in new:
                    counterpart, child = old[was], node.child(was)  # a renamed member keeps its text
            text = self.emit(value, counterpart, child, inner) if child is not None else dumps(value, inner, self.unit)
            same_key = child is not None and child.key_start is not None and node.child(key) is child
            head = self.text[child.key_start : child.start] if same_key and child is not None and child.key_start is not None else None
            parts.append(f"{head if head is not None else json.dumps(key, ensure_ascii=False) + ': '}{text}")
        return self.join("{", "}", parts, member, closing, indent)

    def emit_array(self, new: list[Any], old: list[Any], node: Node, indent: str) -> str:
        member, closing = self.layout(node, indent)
        inner = member if member is not None else indent + self.unit
        used: set[int] = set()
        nodes = [child for _, child in node.children]
        parts = []
        for index, value in enumerate(new):
            match = next((i for i, item in enumerate(old) if i not in used and i < len(nodes) and same(item, value)), None)
            if match is None:
                match = _keyed_match(value, old, used, len(nodes))
            if match is None and index < len(old) and index < len(nodes) and index not in used and type(old[index]) is type(value):
                match = index
            if match is None:
                parts.append(dumps(value, inner, self.unit))
                continue
            used.add(match)
            parts.append(self.emit(value, old[match], nodes[match], inner))
        return self.join("[", "]", parts, member, closing, indent)


_MISSING = object()


def _keyed_match(value: Any, old: list[Any], used: set[int], limit: int) -> int | None:
    key = value.get("key") if isinstance(value, Mapping) else None
    if not isinstance(key, str):
        return None
    return next((i for i, item in enumerate(old[:limit]) if i not in used and isinstance(item, Mapping) and item.get("key") == key), None)


def rewrite(text: str, new: Any) -> str:
    """`new` as JSON text that keeps `text` wherever the value did not change: untouched
    members and list items are copied character for character (formatting, spacing and
    all), and only what changed is written afresh in the document's style. Text that is
    not valid JSON is replaced as a whole."""
    found = scan(text)
    if found.error is not None or found.root is None:
        return dumps(new) + "\n"
    try:
        old = json.loads(text)
    except ValueError:
        return dumps(new) + "\n"
    writer = _Writer(text, indent_unit(text))
    root = found.root
    body = writer.emit(new, old, root, writer.line_indent(root.start))
    return text[: root.start] + body + text[root.end :]
