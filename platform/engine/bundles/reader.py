"""Reading a bundle defensively, and every reason it cannot be used.

The size of the file, the number of entries, their total uncompressed size (declared in the
ZIP directory, then counted while reading, so a lying header cannot expand past the limit),
absolute paths, `..`, backslashes, links, duplicate names and unknown entries are all checked
before any entry is read, and nothing is ever written to disk under an entry's name. Then
the checksums, and what each entry holds.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import stat
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flowdeck.engine.bundles.errors import BundleInvalid, at, schema_problem
from flowdeck.engine.bundles.format import (
    APP,
    CHUNK,
    COUNTERS,
    DEFAULT_LIMITS,
    FORMAT_VERSION,
    MANIFEST,
    RECORDS_ENTRY,
    REQUIRED,
    ROLES,
    SOURCE_ID,
    USERNAME,
    USERS,
    BundleUser,
    Limits,
    entries_checksum,
    known_entry,
)
from flowdeck.engine.errors import SchemaInvalid
from flowdeck.engine.messages import M, Message, Mn
from flowdeck.engine.schema.loader import load_app
from flowdeck.engine.schema.model import App
from flowdeck.engine.schema.shape import parse_document


def entry_line(entry: str, number: int) -> Message:
    """A line of a records entry, where a problem is."""
    return M("%(entry)s line %(line)s", entry=entry, line=number)


def content_mismatch(entry: str) -> Message:
    return M("entry %(entry)s: its content does not match its name", entry=entry)


@dataclass
class BundleInfo:
    """What a bundle holds and every problem found in it (`ok` when there are none)."""

    problems: list[Message] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    document: dict[str, Any] | None = None
    app: App | None = field(default=None, repr=False)
    roles: list[dict[str, Any]] = field(default_factory=list)
    users: list[BundleUser] = field(default_factory=list)
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)
    counters: list[dict[str, Any]] = field(default_factory=list, repr=False)
    files: dict[str, int] = field(default_factory=dict)
    data: bytes = field(default=b"", repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def format_version(self) -> int | None:
        value = self.manifest.get("format_version")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def app_key(self) -> str | None:
        return self.manifest.get("app")

    @property
    def source(self) -> str | None:
        return self.manifest.get("source")

    @property
    def app_version(self) -> int | None:
        return self.manifest.get("app_version")

    @property
    def exported_at(self) -> str | None:
        return self.manifest.get("exported_at")

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.manifest.get("options") or {})

    def record_counts(self) -> dict[str, int]:
        return {key: len(lines) for key, lines in self.records.items()}


class _Budget:
    def __init__(self, total: int) -> None:
        self.left = total


class _TooLarge(Exception):
    pass


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget, sink: Callable[[bytes], None]) -> None:
    """Stream an entry into `sink`, never past its declared size or the bundle's budget."""
    size = 0
    with archive.open(info) as stream:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            budget.left -= len(chunk)
            if size > info.file_size or budget.left < 0:
                raise _TooLarge
            sink(chunk)


def _read_bytes(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget) -> bytes:
    parts: list[bytes] = []
    _read(archive, info, budget, parts.append)
    return b"".join(parts)


def _entry_problem(name: str) -> Message | None:
    """Why an entry name is unsafe, or None."""
    entry = repr(name)
    if "\\" in name:
        return M("refused entry %(entry)s: backslashes are not allowed in entry names", entry=entry)
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return M("refused entry %(entry)s: absolute paths are not allowed", entry=entry)
    parts = name.split("/")
    if ".." in parts:
        return M("refused entry %(entry)s: '..' is not allowed in entry names", entry=entry)
    if any(p in ("", ".") for p in parts) or "\x00" in name:
        return M("refused entry %(entry)s: not a plain relative file name", entry=entry)
    return None


def _safety(data: bytes, limits: Limits) -> tuple[zipfile.ZipFile | None, list[Message]]:
    """Open the ZIP and check everything its directory says before reading any entry."""
    if len(data) > limits.max_bundle_bytes:
        return None, [M("the bundle is %(size)s bytes; the limit is %(limit)s", size=_n(len(data)), limit=_n(limits.max_bundle_bytes))]
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        return None, [M("not a Flowdeck bundle: the file is not a ZIP archive, or it is truncated or damaged (%(error)s)", error=str(exc))]
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        return None, [M("the bundle has %(count)s entries; the limit is %(limit)s", count=_n(len(infos)), limit=_n(limits.max_entries))]
    declared = sum(i.file_size for i in infos)
    if declared > limits.max_uncompressed_bytes:
        size, limit = _n(declared), _n(limits.max_uncompressed_bytes)
        return None, [M("the bundle would expand to %(size)s bytes; the limit is %(limit)s", size=size, limit=limit)]
    problems: list[Message] = []
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        entry = repr(name)
        problem = _entry_problem(name)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            problems.append(M("refused entry %(entry)s: symbolic links are not allowed", entry=entry))
        elif info.is_dir() or stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            problems.append(M("refused entry %(entry)s: only plain files are allowed", entry=entry))
        elif problem is not None:
            problems.append(problem)
        elif name in seen:
            problems.append(M("refused entry %(entry)s: the name appears more than once", entry=entry))
        elif info.flag_bits & 0x1:
            problems.append(M("refused entry %(entry)s: encrypted entries are not supported", entry=entry))
        elif info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            problems.append(M("refused entry %(entry)s: unsupported compression", entry=entry))
        elif not known_entry(name):
            problems.append(M("unexpected entry %(entry)s: not part of a Flowdeck bundle", entry=entry))
        seen.add(name)
    return archive, problems


