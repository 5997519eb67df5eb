"""The engine reads the time through one clock (`engine/clock.py`), so a test can hold it and
walk it: no module of the engine, the web or the demo reads the machine's wall clock itself
(`datetime.now()`, `utcnow()`, `date.today()`, `time.time()`). Measuring how long something
took (`time.perf_counter`, `time.monotonic`) is not reading the time and is not looked for.
A read that must stay on the machine's clock is named in `ALLOWED` with why."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "platform"
SCANNED = ("engine", "views", "demo")
WALL_CLOCK = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"), ("time", "time")}
"""(owner, method) pairs that read the wall clock: `dt.datetime.now`, `datetime.now`, `time.time`..."""

ALLOWED = {
    "engine/clock.py": "the one clock itself",
    "views/schema_admin/bundles.py": "uploads are pruned by their file's age on disk, which the file system stamps in real time",
}


def direct_reads(source: str) -> list[int]:
    """The lines of `source` that call the wall clock directly."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = node.func.value
        name = owner.attr if isinstance(owner, ast.Attribute) else owner.id if isinstance(owner, ast.Name) else None
        if (name, node.func.attr) in WALL_CLOCK:
            lines.append(node.lineno)
    return lines


def test_the_scanner_finds_each_way_of_reading_the_wall_clock():
    """Would a new `dt.datetime.now(dt.UTC)`, `datetime.utcnow()`, `dt.date.today()` or `time.time()` be found (and a duration not)?"""
    source = "\n".join(
        [
            "a = dt.datetime.now(dt.UTC)",
            "b = datetime.utcnow()",
            "c = dt.date.today()",
            "d = time.time()",
            "e = time.perf_counter()",
            "f = clock.now()",
            "g = datetime.datetime.now()",
        ]
    )
    assert direct_reads(source) == [1, 2, 3, 4, 7]


def test_the_engine_web_and_demo_read_the_time_only_through_the_clock():
    """Does every module outside the allow-list read the time through `engine.clock`?"""
    found = []
    for part in SCANNED:
        for path in sorted((ROOT / part).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if name in ALLOWED:
                continue
            found += [f"{name}:{line}" for line in direct_reads(path.read_text(encoding="utf-8"))]
    assert found == [], "read the time with flowdeck.engine.clock.now() / today(), or add the module to ALLOWED with why"
