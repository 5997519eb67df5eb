"""Writing a document's JSON text: the document style (`dumps`), and rewriting a text after
a change so that every part the change did not touch stays as it was written.

The visual builder edits the parsed document (engine/schema/authoring); `rewrite` turns
the result back into the admin's text, redoing only what changed:

    rewrite(text, new_document)  # the text with only the changes written afresh
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Mapping
from typing import Any

from flowdeck.engine.schema.positions import Node, scan

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
    if found.error_at is not None or found.root is None:
        return dumps(new) + "\n"
    try:
        old = json.loads(text)
    except ValueError:
        return dumps(new) + "\n"
    writer = _Writer(text, indent_unit(text))
    root = found.root
    body = writer.emit(new, old, root, writer.line_indent(root.start))
    return text[: root.start] + body + text[root.end :]
