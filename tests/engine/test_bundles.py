"""Configuration bundles: export, inspect and import (new, upgrade with a three-way merge,
copy), with real records, users and files, on a second fresh instance."""

import datetime as dt
import io
import json
import zipfile

import pytest
import sqlalchemy as sa

from flowdeck.catalogs import say
from flowdeck.demo import load_demo
from flowdeck.engine import bundles, files, models, records, users
from flowdeck.engine.apps import apply_document
from flowdeck.engine.errors import ChoicesNeeded, Forbidden
from flowdeck.engine.history import list_entries
from flowdeck.engine.messages import english
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog
from tests.support.bundles import SYSTEM, _flip_byte, _upstream_v2, add_user, count, document, export, seed, sha, tracker_doc

# -- helpers --------------------------------------------------------------------------------


def do_import(db, data, **options):
    return bundles.import_bundle(db, data, actor=SYSTEM, **options)


def plan(db, data, **options):
    return db.read(lambda conn: bundles.plan_import(conn, data, **options))


def entries(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def lines(data, entity):
    return [json.loads(line) for line in entries(data)[f"records/{entity}.jsonl"].decode().splitlines()]


def rewrite(data, *, replace=None, drop=(), manifest=None, sign=True):
    """The bundle with entries replaced or dropped, its manifest re-signed (or not)."""
    contents = entries(data)
    man = json.loads(contents.pop("manifest.json"))
    for name in drop:
        contents.pop(name, None)
    contents.update(replace or {})
    if sign:
        man["entries"] = {name: sha(content) for name, content in contents.items()}
        man["checksum"] = sha("".join(f"{man['entries'][n]}  {n}\n" for n in sorted(man["entries"])).encode())
    man.update(manifest or {})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(man))
        for name, content in contents.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def tables(db):
    return set(sa.inspect(db.engine).get_table_names())


def assert_same_bundle(first, second):
    """Every entry identical, in the same order, apart from the manifest's exported_at."""
    a, b = entries(first), entries(second)
    assert list(a) == list(b)
    for name in a:
        if name != "manifest.json":
            assert a[name] == b[name], name
    ma, mb = json.loads(a["manifest.json"]), json.loads(b["manifest.json"])
    assert ma.pop("exported_at") and mb.pop("exported_at")
    assert ma == mb


# -- format and round trips -------------------------------------------------------------------


def test_round_trip_of_the_demo_project_app_is_identical(bundled_db, databases):
    """Demo project data exported, imported into a fresh instance, exported again: identical apart from exported_at?"""
    load_demo(bundled_db, actor=SYSTEM, password="demo-password")
    first = export(bundled_db, "project", include_records=True)
    fresh = databases.fresh(databases.template("empty", lambda db: None))
    try:
        result = do_import(fresh, first, user_map={"*": "create"})
        assert result.kind == "new" and result.version == 1
        assert result.records == {k: n for k, n in json.loads(entries(first)["manifest.json"])["records"].items()}
        assert sum(result.records.values()) > 40
        second = export(fresh, "project", include_records=True)
        assert_same_bundle(first, second)
    finally:
        databases.drop(fresh)


def test_round_trip_with_records_and_files(db, other_db, tmp_path):
    """Records with line items, references and attachments: after a round trip with files, same bundle, values and files?"""
    seed(db, tmp_path / "files-a")
    first = export(db, include_files=True, files_dir=tmp_path / "files-a")
    names = list(entries(first))
    assert names[:5] == ["manifest.json", "app.json", "roles.json", "users.json", "counters.json"]
    assert names[5:] == ["records/note.jsonl", "records/task.jsonl", *sorted(f"files/{sha(c)}" for c in (b"%PDF spec", b"\x89PNG photo"))]
    result = do_import(other_db, first, user_map={"*": "create"}, files_dir=tmp_path / "files-b")
    assert result.records == {"task": 2, "note": 2} and result.files == 2
    for content in (b"%PDF spec", b"\x89PNG photo"):
        assert files.blob_path(tmp_path / "files-b", sha(content)).read_bytes() == content
    second = export(other_db, include_files=True, files_dir=tmp_path / "files-b")
    assert_same_bundle(first, second)

    registry = Catalog(other_db).current()
    task = registry.entity("tracker", "task")
    t1, t2 = (other_db.read(lambda conn, i=i: records.fetch_record(conn, task, i)) for i in (1, 2))
    assert t1.values["title"] == "Plan the launch" and str(t1.values["estimate"]) == "12.50"
    assert [row["item"] for row in t1.values["lines"]] == ["draft", "review"]
    assert t2.state == "review" and t2.version == 3 and t2.values["parent"] == t1.id
    described = other_db.read(lambda conn: files.describe_files(conn, [t1.values["spec"], *t1.values["photos"]]))
    assert sorted(f.filename for f in described.values()) == ["copy-of-spec.pdf", "photo.png", "spec.pdf"]
    entries_of_t2 = other_db.read(lambda conn: list_entries(conn, "tracker", "task", t2.id))
    assert [e.action for e in entries_of_t2] == ["imported"]
    (imported,) = entries_of_t2
    assert (str(imported.message), imported.comment) == ("imported from bundle acme.tasks (record #2 there)", None)
    assert say(imported.message, "zh") == "从配置包 acme.tasks 导入（原记录 #2）"


