"""The visual builder's forms, each read into one authoring command by the explicit table of
`views/schema_admin/forms.py`: the table agrees with every command's signature, every
button the page draws reads through it, and a form the page does not make (an unknown
input, a target or input missing, an unknown action) is refused with 400 and a message
that names what is wrong, the text kept, nothing changed."""

from __future__ import annotations

import copy
import html
import inspect
import re
from html.parser import HTMLParser
from types import SimpleNamespace
from typing import Any

import pytest
from werkzeug.datastructures import MultiDict

from flowdeck.engine.schema import writing
from flowdeck.views.schema_admin.forms import FORMS, Action, read_action
from tests.support.documents import builder_app
from tests.support.web import csrf_token, login

DOC = builder_app()
BASE = "/admin/apps"
RICH = copy.deepcopy(DOC)
RICH["entities"]["task"]["fields"]["owner"] = {"type": "user", "label": "Owner"}
RICH["entities"]["task"]["fields"]["priority"]["options"] = ["low", {"key": "normal", "label": "Normal"}, "high"]
RICH["entities"]["task"]["workflow"]["transitions"][2]["approval"] = {
    "steps": [{"key": "lead_ok", "approvers": {"role": "lead"}}, {"key": "owner_ok", "approvers": {"field": "owner"}, "mode": "all"}]
}
SHOW_ONLY = {"refresh", "entity", "preview"}


@pytest.fixture
def admin(client: Any, install: Any, make_user: Any) -> Any:
    install(DOC)
    make_user("boss", is_admin=True)
    login(client, "boss")
    return client


def post(client: Any, action: str, *, text: str | None = None, headers: dict[str, str] | None = None, **inputs: Any) -> Any:
    data = {"csrf_token": csrf_token(client, f"{BASE}/"), "document": text or writing.dumps(DOC), "entity": "task", "action": action}
    data.update({f"{action}:{k}": v for k, v in inputs.items()})
    return client.post(f"{BASE}/demo/builder", data=data, headers=headers or {})


def editor_text(response: Any) -> str:
    match = re.search(r'<textarea id="document"[^>]*>(.*?)</textarea>', response.get_data(as_text=True), re.DOTALL)
    assert match
    return html.unescape(match.group(1)).replace("\r\n", "\n")


def alert(response: Any) -> str:
    match = re.search(r'<p class="alert error" role="alert">(.*?)</p>', response.get_data(as_text=True), re.DOTALL)
    assert match, response.get_data(as_text=True)[:2000]
    return html.unescape(match.group(1))


