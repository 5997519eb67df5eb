"""A bundle is a ZIP file from elsewhere: its size, entry count, uncompressed size and entry
names are checked before anything is read, and reading never expands past the limits.

The hostile archives are built here byte by byte (a ZIP writer that says whatever it is
told about sizes, modes and names), around the entries of a real exported bundle.
"""

import hashlib
import io
import json
import struct
import time
import zipfile
import zlib

import pytest

from flowdeck.engine import bundles, models
from flowdeck.engine.messages import english
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog
from tests.support.documents import minimal_app

MIB = 1 << 20
FILE_MODE = 0o100644
LINK_MODE = 0o120777


def build_zip(items):
    """A ZIP archive from dicts: name, data (deflated here) or raw (already compressed) with
    size (the declared uncompressed size), mode, flags and method as given."""
    out, central = bytearray(), bytearray()
    for item in items:
        name = item["name"].encode()
        data = item.get("data", b"")
        method = item.get("method", zipfile.ZIP_DEFLATED)
        raw = item.get("raw")
        if raw is None:
            compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
            raw = compressor.compress(data) + compressor.flush() if method == zipfile.ZIP_DEFLATED else data
        crc, size, flags = item.get("crc", zlib.crc32(data)), item.get("size", len(data)), item.get("flags", 0)
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, method, 0, 0x21, crc, len(raw), size, len(name), 0) + name + raw
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            (3 << 8) | 20,
            20,
            flags,
            method,
            0,
            0x21,
            crc,
            len(raw),
            size,
            len(name),
            0,
            0,
            0,
            0,
            item.get("mode", FILE_MODE) << 16,
            offset,
        )
        central += name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(items), len(items), len(central), len(out), 0)
    return bytes(out + central + end)


