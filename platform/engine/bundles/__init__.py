"""Configuration bundles: one app, self-contained, shared between Flowdeck instances.

A bundle is a ZIP file (format 1):

    manifest.json            format_version, app, source, app_version, exported_at,
                             flowdeck_version, options, records (count per entity), files,
                             entries {name: sha256} and checksum (`format.py`)
    app.json                 the app document, in its own key order (order is meaning)
    roles.json               [{key, label, description?}] the document's roles
    users.json               [{username, display_name, email}] every user the bundle names
    counters.json            auto-number counters (with records)
    records/<entity>.jsonl   one record per line (with records)
    files/<sha256>           attachment bytes, named by their SHA-256 (with files)

The modules follow the life of a bundle: `format.py` (names, limits, canonical JSON and
checksums), `export.py` (an installed app as a bundle), `reader.py` (reading and checking a
bundle file, `inspect_bundle`), `plan.py` and `planner.py` (what an import would do:
`plan_import`, user mapping, the three-way merge of an upgrade with `merge.py`),
`importer.py` and `records.py` (the import in one transaction, `import_bundle`). What goes
wrong is said with messages (`errors.py`); everything public is importable from here.
"""

from flowdeck.engine.bundles.errors import BundleError, BundleInvalid, ExportFailed, ImportNeedsMapping, ImportRefused, MergeConflicts
from flowdeck.engine.bundles.export import export_app, export_bundle
from flowdeck.engine.bundles.format import (
    ALL_USERS,
    APP,
    BATCH,
    CHUNK,
    COPY,
    COUNTERS,
    CREATE,
    DEFAULT_LIMITS,
    FORMAT_VERSION,
    MANIFEST,
    NEW,
    REFUSED,
    REQUIRED,
    ROLES,
    UPGRADE,
    USERS,
    ZIP_TIME,
    BundleUser,
    Limits,
    approval_usernames,
    copy_source,
    flowdeck_version,
    rename_approval_users,
    with_source,
)
from flowdeck.engine.bundles.importer import ImportResult, import_bundle
from flowdeck.engine.bundles.plan import ImportPlan
from flowdeck.engine.bundles.planner import plan_import
from flowdeck.engine.bundles.reader import BundleInfo, checked_bundle, inspect_bundle

__all__ = [
    "ALL_USERS",
    "APP",
    "BATCH",
    "CHUNK",
    "COPY",
    "COUNTERS",
    "CREATE",
    "DEFAULT_LIMITS",
    "FORMAT_VERSION",
    "MANIFEST",
    "NEW",
    "REFUSED",
    "REQUIRED",
    "ROLES",
    "UPGRADE",
    "USERS",
    "ZIP_TIME",
    "BundleError",
    "BundleInfo",
    "BundleInvalid",
    "BundleUser",
    "ExportFailed",
    "ImportNeedsMapping",
    "ImportPlan",
    "ImportRefused",
    "ImportResult",
    "Limits",
    "MergeConflicts",
    "approval_usernames",
    "checked_bundle",
    "copy_source",
    "export_app",
    "export_bundle",
    "flowdeck_version",
    "import_bundle",
    "inspect_bundle",
    "plan_import",
    "rename_approval_users",
    "with_source",
]