class _FormFields(HTMLParser):
    """What a browser would post from the page's form: each input's name and value (ticked
    boxes only, the chosen option of a select), and the values of the action buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self.actions: list[str] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "button" and a.get("name") == "action":
            self.actions.append(a["value"])
        elif tag == "input" and a.get("name"):
            if a.get("type") not in ("checkbox", "radio") or "checked" in a:
                self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select" and a.get("name"):
            self._select, self._options = a["name"], []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self.fields.append((a["name"], ""))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            name, value = self.fields[-1]
            self.fields[-1] = (name, value + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select is not None:
            chosen = next((v for v, selected in self._options if selected), self._options[0][0] if self._options else "")
            self.fields.append((self._select, chosen))
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def test_every_form_agrees_with_its_command():
    """Does each form give its command only parameters it has, and every parameter it needs
    (a renamed parameter of a command fails here, not in a request)?"""
    for verb, form in FORMS.items():
        signature = inspect.signature(form.command)
        document, *rest = signature.parameters.values()
        assert document.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, verb
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in rest), verb
        accepted = {p.name for p in rest}
        assert form.parameters() <= accepted, (verb, form.parameters() - accepted)
        needed = {p.name for p in rest if p.default is inspect.Parameter.empty}
        given = {"entity", *(name for name, _read in form.targets), *(k for k, spec in form.inputs.items() if spec.required)}
        assert needed == given, verb
        assert form.command.__name__ == verb


def test_every_button_on_the_page_reads_through_its_form(app, admin):
    """Does every builder button the page draws (for fields, options, sections, states,
    transitions, approval steps, lists and boards) read with the inputs the page posts,
    and does the page use every verb of the table?"""
    page = post(admin, "refresh", text=writing.dumps(RICH))
    assert page.status_code == 200
    fields = _FormFields()
    fields.feed(page.get_data(as_text=True))
    posted = MultiDict(fields.fields)
    actions = [a for a in fields.actions if a not in SHOW_ONLY]
    with app.test_request_context():
        read = [read_action(action, posted) for action in actions]
    assert all(isinstance(a, Action) for a in read)
    assert {a.verb for a in read} == set(FORMS)
    edit_step = next(a for a in read if a.verb == "edit_step" and a.targets == ("approve", "owner_ok"))
    assert edit_step.params == {
        "transition": "approve", "step": "owner_ok", "label_en": "", "label_zh": "", "approver_kind": "field",
        "approver_value": "owner", "mode": "all", "quorum": "", "when": "",
    }  # fmt: skip
    set_section = next(a for a in read if a.verb == "set_section" and a.targets == ("1",))
    assert set_section.params["section"] == 1 and set_section.params["fields"] == ["estimate"]


def test_posted_values_become_typed_parameters(app):
    """Are ticks booleans, ticked boxes lists without the hidden blank, a section's place a
    number, and the WIP inputs one mapping of column -> (max, enforce)?"""
    posted = MultiDict(
        [
            ("set_board:board:group_by", "state"),
            ("set_board:board:card", ""),
            ("set_board:board:card", "priority"),
            ("set_board:board:wip.doing.max", "4"),
            ("set_board:board:wip.doing.enforce", "block"),
            ("add_field:key", "due"),
            ("add_field:type", "date"),
            ("add_field:required", "1"),
            ("add_field:section", "1"),
        ]
    )
    with app.test_request_context():
        board = read_action("set_board:board", posted)
        field = read_action("add_field", posted)
    assert board.params == {"view": "board", "group_by": "state", "card": ["priority"], "wip": {"doing": ("4", "block")}}
    assert field.params == {"key": "due", "type": "date", "required": True, "section": 1}
    assert field.opened == frozenset({"due"}) and board.opened == frozenset({"board"})


@pytest.mark.parametrize(
    ("action", "inputs", "said"),
    [
        ("drop_tables", {}, 'The builder has no action "drop_tables".'),
        ("add_state", {"key": "x", "category": "todo", "evil": "1"}, 'The form sent "evil", which "add_state" does not take.'),
        ("add_field", {"type": "text"}, 'The form did not send "key", which "add_field" needs.'),
        ("rename_field:estimate", {}, 'The form did not send "new_key", which "rename_field" needs.'),
        ("set_list", {"columns": ["title"]}, 'The button "set_list" does not say what it acts on (view).'),
        ("move_field:estimate:up:again", {}, 'The button "move_field:estimate:up:again" does not say what it acts on (field, direction).'),
        ("set_section:x", {"fields": ["title"]}, '"x" is not the place of a section.'),
        ("add_field", {"key": "due", "type": "date", "section": "first"}, '"first" is not the place of a section.'),
        ("set_field:estimate", {"wip.doing.max": "3"}, 'The form sent "wip.doing.max", which "set_field" does not take.'),
    ],
)
def test_a_form_the_page_does_not_make_is_refused_with_what_is_wrong(admin, db, action, inputs, said):
    """Is an unknown action or input, a missing input or target, or a section that is not a
    place refused with 400 and a message naming it, the text kept as it was?"""
    text = writing.dumps(DOC) + "\n"
    response = post(admin, action, text=text, **inputs)
    assert response.status_code == 400
    assert alert(response) == said
    assert editor_text(response) == text


def test_a_form_without_its_entity_is_refused(admin):
    """Is a builder action posted without the entity refused with 400 and a message, not a 500?"""
    data = {"csrf_token": csrf_token(admin, f"{BASE}/"), "document": writing.dumps(DOC), "action": "move_field:estimate:up"}
    response = admin.post(f"{BASE}/demo/builder", data=data)
    assert response.status_code == 400
    assert alert(response) == 'The form did not send "entity", which "move_field" needs.'


def test_refusals_are_said_in_chinese(admin):
    """Are a refused form and a refused edit (a command's Message) said in Chinese to a Chinese browser?"""
    zh = {"Accept-Language": "zh-CN"}
    forged = post(admin, "add_state", headers=zh, key="x", category="todo", evil="1")
    assert forged.status_code == 400 and "evil" in alert(forged) and "add_state" in alert(forged)
    assert not re.search(r"\bthe form\b", alert(forged), re.IGNORECASE)
    taken = post(admin, "add_field", headers=zh, key="title", type="text")
    assert taken.status_code == 422
    assert alert(taken) == "此实体已有字段“title”。"
    moved = post(admin, "move_field:estimate:sideways", headers=zh)
    assert moved.status_code == 422 and alert(moved) == "请上移或下移。"


def test_a_refused_edit_opens_what_it_acted_on(admin):
    """Does an edit the command refuses keep the item it acted on open in the panel, with the reason?"""
    response = post(admin, "move_option:priority:high:sideways")
    assert response.status_code == 422 and alert(response) == "Move up or down."
    assert re.search(r'id="bf-priority">.*?<details open>', response.get_data(as_text=True), re.DOTALL)


@pytest.fixture
def member(client: Any, install: Any, make_user: Any) -> SimpleNamespace:
    install(DOC)
    make_user("mia", {"demo": ["member"]})
    login(client, "mia")
    return SimpleNamespace(client=client)


def test_forged_forms_are_for_admins_only(member):
    """Does a member posting a builder form (even a forged one) get 403 before the form is read?"""
    assert post(member.client, "drop_tables").status_code == 403
