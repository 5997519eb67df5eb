"""The organisation directory approvals walk: departments in a tree with a head each, and
each user's department and manager."""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import models
from flowdeck.engine.errors import NotFound, RecordInvalid
from flowdeck.engine.messages import M, Message

_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
MAX_LEVELS = 50


@dataclass(frozen=True)
class Department:
    id: int
    key: str
    name: str
    name_zh: str | None
    parent_id: int | None
    head_id: int | None

    def label(self, lang: str) -> str:
        return self.name_zh if lang == "zh" and self.name_zh else self.name


_D = models.departments


@dataclass(frozen=True)
class Placement:
    """A user as the directory shows them: where they sit and who they report to."""

    id: int
    username: str
    display_name: str
    department_id: int | None
    manager_id: int | None
    is_active: bool


def placements(conn: Connection) -> list[Placement]:
    """Every user (inactive ones too) with their department and manager, by display name."""
    u = models.users
    query = sa.select(u.c.id, u.c.username, u.c.display_name, u.c.department_id, u.c.manager_id, u.c.is_active)
    return [Placement(*row) for row in conn.execute(query.order_by(u.c.display_name))]


def list_departments(conn: Connection) -> list[Department]:
    return [
        Department(*row)
        for row in conn.execute(sa.select(_D.c.id, _D.c.key, _D.c.name, _D.c.name_zh, _D.c.parent_id, _D.c.head_id).order_by(_D.c.name))
    ]


def get_department(conn: Connection, department_id: int) -> Department:
    row = conn.execute(
        sa.select(_D.c.id, _D.c.key, _D.c.name, _D.c.name_zh, _D.c.parent_id, _D.c.head_id).where(_D.c.id == department_id)
    ).first()
    if row is None:
        raise NotFound(M("no department %(id)s", id=department_id))
    return Department(*row)


def find_department(conn: Connection, key: str) -> Department | None:
    row = conn.execute(sa.select(_D.c.id, _D.c.key, _D.c.name, _D.c.name_zh, _D.c.parent_id, _D.c.head_id).where(_D.c.key == key)).first()
    return Department(*row) if row is not None else None


def _check(conn: Connection, department_id: int | None, *, key: str, name: str, parent_id: int | None, head_id: int | None) -> None:
    errors: dict[str, list[Message]] = {}
    if not _KEY.match(key):
        errors["key"] = [M("use lowercase letters, digits, - and _, starting with a letter")]
    else:
        clash = conn.execute(sa.select(_D.c.id).where(_D.c.key == key)).scalar()
        if clash is not None and clash != department_id:
            errors["key"] = [M("“%(name)s” is taken", name=key)]
    if not name.strip():
        errors["name"] = [M("is required")]
    if parent_id is not None:
        if conn.execute(sa.select(_D.c.id).where(_D.c.id == parent_id)).scalar() is None:
            errors["parent_id"] = [M("no such department")]
        elif department_id is not None and department_id in ancestors(conn, parent_id, include_self=True):
            errors["parent_id"] = [M("would make the department its own ancestor")]
    if head_id is not None and conn.execute(sa.select(models.users.c.id).where(models.users.c.id == head_id)).scalar() is None:
        errors["head_id"] = [M("no such user")]
    if errors:
        raise RecordInvalid(errors)


def create_department(
    conn: Connection, key: str, name: str, *, name_zh: str | None = None, parent_id: int | None = None, head_id: int | None = None
) -> int:
    _check(conn, None, key=key, name=name, parent_id=parent_id, head_id=head_id)
    result = conn.execute(
        _D.insert().values(key=key, name=name.strip(), name_zh=(name_zh or "").strip() or None, parent_id=parent_id, head_id=head_id)
    )
    return int(result.inserted_primary_key[0])


def update_department(
    conn: Connection, department_id: int, *, key: str, name: str, name_zh: str | None, parent_id: int | None, head_id: int | None
) -> None:
    get_department(conn, department_id)
    _check(conn, department_id, key=key, name=name, parent_id=parent_id, head_id=head_id)
    conn.execute(
        _D.update()
        .where(_D.c.id == department_id)
        .values(key=key, name=name.strip(), name_zh=(name_zh or "").strip() or None, parent_id=parent_id, head_id=head_id)
    )


def place_user(conn: Connection, user_id: int, *, department_id: int | None, manager_id: int | None) -> None:
    """Set a user's department and manager (a manager chain may not loop)."""
    errors: dict[str, list[Message]] = {}
    if department_id is not None and conn.execute(sa.select(_D.c.id).where(_D.c.id == department_id)).scalar() is None:
        errors["department_id"] = [M("no such department")]
    if manager_id is not None:
        if manager_id == user_id:
            errors["manager_id"] = [M("a user cannot be their own manager")]
        elif user_id in manager_chain(conn, manager_id):
            errors["manager_id"] = [M("would make a loop of managers")]
    if errors:
        raise RecordInvalid(errors)
    conn.execute(models.users.update().where(models.users.c.id == user_id).values(department_id=department_id, manager_id=manager_id))


def ancestors(conn: Connection, department_id: int, *, include_self: bool = False) -> list[int]:
    """The department's parents, nearest first (stops at a loop or MAX_LEVELS)."""
    chain: list[int] = [department_id] if include_self else []
    current: int | None = department_id
    for _ in range(MAX_LEVELS):
        current = conn.execute(sa.select(_D.c.parent_id).where(_D.c.id == current)).scalar()
        if current is None or current in chain or current == department_id:
            break
        chain.append(current)
    return chain


def manager_chain(conn: Connection, user_id: int) -> list[int]:
    """The user's manager, their manager, and so on (the user first)."""
    chain = [user_id]
    current: int | None = user_id
    for _ in range(MAX_LEVELS):
        current = conn.execute(sa.select(models.users.c.manager_id).where(models.users.c.id == current)).scalar()
        if current is None or current in chain:
            break
        chain.append(current)
    return chain


def department_of(conn: Connection, user_id: int) -> int | None:
    return conn.execute(sa.select(models.users.c.department_id).where(models.users.c.id == user_id)).scalar()


def head_of(conn: Connection, department_id: int) -> int | None:
    return conn.execute(sa.select(_D.c.head_id).where(_D.c.id == department_id)).scalar()


def heads_upward(conn: Connection, user_id: int) -> list[int]:
    """Heads of the user's department, then of each parent department, nearest first."""
    department = department_of(conn, user_id)
    if department is None:
        return []
    heads = []
    for dept in ancestors(conn, department, include_self=True):
        head = head_of(conn, dept)
        if head is not None and head not in heads:
            heads.append(head)
    return heads
