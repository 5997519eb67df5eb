"""Scenario S6 of shared/examples/purchase-expense-approval.md (expense claim: approver from
a user field, finance or-sign with the employee excluded, GM step above 20,000, partial
sanction per line, cashier pays) written in Flowdeck's schema language, as far as it goes.

Where the language cannot say what the example says, the tests pin down what Flowdeck does
instead (each such test says so in its question):
- the example moves the claim through one state per step (manager_approval, finance_review,
  gm_approval); an approval here keeps the claim in `draft` until the last step approves,
  then runs `submit` to `unpaid`;
- `expense_approver` cannot default from the employee's HR record (users have no such
  attribute, and a user field's only default is "me"); when it is empty the step escalates to
  the employee's department head, which is where the example's approver sits;
- "expense_approver != employee" is not a field constraint: saving it is accepted and the
  step then skips the employee (self-approval is off) and escalates to the superior;
- "receipt required when amount > 200" is `required_if` on the line, which holds on every
  save, not only at submit: the claim cannot be saved (even as a draft) without it;
- "sanctioned amount defaults to amount" and "at most amount" have no per-line expression:
  a line formula `coalesce(sanctioned_amount, amount)` gives the default, nothing bounds it;
- "editable only by finance in finance_review": field rules name top-level fields and
  roles, not line fields or approval steps, so any member may edit a line's sanction; the
  freeze while pending is on `total_claimed`, which stops amount changes but not sanctions;
- the GM step's `when` is evaluated at submit, so it routes on the total claimed, not on
  the total sanctioned finance arrives at later;
- "employee notified when finance reduces a line" has no notification rule to express it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from flowdeck.engine import approvals, clock, files, history, notifications, org, records, users, workflow
from flowdeck.engine.errors import Forbidden, RecordInvalid, TransitionRefused
from tests.support.records import english_errors

LINE_FIELDS = {
    "expense_date": {"type": "date", "required": True, "max": "today", "label": {"en": "Date", "zh": "费用日期"}},
    "expense_type": {
        "type": "select",
        "required": True,
        "label": {"en": "Type", "zh": "费用类型"},
        "options": ["travel", "accommodation", "meals", "local", "office", "other"],
    },
    "description": {"type": "text", "required": True, "label": {"en": "Description", "zh": "说明"}},
    "amount": {"type": "money", "required": True, "min": 0.01, "label": {"en": "Amount", "zh": "金额"}},
    "receipt": {"type": "attachment", "required_if": "amount > 200", "label": {"en": "Receipt", "zh": "票据"}},
    "sanctioned_amount": {"type": "money", "min": 0, "label": {"en": "Sanctioned", "zh": "核准金额"}},
    "sanction_comment": {
        "type": "text",
        "required_if": "coalesce(sanctioned_amount, amount) < amount",
        "label": {"en": "Reduction reason", "zh": "核减说明"},
    },
    "approved_amount": {"type": "computed", "formula": "coalesce(sanctioned_amount, amount)", "result": "money"},
}

EXPENSE = {
    "key": "expense",
    "label": {"en": "Expenses", "zh": "费用报销"},
    "roles": {r: {} for r in ("staff", "dept_manager", "finance_approver", "cashier", "general_manager")},
    "entities": {
        "claim": {
            "label": {"en": "Expense Claim", "zh": "费用报销"},
            "title": "claim_no",
            "fields": {
                "claim_no": {"type": "autonumber", "format": "BX-{YYYY}-{#####}", "label": {"en": "Claim No.", "zh": "报销单号"}},
                "employee": {"type": "user", "default": "me", "read_only": True, "label": {"en": "Employee", "zh": "报销人"}},
                "expense_approver": {"type": "user", "label": {"en": "Expense Approver", "zh": "报销审批人"}},
                "lines": {"type": "table", "required": True, "min_rows": 1, "fields": LINE_FIELDS, "label": {"en": "Expenses"}},
                "total_claimed": {"type": "computed", "formula": "sum(lines.amount)", "result": "money"},
                "total_sanctioned": {"type": "computed", "formula": "sum(lines.approved_amount)", "result": "money"},
                "paid_on": {"type": "date", "label": {"en": "Paid On", "zh": "付款日期"}},
                "payment_ref": {"type": "text", "label": {"en": "Payment Ref", "zh": "付款流水号"}},
            },
            "workflow": {
                "states": {
                    "draft": {"category": "todo"},
                    "unpaid": {"category": "doing", "label": {"en": "Approved – Unpaid", "zh": "待付款"}},
                    "paid": {"category": "done"},
                    "cancelled": {"category": "done"},
                },
                "transitions": [
                    {
                        "key": "submit",
                        "from": "draft",
                        "to": "unpaid",
                        "roles": ["staff", "dept_manager", "finance_approver"],
                        "approval": {
                            "steps": [
                                {"key": "manager", "label": {"en": "Expense approver"}, "approvers": {"field": "expense_approver"}},
                                {"key": "finance", "label": {"en": "Finance review"}, "approvers": {"role": "finance_approver"}},
                                {
                                    "key": "gm",
                                    "label": {"en": "General manager"},
                                    "approvers": {"role": "general_manager"},
                                    "when": "total_claimed > 20000",
                                },
                            ],
                            "while_pending": {"frozen": ["employee", "expense_approver", "total_claimed"]},
                        },
                    },
                    {"key": "pay", "from": "unpaid", "to": "paid", "roles": ["cashier"], "require": ["paid_on", "payment_ref"]},
                    {"key": "cancel", "from": "draft", "to": "cancelled"},
                ],
                "rules": [
                    {"states": ["paid"], "required": ["paid_on", "payment_ref"]},
                    {"states": ["unpaid", "paid", "cancelled"], "read_only": ["lines", "expense_approver"]},
                ],
            },
        }
    },
}

PEOPLE = {
    "alice": ["staff"],
    "bob": ["dept_manager", "staff"],
    "carol": ["dept_manager", "finance_approver"],
    "dave": ["finance_approver"],
    "tina": ["cashier"],
    "erin": ["general_manager"],
    "grace": ["staff"],
}


@pytest.fixture
def held_clock():
    """The clock held at the moment the test starts: the test's "today" and the engine's
    (date defaults, `max: today`, the claim number's year) are the same day, even when
    the run crosses Shanghai midnight (16:00 UTC)."""
    clock.set_now(clock.now())
    yield clock.today()
    clock.set_now(None)


@pytest.fixture
def office(install, db, held_clock):
    """The example's organisation: R&D (Bob), Finance (Carol), Marketing (vacant) under Company (Erin)."""
    registry = install(EXPENSE)
    ids: dict[str, int] = {}

    def setup(conn):
        for name, roles in PEOPLE.items():
            ids[name] = users.create_user(conn, name, password="password123", display_name=name.title())
            for role in roles:
                users.grant_role(conn, ids[name], "expense", role)
        company = org.create_department(conn, "company", "Company", name_zh="公司", head_id=ids["erin"])
        rnd = org.create_department(conn, "rnd", "R&D", name_zh="研发部", parent_id=company, head_id=ids["bob"])
        fin = org.create_department(conn, "fin", "Finance", name_zh="财务部", parent_id=company, head_id=ids["carol"])
        mkt = org.create_department(conn, "mkt", "Marketing", name_zh="市场部", parent_id=company)
        for name, dept in {"alice": rnd, "bob": rnd, "carol": fin, "dave": fin, "tina": fin, "erin": company, "grace": mkt}.items():
            org.place_user(conn, ids[name], department_id=dept, manager_id=None)

    db.run(setup)
    return Office(db, registry.entity("expense", "claim"), ids, held_clock)


class Office:
    def __init__(self, db: Any, et: Any, ids: dict[str, int], today: dt.date) -> None:
        self.db, self.et, self.ids, self.today = db, et, ids, today
        self.names = {v: k for k, v in ids.items()}

    def actor(self, name: str) -> Any:
        return self.db.read(lambda c: users.actor_for(c, self.ids[name]))

    def receipt(self, who: str, name: str) -> int:
        return self.db.run(lambda c: files.add_file(c, filename=name, size=100, sha256="ab" * 32, actor_id=self.ids[who]))

    def line(self, kind: str, description: str, amount: str, receipt: int | None = None, days_ago: int = 3) -> dict[str, Any]:
        row = {"expense_date": str(self.today - dt.timedelta(days=days_ago)), "expense_type": kind, "description": description}
        row["amount"] = amount
        if receipt is not None:
            row["receipt"] = receipt
        return row

    def create(self, who: str, values: dict[str, Any]) -> records.Record:
        actor = self.actor(who)
        return self.db.run(lambda c: records.create_record(c, self.et, values, actor=actor))

    def edit(self, who: str, record_id: int, values: dict[str, Any]) -> records.Record:
        actor = self.actor(who)
        return self.db.run(lambda c: records.update_record(c, self.et, record_id, values, actor=actor, expected_version=None))

    def fetch(self, record_id: int) -> records.Record:
        return self.db.read(lambda c: records.fetch_record(c, self.et, record_id))

    def submit(self, who: str, record_id: int) -> approvals.Outcome:
        actor = self.actor(who)
        return self.db.run(lambda c: approvals.request_approval(c, self.et, record_id, "submit", actor=actor))

    def decide(self, request_id: int, who: str, approve: bool = True, comment: str | None = None) -> approvals.Outcome:
        actor = self.actor(who)
        return self.db.run(lambda c: approvals.decide(c, self.et, request_id, actor=actor, approve=approve, comment=comment))

    def move(self, who: str, record_id: int, key: str, values: dict[str, Any] | None = None) -> records.Record:
        actor = self.actor(who)
        return self.db.run(lambda c: workflow.transition_record(c, self.et, record_id, key, actor=actor, values=values))

    def waiting(self, who: str) -> list[str]:
        return [i.step_key for i in self.db.read(lambda c: approvals.waiting_for(c, self.ids[who]))]

    def steps(self, record_id: int) -> list[str]:
        return [s.key for s in self.db.read(lambda c: approvals.timeline(c, "expense", "claim", record_id))[0].steps]

    def notes(self, who: str) -> list[str]:
        return [str(n.message) for n in self.db.read(lambda c: notifications.list_notifications(c, self.ids[who]))]

    def actions(self, record_id: int) -> list[str]:
        return [e.action for e in self.db.read(lambda c: history.list_entries(c, "expense", "claim", record_id))]


def _alice_claim(o: Office, **extra: Any) -> records.Record:
    """Step 1 of S6: three lines, each over 200 with its receipt; total 1,560.00."""
    lines = [
        o.line("travel", "train", "553.00", o.receipt("alice", "train.pdf")),
        o.line("accommodation", "hotel", "800.00", o.receipt("alice", "hotel.pdf")),
        o.line("meals", "meals", "207.00", o.receipt("alice", "meals.jpg")),
    ]
    return o.create("alice", {"lines": lines, **extra})


def test_s6_expense_claim_end_to_end(office):
    """S6: Bob (expense approver) then finance (Dave trims the hotel line with a reason) then the cashier pays?"""
    o = office
    with pytest.raises(RecordInvalid) as info:
        o.create(
            "alice",
            {
                "lines": [
                    o.line("travel", "train", "553.00", o.receipt("alice", "train.pdf")),
                    o.line("accommodation", "hotel", "800.00", o.receipt("alice", "hotel.pdf")),
                    o.line("meals", "meals", "207.00"),
                ]
            },
        )
    assert english_errors(info.value.errors) == {"lines[2].receipt": ["is required"]}
    claim = _alice_claim(o, expense_approver=o.ids["bob"])
    assert claim.values["employee"] == o.ids["alice"]
    assert claim.values["total_claimed"] == Decimal("1560.00") == claim.values["total_sanctioned"]
    assert claim.values["claim_no"] == f"BX-{o.today.year}-00001"

    out = o.submit("alice", claim.id)
    assert out.status == "pending" and o.steps(claim.id) == ["manager", "finance"]
    assert o.waiting("bob") == ["manager"] and o.waiting("dave") == []
    assert o.decide(out.request_id, "bob").status == "pending"
    assert o.fetch(claim.id).state == "draft"  # the example's finance_review: still draft, finance step pending
    assert o.waiting("carol") == ["finance"] and o.waiting("dave") == ["finance"]

    lines = [dict(r) for r in o.fetch(claim.id).values["lines"]]
    lines[1]["sanctioned_amount"] = "600.00"
    with pytest.raises(RecordInvalid) as info:
        o.edit("dave", claim.id, {"lines": lines})
    assert english_errors(info.value.errors) == {"lines[1].sanction_comment": ["is required"]}
    lines[1]["sanction_comment"] = "超出住宿标准 600 元/晚"
    trimmed = o.edit("dave", claim.id, {"lines": lines})
    assert trimmed.values["total_sanctioned"] == Decimal("1360.00") and trimmed.values["total_claimed"] == Decimal("1560.00")

    raised = [dict(r) for r in trimmed.values["lines"]]
    raised[2]["amount"] = "2070.00"
    with pytest.raises(RecordInvalid) as info:
        o.edit("alice", claim.id, {"lines": raised})
    assert "total_claimed" in info.value.errors  # amounts are frozen while pending, through their total

    done = o.decide(out.request_id, "dave")
    assert done.status == "approved" and o.fetch(claim.id).state == "unpaid"  # 1,560 ≤ 20,000: no GM step
    assert sum(m.startswith("Approved: Submit") for m in o.notes("alice")) == 1

    with pytest.raises(Forbidden):
        o.move("alice", claim.id, "pay", {"paid_on": str(o.today), "payment_ref": "X"})
    with pytest.raises(TransitionRefused, match="fill in Payment Ref") as refused:
        o.move("tina", claim.id, "pay", {"paid_on": str(o.today)})
    assert refused.value.missing == ["payment_ref"]
    assert o.fetch(claim.id).state == "unpaid"
    paid = o.move("tina", claim.id, "pay", {"paid_on": str(o.today), "payment_ref": "CMB-20240312-0042"})
    assert paid.state == "paid" and paid.values["payment_ref"] == "CMB-20240312-0042"
    assert o.actions(claim.id).count("transition") == 2


@pytest.mark.parametrize(("total", "steps"), [("20000.00", ["manager", "finance"]), ("20000.01", ["manager", "finance", "gm"])])
def test_gm_step_above_20000_exactly(office, total, steps):
    """Is the GM step added above 20,000.00 and not at it (routed on the total claimed at submit)?"""
    o = office
    claim = o.create(
        "alice", {"expense_approver": o.ids["bob"], "lines": [o.line("travel", "flights", total, o.receipt("alice", "f.pdf"))]}
    )
    out = o.submit("alice", claim.id)
    assert o.steps(claim.id) == steps
    o.decide(out.request_id, "bob")
    result = o.decide(out.request_id, "carol")
    if "gm" in steps:
        assert result.status == "pending" and o.waiting("erin") == ["gm"]
        result = o.decide(out.request_id, "erin")
    assert result.status == "approved" and o.fetch(claim.id).state == "unpaid"


@pytest.mark.parametrize("approver", [None, "alice"])
def test_missing_or_self_expense_approver_goes_to_the_department_head(office, approver):
    """Gap (no default from the HR record, no != employee constraint): with the approver empty or Alice herself, does Bob get the step?"""
    o = office
    extra = {"expense_approver": o.ids[approver]} if approver else {}
    claim = _alice_claim(o, **extra)
    assert claim.values["expense_approver"] == (o.ids["alice"] if approver else None)  # saving is not refused
    out = o.submit("alice", claim.id)
    assert o.waiting("bob") == ["manager"] and o.waiting("alice") == []
    with pytest.raises(Forbidden, match="your own request"):
        o.decide(out.request_id, "alice")


def test_finance_step_excludes_the_employee(office):
    """E2 excludes the employee: is Carol's own claim reviewed by Dave alone after her expense approver Erin?"""
    o = office
    claim = o.create("carol", {"expense_approver": o.ids["erin"], "lines": [o.line("office", "toner", "150.00")]})
    out = o.submit("carol", claim.id)
    o.decide(out.request_id, "erin")
    assert o.waiting("dave") == ["finance"] and o.waiting("carol") == []
    assert o.decide(out.request_id, "dave").status == "approved"


def test_rejection_returns_the_claim_and_a_resubmission_starts_over(office):
    """On reject (comment required) does the claim stay in draft, Alice hear why, and a resubmission ask Bob again?"""
    o = office
    claim = _alice_claim(o, expense_approver=o.ids["bob"])
    out = o.submit("alice", claim.id)
    o.decide(out.request_id, "bob")
    with pytest.raises(RecordInvalid):
        o.decide(out.request_id, "dave", approve=False)
    assert o.decide(out.request_id, "dave", approve=False, comment="发票抬头错误").status == "rejected"
    assert o.fetch(claim.id).state == "draft"
    assert any(m.endswith("发票抬头错误") for m in o.notes("alice"))
    again = o.submit("alice", claim.id)
    assert o.waiting("bob") == ["manager"] and again.request_id != out.request_id


def test_paid_claims_keep_their_lines(office):
    """Once approved, are the lines and the approver read-only (field rule on unpaid/paid)?"""
    o = office
    claim = _alice_claim(o, expense_approver=o.ids["bob"])
    out = o.submit("alice", claim.id)
    o.decide(out.request_id, "bob")
    o.decide(out.request_id, "dave")
    lines = [dict(r) for r in o.fetch(claim.id).values["lines"]]
    lines[0]["amount"] = "1.00"
    with pytest.raises(RecordInvalid) as info:
        o.edit("alice", claim.id, {"lines": lines})
    assert set(info.value.errors) == {"lines"}
    assert o.fetch(claim.id).values["total_claimed"] == Decimal("1560.00")