def test_export_is_deterministic_and_describes_itself(db, tmp_path):
    """Is the same data exported twice byte-identical (fixed ZIP times), with a manifest, roles and users but no passwords?"""
    seed(db)
    moment = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
    first = export(db, include_records=True, now=moment)
    assert first == export(db, include_records=True, now=moment)
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    contents = entries(first)
    manifest = json.loads(contents["manifest.json"])
    assert manifest["format_version"] == 1 and manifest["app"] == "tracker" and manifest["source"] == "acme.tasks"
    assert manifest["app_version"] == 1 and manifest["exported_at"] == "2026-11-23T08:00:00Z"
    assert manifest["options"] == {"records": True, "files": False}
    assert manifest["records"] == {"task": 2, "note": 2}
    assert manifest["entries"] == {name: sha(content) for name, content in contents.items() if name != "manifest.json"}
    assert json.loads(contents["roles.json"]) == [
        {"key": "lead", "label": "Lead"},
        {"key": "member", "label": "Member"},
        {"key": "viewer", "label": "Viewer"},
    ]
    assert json.loads(contents["users.json"]) == [
        {"username": "ann", "display_name": "Ann Admin", "email": "ann@example.com"},
        {"username": "erin", "display_name": "Erin Wu", "email": "erin@example.com"},
        {"username": "frank", "display_name": "Frank Li", "email": "frank@example.com"},
    ]
    assert b"password" not in first and b"argon2" not in b"".join(contents.values())
    assert json.loads(contents["app.json"])["source"] == "acme.tasks"
    [t1, t2] = lines(first, "task")
    assert (t1["id"], t2["id"]) == (1, 2)  # the deleted record's id is not a gap
    assert t1["values"]["reviewers"] == ["erin", "frank"] and t1["created_by"] == "ann"
    assert t1["values"]["lines"][0] == {"item": "draft", "hours": "1.50", "by": "frank", "scan": None}
    assert t2["values"]["parent"] == 1 and t2["state"] == "review" and t2["version"] == 3
    assert lines(first, "note")[0]["values"]["related"] == [2, 1]
    assert json.loads(contents["counters.json"]) == [{"entity": "note", "field": "number", "period": "", "value": 2}]


# -- damaged, truncated, newer, incomplete bundles ----------------------------------------------


def test_a_flipped_byte_is_reported_with_its_entry(db, other_db):
    """A byte flipped inside records/task.jsonl: is the bundle refused naming that entry, with nothing imported?"""
    seed(db)
    damaged = _flip_byte(export(db, include_records=True), "records/task.jsonl")
    info = bundles.inspect_bundle(damaged)
    assert not info.ok
    assert any("records/task.jsonl" in p and "damaged" in p for p in english(info.problems)), info.problems
    with pytest.raises(bundles.BundleInvalid, match=r"records/task\.jsonl"):
        do_import(other_db, damaged, user_map={"*": "create"})
    assert count(other_db, models.apps) == 0


def test_a_changed_entry_fails_its_checksum(db):
    """app.json changed in a well-formed ZIP without updating the manifest: is the checksum mismatch named?"""
    apply_document(db, tracker_doc(), actor=SYSTEM)
    data = export(db)
    changed = json.loads(entries(data)["app.json"])
    changed["label"] = "Tampered"
    tampered = rewrite(data, replace={"app.json": json.dumps(changed).encode()}, sign=False)
    assert english(bundles.inspect_bundle(tampered).problems) == ["entry app.json is damaged: its checksum does not match the manifest"]


