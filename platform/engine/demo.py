"""Demo users and records for the bundled `project` and `operations` apps.

Everything is written through the record and workflow services as the demo users
themselves, with timestamps spread over the past months, so each record's history reads
like real work (who created it, who approved it, with which comment) and every rule of
the app documents is exercised on the way. Dates are relative to `today`; nothing is
random, so two loads on the same day produce the same data.

The demo users are placed in a small organisation (departments with heads, managers), and
transitions with an approval block go through the approval services: the requester asks,
the approvers the engine routes the request to decide. Some requests are left pending so
the approvals inbox and the record timelines have something to show. The demo departments
are matched by key: an existing department with a demo key is reused and given the demo
parent and head, and reused demo users are placed in the demo departments.

The whole load is one transaction: it either lands completely or not at all, and a
second call finds the marker project and loads nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import approvals, clock, org, users
from flowdeck.engine.approval_core import APPROVED
from flowdeck.engine.db import Database
from flowdeck.engine.errors import Forbidden, NotFound, RecordInvalid
from flowdeck.engine.permissions import Actor
from flowdeck.engine.records import create_record, update_record
from flowdeck.engine.registry import Catalog, Registry
from flowdeck.engine.schema.model import Entity
from flowdeck.engine.workflow import transition_record

MARKER_PROJECT = "华东仓储 WMS 系统上线"
DEMO_PASSWORD = "flowdeck-demo"  # noqa: S105 - the published password of the demo users, not a secret
CST = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")

# username, display name, roles per app
DEMO_USERS: tuple[tuple[str, str, Mapping[str, tuple[str, ...]]], ...] = (
    ("wang.fang", "王芳", {"project": ("pmo", "change_board"), "operations": ("viewer",)}),
    ("zhang.wei", "张伟", {"project": ("sponsor",), "operations": ("viewer", "cab")}),
    ("li.na", "李娜", {"project": ("project_manager",), "operations": ("requester",)}),
    ("alice", "Alice Chen", {"project": ("project_manager",), "operations": ("requester",)}),
    ("chen.jie", "陈杰", {"project": ("member", "change_board"), "operations": ("engineer", "cab")}),
    ("zhao.lei", "赵磊", {"project": ("member",), "operations": ("engineer",)}),
    ("emily", "Emily Zhang", {"project": ("member",), "operations": ("engineer",)}),
    ("huang.min", "黄敏", {"project": ("member", "change_board"), "operations": ("requester",)}),
    ("bob", "Bob Zhou", {"project": ("member",), "operations": ("requester",)}),
    ("liu.yang", "刘洋", {"project": ("viewer",), "operations": ("service_desk",)}),
    ("sun.li", "孙丽", {"project": ("viewer",), "operations": ("ops_manager", "cab")}),
    ("david", "David Wu", {"project": ("viewer",), "operations": ("requester",)}),
    ("zhou.qiang", "周强", {"project": ("viewer",), "operations": ("general_manager",)}),
    ("qian.hui", "钱慧", {"project": ("viewer",), "operations": ("finance",)}),
    ("lin.xiao", "林晓 (华夏城市银行)", {"project": ("viewer",)}),
)

# key, name, Chinese name, parent key, head (username); parents before children
DEMO_DEPARTMENTS: tuple[tuple[str, str, str, str | None, str], ...] = (
    ("hq", "General management", "总经办", None, "zhou.qiang"),
    ("pmo", "Project management office", "项目管理办公室", "hq", "wang.fang"),
    ("it", "Information technology", "信息技术部", "hq", "zhang.wei"),
    ("delivery", "Delivery centre", "交付中心", "it", "li.na"),
    ("it-ops", "IT operations", "运维部", "it", "sun.li"),
    ("finance", "Finance", "财务部", "hq", "qian.hui"),
    ("supply-chain", "Supply chain", "供应链部", "hq", "huang.min"),
)

# username: (department key, manager username); lin.xiao is the bank's, outside the company
DEMO_PLACEMENT: Mapping[str, tuple[str, str | None]] = {
    "zhou.qiang": ("hq", None),
    "wang.fang": ("pmo", "zhou.qiang"),
    "zhang.wei": ("it", "zhou.qiang"),
    "qian.hui": ("finance", "zhou.qiang"),
    "huang.min": ("supply-chain", "zhou.qiang"),
    "david": ("supply-chain", "huang.min"),
    "li.na": ("delivery", "zhang.wei"),
    "alice": ("delivery", "li.na"),
    "emily": ("delivery", "alice"),
    "bob": ("delivery", "alice"),
    "sun.li": ("it-ops", "zhang.wei"),
    "chen.jie": ("it-ops", "sun.li"),
    "zhao.lei": ("it-ops", "sun.li"),
    "liu.yang": ("it-ops", "sun.li"),
}


@dataclass(frozen=True)
class DemoSummary:
    """What a load did; `loaded` is False when demo data was already there."""

    loaded: bool
    users_created: int = 0
    users_reused: int = 0
    records: Mapping[str, int] = field(default_factory=dict)
    transitions: int = 0
    approval_requests: int = 0
    decisions: int = 0

    @property
    def total_records(self) -> int:
        return sum(self.records.values())

    def describe(self) -> str:
        if not self.loaded:
            return "already loaded; nothing added"
        return (
            f"{self.users_created} users created, {self.users_reused} reused; {self.total_records} records, "
            f"{self.transitions} transitions, {self.approval_requests} approval requests with {self.decisions} decisions"
        )


class _Step(NamedTuple):
    action: str  # a transition key, "edit" for a plain update, "ask:<transition>", "decide:yes" or "decide:no"
    by: str
    at: float | dt.datetime
    values: Mapping[str, Any]
    comment: str | None


def _s(action: str, by: str, at: float | dt.datetime, comment: str | None = None, **values: Any) -> _Step:
    return _Step(action, by, at, values, comment)


def _ask(transition: str, by: str, at: float | dt.datetime, comment: str | None = None, **values: Any) -> _Step:
    """Ask for approval of `transition`; the record stays in its state until the last step approves."""
    return _Step(f"ask:{transition}", by, at, values, comment)


def _yes(by: str, at: float | dt.datetime, comment: str | None = None) -> _Step:
    """Approve the record's pending request as one approver of its current step."""
    return _Step("decide:yes", by, at, {}, comment)


def _no(by: str, at: float | dt.datetime, comment: str) -> _Step:
    """Reject the record's pending request (a rejection always carries a comment)."""
    return _Step("decide:no", by, at, {}, comment)


@dataclass
class _Ctx:
    conn: Connection
    registry: Registry
    today: dt.date
    now: dt.datetime
    actors: dict[str, Actor] = field(default_factory=dict)
    refs: dict[str, int] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    transitions: int = 0
    approval_requests: int = 0
    decisions: int = 0

    def d(self, days: int) -> dt.date:
        return self.today + dt.timedelta(days=days)

    def ts(self, days: int, clock: str = "10:00") -> dt.datetime:
        """A Beijing wall-clock time `days` from today, never later than now."""
        return min(self.planned(days, clock), self.now)

    def planned(self, days: int, clock: str) -> dt.datetime:
        """A Beijing wall-clock time `days` from today, possibly in the future (a plan)."""
        hour, minute = (int(p) for p in clock.split(":"))
        return dt.datetime.combine(self.d(days), dt.time(hour, minute), tzinfo=CST).astimezone(dt.UTC)

    def at(self, when: float | dt.datetime) -> dt.datetime:
        if isinstance(when, dt.datetime):
            return min(when, self.now)
        moment = dt.datetime.combine(self.today, dt.time(10), tzinfo=CST).astimezone(dt.UTC) + dt.timedelta(days=when)
        return min(moment, self.now)


def load_demo(db: Database, *, actor: Actor, password: str, today: dt.date | None = None) -> DemoSummary:
    """Load the demo once; demo users all get `password`. Existing users with a demo
    username are reused (and given the demo roles) rather than duplicated."""
    if not actor.is_admin:
        raise Forbidden("only an administrator may load demo data")
    registry = Catalog(db).current()
    for app in ("project", "operations"):
        if app not in registry.apps:
            raise NotFound(f'the bundled app "{app}" is not installed; apply the bundled apps before loading demo data')
    return db.run(lambda conn: _load(conn, registry, password, today or clock.today()))