def zeros_bomb(megabytes):
    """Deflate data that expands to `megabytes` MiB of zeros from about 1 KB per MiB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return segment * megabytes + zlib.compressobj(9, zlib.DEFLATED, -15).flush()


@pytest.fixture
def bundle(install, db):
    """A real exported bundle (document only) and its entries as build_zip items."""
    doc = minimal_app()
    doc["source"] = "acme.demo"
    install(doc)
    data = db.read(lambda conn: bundles.export_bundle(conn, Catalog(db).current(), "demo"))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        items = [{"name": info.filename, "data": archive.read(info)} for info in archive.infolist()]
    return data, items


@pytest.fixture
def no_reading(monkeypatch):
    """Fails the test if any entry is opened: the checks must refuse from the directory alone."""

    def refuse(*args, **kwargs):
        raise AssertionError("an entry was read before the safety checks refused the bundle")

    monkeypatch.setattr(zipfile.ZipFile, "open", refuse)


def test_the_real_bundle_passes_and_rebuilding_it_here_changes_nothing(bundle):
    """Control: does the exported bundle inspect clean, and does the hand-built copy of it too?"""
    data, items = bundle
    assert bundles.inspect_bundle(data).ok
    assert bundles.inspect_bundle(build_zip(items)).ok


def test_a_zip_bomb_is_refused_from_its_directory_before_reading(bundle, no_reading):
    """1.1 GiB of zeros in 1 MB: is it refused from the declared size, without reading any entry?"""
    _, items = bundle
    sha = "0" * 64
    bomb = build_zip([*items, {"name": f"files/{sha}", "raw": zeros_bomb(1100), "size": 1100 * MIB, "crc": 0}])
    assert len(bomb) < 2 * MIB
    problems = english(bundles.inspect_bundle(bomb).problems)
    assert len(problems) == 1
    assert problems[0].startswith("the bundle would expand to 1,15") and "the limit is 1,073,741,824" in problems[0]


def test_a_bomb_that_lies_about_its_size_is_stopped_while_reading(bundle):
    """An entry declaring 1 KB that inflates to 1.1 GiB: is reading stopped at once and the bundle refused?"""
    _, items = bundle
    manifest = json.loads(items[0]["data"])
    manifest["entries"]["records/task.jsonl"] = "0" * 64
    listed = manifest["entries"]
    manifest["checksum"] = hashlib.sha256("".join(f"{listed[n]}  {n}\n" for n in sorted(listed)).encode()).hexdigest()
    items[0]["data"] = json.dumps(manifest).encode()
    liar = build_zip([*items, {"name": "records/task.jsonl", "raw": zeros_bomb(1100), "size": 1024, "crc": 0}])
    started = time.monotonic()
    problems = english(bundles.inspect_bundle(liar).problems)
    assert time.monotonic() - started < 5
    assert problems and all("records/task.jsonl" in p for p in problems), problems


def test_a_small_limit_refuses_a_real_bomb_too(bundle):
    """With lower limits, is a 64 MiB entry refused, and a bundle larger than allowed refused before opening it?"""
    data, items = bundle
    bomb = build_zip([*items, {"name": f"files/{'a' * 64}", "raw": zeros_bomb(64), "size": 64 * MIB, "crc": 0}])
    problems = english(bundles.inspect_bundle(bomb, limits=bundles.Limits(max_uncompressed_bytes=16 * MIB)).problems)
    assert problems == [f"the bundle would expand to {64 * MIB + sum(len(i['data']) for i in items):,} bytes; the limit is {16 * MIB:,}"]
    assert english(bundles.inspect_bundle(data, limits=bundles.Limits(max_bundle_bytes=100)).problems) == [
        f"the bundle is {len(data):,} bytes; the limit is 100"
    ]


def test_too_many_entries_are_refused_before_reading(bundle, no_reading):
    """20,001 entries: refused from the directory before reading any of them?"""
    _, items = bundle
    many = build_zip(items + [{"name": f"files/{i:064x}", "data": b""} for i in range(20_001 - len(items))])
    assert english(bundles.inspect_bundle(many).problems) == ["the bundle has 20,001 entries; the limit is 20,000"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("/etc/passwd", "absolute paths are not allowed"),
        ("C:/flowdeck/evil.json", "absolute paths are not allowed"),
        ("../evil.json", "'..' is not allowed"),
        ("records/../../evil.jsonl", "'..' is not allowed"),
        ("files\\..\\evil", "backslashes are not allowed"),
        ("records//task.jsonl", "not a plain relative file name"),
        ("./app.json", "not a plain relative file name"),
    ],
)
def test_unsafe_names_are_refused_before_reading(bundle, no_reading, name, message):
    """An entry named outside the bundle (absolute, '..', backslashes, odd parts): refused by name, nothing read?"""
    _, items = bundle
    problems = english(bundles.inspect_bundle(build_zip([*items, {"name": name, "data": b"x"}])).problems)
    assert problems == [f"refused entry {name!r}: {message}" + (" in entry names" if "'..'" in message or "backslashes" in message else "")]


def test_a_symbolic_link_entry_is_refused_before_reading(bundle, no_reading):
    """An entry whose mode says symbolic link (to /etc/passwd): refused, nothing read?"""
    _, items = bundle
    name = f"files/{'b' * 64}"
    problems = english(bundles.inspect_bundle(build_zip([*items, {"name": name, "data": b"/etc/passwd", "mode": LINK_MODE}])).problems)
    assert problems == [f"refused entry {name!r}: symbolic links are not allowed"]


def test_duplicate_names_are_refused_before_reading(bundle, no_reading):
    """app.json twice (the second could replace what was checked): refused, nothing read?"""
    _, items = bundle
    problems = english(bundles.inspect_bundle(build_zip([*items, {"name": "app.json", "data": b"{}"}])).problems)
    assert problems == ["refused entry 'app.json': the name appears more than once"]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"name": "notes.txt", "data": b"hello"}, "unexpected entry 'notes.txt': not part of a Flowdeck bundle"),
        ({"name": "records/", "data": b"", "mode": 0o040755}, "refused entry 'records/': only plain files are allowed"),
        (
            {"name": "files/" + "c" * 64, "data": b"x", "flags": 0x1},
            f"refused entry 'files/{'c' * 64}': encrypted entries are not supported",
        ),
        ({"name": "files/" + "d" * 64, "data": b"x", "mode": 0o020644}, f"refused entry 'files/{'d' * 64}': only plain files are allowed"),
    ],
)
def test_other_entries_are_refused_before_reading(bundle, no_reading, item, message):
    """Unknown names, folders, encrypted entries and devices: refused, nothing read?"""
    _, items = bundle
    assert english(bundles.inspect_bundle(build_zip([*items, item])).problems) == [message]


def test_an_unsafe_bundle_imports_nothing(bundle, databases):
    """Importing a bundle with a '..' entry into a fresh instance: refused with the reason, no app installed?"""
    _, items = bundle
    fresh = databases.fresh(databases.template("empty", lambda db: None))
    try:
        with pytest.raises(bundles.BundleInvalid, match=r"refused entry '\.\./evil\.json'"):
            bundles.import_bundle(fresh, build_zip([*items, {"name": "../evil.json", "data": b"{}"}]), actor=Actor.system())
        assert fresh.read(lambda conn: conn.execute(models.apps.select()).first()) is None
    finally:
        databases.drop(fresh)
