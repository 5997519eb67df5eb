"""The organisation directory over HTTP (admins only): departments as a tree with a head
each, and each person's department and manager; the refusals (duplicate key, a loop in the
tree or in the managers) change nothing; links from the admin area."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from flowdeck.engine import models, org
from tests.support.web import csrf_token, login

XSS = '<img src=x onerror=alert(1)>"><script>alert(2)</script>'


@pytest.fixture
def people(make_user) -> dict[str, Any]:
    return {
        "root": make_user("root", is_admin=True),
        "ann": make_user("ann", {}),
        "bob": make_user("bob", {}),
        "cid": make_user("cid", {}),
    }


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def signed_in(client: Any, name: str) -> str:
    login(client, name)
    return csrf_token(client, "/approvals")


def departments(db: Any) -> list[tuple[str, str, int | None, int | None]]:
    d = models.departments
    return [tuple(r) for r in db.read(lambda c: c.execute(sa.select(d.c.key, d.c.name, d.c.parent_id, d.c.head_id).order_by(d.c.id)).all())]


def placement(db: Any, user_id: int) -> tuple[int | None, int | None]:
    u = models.users
    return tuple(db.read(lambda c: c.execute(sa.select(u.c.department_id, u.c.manager_id).where(u.c.id == user_id)).one()))


def test_only_admins_see_the_directory(client, people):
    """Is the directory for admins only (others 403, anonymous to sign-in), and are its posts guarded too?"""
    assert client.get("/admin/org/").status_code == 302
    token = signed_in(client, "ann")
    assert client.get("/admin/org/").status_code == 403
    assert client.post("/admin/org/departments", data={"csrf_token": token, "key": "x", "name": "X"}).status_code == 403
    assert client.post(f"/admin/org/people/{people['ann'].user_id}", data={"csrf_token": token, "manager_id": ""}).status_code == 403
    html = text(client.get("/approvals"))
    assert "/admin/org/" not in html


def test_create_and_edit_a_department(client, db, people):
    """Can an admin add a department with a parent and a head, then rename it?"""
    token = signed_in(client, "root")
    html = text(client.get("/admin/org/"))
    assert "Departments" in html and "People" in html
    response = client.post("/admin/org/departments", data={"csrf_token": token, "key": "company", "name": "Company", "head_id": ""})
    assert response.status_code == 303
    company = db.read(lambda c: org.find_department(c, "company"))
    data = {"csrf_token": token, "key": "rnd", "name": "R&D", "name_zh": "研发", "parent_id": str(company.id)}
    data["head_id"] = str(people["bob"].user_id)
    assert client.post("/admin/org/departments", data=data).status_code == 303
    rnd = db.read(lambda c: org.find_department(c, "rnd"))
    assert (rnd.parent_id, rnd.head_id, rnd.name_zh) == (company.id, people["bob"].user_id, "研发")
    edit = {**data, "id": str(rnd.id), "name": "Research"}
    assert client.post("/admin/org/departments", data=edit).status_code == 303
    assert db.read(lambda c: org.get_department(c, rnd.id)).name == "Research"
    html = text(client.get("/admin/org/"))
    assert 'value="Research"' in html and "R&amp;D" not in html


def test_department_validation_errors_change_nothing(client, db, people):
    """Are a duplicate key, a bad key, a missing name and a loop in the tree refused (422) with the reason?"""
    token = signed_in(client, "root")
    top = db.run(lambda c: org.create_department(c, "top", "Top"))
    child = db.run(lambda c: org.create_department(c, "child", "Child", parent_id=top))
    before = departments(db)
    duplicate = client.post("/admin/org/departments", data={"csrf_token": token, "key": "top", "name": "Another"})
    assert duplicate.status_code == 422 and "is taken" in text(duplicate)
    assert 'value="Another"' in text(duplicate)  # the input is kept
    bad = client.post("/admin/org/departments", data={"csrf_token": token, "key": "Bad Key", "name": ""})
    assert bad.status_code == 422 and "lowercase letters" in text(bad) and "is required" in text(bad)
    loop = {"csrf_token": token, "id": str(top), "key": "top", "name": "Top", "parent_id": str(child)}
    response = client.post("/admin/org/departments", data=loop)
    assert response.status_code == 422 and "its own ancestor" in text(response)
    unknown = client.post("/admin/org/departments", data={"csrf_token": token, "key": "x", "name": "X", "parent_id": "nope"})
    assert unknown.status_code == 422 and "Choose from the list." in text(unknown)
    assert departments(db) == before


def test_place_a_user_and_refuse_a_manager_loop(client, db, people):
    """Can an admin set a person's department and manager, and is a loop of managers refused, nothing changed?"""
    token = signed_in(client, "root")
    dept = db.run(lambda c: org.create_department(c, "ops", "Operations"))
    ann, bob, cid = (people[n].user_id for n in ("ann", "bob", "cid"))
    response = client.post(f"/admin/org/people/{ann}", data={"csrf_token": token, "department_id": str(dept), "manager_id": str(bob)})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"#person-{ann}")
    assert placement(db, ann) == (dept, bob)
    client.post(f"/admin/org/people/{bob}", data={"csrf_token": token, "department_id": "", "manager_id": str(cid)})
    assert placement(db, bob) == (None, cid)
    loop = client.post(f"/admin/org/people/{cid}", data={"csrf_token": token, "department_id": str(dept), "manager_id": str(ann)})
    assert loop.status_code == 422 and "loop of managers" in text(loop)
    own = client.post(f"/admin/org/people/{cid}", data={"csrf_token": token, "manager_id": str(cid)})
    assert own.status_code == 422 and "their own manager" in text(own)
    assert placement(db, cid) == (None, None)
    assert client.post("/admin/org/people/999999", data={"csrf_token": token, "manager_id": ""}).status_code == 404


def test_directory_posts_need_the_csrf_token(client, db, people):
    """Are directory changes without the CSRF token refused (400) and nothing written?"""
    signed_in(client, "root")
    assert client.post("/admin/org/departments", data={"key": "x", "name": "X"}).status_code == 400
    assert client.post(f"/admin/org/people/{people['ann'].user_id}", data={"manager_id": str(people["bob"].user_id)}).status_code == 400
    assert departments(db) == [] and placement(db, people["ann"].user_id) == (None, None)


def test_admin_area_links_to_the_directory(client, people):
    """Do the admin users page and the top bar (for admins) link to the organisation directory?"""
    signed_in(client, "root")
    users_page = text(client.get("/admin/users"))
    assert users_page.count('href="/admin/org/"') == 2  # the top bar and the page's actions
    html = text(client.get("/admin/org/"))
    assert re.search(r'<a href="/admin/org/" aria-current="page">', html)


def test_names_are_escaped_in_the_directory(client, db, people):
    """Are department names with HTML shown as text?"""
    token = signed_in(client, "root")
    assert client.post("/admin/org/departments", data={"csrf_token": token, "key": "evil", "name": XSS}).status_code == 303
    html = text(client.get("/admin/org/"))
    assert "<img src=x" not in html and "<script>alert(2)" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