def _load(conn: Connection, registry: Registry, password: str, today: dt.date) -> DemoSummary:
    projects = registry.entity("project", "project").table
    if conn.execute(sa.select(projects.c.id).where(projects.c.name == MARKER_PROJECT).limit(1)).first() is not None:
        return DemoSummary(loaded=False)
    ctx = _Ctx(conn, registry, today, dt.datetime.now(dt.UTC))
    created, reused = _users(ctx, password)
    _organisation(ctx)
    _project_demo(ctx)
    _operations_demo(ctx)
    return DemoSummary(True, created, reused, dict(sorted(ctx.counts.items())), ctx.transitions, ctx.approval_requests, ctx.decisions)


def _users(ctx: _Ctx, password: str) -> tuple[int, int]:
    created = reused = 0
    for username, display, grants in DEMO_USERS:
        existing = users.find_user(ctx.conn, username)
        if existing is None:
            uid = users.create_user(ctx.conn, username, password=password, display_name=display, email=f"{username}@example.com")
            created += 1
        elif not existing.is_active:
            raise RecordInvalid({"username": [f'"{username}" is a deactivated user; the demo needs it active (or renamed)']})
        else:
            uid = existing.id
            reused += 1
        for app, roles in grants.items():
            for role in roles:
                users.grant_role(ctx.conn, uid, app, role)
        ctx.actors[username] = users.actor_for(ctx.conn, uid)
    return created, reused


def _organisation(ctx: _Ctx) -> None:
    """Departments with heads, and each demo user's department and manager: what approval
    steps such as "the requester's department head" walk."""
    ids: dict[str, int] = {}
    for key, name, name_zh, parent, head in DEMO_DEPARTMENTS:
        head_id = ctx.actors[head].user_id
        parent_id = ids[parent] if parent else None
        existing = org.find_department(ctx.conn, key)
        if existing is None:
            ids[key] = org.create_department(ctx.conn, key, name, name_zh=name_zh, parent_id=parent_id, head_id=head_id)
        else:
            org.update_department(
                ctx.conn, existing.id, key=key, name=existing.name, name_zh=existing.name_zh, parent_id=parent_id, head_id=head_id
            )
            ids[key] = existing.id
    for username, (department, manager) in DEMO_PLACEMENT.items():
        manager_id = ctx.actors[manager].user_id if manager else None
        user_id = ctx.actors[username].user_id
        assert user_id is not None
        org.place_user(ctx.conn, user_id, department_id=ids[department], manager_id=manager_id)


# -- writing through the engine ------------------------------------------------------------


