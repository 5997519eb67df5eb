"""Where things are in a document's JSON text: JSON paths to lines and columns, and the
path at a cursor.

The engine names problems by JSON path (`entities.task.workflow.transitions[2].to`, written
by `shape.format_path`); an editor shows them next to their line. `scan` reads the text
once, tracking where every value (and every object member's key) starts and ends. It is
tolerant: text that stops being JSON halfway (the admin is typing) still gives the tree up
to that point, so the path at the cursor is known while the document is broken.

    locate(text, "entities.task.fields.due.type")  # Location(line=12, column=9, exact=True)
    path_at(text, offset)                           # ["entities", "task", "fields"], ...
"""

from __future__ import annotations

import bisect
import contextlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

Part = str | int
MAX_DEPTH = 200
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
    """The result of reading a text: the root value (None when there is none) and where
    reading stopped at the first syntax error (None when the text is JSON). Why it stopped
    is for `shape.parse_document` to say; this only places it."""

    text: str
    root: Node | None
    error_at: int | None
    _lines: list[int] = field(default_factory=list, repr=False)

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and column of `offset` (columns count characters)."""
        if not self._lines:
            self._lines = [0] + [i + 1 for i, ch in enumerate(self.text) if ch == "\n"]
        line = bisect.bisect_right(self._lines, offset)
        return line, offset - self._lines[line - 1] + 1


class _Stop(Exception):
    """Reading stopped at `offset`: the text is not JSON from there on."""

    def __init__(self, offset: int) -> None:
        self.offset = offset


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in _WS:
            pos += 1
        self.pos = pos

    def fail(self) -> None:
        raise _Stop(self.pos)

    def value(self, depth: int, parent: Node | None, part: Part | None, key_start: int | None = None) -> Node:
        self.skip()
        if self.pos >= len(self.text):
            self.fail()  # the text ends where a value should be
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
                self.fail()  # not a number
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
            self.fail()  # not a JSON value
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
        self.fail()  # a text value is not closed

    def container(self, node: Node, depth: int, closer: str) -> None:
        if depth >= MAX_DEPTH:
            node.end = self.pos
            self.fail()  # nested too deeply
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
                self.fail()  # the closing bracket is missing
            ch = self.text[self.pos]
            if ch == ",":
                self.pos += 1
                continue
            if ch == closer:
                self.pos += 1
                node.end, node.closed = self.pos, True
                return
            self.fail()  # neither a comma nor the closing bracket

    def member(self, node: Node, depth: int) -> None:
        self.skip()
        if self.pos >= len(self.text) or self.text[self.pos] != '"':
            self.fail()  # a key must be in double quotes
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
            self.fail()  # a colon must follow the key
        self.pos += 1
        self.value(depth + 1, node, key, key_start)


def scan(text: str) -> Scan:
    """Read `text`, tracking positions; never raises for bad JSON (see `Scan.error_at`)."""
    scanner = _Scanner(text)
    root: Node | None = None
    holder = Node(kind="array", start=0)
    error_at: int | None = None
    try:
        scanner.skip()
        if scanner.pos < len(text):
            root = scanner.value(0, holder, 0)
            scanner.skip()
            if scanner.pos < len(text):
                scanner.fail()  # more text after the end of the document
        else:
            scanner.fail()  # the document is empty
    except _Stop as stop:
        error_at = stop.offset
        root = holder.children[0][1] if holder.children else None
        _close_open(root, stop.offset)
    return Scan(text, root, error_at)


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
        if found.error_at is not None and message.startswith("not valid JSON"):
            line, column = found.line_col(found.error_at)
            return Location(line, column, True, found.error_at)
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
