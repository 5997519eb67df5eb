"""The Alembic migrations of the system tables match the models."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from flowdeck.engine.models import Base


def _include(obj, name, type_, reflected, compare_to):
    return not (type_ == "table" and (not name.startswith("fd_") or name == "fd_alembic_version"))


def _inline_fk(diff) -> bool:
    """SQLite cannot add a named foreign key after the fact; migration 0003 adds the two
    fd_users ones inline (`ADD COLUMN ... CONSTRAINT name REFERENCES`), whose name and ON
    DELETE SQLAlchemy's SQLite reflection does not read back. Same columns, same target."""
    kind, fk = diff[0], diff[1]
    return (
        kind in ("add_fk", "remove_fk")
        and fk.parent.name == "fd_users"
        and [c.name for c in fk.columns] in (["department_id"], ["manager_id"])
    )


def test_migrations_create_exactly_the_modelled_system_tables(db):
    """Do the Alembic migrations produce the tables the models declare, with no drift?"""

    def diff(conn):
        context = MigrationContext.configure(conn, opts={"include_object": _include})
        found = compare_metadata(context, Base.metadata)
        if conn.dialect.name == "sqlite":
            found = [d for d in found if not (isinstance(d, tuple) and _inline_fk(d))]
        return found

    assert db.read(diff) == []


def test_user_department_and_manager_references_are_enforced(db):
    """Do fd_users.department_id and manager_id reference real rows, nulled on delete?"""

    def fks(conn):
        if conn.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("PRAGMA foreign_key_list(fd_users)").mappings().all()
            return {(r["from"], r["table"], r["on_delete"]) for r in rows}
        return {
            (fk["constrained_columns"][0], fk["referred_table"], fk["options"].get("ondelete"))
            for fk in sa.inspect(conn).get_foreign_keys("fd_users")
        }

    assert {("department_id", "fd_departments", "SET NULL"), ("manager_id", "fd_users", "SET NULL")} <= db.read(fks)