def _resolve(ctx: _Ctx, entity: Entity, values: Mapping[str, Any]) -> dict[str, Any]:
    """Demo data names users by username and records by demo reference; the engine wants ids."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        fld = entity.get_field(key)
        if fld.type in ("user", "reference"):
            value = [_ident(ctx, fld.type, v) for v in value] if fld.many else _ident(ctx, fld.type, value)
        elif fld.is_table:
            value = [{k: ctx.actors[v].user_id if fld.child(k).type == "user" else v for k, v in row.items()} for row in value]
        out[key] = value
    return out


def _ident(ctx: _Ctx, kind: str, name: str | None) -> int | None:
    if name is None:
        return None
    return ctx.actors[name].user_id if kind == "user" else ctx.refs[name]


def _record(
    ctx: _Ctx, ref: str | None, app: str, entity: str, by: str, at: float | dt.datetime, values: Mapping[str, Any], *steps: _Step
) -> int:
    et = ctx.registry.entity(app, entity)
    record = create_record(ctx.conn, et, _resolve(ctx, et.entity, values), actor=ctx.actors[by], now=ctx.at(at))
    ctx.counts[f"{app}.{entity}"] += 1
    for step in steps:
        actor, when, given = ctx.actors[step.by], ctx.at(step.at), _resolve(ctx, et.entity, step.values)
        if step.action == "edit":
            update_record(ctx.conn, et, record.id, given, actor=actor, expected_version=None, now=when)
        elif step.action.startswith("ask:"):
            asked = approvals.request_approval(
                ctx.conn, et, record.id, step.action[4:], actor=actor, values=given, comment=step.comment, now=when
            )
            ctx.approval_requests += 1
            ctx.transitions += asked.status == APPROVED
        elif step.action.startswith("decide:"):
            pending = approvals.open_request_for(ctx.conn, app, entity, record.id)
            if pending is None:
                raise RecordInvalid({"_record": [f"demo {app}.{entity} #{record.id}: no pending approval for {step.by} to decide"]})
            decided = approvals.decide(
                ctx.conn, et, pending.id, actor=actor, approve=step.action == "decide:yes", comment=step.comment, now=when
            )
            ctx.decisions += 1
            ctx.transitions += decided.status == APPROVED
        else:
            transition_record(ctx.conn, et, record.id, step.action, actor=actor, values=given, comment=step.comment, now=when)
            ctx.transitions += 1
    if ref is not None:
        ctx.refs[ref] = record.id
    return record.id


class _Task(NamedTuple):
    wbs: str
    name: str
    task_type: str
    owner: str
    start: int
    due: int
    estimate: int
    state: str  # open, in_progress, in_review, done
    progress: int = 0
    extra: Mapping[str, Any] = {}


def _wbs(ctx: _Ctx, project: str, manager: str, tasks: Sequence[_Task]) -> None:
    """A WBS as the project manager plans it and the owners work it: summary tasks first,
    then their children; each task walks the workflow up to its demo state."""
    codes = [t.wbs for t in tasks]
    for task in tasks:
        is_group = any(c.startswith(task.wbs + ".") for c in codes)
        parent = task.wbs.rsplit(".", 1)[0] if "." in task.wbs else None
        extra = dict(task.extra)
        depends = [f"{project}/{code}" for code in extra.pop("depends_on", ())]
        values = {
            "wbs_code": task.wbs,
            "name": task.name,
            "project": project,
            "parent": f"{project}/{parent}" if parent else None,
            "is_group": is_group,
            "task_type": task.task_type,
            "priority": extra.pop("priority", "medium"),
            "owner": task.owner,
            "assignees": [task.owner, *extra.pop("helpers", ())],
            "planned_start": ctx.d(task.start),
            "due_date": ctx.d(task.due),
            "estimate_hours": None if is_group else task.estimate,
            "depends_on": depends,
        }
        hours = Decimal(task.estimate) * Decimal(task.progress) / 100 if not is_group else 0
        steps: list[_Step] = []
        if task.state != "open":
            steps.append(_s("start", task.owner, task.start))
        if task.state in ("in_review", "done"):
            finish = min(task.due, 0) - 2
            steps.append(_s("edit", task.owner, finish, progress=100, actual_hours=round(hours * Decimal("1.1"), 1)))
            steps.append(_s("submit_review", task.owner, finish + 0.2, "已完成，请评审。"))
        elif task.state == "in_progress" and (task.progress or extra):
            steps.append(_s("edit", task.owner, -1, progress=task.progress, actual_hours=round(hours, 1), **extra))
        if task.state == "done":
            done_day = min(task.due, 0) - 1
            steps.append(_s("approve", manager, done_day, completed_on=ctx.d(done_day)))
        _record(ctx, f"{project}/{task.wbs}", "project", "task", manager, min(task.start - 5, -2), values, *steps)


# -- the project app -------------------------------------------------------------------------


def _project_demo(ctx: _Ctx) -> None:
    d = ctx.d
    p = "project"

    _record(
        ctx,
        "oa",
        p,
        "project",
        "li.na",
        -320,
        {
            "name": "OA 办公审批电子化",
            "project_type": "process_improvement",
            "department": "行政部 Administration",
            "sponsor": "zhang.wei",
            "manager": "li.na",
            "customer_rep": "david",
            "objective": "将请假、用章、费用等 12 类纸质审批迁移到 OA，审批平均时长从 3 天降到 1 天。",
            "scope": "包含：12 类审批表单、移动端审批、与钉钉通讯录同步。\n不包含：合同管理模块。",
            "planned_start": d(-300),
            "planned_end": d(-125),
            "budget": 380000,
        },
        _ask("approve", "li.na", -314, "行政部牵头，预算已纳入年度计划。"),
        _yes("wang.fang", -313, "预算与范围合理，同意立项。"),
        _yes("zhang.wei", -312),
        _s("hold_kickoff", "li.na", -300, kickoff_date=d(-300), members=["chen.jie", "huang.min", "bob"]),
        _s("baseline", "li.na", -290, "计划基线已确认 / baseline agreed"),
        _s("edit", "li.na", -200, percent_complete=60, actual_cost=205000),
        _s("edit", "li.na", -128, percent_complete=100, actual_cost=366500),
        _s("submit_acceptance", "li.na", -127),
        _ask(
            "accept", "li.na", -120, acceptance_date=d(-118), actual_end=d(-124), acceptance_note="12 类审批全部上线；平均审批时长 0.8 天。"
        ),
        _yes("david", -118, "各部门试运行一个月，效果达标。"),
        _s(
            "archive",
            "wang.fang",
            -100,
            lessons_learned=(
                "- 表单梳理先于开发，减少了返工\n- 移动端审批是推广关键\n"
                "- Next time: involve department secretaries earlier; they own most forms."
            ),
        ),
    )
    _record(
        ctx,
        "mes",
        p,
        "project",
        "li.na",
        -210,
        {
            "name": "Factory MES pilot 工厂 MES 试点",
            "project_type": "internal_it",
            "department": "生产部 Manufacturing",
            "priority": "high",
            "sponsor": "zhang.wei",
            "manager": "li.na",
            "objective": "Pilot a manufacturing execution system on assembly line 2 to capture work-order progress in real time.",
            "planned_start": d(-190),
            "planned_end": d(-40),
            "budget": 900000,
        },
        _ask("approve", "li.na", -206),
        _yes("wang.fang", -205),
        _yes("zhang.wei", -204, "同意在二号线试点。"),
        _s("cancel", "wang.fang", -185, "集团统一采购 MES 平台，本试点取消 / Group-wide MES procurement replaces this pilot."),
    )
    _record(
        ctx,
        "dc",
        p,
        "project",
        "alice",
        -240,
        {
            "name": "数据中心机房搬迁 Data centre relocation",
            "project_type": "infrastructure",
            "department": "信息技术部 IT",
            "priority": "critical",
            "sponsor": "zhang.wei",
            "manager": "alice",
            "customer_rep": "sun.li",
            "objective": "Move 180 servers from Pudong to the new Jiading data centre, under 8 hours of downtime per system.",
            "scope": "In scope: servers, storage, core network, cabling. Out of scope: office desktops.",
            "planned_start": d(-225),
            "planned_end": d(-10),
            "budget": 2600000,
        },
        _ask("approve", "alice", -236, "The Pudong lease ends next year."),
        _yes("wang.fang", -235),
        _yes("zhang.wei", -233, "Approved. Keep downtime windows on weekends."),
        _s("hold_kickoff", "alice", -225, kickoff_date=d(-225), members=["zhao.lei", "chen.jie", "emily"]),
        _s("baseline", "alice", -215),
        _s("edit", "alice", -120, percent_complete=45, actual_cost=1150000),
        _s("edit", "alice", -40, percent_complete=90, actual_cost=2380000, health="amber", health_note="第三批搬迁因供电改造推迟一周"),
        _s("edit", "alice", -8, percent_complete=100, actual_cost=2710000, health="green"),
        _s("submit_acceptance", "alice", -6, "All 180 servers running in Jiading; handover pack attached."),
        _ask("accept", "alice", -5, "Operations please sign the handover.", acceptance_date=d(-5), actual_end=d(-8)),
    )
    _record(
        ctx,
        "wifi",
        p,
        "project",
        "li.na",
        -130,
        {
            "name": "办公网络改造 Office Wi-Fi refresh",
            "project_type": "internal_it",
            "department": "信息技术部 IT",
            "sponsor": "zhang.wei",
            "manager": "li.na",
            "customer_rep": "david",
            "objective": "Replace 60 access points on floors 3–8; roaming without drops, 200 Mbps per user.",
            "planned_start": d(-115),
            "planned_end": d(-20),
            "budget": 420000,
        },
        _ask("approve", "li.na", -126),
        _yes("wang.fang", -125),
        _yes("zhang.wei", -124),
        _s("hold_kickoff", "li.na", -115, kickoff_date=d(-115), members=["zhao.lei", "bob"]),
        _s("baseline", "li.na", -110, scope="3–8 楼无线 AP 更换及控制器升级；不含会议室音视频。"),
        _s("edit", "li.na", -25, percent_complete=100, actual_cost=398000),
        _s("submit_acceptance", "li.na", -24),
        _ask("accept", "li.na", -23, acceptance_date=d(-22), actual_end=d(-25)),
        _no("david", -22, "7 楼漫游仍有掉线，请整改后再验收。"),
        _s("submit_acceptance", "li.na", -15, "7 楼已增加 2 个 AP，漫游测试通过。"),
        _ask("accept", "li.na", -14, acceptance_date=d(-12), actual_end=d(-16), acceptance_note="Roaming test passed on all floors."),
        _yes("david", -12, "复测通过 / Roaming test passed."),
    )
    _record(
        ctx,
        "wms",
        p,
        "project",
        "li.na",
        -150,
        {
            "name": MARKER_PROJECT,
            "project_type": "internal_it",
            "department": "供应链部 Supply chain",
            "priority": "high",
            "sponsor": "zhang.wei",
            "manager": "li.na",
            "customer_rep": "huang.min",
            "objective": "上线仓储管理系统（WMS），覆盖华东 3 个仓库；库存准确率 ≥ 99.5%，拣货效率提升 20%。",
            "scope": "包含：入库、上架、拣货、盘点、RF 手持终端、与 ERP 的接口。\nOut of scope: transport management (TMS).",
            "description": "现有仓库靠 Excel 管理库存，盘点差异大，旺季发货延误频繁。",
            "planned_start": d(-130),
            "planned_end": d(30),
            "budget": 1200000,
        },
        _ask("approve", "li.na", -145),
        _yes("wang.fang", -144, "纳入本年度重点项目。"),
        _yes("zhang.wei", -143, "同意，供应链部黄敏担任业务负责人。"),
        _s("hold_kickoff", "li.na", -136, kickoff_date=d(-136), members=["chen.jie", "zhao.lei", "huang.min", "bob"]),
        _s("baseline", "li.na", -128),
        _s("edit", "li.na", -60, percent_complete=35, actual_cost=420000),
        _s(
            "edit",
            "li.na",
            -3,
            percent_complete=55,
            actual_cost=720000,
            health="amber",
            health_note="ERP 接口联调延期一周，已增派一名开发 / ERP interface testing one week late; one more developer added.",
        ),
    )
    _record(
        ctx,
        "portal",
        p,
        "project",
        "alice",
        -40,
        {
            "name": "Customer portal redesign 客户门户改版",
            "project_type": "product_rnd",
            "department": "Digital 数字化部",
            "sponsor": "zhang.wei",
            "manager": "alice",
            "customer_rep": "huang.min",
            "objective": "Rebuild the customer self-service portal: order tracking, invoices and returns in one place; NPS +10.",
            "planned_start": d(-25),
            "planned_end": d(95),
            "budget": 650000,
        },
        _ask("approve", "alice", -37),
        _yes("wang.fang", -36),
        _yes("zhang.wei", -35),
        _s("hold_kickoff", "alice", -28, kickoff_date=d(-28), members=["emily", "bob"]),
    )
    _record(
        ctx,
        "bank",
        p,
        "project",
        "alice",
        -12,
        {
            "name": "华夏城市银行手机银行改版",
            "project_type": "customer_delivery",
            "customer": "华夏城市银行 Huaxia City Bank",
            "contract_no": "HT-2026-0815",
            "department": "交付中心 Delivery",
            "priority": "critical",
            "sponsor": "zhang.wei",
            "manager": "alice",
            "customer_rep": "lin.xiao",
            "objective": "按合同交付手机银行 5.0：新首页、转账、理财三大模块，2027 年 4 月上线。",
            "planned_start": d(-5),
            "planned_end": d(150),
            "budget": 3800000,
        },
        _ask("approve", "alice", -10, "合同已签署，申请立项。"),
        _yes("wang.fang", -8, "合同已签署，同意立项；请发起人确认资源。"),
    )
    _record(
        ctx,
        "bot",
        p,
        "project",
        "alice",
        -60,
        {
            "name": "智能客服机器人 PoC / AI chatbot PoC",
            "project_type": "product_rnd",
            "sponsor": "zhang.wei",
            "manager": "alice",
            "objective": "Prove that a chatbot can answer 40 % of service-desk questions without an agent.",
            "planned_start": d(-45),
            "planned_end": d(15),
            "budget": 150000,
        },
        _ask("approve", "alice", -58),
        _yes("wang.fang", -57, "PMO 无异议，请发起人评估 ROI。"),
        _no("zhang.wei", -55, "ROI 不明确，建议先梳理高频问题再评估 / ROI unclear; analyse top questions first."),
    )
    _record(
        ctx,
        "iso",
        p,
        "project",
        "alice",
        -3,
        {
            "name": "ISO 27001 信息安全认证",
            "project_type": "process_improvement",
            "department": "信息安全部 Security",
            "sponsor": "zhang.wei",
            "manager": "alice",
            "objective": "Pass the ISO/IEC 27001 certification audit by the end of Q2 2027.",
            "planned_start": d(10),
            "planned_end": d(200),
            "budget": 450000,
        },
        _ask("approve", "alice", -2, "审计机构已选定，申请立项。"),
    )

    _wbs(
        ctx,
        "wms",
        "li.na",
        [
            _Task("1", "需求与设计 Requirements and design", "management", "li.na", -125, -90, 0, "done"),
            _Task("1.1", "业务流程调研 Process survey", "design", "huang.min", -125, -110, 60, "done", 100),
            _Task("1.2", "系统方案设计 Solution design", "design", "chen.jie", -110, -92, 80, "done", 100),
            _Task("2", "系统实施 Build", "management", "li.na", -90, 10, 0, "in_progress"),
            _Task(
                "2.1", "WMS 配置与开发 WMS configuration", "development", "chen.jie", -90, 5, 240, "in_progress", 70, {"priority": "high"}
            ),
            _Task(
                "2.2",
                "ERP 接口开发 ERP interface",
                "development",
                "zhao.lei",
                -80,
                -5,
                160,
                "in_progress",
                60,
                {"priority": "urgent", "depends_on": ["1.2"], "blocked": True, "blocked_reason": "等待 ERP 供应商提供出库接口文档"},
            ),
            _Task("2.3", "数据迁移 Data migration", "development", "zhao.lei", -40, -4, 40, "in_review", 100, {"helpers": ["huang.min"]}),
            _Task("2.4", "RF 手持终端部署 Handheld scanners", "deployment", "bob", 0, 12, 32, "open"),
            _Task("3", "测试与上线 Test and go-live", "management", "li.na", 5, 30, 0, "open"),
            _Task("3.1", "集成测试 Integration test", "testing", "huang.min", 5, 18, 80, "open", 0, {"depends_on": ["2.1", "2.2"]}),
            _Task("3.2", "用户培训 User training", "documentation", "huang.min", 15, 24, 24, "open"),
            _Task("3.3", "上线切换 Cut-over", "deployment", "chen.jie", 25, 30, 16, "open", 0, {"priority": "high"}),
        ],
    )
    _wbs(
        ctx,
        "dc",
        "alice",
        [
            _Task("1", "Survey and design 勘察设计", "design", "zhao.lei", -220, -190, 120, "done", 100),
            _Task("2", "Migration waves 分批搬迁", "management", "alice", -180, -12, 0, "done"),
            _Task("2.1", "Wave 1: test systems", "deployment", "zhao.lei", -180, -150, 90, "done", 100),
            _Task("2.2", "Wave 2: business systems", "deployment", "chen.jie", -140, -60, 160, "done", 100),
            _Task("2.3", "Wave 3: core ERP and databases", "deployment", "emily", -50, -12, 120, "done", 100),
            _Task("3", "Handover to operations 移交运维", "documentation", "emily", -12, -5, 24, "in_review", 100),
        ],
    )
    _wbs(
        ctx,
        "portal",
        "alice",
        [
            _Task("1", "UX research 用户调研", "design", "emily", -20, 10, 60, "in_progress", 40),
            _Task("2", "Design system 设计规范", "design", "bob", 0, 25, 80, "open"),
            _Task("3", "Order tracking page 订单跟踪页", "development", "emily", 20, 60, 120, "open", 0, {"depends_on": ["2"]}),
        ],
    )

    _record(
        ctx,
        None,
        p,
        "milestone",
        "li.na",
        -128,
        {"name": "方案评审通过 Design approved", "project": "wms", "due_date": d(-92), "owner": "chen.jie"},
        _s("achieve", "li.na", -91, achieved_on=d(-91)),
    )
    _record(
        ctx,
        None,
        p,
        "milestone",
        "li.na",
        -128,
        {"name": "接口联调完成 Interfaces tested", "project": "wms", "due_date": d(-5), "owner": "zhao.lei"},
        _s("miss", "li.na", -4, "ERP 供应商接口文档延迟，预计推迟一周。"),
    )
    _record(
        ctx,
        None,
        p,
        "milestone",
        "li.na",
        -128,
        {
            "name": "系统上线 Go-live",
            "project": "wms",
            "due_date": d(30),
            "owner": "li.na",
            "deliverables": "三个仓库全部切换到 WMS；Excel 台账停用。",
            "is_payment": True,
            "payment_amount": 360000,
        },
    )
    _record(
        ctx,
        None,
        p,
        "milestone",
        "alice",
        -214,
        {"name": "All servers moved 全部设备搬迁完成", "project": "dc", "due_date": d(-12), "owner": "alice"},
        _s("achieve", "alice", -10, achieved_on=d(-10)),
    )
    _record(
        ctx,
        None,
        p,
        "milestone",
        "alice",
        -27,
        {"name": "Design sign-off 设计评审", "project": "portal", "due_date": d(20), "owner": "bob"},
    )
    _record(
        ctx,
        None,
        p,
        "milestone",
        "alice",
        -5,
        {
            "name": "需求规格确认 Requirements sign-off",
            "project": "bank",
            "due_date": d(14),
            "owner": "alice",
            "acceptance_criteria": "客户签字确认需求规格说明书 v1.0。",
            "is_payment": True,
            "payment_amount": 760000,
        },
    )

    _record(
        ctx,
        None,
        p,
        "risk",
        "zhao.lei",
        -30,
        {
            "title": "ERP 供应商接口延期 / ERP vendor late with the interface spec",
            "project": "wms",
            "category": "schedule",
            "cause": "供应商排期紧张，出库接口文档未按时交付。",
            "trigger": "接口文档逾期超过 3 个工作日",
            "probability": 4,
            "impact": 4,
            "owner": "li.na",
            "response_plan": "每周与供应商对齐进度；先用模拟接口开发，文档到位后再联调。",
        },
        _s("plan_response", "li.na", -28, strategy="mitigate", response_due=d(5)),
    )
    _record(
        ctx,
        None,
        p,
        "risk",
        "li.na",
        -100,
        {
            "title": "旺季上线影响发货 / Go-live during peak season disrupts shipping",
            "project": "wms",
            "category": "external",
            "probability": 3,
            "impact": 5,
            "owner": "li.na",
            "strategy": "avoid",
            "response_plan": "上线窗口避开双十一和年货节；切换安排在周末夜间。",
            "contingency": "保留 Excel 台账两周作为回退方案。",
        },
        _s("plan_response", "li.na", -99, response_due=d(-60)),
        _s("monitor", "li.na", -58, "上线日期已调整到 12 月下旬。"),
    )
    _record(
        ctx,
        None,
        p,
        "risk",
        "huang.min",
        -20,
        {
            "title": "关键用户在 UAT 期间离职 / Key user leaves during UAT",
            "project": "wms",
            "category": "resource",
            "probability": 2,
            "impact": 3,
            "owner": "huang.min",
        },
    )
    _record(
        ctx,
        None,
        p,
        "risk",
        "alice",
        -200,
        {
            "title": "Power outage during a migration wave 搬迁期间断电",
            "project": "dc",
            "category": "technical",
            "probability": 2,
            "impact": 5,
            "owner": "zhao.lei",
            "contingency": "Rent a diesel generator for each wave weekend.",
        },
        _s("plan_response", "alice", -198, strategy="transfer", response_plan="Generator rental contract with SLA.", response_due=d(-150)),
        _s("occur", "zhao.lei", -45, occurred_on=d(-45), actual_impact="Grid maintenance moved wave 3 by one week; no data loss."),
        _s("close", "alice", -30, "Wave 3 completed; risk no longer applies."),
    )
    _record(
        ctx,
        None,
        p,
        "risk",
        "alice",
        -4,
        {
            "title": "客户需求频繁变更 / Frequent requirement changes from the customer",
            "project": "bank",
            "category": "quality",
            "probability": 4,
            "impact": 3,
            "owner": "alice",
        },
    )

    _record(
        ctx,
        None,
        p,
        "change_request",
        "li.na",
        -40,
        {
            "title": "增加冷链仓库区域 / Add the cold-chain zone",
            "project": "wms",
            "urgency": "urgent",
            "impact_areas": ["scope", "schedule", "cost"],
            "description": "业务新增生鲜品类，需要在嘉兴仓增加冷链库位管理。",
            "reason": "销售部 11 月起上线生鲜业务。",
            "scope_impact": "新增冷链库区、温度记录字段和两张报表。",
            "schedule_delta_days": 15,
            "cost_delta": 180000,
        },
        _s("submit", "li.na", -39),
        _ask("approve", "li.na", -38, "重大变更：成本 +18 万，工期 +15 天。"),
        _yes("wang.fang", -37),
        _yes("chen.jie", -36, "技术上可行，冷链库位复用现有库位模型。"),
        _yes("huang.min", -35),
        _yes("zhang.wei", -33, "业务必需，同意；上线日期顺延 15 天。"),
    )
    _record(
        ctx,
        None,
        p,
        "change_request",
        "bob",
        -30,
        {
            "title": "RF 终端更换型号 / Switch the handheld scanner model",
            "project": "wms",
            "impact_areas": ["cost"],
            "description": "原型号停产，改用新型号，单价上涨。",
            "reason": "供应商通知原型号停产。",
            "cost_delta": 12000,
        },
        _s("submit", "bob", -29),
        _ask("approve", "li.na", -28),
        _yes("wang.fang", -27, "金额在 PMO 权限内，同意。"),
        _yes("huang.min", -27),
        _yes("chen.jie", -26),
        _s("implement", "li.na", -15, implemented_on=d(-15)),
    )
    _record(
        ctx,
        None,
        p,
        "change_request",
        "alice",
        -9,
        {
            "title": "Extra UPS capacity 增加 UPS 容量",
            "project": "dc",
            "impact_areas": ["cost"],
            "description": "Add a 200 kVA UPS module for the new racks.",
            "reason": "Load test showed 85 % UPS utilisation.",
            "cost_delta": 65000,
        },
        _s("submit", "alice", -8),
        _ask("approve", "alice", -7, "Major: ¥65,000."),
        _yes("wang.fang", -6, "同意，UPS 负载已超 80%。"),
        _yes("chen.jie", -5),
    )
    _record(
        ctx,
        None,
        p,
        "change_request",
        "emily",
        -2,
        {
            "title": "Add an English version 增加英文版",
            "project": "portal",
            "impact_areas": ["scope", "schedule"],
            "description": "Overseas customers ask for an English portal.",
            "scope_impact": "All pages and e-mails in English; translation by the marketing team.",
            "schedule_delta_days": 8,
        },
    )
    _record(
        ctx,
        None,
        p,
        "change_request",
        "alice",
        -3,
        {
            "title": "增加微信小程序端 / Add a WeChat mini-program",
            "project": "bank",
            "impact_areas": ["scope", "cost", "schedule"],
            "description": "客户希望同步推出小程序版本。",
            "reason": "客户市场部需求。",
            "scope_impact": "新增小程序端三大模块。",
            "schedule_delta_days": 40,
            "cost_delta": 900000,
        },
        _s("submit", "alice", -2),
        _s("reject", "zhang.wei", -1, "超出合同范围，请走新合同流程 / Out of contract scope; handle as a new contract."),
    )

    _record(
        ctx,
        None,
        p,
        "status_report",
        "li.na",
        -10,
        {
            "title": "WMS 项目周报 W46",
            "project": "wms",
            "report_date": d(-10),
            "overall": "amber",
            "schedule_status": "amber",
            "cost_status": "green",
            "quality_status": "green",
            "summary": "WMS 配置完成 70%；ERP 接口因供应商文档延迟受阻。",
            "next_steps": "催办接口文档；数据迁移提交评审。",
            "issues": [
                {"issue": "ERP 出库接口文档未交付", "owner": "li.na", "due": d(-5), "resolved": False},
                {"issue": "嘉兴仓 RF 信号覆盖测试", "owner": "bob", "due": d(-3), "resolved": True},
            ],
        },
        _s("publish", "li.na", -10),
    )
    _record(
        ctx,
        None,
        p,
        "status_report",
        "li.na",
        -1,
        {
            "title": "WMS 项目周报 W47",
            "project": "wms",
            "report_date": d(-1),
            "overall": "amber",
            "schedule_status": "amber",
            "summary": "Interface spec still missing; one more developer joined. 冷链变更已批准。",
            "issues": [{"issue": "ERP 出库接口文档未交付（第二周）", "owner": "li.na", "due": d(2)}],
        },
    )
    _record(
        ctx,
        None,
        p,
        "status_report",
        "alice",
        -7,
        {
            "title": "DC relocation – final report",
            "project": "dc",
            "report_date": d(-7),
            "summary": "All three waves done; 4.2 % over budget (generator rental), inside the ±5 % tolerance.",
        },
        _s("publish", "alice", -7),
    )


# -- the operations app ----------------------------------------------------------------------


def _operations_demo(ctx: _Ctx) -> None:
    d, ts = ctx.d, ctx.ts
    o = "operations"

    _record(
        ctx,
        "pay",
        o,
        "incident",
        "liu.yang",
        ts(-2, "20:15"),
        {
            "title": "支付网关超时 / Payment gateway timeouts",
            "severity": "sev1",
            "impact": "company",
            "services": ["payments", "website"],
            "affected_users": 12000,
            "started_at": ts(-2, "20:05"),
            "detected_at": ts(-2, "20:12"),
        },
        _s("acknowledge", "sun.li", ts(-2, "20:16"), commander="sun.li", responders=["zhao.lei", "chen.jie"]),
        _s("mitigate", "zhao.lei", ts(-2, "21:30"), workaround="切换到备用支付通道；限流非核心接口。"),
        _s(
            "resolve",
            "zhao.lei",
            ts(-2, "22:45"),
            resolved_at=ts(-2, "22:41"),
            updates="20:05 告警；20:16 拉起故障群；21:30 切备用通道；22:41 恢复。",
        ),
    )
    _record(
        ctx,
        "mesdb",
        o,
        "incident",
        "chen.jie",
        ts(-20, "03:10"),
        {
            "title": "MES 数据库主从切换失败 / MES database failover failed",
            "severity": "sev2",
            "impact": "department",
            "services": ["mes", "database"],
            "started_at": ts(-20, "02:40"),
            "detected_at": ts(-20, "03:05"),
            "commander": "sun.li",
        },
        _s("acknowledge", "chen.jie", ts(-20, "03:12")),
        _s("resolve", "chen.jie", ts(-20, "06:05"), resolved_at=ts(-20, "06:00")),
        _ask(
            "close",
            "chen.jie",
            -16,
            "复盘会已开，申请关闭。",
            root_cause_category="change",
            root_cause="上周数据库参数变更未同步到从库，导致切换后连接数耗尽。",
            corrective_actions="1. 参数变更纳入变更评审检查表\n2. 每月一次主从切换演练",
        ),
        _yes("sun.li", -15, "复盘到位，同意关闭 / Review is complete."),
    )
    _record(
        ctx,
        None,
        o,
        "incident",
        "liu.yang",
        ts(-45, "09:20"),
        {
            "title": "Core switch port flapping 核心交换机端口抖动",
            "severity": "sev2",
            "impact": "multiple_departments",
            "services": ["network", "email"],
            "affected_users": 300,
            "started_at": ts(-45, "09:05"),
            "detected_at": ts(-45, "09:15"),
            "commander": "zhao.lei",
        },
        _s("acknowledge", "zhao.lei", ts(-45, "09:22")),
        _s("resolve", "zhao.lei", ts(-45, "11:00"), resolved_at=ts(-45, "10:48")),
        _ask(
            "close",
            "zhao.lei",
            -41,
            root_cause_category="hardware",
            root_cause="Faulty optical module on uplink 2.",
            corrective_actions="Replaced module; added optical power to monitoring.",
        ),
        _yes("sun.li", -40),
    )
    _record(
        ctx,
        None,
        o,
        "incident",
        "emily",
        ts(-1, "16:20"),
        {
            "title": "邮件投递延迟 / Email delivery delays",
            "severity": "sev3",
            "impact": "multiple_departments",
            "services": ["email"],
            "started_at": ts(-1, "15:50"),
            "detected_at": ts(-1, "16:10"),
            "commander": "emily",
        },
        _s("acknowledge", "emily", ts(-1, "16:25")),
    )
    _record(
        ctx,
        None,
        o,
        "incident",
        "liu.yang",
        ts(-6, "14:00"),
        {
            "title": "Disk usage alert on file server 文件服务器磁盘告警",
            "severity": "sev4",
            "impact": "individual",
            "services": ["database"],
            "started_at": ts(-6, "13:55"),
        },
        _s("false_alarm", "chen.jie", ts(-6, "14:30"), "监控阈值配置错误，实际使用率 62%。"),
    )
    _record(
        ctx,
        None,
        o,
        "incident",
        "liu.yang",
        ts(0, "08:50"),
        {
            "title": "官网访问缓慢 / Website slow to load",
            "severity": "sev3",
            "impact": "company",
            "services": ["website"],
            "started_at": ts(0, "08:30"),
        },
    )

    def ticket(day: int, requester: str, values: Mapping[str, Any], *steps: _Step) -> None:
        _record(ctx, None, o, "ticket", requester, ts(day, "09:30"), {"requester": requester, **values}, *steps)

    def assign(day: int, assignee: str, group: str, priority: str, hours: int) -> _Step:
        return _s(
            "assign",
            "liu.yang",
            ts(day, "09:45"),
            assignee=assignee,
            support_group=group,
            priority=priority,
            sla_due=ts(day, "09:30") + dt.timedelta(hours=hours),
        )

    ticket(
        0,
        "david",
        {"title": "在家无法连接 VPN / Cannot connect to VPN from home", "category": "network", "description": "提示证书过期，错误码 809。"},
    )
    ticket(
        -1,
        "huang.min",
        {"title": "新员工开通邮箱和 ERP 账号", "category": "access", "description": "新同事下周一入职（供应链部），需邮箱、ERP 只读权限。"},
        assign(-1, "chen.jie", "application", "p4", 72),
    )
    ticket(
        0,
        "bob",
        {
            "title": "Projector in meeting room 3A shows no signal",
            "category": "hardware",
            "description": "HDMI and wireless casting both fail.",
        },
        assign(0, "emily", "desktop", "p3", 24),
        _s("start", "emily", ts(0, "11:00")),
    )
    ticket(
        -3,
        "david",
        {"title": "ERP 报表导出 Excel 乱码", "category": "software", "description": "导出的应收账款报表中文显示为乱码。"},
        assign(-3, "chen.jie", "application", "p3", 24),
        _s("start", "chen.jie", ts(-3, "10:30")),
        _s("wait_for_requester", "chen.jie", ts(-3, "11:00"), "请提供出现乱码的报表名称和截图。"),
    )
    ticket(
        -2,
        "alice",
        {"title": "5 楼打印机卡纸 / Printer jam on 5F", "category": "hardware", "description": "HP M480 keeps jamming on tray 2."},
        assign(-2, "emily", "desktop", "p4", 72),
        _s("start", "emily", ts(-2, "13:00")),
        _s("resolve", "emily", ts(-2, "14:10"), resolution_code="fixed", resolution="更换 2 号纸盒搓纸轮。", resolved_at=ts(-2, "14:05")),
    )
    ticket(
        -12,
        "li.na",
        {
            "title": "笔记本电脑蓝屏 / Laptop blue screen",
            "category": "hardware",
            "description": "开机 10 分钟左右蓝屏，代码 MEMORY_MANAGEMENT。",
        },
        assign(-12, "emily", "desktop", "p2", 8),
        _s("start", "emily", ts(-12, "10:00")),
        _s(
            "resolve",
            "emily",
            ts(-12, "15:20"),
            resolution_code="fixed",
            resolution="更换内存条并做了系统检测。",
            resolved_at=ts(-12, "15:15"),
        ),
        _s("confirm", "li.na", ts(-11, "09:10"), "很快，谢谢！", satisfaction=5),
    )
    ticket(
        -9,
        "david",
        {
            "title": "七楼无线网络很慢 / Wi-Fi very slow on 7F",
            "category": "network",
            "description": "Speed test shows 3 Mbps near the finance area.",
        },
        assign(-9, "zhao.lei", "network", "p3", 24),
        _s("start", "zhao.lei", ts(-9, "10:30")),
        _s(
            "resolve",
            "zhao.lei",
            ts(-9, "16:00"),
            resolution_code="workaround",
            resolution="调整信道，临时缓解。",
            resolved_at=ts(-9, "15:50"),
        ),
        _s("reopen", "david", ts(-8, "10:00"), "第二天又很慢 / Slow again the next morning."),
        _s(
            "resolve",
            "zhao.lei",
            ts(-6, "17:00"),
            resolution_code="fixed",
            resolution="Added two access points (Wi-Fi refresh project).",
            resolved_at=ts(-6, "16:45"),
        ),
        _s("confirm", "david", ts(-5, "09:00"), satisfaction=2, feedback="Took four days and two visits; please test before closing."),
    )
    ticket(
        -4,
        "bob",
        {"title": "申请 Visio 软件许可 / Visio licence", "category": "software", "description": "需要画流程图。"},
        _s("cancel", "bob", ts(-4, "15:00"), "已改用在线绘图工具 / Using an online tool instead."),
    )
    ticket(
        -14,
        "david",
        {"title": "投诉：电脑维修响应太慢 / Complaint: slow laptop repair", "category": "complaint", "description": "报修三天无人联系。"},
        assign(-14, "liu.yang", "desktop", "p2", 8),
        _s("start", "liu.yang", ts(-14, "10:00")),
        _s(
            "resolve",
            "liu.yang",
            ts(-14, "12:00"),
            resolution_code="fulfilled",
            resolution="已致电道歉并安排当天上门；服务台增加报修回访。",
            resolved_at=ts(-14, "11:50"),
        ),
        _s("close", "liu.yang", ts(-10, "18:00"), "用户未在 3 个工作日内确认，按流程关闭。"),
    )
    ticket(
        -2,
        "alice",
        {
            "title": "门店收银无法支付 / Store POS cannot take payments",
            "category": "software",
            "description": "上海 3 家门店扫码支付全部失败。",
        },
        _s(
            "assign",
            "liu.yang",
            ts(-2, "20:20"),
            assignee="zhao.lei",
            support_group="application",
            priority="p1",
            sla_due=ts(-2, "23:59"),
            related_incident="pay",
        ),
        _s("start", "zhao.lei", ts(-2, "20:25")),
        _s(
            "reassign",
            "zhao.lei",
            ts(-2, "21:00"),
            "转支付组二线处理 / escalated to payments L2",
            assignee="chen.jie",
            support_group="application",
        ),
        _s("start", "chen.jie", ts(-2, "21:05")),
    )

    kpi_owner = "sun.li"

    def kpi(ref: str | None, day: int, values: Mapping[str, Any], *steps: _Step) -> None:
        _record(ctx, ref, o, "kpi", kpi_owner, day, {"owner": kpi_owner, **values}, *steps)

    kpi(
        None,
        -53,
        {
            "name": "核心系统可用性 Core system availability",
            "category": "availability",
            "period": "2026-10",
            "unit": "%",
            "target": 99.9,
            "tolerance": 0.1,
            "data_source": "Zabbix 月报",
        },
        _s("submit", "zhao.lei", -22, actual=99.95),
        _s("review", "sun.li", -20),
    )
    kpi(
        "avail",
        -23,
        {
            "name": "核心系统可用性 Core system availability",
            "category": "availability",
            "period": "2026-11",
            "unit": "%",
            "target": 99.9,
            "tolerance": 0.1,
            "data_source": "Zabbix 月报",
        },
        _s("submit", "zhao.lei", -1, actual=99.62),
        _s("edit", "sun.li", -1, analysis="11 月支付网关一级故障中断 2.6 小时，已开立改进事项。"),
    )
    kpi(
        "sla",
        -53,
        {
            "name": "工单 SLA 达成率 Ticket SLA attainment",
            "category": "service",
            "period": "2026-10",
            "unit": "%",
            "target": 95,
            "data_source": "Flowdeck tickets",
        },
        _s("submit", "liu.yang", -22, actual=91.3),
        _s("edit", "sun.li", -21, analysis="P3 网络类工单积压；夜班无网络工程师。"),
        _s("review", "sun.li", -20, "已开立改进事项 / improvement item opened."),
    )
    kpi(
        None,
        -80,
        {"name": "平均故障恢复时间 MTTR", "category": "performance", "period": "2026-Q3", "unit": "h", "direction": "lower", "target": 4},
        _s("submit", "zhao.lei", -50, actual=2.6),
        _s("review", "sun.li", -48),
    )
    kpi(
        None,
        -53,
        {"name": "用户满意度 User satisfaction", "category": "satisfaction", "period": "2026-10", "unit": "分 / 5", "target": 4.5},
        _s("submit", "liu.yang", -22, actual=4.6),
    )
    kpi(
        "cost",
        -80,
        {
            "name": "人均 IT 运维成本 IT run cost per employee",
            "category": "cost",
            "period": "2026-Q3",
            "unit": "元/人/月",
            "direction": "lower",
            "target": 850,
        },
        _s("submit", "sun.li", -50, actual=910),
        _s("edit", "sun.li", -49, analysis="云资源闲置实例较多，约占云费用 18%。"),
        _s("review", "sun.li", -48),
    )
    kpi(None, -23, {"name": "首次解决率 First-contact resolution", "category": "service", "period": "2026-11", "unit": "%", "target": 70})

    _record(
        ctx,
        None,
        o,
        "improvement",
        "sun.li",
        -100,
        {
            "title": "服务台知识库建设 / Service desk knowledge base",
            "owner": "sun.li",
            "team": ["liu.yang", "emily"],
            "problem": "同类问题反复升级到二线，首次解决率只有 52%。",
            "goal": "首次解决率 ≥ 65%",
            "baseline": 52,
            "target_value": 65,
            "plan": "梳理前 100 个高频问题，编写标准答复。",
            "actions": [{"action": "导出近一年工单并聚类", "owner": "liu.yang", "due": d(-95), "done": True}],
        },
        _s("start", "sun.li", -90),
        _s("to_check", "emily", -60, do_log="整理 120 篇知识文章；服务台按知识库回复。"),
        _s("to_act", "sun.li", -45, result_value=68, effective="yes", check_notes="首次解决率从 52% 提升到 68%。"),
        _s("close", "sun.li", -40, standardization="知识文章纳入工单解决流程：解决后必须关联或新建文章。"),
    )
    sla_actions = [
        {"action": "调整夜班排班", "owner": "sun.li", "due": d(-12), "done": True},
        {"action": "配置超时提醒", "owner": "liu.yang", "due": d(-10), "done": True},
    ]
    _record(
        ctx,
        None,
        o,
        "improvement",
        "sun.li",
        -19,
        {
            "title": "工单 SLA 达成率提升 / Raise ticket SLA attainment",
            "kpi": "sla",
            "owner": "sun.li",
            "team": ["liu.yang", "zhao.lei"],
            "problem": "10 月 SLA 达成率 91.3%，低于 95% 目标；P3 网络类工单积压。",
            "goal": "SLA 达成率回到 95% 以上",
            "baseline": 91.3,
            "target_value": 95,
            "plan": "夜班增加网络值守；P3 工单 4 小时未响应自动提醒。",
            "actions": sla_actions,
        },
        _s("start", "sun.li", -18),
        _s("to_check", "zhao.lei", -8, do_log="Night shift covered since day -12; reminder live since day -10."),
        _s("to_act", "sun.li", -6, result_value=92.1, effective="no", check_notes="提醒生效，但积压源于网络组人手不足，效果不明显。"),
        _s("next_cycle", "sun.li", -5, "第二轮：从其他组借调一名网络工程师 / second cycle: borrow a network engineer."),
        _s("edit", "sun.li", -5, actions=[*sla_actions, {"action": "借调一名网络工程师", "owner": "sun.li", "due": d(3)}]),
        _s("start", "sun.li", -4),
    )
    _record(
        ctx,
        None,
        o,
        "improvement",
        "zhao.lei",
        -18,
        {
            "title": "MES 数据库高可用整改 / MES database HA fixes",
            "incident": "mesdb",
            "owner": "zhao.lei",
            "problem": "主从切换失败导致 MES 中断 3 小时。",
            "goal": "Failover under 5 minutes, tested monthly",
            "baseline": 200,
            "target_value": 5,
            "plan": "参数变更检查表 + 月度切换演练。",
            "actions": [{"action": "Write the parameter checklist", "owner": "zhao.lei", "due": d(-10), "done": True}],
        },
        _s("start", "zhao.lei", -16),
        _s("to_check", "zhao.lei", -9, do_log="Checklist in use; first drill on day -9."),
        _s("to_act", "sun.li", -7, result_value=12, effective="partly", check_notes="切换耗时 12 分钟，未达 5 分钟目标。"),
    )
    _record(
        ctx,
        None,
        o,
        "improvement",
        "sun.li",
        -45,
        {
            "title": "云资源治理降本 / Cloud cost clean-up",
            "kpi": "cost",
            "owner": "sun.li",
            "team": ["chen.jie"],
            "problem": "人均运维成本 910 元，超目标 7%。",
            "goal": "Back under 850 per employee per month",
            "baseline": 910,
            "target_value": 850,
            "plan": "关停闲置实例，预留实例覆盖稳定负载。",
            "actions": [{"action": "List idle instances 清点闲置实例", "owner": "chen.jie", "due": d(-35), "done": True}],
        },
        _s("start", "sun.li", -40),
        _s("to_check", "chen.jie", -3, do_log="Stopped 37 idle instances; bought 1-year reserved capacity for databases."),
    )
    _record(
        ctx,
        None,
        o,
        "improvement",
        "sun.li",
        -1,
        {
            "title": "缩短支付链路故障恢复时间 / Faster recovery on the payment path",
            "kpi": "avail",
            "incident": "pay",
            "owner": "sun.li",
            "team": ["zhao.lei", "chen.jie"],
            "problem": "11 月支付网关一级故障，恢复用时 2.6 小时，可用性跌到 99.62%。",
            "goal": "支付故障 30 分钟内切换备用通道",
            "plan": "备用通道自动切换；支付链路全链路监控。",
            "actions": [
                {"action": "评估自动切换方案", "owner": "zhao.lei", "due": d(7)},
                {"action": "Add end-to-end payment probes", "owner": "chen.jie", "due": d(10)},
            ],
        },
    )
    _ops_changes(ctx)
    _purchase_requests(ctx)


def _ops_changes(ctx: _Ctx) -> None:
    """Changes to production: the operations manager approves each, the CAB countersigns the
    high-risk ones (sun.li sits on the CAB too, so her second decision is de-duplicated)."""
    ts = ctx.ts
    o = "operations"

    def change(by: str, at: float, values: Mapping[str, Any], *steps: _Step) -> None:
        _record(ctx, None, o, "ops_change", by, at, {"requested_by": by, **values}, *steps)

    change(
        "chen.jie",
        -31,
        {
            "title": "监控代理升级 / Upgrade the Zabbix agents",
            "change_type": "normal",
            "services": ["database", "erp"],
            "risk_level": "low",
            "implementer": "chen.jie",
            "description": "Zabbix agent 5.0 is end of life; move all 140 hosts to 6.0.",
            "plan": "分三批升级，每批 50 台；升级后检查数据上报。",
            "rollback_plan": "Reinstall the 5.0 package from the local mirror (5 minutes per batch).",
            "window_start": ctx.planned(-25, "20:00"),
            "window_end": ctx.planned(-25, "23:00"),
        },
        _ask("schedule", "chen.jie", -30),
        _yes("sun.li", -29, "低风险，同意。"),
        _s("start", "chen.jie", ts(-25, "20:00")),
        _s("complete", "chen.jie", ts(-25, "22:40"), implemented_at=ts(-25, "22:30"), result_note="140 台全部升级，数据上报正常。"),
    )
    change(
        "zhao.lei",
        -12,
        {
            "title": "MES 数据库参数修正与切换演练 / MES database parameter fix and failover drill",
            "change_type": "normal",
            "services": ["mes", "database"],
            "risk_level": "high",
            "implementer": "zhao.lei",
            "related_incident": "mesdb",
            "description": "同步主从参数并做一次计划内主从切换，验证切换时间。",
            "plan": "1. 从库参数对齐\n2. 22:00 停产窗口内手工切换\n3. 验证 MES 连接\n4. 切回主库",
            "rollback_plan": "切换失败时立即切回原主库；MES 停产窗口保留 2 小时余量。",
            "window_start": ctx.planned(-9, "22:00"),
            "window_end": ctx.planned(-9, "23:59"),
        },
        _ask("schedule", "zhao.lei", -11, "高风险：涉及生产 MES。"),
        _yes("sun.li", -10),
        _yes("zhang.wei", -10, "同意，须生产部确认停产窗口。"),
        _yes("chen.jie", -9.8),
        _s("start", "zhao.lei", ts(-9, "22:00")),
        _s(
            "complete",
            "zhao.lei",
            ts(-9, "23:50"),
            implemented_at=ts(-9, "23:40"),
            result_note="Failover took 12 minutes; target is 5 (see the improvement item).",
        ),
    )
    change(
        "zhao.lei",
        -1,
        {
            "title": "支付备用通道自动切换上线 / Automatic failover to the backup payment channel",
            "change_type": "normal",
            "services": ["payments", "website"],
            "risk_level": "high",
            "implementer": "zhao.lei",
            "related_incident": "pay",
            "description": "网关健康检查连续失败 3 次时自动切换到备用支付通道。",
            "plan": "灰度 10% 流量一小时，观察成功率后全量。",
            "rollback_plan": "关闭自动切换开关，恢复人工切换（1 分钟）。",
            "window_start": ctx.planned(3, "01:00"),
            "window_end": ctx.planned(3, "03:00"),
        },
        _ask("schedule", "zhao.lei", 0, "P1 故障整改项。"),
    )
    change(
        "liu.yang",
        -2,
        {
            "title": "VPN 服务器证书更换 / Renew the VPN server certificate",
            "change_type": "standard",
            "services": ["vpn"],
            "risk_level": "low",
            "description": "证书下周到期，已有用户报错 809。",
        },
    )


def _purchase_requests(ctx: _Ctx) -> None:
    """Purchase requests routed by their total: the requester's department head always,
    finance over ¥10,000, the general manager over ¥100,000."""
    d = ctx.d
    o = "operations"

    def purchase(by: str, at: float, values: Mapping[str, Any], *steps: _Step) -> None:
        _record(ctx, None, o, "purchase_request", by, at, {"requester": by, **values}, *steps)

    memory = {"item": "服务器内存 32GB DDR4 RDIMM", "spec": "Samsung M393A4K40EB3", "unit": "条", "unit_price": "1600.00"}
    purchase(
        "chen.jie",
        -11,
        {
            "title": "虚拟化集群内存扩容 / Memory for the virtualisation cluster",
            "category": "hardware",
            "needed_by": d(10),
            "supplier": "京东企业购",
            "justification": "集群内存使用率 88%，无法再承载新业务虚拟机。",
            "items": [{**memory, "quantity": "8"}],
        },
        _ask("submit", "chen.jie", -10),
        _yes("sun.li", -9, "扩容必要，同意。"),
        _no("qian.hui", -8, "请补充三家比价，并确认是否可以先扩容 6 条 / Please add three quotes; can 6 modules do?"),
        _s(
            "edit",
            "chen.jie",
            -7,
            justification="集群内存使用率 88%。三家比价：京东 1600、联强 1680、神州 1720；先扩容 6 条。",
            items=[{**memory, "quantity": "6"}],
        ),
        _ask("submit", "chen.jie", -7, "已按财务意见调整为 6 条，附三家比价。"),
    )
    purchase(
        "david",
        -20,
        {
            "title": "仓库办公椅更换 / Office chairs for the warehouse office",
            "category": "office",
            "supplier": "得力办公",
            "items": [{"item": "人体工学椅", "unit": "把", "quantity": "6", "unit_price": "400.00"}],
        },
        _ask("submit", "david", -19),
        _yes("huang.min", -18),
        _s("order", "qian.hui", -16, order_no="PO-2026-1103", ordered_on=d(-16)),
    )
    purchase(
        "li.na",
        -30,
        {
            "title": "手机银行项目开发笔记本 / Laptops for the mobile banking project",
            "category": "hardware",
            "needed_by": d(-15),
            "supplier": "联想企业购",
            "items": [{"item": "ThinkPad T14", "spec": "i7 / 32GB / 1TB", "unit": "台", "quantity": "3", "unit_price": "8999.00"}],
        },
        _ask("submit", "li.na", -29, "三名新增开发人员使用。"),
        _yes("zhang.wei", -28),
        _yes("qian.hui", -27),
        _s("order", "qian.hui", -26, order_no="PO-2026-1087", ordered_on=d(-26)),
        _s("receive", "li.na", -20, received_on=d(-20)),
    )
    purchase(
        "zhao.lei",
        -6,
        {
            "title": "核心交换机更换 / Replace the core switches",
            "category": "hardware",
            "needed_by": d(45),
            "supplier": "华为授权代理商",
            "justification": "现有核心交换机已停保，上月端口抖动导致二级故障。",
            "items": [
                {"item": "核心交换机 CE6881", "unit": "台", "quantity": "2", "unit_price": "86000.00"},
                {"item": "光模块 100G", "unit": "个", "quantity": "8", "unit_price": "1750.00"},
            ],
        },
        _ask("submit", "zhao.lei", -5),
        _yes("sun.li", -4, "同意，纳入网络改造预算。"),
        _yes("qian.hui", -3, "预算内，财务审核通过。"),
    )