def test_a_truncated_file_is_not_a_bundle(db):
    """A bundle cut in half: is it refused as not a ZIP or truncated?"""
    apply_document(db, tracker_doc(), actor=SYSTEM)
    data = export(db)
    problems = english(bundles.inspect_bundle(data[: len(data) // 2]).problems)
    assert len(problems) == 1 and "not a ZIP archive, or it is truncated or damaged" in problems[0]
    assert "not a ZIP archive" in english(bundles.inspect_bundle(b"plain text, not a bundle").problems)[0]


def test_a_newer_format_is_refused_with_both_versions(db, other_db):
    """A bundle of format 2: is it refused saying it was made by a newer Flowdeck, and nothing imported?"""
    apply_document(db, tracker_doc(), actor=SYSTEM)
    newer = rewrite(export(db), manifest={"format_version": 2})
    info = bundles.inspect_bundle(newer)
    assert english(info.problems) == ["this bundle was made by a newer Flowdeck (format 2); this one reads format 1"]
    with pytest.raises(bundles.BundleInvalid, match=r"newer Flowdeck \(format 2\)"):
        do_import(other_db, newer)
    assert "tracker__task" not in tables(other_db)


def test_missing_entries_are_named(db):
    """users.json left out, and a records entry the manifest lists missing: is each named?"""
    seed(db)
    data = export(db, include_records=True)
    assert "missing entry users.json" in english(bundles.inspect_bundle(rewrite(data, drop=["users.json"])).problems)
    unsigned = rewrite(data, drop=["records/note.jsonl"], sign=False)
    assert "missing entry records/note.jsonl (the manifest lists it)" in english(bundles.inspect_bundle(unsigned).problems)


def test_an_invalid_document_lists_its_problems_with_paths(db):
    """A bundle whose app.json points a transition at a state that does not exist: are the schema problems listed with their paths?"""
    apply_document(db, tracker_doc(), actor=SYSTEM)
    data = export(db)
    doc = json.loads(entries(data)["app.json"])
    doc["entities"]["task"]["workflow"]["transitions"][0]["to"] = "doign"
    doc["entities"]["task"]["fields"]["due"]["type"] = "dat"
    problems = english(bundles.inspect_bundle(rewrite(data, replace={"app.json": json.dumps(doc).encode()})).problems)
    assert any(p.startswith("app.json: entities.task.fields.due.type: ") for p in problems), problems
    info = bundles.inspect_bundle(rewrite(data, replace={"app.json": json.dumps({**doc, "key": "other"}).encode()}))
    assert any("does not match the manifest" in p for p in english(info.problems))


# -- users and roles ------------------------------------------------------------------------------


def test_missing_users_need_a_mapping_then_the_mapping_is_used(db, other_db):
    """An approval step names erin, unknown here: is a mapping asked for, and does mapping erin to wang.fang rewrite the step?"""
    seed(db)
    data = export(db)
    add_user(other_db, "wang.fang", email="wang.fang@example.com")
    shown = plan(other_db, data)
    assert [u.username for u in shown.missing_users] == ["erin"] and not shown.ready
    with pytest.raises(bundles.ImportNeedsMapping) as raised:
        do_import(other_db, data)
    assert [u.username for u in raised.value.missing_users] == ["erin"]
    assert "erin (Erin Wu, erin@example.com)" in str(raised.value) and "create" in str(raised.value)
    assert count(other_db, models.apps) == 0
    with pytest.raises(bundles.ImportRefused, match="no local user 'nobody'"):
        do_import(other_db, data, user_map={"erin": "nobody"})
    result = do_import(other_db, data, user_map={"erin": "wang.fang"})
    assert result.kind == "new" and result.users_created == []
    step = document(other_db, "tracker")["entities"]["task"]["workflow"]["transitions"][2]["approval"]["steps"][0]
    assert step["approvers"] == {"users": ["wang.fang"]}


def test_create_makes_an_inactive_user_without_password(db, other_db):
    """user_map erin=create: is erin created inactive, without a password, with her name and email, and the step kept?"""
    seed(db)
    result = do_import(other_db, export(db), user_map={"erin": "create"})
    assert result.users_created == ["erin"]
    erin = other_db.read(lambda conn: users.find_user(conn, "erin"))
    assert (erin.display_name, erin.email, erin.is_active) == ("Erin Wu", "erin@example.com", False)
    assert (
        other_db.read(lambda conn: conn.execute(sa.select(models.users.c.password_hash).where(models.users.c.id == erin.id)).scalar())
        is None
    )
    step = document(other_db, "tracker")["entities"]["task"]["workflow"]["transitions"][2]["approval"]["steps"][0]
    assert step["approvers"] == {"users": ["erin"]}


def test_a_user_with_the_same_email_is_matched(db, other_db):
    """Here erin is erin.wu with the same email: is she matched without a mapping?"""
    seed(db)
    add_user(other_db, "erin.wu", email="Erin@Example.com")
    shown = plan(other_db, export(db))
    assert shown.missing_users == [] and {k: str(v) for k, v in shown.user_matches.items()} == {"erin": "erin.wu (same email)"}
    do_import(other_db, export(db))
    step = document(other_db, "tracker")["entities"]["task"]["workflow"]["transitions"][2]["approval"]["steps"][0]
    assert step["approvers"] == {"users": ["erin.wu"]}


def test_roles_are_granted_to_the_mapped_people(db, other_db):
    """role_map lead -> wang.fang, li.lei: granted on import; an unknown role or person refused with nothing imported?"""
    seed(db)
    data = export(db)
    wang, li = add_user(other_db, "wang.fang"), add_user(other_db, "li.lei")
    with pytest.raises(bundles.ImportRefused, match="the app has no role 'pmo'"):
        do_import(other_db, data, user_map={"erin": "wang.fang"}, role_map={"pmo": ["wang.fang"]})
    with pytest.raises(bundles.ImportRefused, match="no local user 'zoe'"):
        do_import(other_db, data, user_map={"erin": "wang.fang"}, role_map={"lead": ["zoe"]})
    assert count(other_db, models.apps) == 0
    result = do_import(other_db, data, user_map={"erin": "wang.fang"}, role_map={"lead": ["wang.fang", "li.lei"], "viewer": ["li.lei"]})
    assert sorted(result.roles_granted) == [("lead", "li.lei"), ("lead", "wang.fang"), ("viewer", "li.lei")]
    assert other_db.read(lambda conn: users.roles_of(conn, li)) == {"tracker": frozenset({"lead", "viewer"})}
    assert other_db.read(lambda conn: users.roles_of(conn, wang)) == {"tracker": frozenset({"lead"})}


def test_only_admins_import(db, other_db):
    """Is an import by a non-admin refused?"""
    apply_document(db, tracker_doc(), actor=SYSTEM)
    with pytest.raises(Forbidden):
        bundles.import_bundle(other_db, export(db), actor=Actor(user_id=None, username="bob"))


# -- new, copy, refused -----------------------------------------------------------------------------


def test_a_copy_under_a_new_key_coexists_with_the_original(db):
    """Imported into its own instance as tracker2: new tables and source id, records and references copied, original untouched?"""
    seed(db)
    data = export(db, include_records=True)
    shown = plan(db, data, as_key="tracker2")
    assert (shown.kind, shown.app_key, shown.source) == ("copy", "tracker2", "acme.tasks:copy-tracker2")
    result = do_import(db, data, as_key="tracker2")
    assert result.kind == "copy" and result.records == {"task": 2, "note": 2}
    assert {"tracker__task", "tracker2__task", "tracker2__note", "tracker2__task__lines"} <= tables(db)
    apps_now = dict(db.read(lambda conn: conn.execute(sa.select(models.apps.c.key, models.apps.c.source)).all()))
    assert apps_now == {"tracker": "acme.tasks", "tracker2": "acme.tasks:copy-tracker2"}
    registry = Catalog(db).current()
    copied = registry.entity("tracker2", "note")
    notes = db.read(lambda conn: [records.fetch_record(conn, copied, i) for i in (1, 2)])
    copy_tasks = registry.entity("tracker2", "task")
    linked = db.read(lambda conn: records.fetch_record(conn, copy_tasks, notes[0].values["task"]))
    assert linked.values["title"] == "Plan the launch"
    assert (
        db.read(lambda conn: conn.execute(sa.select(sa.func.count()).select_from(registry.entity("tracker", "task").table)).scalar()) == 2
    )
    assert document(db, "tracker2")["key"] == "tracker2" and document(db, "tracker")["source"] == "acme.tasks"
    again = plan(db, data, as_key="tracker2")
    assert (again.kind, again.app_key) == ("upgrade", "tracker2")


def test_the_same_key_from_another_source_is_refused(db, other_db):
    """Here tracker comes from another source: is the import refused, suggesting --as, with nothing changed?"""
    apply_document(db, tracker_doc(), actor=SYSTEM)
    data = export(db)
    theirs = tracker_doc()
    theirs["source"] = "other.team"
    apply_document(other_db, theirs, actor=SYSTEM)
    shown = plan(other_db, data)
    assert shown.kind == "refused" and not shown.ready
    with pytest.raises(bundles.ImportRefused, match=r"already installed from another source \(other.team\).*--as NEW_KEY"):
        do_import(other_db, data)
    assert document(other_db, "tracker")["source"] == "other.team"
    assert do_import(other_db, data, as_key="tracker_acme", user_map={"erin": "create"}).kind == "copy"


def test_a_dry_run_finds_everything_and_keeps_nothing(db, other_db, tmp_path):
    """A dry run of an import with records and files: does it report the counts and leave no app, table, user or file?"""
    seed(db, tmp_path / "files-a")
    before = tables(other_db)
    result = do_import(
        other_db,
        export(db, include_files=True, files_dir=tmp_path / "files-a"),
        user_map={"*": "create"},
        dry_run=True,
        files_dir=tmp_path / "files-b",
    )
    assert result.dry_run and result.records == {"task": 2, "note": 2} and len(result.users_created) == 3
    assert tables(other_db) == before
    assert count(other_db, models.users) == 0 and count(other_db, models.apps) == 0
    assert not (tmp_path / "files-b").exists()


def test_a_failing_record_leaves_no_trace(db, other_db, tmp_path):
    """A record breaking a unique field halfway through: is the whole import undone (no app, no tables, no users, no files rows)?"""
    seed(db, tmp_path / "files-a")
    data = export(db, include_files=True, files_dir=tmp_path / "files-a")
    task_lines = entries(data)["records/task.jsonl"].decode().splitlines()
    original = list(task_lines)
    second = json.loads(task_lines[1])
    second["values"]["code"] = "T-1"
    task_lines[1] = json.dumps(second)
    broken = rewrite(data, replace={"records/task.jsonl": ("\n".join(task_lines) + "\n").encode()})
    assert bundles.inspect_bundle(broken).ok
    before = tables(other_db)
    with pytest.raises(bundles.BundleInvalid, match=r"records/task\.jsonl line 2: the database refused the record"):
        do_import(other_db, broken, user_map={"*": "create"}, files_dir=tmp_path / "files-b")
    assert tables(other_db) == before
    for table in (
        models.apps,
        models.app_versions,
        models.users,
        models.attachments,
        models.history,
        models.bundle_imports,
        models.counters,
    ):
        assert count(other_db, table) == 0, table.name
    bad_reference = json.loads(original[1])
    bad_reference["values"]["parent"] = 99
    task_lines[1] = json.dumps(bad_reference)
    broken = rewrite(data, replace={"records/task.jsonl": ("\n".join(task_lines) + "\n").encode()})
    with pytest.raises(bundles.BundleInvalid, match="parent refers to task #99, which is not in the bundle"):
        do_import(other_db, broken, user_map={"*": "create"}, files_dir=tmp_path / "files-b")
    assert count(other_db, models.users) == 0 and "tracker__task" not in tables(other_db)


# -- upgrades ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["local", "incoming"])
def test_an_upgrade_keeps_local_edits_and_asks_about_conflicts(db, other_db, side):
    """Local field kept, upstream field added, upstream label applied, the label both changed reported and resolved each way?"""
    seed(db)
    do_import(other_db, export(db), user_map={"erin": "create"})
    local = document(other_db, "tracker")
    local["entities"]["task"]["fields"]["local_note"] = {"type": "text", "label": "Our note"}
    local["entities"]["task"]["fields"]["title"]["label"] = "Summary"
    apply_document(other_db, local, actor=SYSTEM, message="our own edits")
    task = Catalog(other_db).current().entity("tracker", "task")
    ours = other_db.run(lambda conn: records.create_record(conn, task, {"title": "Ours", "local_note": "keep me"}, actor=SYSTEM))

    apply_document(db, _upstream_v2(document(db, "tracker")), actor=SYSTEM)
    v2 = export(db)
    shown = plan(other_db, v2)
    assert (shown.kind, shown.app_key, shown.current_version) == ("upgrade", "tracker", 2)
    [conflict] = shown.conflicts
    assert (conflict.path, conflict.local, conflict.incoming) == ("entities.task.fields.title.label", "Summary", "Headline")
    assert shown.unresolved == [conflict] and not shown.ready
    assert json.loads(json.dumps(shown.to_json()))["conflicts"] == [
        {
            "path": "entities.task.fields.title.label",
            "base": None,
            "base_present": False,
            "local": "Summary",
            "local_present": True,
            "incoming": "Headline",
            "incoming_present": True,
            "resolved": False,
        }
    ]
    assert "adds field risk to task" in english(shown.migration)
    with pytest.raises(bundles.MergeConflicts, match=r"entities\.task\.fields\.title\.label"):
        do_import(other_db, v2)
    assert document(other_db, "tracker") == local

    result = do_import(other_db, v2, resolutions={conflict.path: side})
    assert (result.kind, result.version, result.applied) == ("upgrade", 3, True)
    merged = document(other_db, "tracker")["entities"]["task"]["fields"]
    assert list(merged)[-2:] == ["local_note", "risk"]
    assert merged["estimate"]["label"] == "Estimate (hours)"
    assert merged["title"]["label"] == {"local": "Summary", "incoming": "Headline"}[side]
    task = Catalog(other_db).current().entity("tracker", "task")
    assert other_db.read(lambda conn: records.fetch_record(conn, task, ours.id)).values["local_note"] == "keep me"

    # The next upgrade merges against what this one brought: the decided label stays decided.
    v3_doc = document(db, "tracker")
    v3_doc["entities"]["task"]["fields"]["due"]["label"] = "Due date"
    apply_document(db, v3_doc, actor=SYSTEM)
    again = plan(other_db, export(db))
    assert again.conflicts == [] and again.ready
    do_import(other_db, export(db))
    final = document(other_db, "tracker")["entities"]["task"]["fields"]
    assert final["due"]["label"] == "Due date" and final["title"]["label"] == merged["title"]["label"]
    assert count(other_db, models.bundle_imports) == 3


def test_an_upgrade_passes_on_the_migration_questions(db, other_db):
    """Upstream removes a state a local record is in: does the upgrade ask where it goes, and move it once answered?"""
    seed(db)
    do_import(other_db, export(db, include_records=True), user_map={"*": "create"})
    upstream = document(db, "tracker")
    workflow = upstream["entities"]["task"]["workflow"]
    del workflow["states"]["review"]
    workflow["transitions"] = [
        {"key": "start", "from": "todo", "to": "doing"},
        {"key": "finish", "from": "doing", "to": "done", "roles": ["lead"]},
        {"key": "reopen", "from": "done", "to": "todo"},
    ]
    apply_document(db, upstream, actor=SYSTEM, choices={"state:task:review": "doing"})
    data = export(db)
    shown = plan(other_db, data)
    assert [q.id for q in shown.unanswered] == ["state:task:review"] and shown.unanswered[0].count == 1
    [question] = shown.to_json()["questions"]
    assert question["id"] == "state:task:review" and "doing" in [value for value, _ in question["choices"]]
    with pytest.raises(ChoicesNeeded):
        do_import(other_db, data)
    do_import(other_db, data, choices={"state:task:review": "doing"})
    task = Catalog(other_db).current().entity("tracker", "task")
    assert other_db.read(lambda conn: records.fetch_record(conn, task, 2)).state == "doing"


def test_an_upgrade_of_an_app_installed_without_a_bundle_uses_its_first_version(db, other_db):
    """The team installed the app from the same source by hand and edited it: does the upgrade merge against version 1?"""
    apply_document(db, tracker_doc(), actor=SYSTEM)
    apply_document(other_db, tracker_doc(), actor=SYSTEM)
    local = document(other_db, "tracker")
    local["entities"]["task"]["fields"]["local_note"] = {"type": "text"}
    apply_document(other_db, local, actor=SYSTEM)
    apply_document(db, _upstream_v2(document(db, "tracker")), actor=SYSTEM)
    shown = plan(other_db, export(db), user_map={"erin": "create"})
    assert shown.kind == "upgrade" and "local version 1" in str(shown.base) and shown.conflicts == []
    do_import(other_db, export(db), user_map={"erin": "create"})
    fields = document(other_db, "tracker")["entities"]["task"]["fields"]
    assert "local_note" in fields and "risk" in fields and fields["title"]["label"] == "Headline"


# -- the command line ---------------------------------------------------------------------------------
