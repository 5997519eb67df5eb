"""What bundles and the merge say, in Chinese: problems of a bundle file, records that cannot be
imported, refusals, the lines of an import plan and merge conflicts are messages worded from
the catalog (English stays what the CLI prints)."""

import copy
import io
import json
import zipfile

import pytest

from flowdeck.catalogs import say
from flowdeck.engine import bundles
from flowdeck.engine.apps import apply_document
from flowdeck.engine.merge import UnknownResolution, merge_documents
from flowdeck.engine.messages import Message
from tests.support.bundles import SYSTEM, _upstream_v2, document, export, seed, sha, tracker_doc


def zh(message):
    return say(message, "zh")


def rewritten(data, *, replace=None, manifest=None, extra=None):
    """The bundle with entries replaced (manifest re-signed) and, unsigned, extra entries."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        contents = {info.filename: archive.read(info) for info in archive.infolist()}
    head = json.loads(contents.pop("manifest.json"))
    contents.update(replace or {})
    head["entries"] = {name: sha(content) for name, content in contents.items()}
    head["checksum"] = sha("".join(f"{head['entries'][n]}  {n}\n" for n in sorted(head["entries"])).encode())
    head.update(manifest or {})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(head))
        for name, content in {**contents, **(extra or {})}.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_problems_of_a_bundle_file_in_chinese(db):
    """Are a newer format, an unsafe entry name and a file that is no ZIP said in Chinese, with their numbers and names?"""
    apply_document(db, tracker_doc(), actor=SYSTEM)
    data = export(db)
    [newer] = bundles.inspect_bundle(rewritten(data, manifest={"format_version": 2})).problems
    assert str(newer) == "this bundle was made by a newer Flowdeck (format 2); this one reads format 1"
    assert zh(newer) == "此配置包由较新版本的 Flowdeck 生成（格式 2）；本实例只能读取格式 1"
    [unsafe] = bundles.inspect_bundle(rewritten(data, extra={"../evil.json": b"{}"})).problems
    assert zh(unsafe) == "已拒绝条目 '../evil.json'：条目名称中不允许使用 '..'"
    [too_big] = bundles.inspect_bundle(data, limits=bundles.Limits(max_bundle_bytes=100)).problems
    assert zh(too_big) == f"配置包大小为 {len(data):,} 字节；上限为 100"
    [garbage] = bundles.inspect_bundle(b"plain text").problems
    assert zh(garbage).startswith("不是 Flowdeck 配置包：该文件不是 ZIP 压缩包，或已被截断或损坏（")


def test_a_record_that_cannot_be_imported_in_chinese(db, other_db):
    """Is a record whose reference points outside the bundle refused in Chinese, naming its entry, line and field?"""
    seed(db)
    data = export(db, include_records=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        lines = archive.read("records/task.jsonl").decode().splitlines()
    second = json.loads(lines[1])
    second["values"]["parent"] = 99
    lines[1] = json.dumps(second)
    broken = rewritten(data, replace={"records/task.jsonl": ("\n".join(lines) + "\n").encode()})
    with pytest.raises(bundles.BundleInvalid) as raised:
        bundles.import_bundle(other_db, broken, actor=SYSTEM, user_map={"*": "create"})
    [problem] = raised.value.problems
    assert str(problem) == "records/task.jsonl line 2: parent refers to task #99, which is not in the bundle"
    assert zh(problem) == "records/task.jsonl 第 2 行：parent 引用了 task #99，但该记录不在配置包中"
    assert zh(raised.value.message) == zh(problem)


def test_refusals_in_chinese(db, other_db):
    """Are an unknown role in the role map, a missing user and an unknown resolution side refused in Chinese?"""
    seed(db)
    data = export(db)
    with pytest.raises(bundles.ImportRefused) as refused:
        bundles.import_bundle(other_db, data, actor=SYSTEM, user_map={"erin": "create"}, role_map={"pmo": ["erin"]})
    assert [zh(r) for r in refused.value.reasons] == ["角色分配：应用中没有角色 'pmo'（现有角色：lead、member、viewer）"]
    with pytest.raises(bundles.ImportNeedsMapping) as unmapped:
        bundles.import_bundle(other_db, data, actor=SYSTEM)
    assert zh(unmapped.value.message).startswith("配置包引用了本实例中不存在的用户：erin (Erin Wu, erin@example.com)。请将每个用户对应到")
    with pytest.raises(UnknownResolution) as unknown:
        merge_documents(tracker_doc(), tracker_doc(), tracker_doc(), resolutions={"label": "theirs"})
    assert zh(unknown.value.message) == "每个冲突只能用 local 或 incoming 解决（实际为 'theirs'）"
    with pytest.raises(bundles.ExportFailed) as failed:
        export(db, "nope")
    assert str(failed.value) == 'there is no app "nope"' and zh(failed.value.message) == "没有应用“nope”"


def test_plan_lines_in_chinese(db, other_db):
    """Are the lines of a plan for a new app, its records and a missing user worded in Chinese, while English stays as the CLI prints it?"""
    seed(db)
    plan = other_db.read(lambda conn: bundles.plan_import(conn, export(db, include_records=True)))
    lines = plan.describe()
    assert str(lines[1]) == 'import: install a new app "tracker"; source id acme.tasks'
    assert zh(lines[1]) == "导入：安装新应用“tracker”；来源标识 acme.tasks"
    assert zh(lines[2]) == "记录：note 2 条、task 2 条"
    assert "用户 erin (Erin Wu, erin@example.com)：本实例中不存在；请将其对应到本地用户，或创建该用户" in [zh(line) for line in lines]
    copy_plan = db.read(lambda conn: bundles.plan_import(conn, export(db), as_key="tracker-2"))
    assert [zh(r) for r in copy_plan.refusals] == ["'tracker-2' 不是有效的应用键：最多 20 个字符，只能使用小写字母、数字和单个下划线"]


def test_merge_conflicts_in_chinese(db, other_db):
    """Is a conflict of an upgrade described in Chinese (the error, the plan's merge line and warning), with the values as JSON?"""
    apply_document(db, tracker_doc(), actor=SYSTEM)
    bundles.import_bundle(other_db, export(db), actor=SYSTEM, user_map={"erin": "create"})
    local = document(other_db, "tracker")
    local["entities"]["task"]["fields"]["title"]["label"] = "Summary"
    apply_document(other_db, local, actor=SYSTEM)
    apply_document(db, _upstream_v2(document(db, "tracker")), actor=SYSTEM)
    upgrade = export(db)
    plan = other_db.read(lambda conn: bundles.plan_import(conn, upgrade))
    [conflict] = plan.conflicts
    assert zh(conflict.describe()) == 'entities.task.fields.title.label：原始 （无），本地 "Summary"，传入 "Headline"'
    assert "合并：1 处冲突，1 处未解决" in [zh(line) for line in plan.describe()]
    assert zh(plan.base) == "配置包版本 1（导入为本地版本 1）"
    with pytest.raises(bundles.MergeConflicts) as raised:
        bundles.import_bundle(other_db, upgrade, actor=SYSTEM)
    assert zh(raised.value.message) == (
        "您的版本与配置包之间有 1 处相互冲突的修改；请为每一处选择一方（resolutions {path: 'local' | 'incoming'}，"
        "命令行 --resolve PATH=local|incoming）：\n"
        '  entities.task.fields.title.label：原始 （无），本地 "Summary"，传入 "Headline"'
    )
    assert str(raised.value).endswith(':\n  entities.task.fields.title.label: base (absent), local "Summary", incoming "Headline"')


def test_a_plan_for_a_page_keeps_its_texts_as_messages(db, other_db):
    """Does the plan's JSON carry its texts as stored messages that read back in Chinese, or as words with the page's `say`?"""
    apply_document(db, tracker_doc(), actor=SYSTEM)
    bundles.import_bundle(other_db, export(db), actor=SYSTEM, user_map={"erin": "create"})
    local = document(other_db, "tracker")
    local["entities"]["task"]["fields"]["title"]["label"] = "Summary"
    apply_document(other_db, local, actor=SYSTEM)
    upstream = copy.deepcopy(document(db, "tracker"))
    upstream["entities"]["task"]["fields"]["title"]["label"] = "Headline"
    apply_document(db, upstream, actor=SYSTEM)
    plan = other_db.read(lambda conn: bundles.plan_import(conn, export(db)))
    shown = json.loads(json.dumps(plan.to_json()))
    [warning] = shown["warnings"]
    assert zh(Message.from_json(warning)) == "在所有冲突解决之前，下面的迁移计划按本地一方计算"
    assert plan.to_json(zh)["warnings"] == ["在所有冲突解决之前，下面的迁移计划按本地一方计算"]
    assert plan.to_json(zh)["base"] == "配置包版本 1（导入为本地版本 1）"
