"""Roll-ups in SQL: a roll-up's filter (`where`, `condition`) as a SQL condition, and its
aggregate as one SQL expression over the source rows of one parent.

Why SQL and not the expression closures: a roll-up is kept by one aggregate statement per
parent (and rebuilt by one UPDATE per level), never by loading the children into Python,
so its filter runs in the database. The part of the expression language translated is what
filters need: comparisons (`==`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `not in`) of fields,
`state` and constants, `and`, `or`, `not`, a boolean field alone and `is_empty(x)`. Empty
values compare as the expression language compares them (`x != 'a'` holds for an empty `x`),
never as SQL's NULL would. Anything else is refused when the document is loaded.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from flowdeck.engine.expressions import Expression
from flowdeck.engine.messages import M, Message
from flowdeck.engine.sqltypes import ScaledDecimal

Columns = Mapping[str, ColumnElement[Any]]
_CONSTANTS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}
_ORDERED = {ast.Lt: "__lt__", ast.LtE: "__le__", ast.Gt: "__gt__", ast.GtE: "__ge__"}


class NotInSql(Exception):
    """An expression a roll-up cannot give to the database (the Message says which part)."""

    def __init__(self, message: Message) -> None:
        super().__init__(message)
        self.message = message


def condition(expression: Expression, columns: Columns) -> ColumnElement[bool]:
    """`expression` as a SQL condition on `columns` (name -> column) that is never NULL."""
    return _Translator(columns).test(ast.parse(expression.source.strip(), mode="eval").body)


class _Translator:
    def __init__(self, columns: Columns) -> None:
        self.columns = columns

    def refuse(self, node: ast.AST) -> NotInSql:
        return NotInSql(M("“%(part)s” cannot be computed by the database in a roll-up filter", part=ast.unparse(node)))

    def test(self, node: ast.AST) -> ColumnElement[bool]:
        if isinstance(node, ast.BoolOp):
            parts = [self.test(v) for v in node.values]
            return sa.and_(*parts) if isinstance(node.op, ast.And) else sa.or_(*parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return sa.not_(self.test(node.operand))
        if isinstance(node, ast.Compare):
            left = node.left
            pairs = []
            for op, right in zip(node.ops, node.comparators, strict=True):
                pairs.append(self.compare(left, op, right))
                left = right
            return sa.and_(*pairs) if len(pairs) > 1 else pairs[0]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "is_empty" and len(node.args) == 1:
            return self.column(node.args[0]).is_(None)
        if isinstance(node, ast.Name) and node.id in self.columns:
            return self.columns[node.id].is_(sa.true())
        if isinstance(node, ast.Name) and node.id in _CONSTANTS:
            return sa.true() if _CONSTANTS[node.id] else sa.false()
        raise self.refuse(node)

    def column(self, node: ast.AST) -> ColumnElement[Any]:
        if isinstance(node, ast.Name) and node.id in self.columns:
            return self.columns[node.id]
        raise self.refuse(node)

    def constant(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (str, int, float, bool))):
            return Decimal(str(node.value)) if isinstance(node.value, float) else node.value
        if isinstance(node, ast.Name) and node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            value = self.constant(node.operand)
            if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
                return -value
        raise self.refuse(node)

    def compare(self, left: ast.AST, op: ast.cmpop, right: ast.AST) -> ColumnElement[bool]:
        if not (isinstance(left, ast.Name) and left.id in self.columns):
            if not (isinstance(right, ast.Name) and right.id in self.columns):
                raise self.refuse(left)
            left, right = right, left
            op = {ast.Lt: ast.Gt(), ast.LtE: ast.GtE(), ast.Gt: ast.Lt(), ast.GtE: ast.LtE()}.get(type(op), op)
            if isinstance(op, (ast.In, ast.NotIn)):
                raise self.refuse(right)
        col = self.column(left)
        if isinstance(op, (ast.In, ast.NotIn)):
            if not isinstance(right, (ast.List, ast.Tuple)):
                raise self.refuse(right)
            values = [self.constant(e) for e in right.elts]
            present = [v for v in values if v is not None]
            found = sa.and_(col.is_not(None), col.in_([sa.literal(v, col.type) for v in present])) if present else sa.false()
            if None in values:
                found = sa.or_(found, col.is_(None))
            return sa.not_(found) if isinstance(op, ast.NotIn) else found
        if isinstance(right, ast.Name) and right.id in self.columns:
            other = self.columns[right.id]
            if isinstance(op, ast.Eq):
                return sa.or_(sa.and_(col.is_(None), other.is_(None)), sa.and_(col.is_not(None), other.is_not(None), col == other))
            if isinstance(op, ast.NotEq):
                return sa.not_(self.compare(left, ast.Eq(), right))
            method = _ORDERED.get(type(op))
            if method is None:
                raise self.refuse(right)
            return sa.and_(col.is_not(None), other.is_not(None), getattr(col, method)(other))
        value = self.constant(right)
        if value is None:
            if isinstance(op, ast.Eq):
                return col.is_(None)
            if isinstance(op, ast.NotEq):
                return col.is_not(None)
            return sa.false()
        bound = sa.literal(value, col.type)
        if isinstance(op, ast.Eq):
            return sa.and_(col.is_not(None), col == bound)
        if isinstance(op, ast.NotEq):
            return sa.or_(col.is_(None), col != bound)
        method = _ORDERED.get(type(op))
        if method is None:
            raise self.refuse(right)
        return sa.and_(col.is_not(None), getattr(col, method)(bound))


def _scale(column_type: Any) -> int:
    """Decimal places a column keeps (0 for whole numbers and everything else)."""
    return column_type.scale if isinstance(column_type, ScaledDecimal) else 0


def aggregate(
    kind: str,
    value: ColumnElement[Any] | None,
    weight: ColumnElement[Any] | None,
    test: ColumnElement[bool] | None,
    target_type: Any,
    dialect: str,
) -> ColumnElement[Any]:
    """The aggregate over the (already filtered) source rows, as the target column stores it.

    Exact on PostgreSQL (NUMERIC). On SQLite a decimal is kept as a scaled integer
    (`sqltypes.ScaledDecimal`), so sums and extremes stay exact in that integer form and
    averages are rounded half away from zero to the target's places. An empty set gives 0
    for `sum` and `count`, true for `all`, false for `any`, and nothing for the others."""
    if kind == "count":
        counted = sa.func.count() if value is None else sa.func.count(value)
        return sa.type_coerce(counted, target_type)
    if kind in ("all", "any"):
        assert test is not None
        flag = sa.case((test, 1), else_=0)
        folded = sa.func.coalesce(sa.func.min(flag), 1) if kind == "all" else sa.func.coalesce(sa.func.max(flag), 0)
        return sa.type_coerce(folded == 1, target_type)
    assert value is not None
    places = _scale(target_type)
    shift = places - _scale(value.type)
    if dialect == "sqlite":
        return sa.type_coerce(_sqlite_number(kind, value, weight, shift), target_type)
    exact: ColumnElement[Any]
    if kind == "sum":
        exact = sa.func.coalesce(sa.func.sum(value), 0)
    elif kind == "min":
        return sa.type_coerce(sa.func.min(value), target_type)
    elif kind == "max":
        return sa.type_coerce(sa.func.max(value), target_type)
    elif kind == "average":
        exact = sa.func.avg(value)
    else:
        assert weight is not None
        both = sa.and_(value.is_not(None), weight.is_not(None))
        exact = sa.func.sum(sa.case((both, value * weight))) / sa.func.nullif(sa.func.sum(sa.case((both, weight))), 0)
    numeric = sa.Numeric(18 + places, places) if isinstance(target_type, ScaledDecimal) else sa.BigInteger()
    return sa.type_coerce(sa.cast(sa.func.round(exact, places), numeric), target_type)


def _sqlite_number(kind: str, value: ColumnElement[Any], weight: ColumnElement[Any] | None, shift: int) -> ColumnElement[Any]:
    raw = sa.type_coerce(value, sa.Integer())
    factor = 10**shift if shift >= 0 else None
    if kind in ("min", "max"):
        return getattr(sa.func, kind)(raw)
    if kind == "sum":
        total = sa.func.coalesce(sa.func.sum(raw), 0)
        return total * factor if factor not in (None, 1) else total
    if kind == "average":
        mean = sa.func.avg(raw)
    else:
        assert weight is not None
        w = sa.type_coerce(weight, sa.Integer())
        both = sa.and_(raw.is_not(None), w.is_not(None))
        real = sa.cast(raw, sa.Float())
        mean = sa.func.sum(sa.case((both, real * w))) / sa.func.nullif(sa.func.sum(sa.case((both, w))), 0)
    scaled = mean * (10**shift) if shift >= 0 else mean / (10**-shift)
    return sa.cast(sa.func.round(scaled), sa.Integer())