def _damaged(name: str, exc: BaseException) -> Message:
    return M("entry %(entry)s is damaged and cannot be read (%(error)s)", entry=name, error=str(exc))


def _n(number: int) -> str:
    """A size or a count with thousands separators (the same in Chinese)."""
    return f"{number:,}"


def inspect_bundle(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> BundleInfo:
    """Check a bundle and describe it. Never raises for a bad file: `problems` says what is
    wrong, in order of discovery; later checks are skipped when earlier ones make them moot."""
    info = BundleInfo(data=data)
    archive, problems = _safety(data, limits)
    info.problems += problems
    if archive is None or problems:
        return info
    with archive:
        _inspect_entries(archive, info, limits)
    return info


def _inspect_entries(archive: zipfile.ZipFile, info: BundleInfo, limits: Limits) -> None:
    budget = _Budget(limits.max_uncompressed_bytes)
    present = {i.filename: i for i in archive.infolist()}
    missing = [name for name in REQUIRED if name not in present]
    if MANIFEST in missing:
        info.problems.append(M("missing entry manifest.json: this is not a Flowdeck bundle, or it is incomplete"))
        return
    manifest_info = present[MANIFEST]
    if manifest_info.file_size > limits.max_manifest_bytes:
        size, limit = _n(manifest_info.file_size), _n(limits.max_manifest_bytes)
        info.problems.append(M("manifest.json is %(size)s bytes; the limit is %(limit)s", size=size, limit=limit))
        return
    try:
        manifest = json.loads(_read_bytes(archive, manifest_info, budget))
    except (zipfile.BadZipFile, zlib.error, EOFError, _TooLarge, OSError) as exc:
        info.problems.append(_damaged(MANIFEST, exc))
        return
    except (ValueError, RecursionError):
        info.problems.append(M("manifest.json is not valid JSON: the bundle is damaged"))
        return
    if not isinstance(manifest, dict):
        info.problems.append(M("manifest.json is not a JSON object: the bundle is damaged"))
        return
    info.manifest = manifest
    version = info.format_version
    if version is None or version < 1:
        got = repr(manifest.get("format_version"))
        info.problems.append(M("manifest.json: format_version must be a whole number from 1 (got %(got)s)", got=got))
        return
    if version > FORMAT_VERSION:
        newer = M(
            "this bundle was made by a newer Flowdeck (format %(format)s); this one reads format %(supported)s",
            format=version,
            supported=FORMAT_VERSION,
        )
        info.problems.append(newer)
        return
    entries = manifest.get("entries")
    if not isinstance(entries, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in entries.items()):
        info.problems.append(M("manifest.json: entries must map each entry name to its SHA-256"))
        return
    for name in missing:
        info.problems.append(M("missing entry %(entry)s", entry=name))
    for name in sorted(set(entries) - set(present)):
        if name not in missing:
            info.problems.append(M("missing entry %(entry)s (the manifest lists it)", entry=name))
    for name in sorted(set(present) - set(entries) - {MANIFEST}):
        info.problems.append(M("unexpected entry %(entry)s: the manifest does not list it", entry=name))
    if manifest.get("checksum") != entries_checksum(entries):
        info.problems.append(M("manifest.json: the checksum does not match the list of entries (the manifest was changed or damaged)"))
    for key in ("app", "source"):
        if not isinstance(manifest.get(key), str):
            info.problems.append(M("manifest.json: %(key)s is missing", key=key))
    if info.problems:
        return
    contents: dict[str, bytes] = {}
    for name in sorted(entries):
        digest = hashlib.sha256()
        kept: list[bytes] = []
        is_file = name.startswith("files/")

        def sink(chunk: bytes, digest: Any = digest, kept: list[bytes] = kept, is_file: bool = is_file) -> None:
            digest.update(chunk)
            if not is_file:
                kept.append(chunk)

        try:
            _read(archive, present[name], budget, sink)
        except _TooLarge:
            limit = _n(limits.max_uncompressed_bytes)
            info.problems.append(
                M(
                    "entry %(entry)s expands past its declared size or the bundle's limit of %(limit)s bytes; refused",
                    entry=name,
                    limit=limit,
                )
            )
            return
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
            info.problems.append(_damaged(name, exc))
            continue
        if digest.hexdigest() != entries[name]:
            info.problems.append(M("entry %(entry)s is damaged: its checksum does not match the manifest", entry=name))
            continue
        if is_file:
            if digest.hexdigest() != name.removeprefix("files/"):
                info.problems.append(content_mismatch(name))
            info.files[name.removeprefix("files/")] = present[name].file_size
        else:
            contents[name] = b"".join(kept)
    if info.problems:
        return
    _parse_contents(info, contents)


def _json_entry(info: BundleInfo, contents: Mapping[str, bytes], name: str) -> Any:
    try:
        return json.loads(contents[name])
    except (ValueError, RecursionError):
        info.problems.append(M("%(entry)s is not valid JSON", entry=name))
        return None


def _parse_contents(info: BundleInfo, contents: Mapping[str, bytes]) -> None:
    document, problems = parse_document(contents[APP])
    info.problems += [at(APP, schema_problem(p)) for p in problems]
    if not problems:
        try:
            info.app = load_app(document)
        except SchemaInvalid as exc:
            info.problems += [at(APP, schema_problem(p)) for p in exc.problems]
        if isinstance(document, dict):
            info.document = document
            if document.get("key") != info.app_key:
                key, app = repr(document.get("key")), repr(info.app_key)
                info.problems.append(M("app.json: key %(key)s does not match the manifest's app %(app)s", key=key, app=app))
            if "source" in document and document["source"] != info.source:
                source, manifest = repr(document["source"]), repr(info.source)
                info.problems.append(
                    M("app.json: source %(source)s does not match the manifest's %(manifest)s", source=source, manifest=manifest)
                )
    if not isinstance(info.source, str) or not SOURCE_ID.match(info.source):
        info.problems.append(M("manifest.json: source %(source)s is not a valid source id", source=repr(info.source)))
    roles = _json_entry(info, contents, ROLES)
    if isinstance(roles, list) and all(isinstance(r, dict) and isinstance(r.get("key"), str) for r in roles):
        info.roles = roles
    elif roles is not None:
        info.problems.append(M("roles.json must be a list of roles with their keys"))
    listed = _json_entry(info, contents, USERS)
    if isinstance(listed, list):
        for index, item in enumerate(listed):
            name = item.get("username") if isinstance(item, dict) else None
            email = item.get("email") if isinstance(item, dict) else None
            display = item.get("display_name") if isinstance(item, dict) else None
            if not isinstance(name, str) or not USERNAME.match(name) or not (email is None or isinstance(email, str)):
                info.problems.append(M("users.json[%(index)s]: a user needs a valid username (and an email or null)", index=index))
                continue
            info.users.append(BundleUser(name, display if isinstance(display, str) and display.strip() else name, email))
    elif listed is not None:
        info.problems.append(M("users.json must be a list of users"))
    entity_keys = set(info.document.get("entities", {})) if info.document else set()
    declared = info.manifest.get("records") or {}
    for name in sorted(contents):
        match = RECORDS_ENTRY.match(name)
        if not match:
            continue
        entity = match.group(1)
        if info.document is not None and entity not in entity_keys:
            info.problems.append(M("%(entry)s: the app has no entity %(entity)s", entry=name, entity=repr(entity)))
            continue
        lines: list[dict[str, Any]] = []
        # "\n" only, as export writes them: a text may hold U+2028, U+2029 or U+0085 as it is.
        for number, text in enumerate(contents[name].decode("utf-8", errors="replace").split("\n"), start=1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
            except (ValueError, RecursionError):
                info.problems.append(at(entry_line(name, number), M("not valid JSON")))
                continue
            if not isinstance(line, dict) or not isinstance(line.get("id"), int) or not isinstance(line.get("values"), dict):
                info.problems.append(at(entry_line(name, number), M("a record needs an id and values")))
                continue
            line["_line"] = number
            lines.append(line)
        info.records[entity] = lines
        if isinstance(declared, dict) and declared.get(entity) not in (None, len(lines)):
            said = declared.get(entity)
            info.problems.append(
                Mn(
                    "%(entry)s: holds %(num)s record, the manifest says %(said)s",
                    "%(entry)s: holds %(num)s records, the manifest says %(said)s",
                    len(lines),
                    entry=name,
                    said=said,
                )
            )
    if COUNTERS in contents:
        counters = _json_entry(info, contents, COUNTERS)
        if isinstance(counters, list) and all(isinstance(c, dict) for c in counters):
            info.counters = counters
        elif counters is not None:
            info.problems.append(M("counters.json must be a list"))


def checked_bundle(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> BundleInfo:
    """`inspect_bundle`, raising BundleInvalid with every problem when there is one."""
    info = inspect_bundle(data, limits=limits)
    if not info.ok:
        raise BundleInvalid(info.problems)
    return info
