"""What importing a bundle will do (`ImportPlan`), and its lines as the CLI prints them.

The texts of a plan are messages (engine/messages.py): `describe()` gives them one a line,
`to_json()` in their JSON form for a page, or in the reader's words with the page's `say`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flowdeck.engine.bundles.format import COPY, NEW, UPGRADE, BundleUser
from flowdeck.engine.merge import Conflict
from flowdeck.engine.messages import M, Message, Mn, Mp
from flowdeck.engine.storage.plan import Question

Say = Callable[[Any], str]
"""How a page words a message in its reader's language (`views.i18n.say`)."""


@dataclass
class ImportPlan:
    """What importing a bundle will do, and everything that must be answered first."""

    kind: str
    app_key: str
    source: str
    bundle_key: str
    bundle_source: str
    bundle_version: int | None
    exported_at: str | None
    format_version: int
    current_version: int | None = None
    base: Message | None = None
    migration: list[Any] = field(default_factory=list)
    migration_refusals: list[Any] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    unanswered: list[Question] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    unresolved: list[Conflict] = field(default_factory=list)
    missing_users: list[BundleUser] = field(default_factory=list)
    user_matches: dict[str, str | Message] = field(default_factory=dict)
    """Bundle username -> the local user it will be (the username, or a message saying why)."""
    users_to_create: list[BundleUser] = field(default_factory=list)
    roles: list[dict[str, Any]] = field(default_factory=list)
    records: dict[str, int] = field(default_factory=dict)
    files: int = 0
    imports_records: bool = False
    refusals: list[Message] = field(default_factory=list)
    problems: list[Message | str] = field(default_factory=list)
    warnings: list[Message] = field(default_factory=list)
    unchanged: bool = False
    document: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def ready(self) -> bool:
        """Nothing is left to answer or fix."""
        return not (self.refusals or self.problems or self.migration_refusals or self.missing_users or self.unresolved or self.unanswered)

    def to_json(self, say: Say | None = None) -> dict[str, Any]:
        """Everything a page needs to show the plan (conflicts side by side, questions with
        their choices, the users to map), as JSON-safe values. Texts are messages in their
        JSON form (`Message.from_json` reads them back), or words in the reader's language
        when the page passes its `say`."""

        def text(value: Any) -> Any:
            if not isinstance(value, Message):
                return value
            return say(value) if say is not None else value.to_json()

        def question(q: Question) -> dict[str, Any]:
            return {
                "id": q.id,
                "text": text(q.text),
                "choices": [[value, text(label)] for value, label in q.choices],
                "count": q.count,
                "samples": [text(s) for s in q.samples],
                "answered": q not in self.unanswered,
            }

        def user(u: BundleUser) -> dict[str, Any]:
            return {"username": u.username, "display_name": u.display_name, "email": u.email}

        unresolved = {c.path for c in self.unresolved}
        return {
            "kind": self.kind,
            "app_key": self.app_key,
            "source": self.source,
            "bundle": {
                "app": self.bundle_key,
                "source": self.bundle_source,
                "version": self.bundle_version,
                "exported_at": self.exported_at,
                "format_version": self.format_version,
            },
            "current_version": self.current_version,
            "base": text(self.base),
            "ready": self.ready,
            "unchanged": self.unchanged,
            "migration": [text(m) for m in self.migration],
            "migration_refusals": [text(m) for m in self.migration_refusals],
            "questions": [question(q) for q in self.questions],
            "conflicts": [{**c.to_json(), "resolved": c.path not in unresolved} for c in self.conflicts],
            "missing_users": [user(u) for u in self.missing_users],
            "users_to_create": [user(u) for u in self.users_to_create],
            "user_matches": {name: text(local) for name, local in self.user_matches.items()},
            "roles": list(self.roles),
            "records": dict(self.records),
            "imports_records": self.imports_records,
            "files": self.files,
            "refusals": [text(r) for r in self.refusals],
            "problems": [text(p) for p in self.problems],
            "warnings": [text(w) for w in self.warnings],
        }

    def what(self) -> Message:
        """What the import does, in a few words."""
        if self.kind == NEW:
            return M('install a new app "%(app)s"', app=self.app_key)
        if self.kind == UPGRADE:
            return M('upgrade app "%(app)s" (version %(version)s) from its source', app=self.app_key, version=self.current_version)
        if self.kind == COPY:
            return M('install a copy of "%(bundle)s" as the new app "%(app)s"', bundle=self.bundle_key, app=self.app_key)
        return Mp("what an import will do", "refused")

    def describe(self) -> list[Message]:
        """The plan in plain lines, as the CLI prints them (`str(line)`)."""
        lines = [
            M(
                "bundle: app %(app)s version %(version)s from source %(source)s (format %(format)s, exported %(exported)s)",
                app=self.bundle_key,
                version=self.bundle_version,
                source=self.bundle_source,
                format=self.format_version,
                exported=self.exported_at,
            ),
            M("import: %(what)s; source id %(source)s", what=self.what(), source=self.source),
        ]
        if self.base:
            lines.append(M("merge base: %(base)s", base=self.base))
        if self.records:
            counted = [M("%(num)s %(entity)s", num=n, entity=k) for k, n in self.records.items()]
            if self.imports_records:
                lines.append(M("records: %(records)s", records=counted))
            else:
                lines.append(M("records: %(records)s (not imported)", records=counted))
        if self.files:
            lines.append(M("files: %(num)s", num=self.files))
        if self.roles:
            lines.append(M("roles: %(roles)s", roles=[r["key"] for r in self.roles]))
        for bundle_name, local in sorted(self.user_matches.items()):
            lines.append(M("user %(name)s -> %(local)s", name=bundle_name, local=local))
        for user in self.users_to_create:
            lines.append(M("user %(name)s: will be created (inactive, no password)", name=user.username))
        for user in self.missing_users:
            lines.append(M("user %(user)s: MISSING here; map it to a local user or create it", user=user.describe()))
        if self.conflicts:
            count, open_ = len(self.conflicts), len(self.unresolved)
            lines.append(
                Mn("merge: %(num)s conflict, %(open)s unresolved", "merge: %(num)s conflicts, %(open)s unresolved", count, open=open_)
            )
        elif self.kind == UPGRADE:
            lines.append(M("merge: no conflicts"))
        if self.unchanged:
            lines.append(M("document: no change"))
        lines += [M("migration: %(step)s", step=step) for step in self.migration]
        lines += [M("migration REFUSED: %(reason)s", reason=reason) for reason in self.migration_refusals]
        lines += [M("warning: %(warning)s", warning=w) for w in self.warnings]
        lines += [M("problem: %(problem)s", problem=p) for p in self.problems]
        lines += [M("refused: %(reason)s", reason=r) for r in self.refusals]
        return lines
