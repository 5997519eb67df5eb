"""The expression language for guards, show-if/required-if conditions and formulas.

Expressions are Python-like (`amount > 10000 and priority == "high"`), parsed once with
`ast` and compiled into a tree of closures. Only a whitelist of node types, operators and
functions is accepted; names must resolve against a scope known at schema load time, so a
typo fails when the schema is validated, not when a user saves a record. Cost is bounded
up front (source length, node count, nesting depth) and while evaluating (exponent size,
number magnitude, string length), so no expression can stall a worker. `eval` is never used.
"""

from __future__ import annotations

import ast
import decimal
import io
import re
import tokenize
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from difflib import get_close_matches
from typing import Any

from flowdeck.engine.calendars import book as calendar_book
from flowdeck.engine.calendars.functions import CALENDAR_FUNCTIONS
from flowdeck.engine.expression_values import (
    BINARY_OPERATORS,
    COMPARISONS,
    ExpressionError,
    Function,
    check_magnitude,
    is_number,
    kind_of,
)
from flowdeck.engine.expression_values import (
    FUNCTIONS as VALUE_FUNCTIONS,
)
from flowdeck.engine.messages import M, Message, Mp

FUNCTIONS = {**VALUE_FUNCTIONS, **CALENDAR_FUNCTIONS}
"""Every function an expression may call: values and dates, and working time on calendars."""
CLOCK_KEY = "now()"
"""The env key of the moment `now()` and `today()` read, when a caller gives one."""
CHANGED_KEY = "changed()"
"""The env key of the field keys an event changed, which `changed("field")` reads (a key no field can have)."""
MAX_SOURCE_LENGTH = 1000
MAX_NODES = 200
MAX_DEPTH = 24
MAX_LIST = 1000

_DECIMAL_CONTEXT = decimal.Context(prec=34, Emax=60, Emin=-60, traps=[decimal.InvalidOperation, decimal.Overflow, decimal.DivisionByZero])


@dataclass(frozen=True)
class Scope:
    """What an expression may name.

    `names` are plain values (fields, `state`, `me`); `tables` maps a child-table name to
    the names of its row fields, which is the only place `a.b` is allowed (`items.amount`).
    """

    names: frozenset[str]
    tables: Mapping[str, frozenset[str]] = field(default_factory=dict)
    records: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Whole records by name (`old`, `new` in an automation's condition): `old.priority`
    reads one value, and `changed("priority")` asks whether the event changed it."""


Env = Mapping[str, Any]
Node = Callable[[Env], Any]


@dataclass(frozen=True)
class Expression:
    source: str
    names: frozenset[str]
    _fn: Node

    def evaluate(self, env: Env) -> Any:
        """Evaluate against `env`; raises ExpressionError with a readable message."""
        try:
            with decimal.localcontext(_DECIMAL_CONTEXT):
                return self._fn(env)
        except ExpressionError:
            raise
        except (decimal.DivisionByZero, ZeroDivisionError):
            raise ExpressionError(M("division by zero")) from None
        except (decimal.Overflow, OverflowError):
            raise ExpressionError(M("number too large")) from None
        except decimal.InvalidOperation:
            raise ExpressionError(M("invalid arithmetic")) from None
        except (TypeError, ValueError) as exc:
            raise ExpressionError(M("cannot evaluate: %(detail)s", detail=str(exc))) from None

    def test(self, env: Env) -> bool:
        """Evaluate as a condition: null counts as false."""
        return bool(self.evaluate(env))


_CONSTANT_NAMES = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}


class _Compiler:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.names: set[str] = set()
        self.nodes = 0

    def fail(self, message: Message) -> ExpressionError:
        return ExpressionError(message)

    def unknown_name(self, name: str) -> ExpressionError:
        known = sorted(self.scope.names | set(self.scope.tables))
        return self.fail(M("unknown name “%(key)s”%(hint)s", key=name, hint=_did_you_mean(name, known)))

    def compile(self, node: ast.AST, depth: int = 0) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(M("expression too complex (limit %(max)s parts)", max=MAX_NODES))
        if depth > MAX_DEPTH:
            raise self.fail(M("expression nested too deeply (limit %(max)s levels)", max=MAX_DEPTH))
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise self.fail(M("%(construct)s is not allowed", construct=_describe(node)))
        fn = method(node, depth + 1)
        if isinstance(node, _FOLDABLE) and _is_constant(node):
            return _fold(fn)
        return fn

    def _Constant(self, node: ast.Constant, depth: int) -> Node:
        value = node.value
        if isinstance(value, bool) or value is None:
            return lambda env: value
        if isinstance(value, int):
            check_magnitude(value)
            return lambda env: value
        if isinstance(value, float):
            number = Decimal(repr(value))
            check_magnitude(number)
            return lambda env: number
        if isinstance(value, str):
            check_magnitude(value)
            return lambda env: value
        raise self.fail(M("the value %(value)s is not allowed (use numbers, text, true, false or null)", value=ast.unparse(node)))

    def _Name(self, node: ast.Name, depth: int) -> Node:
        name = node.id
        if name.startswith("_"):
            raise self.fail(M("the name “%(key)s” is not allowed (names may not start with “_”)", key=name))
        if name in _CONSTANT_NAMES:
            value = _CONSTANT_NAMES[name]
            return lambda env: value
        if name in self.scope.tables:
            self.names.add(name)
            return lambda env: env.get(name) or []
        if name not in self.scope.names:
            if name in FUNCTIONS:
                raise self.fail(M("“%(key)s” is a function: call it as %(call)s", key=name, call=name + "(...)"))
            raise self.unknown_name(name)
        self.names.add(name)
        return lambda env: env.get(name)

    def _Attribute(self, node: ast.Attribute, depth: int) -> Node:
        if node.attr.startswith("_"):
            raise self.fail(M("the name “%(key)s” is not allowed (names may not start with “_”)", key=node.attr))
        base = node.value
        if isinstance(base, ast.Name) and base.id in self.scope.records:
            return self._record_value(base.id, node.attr)
        if not isinstance(base, ast.Name) or base.id not in self.scope.tables:
            raise self.fail(M("attribute access is not allowed (only child-table columns such as items.amount)"))
        table, column = base.id, node.attr
        if column not in self.scope.tables[table]:
            columns = sorted(self.scope.tables[table])
            hint = _did_you_mean(column, columns)
            if hint:
                raise self.fail(M("“%(table)s” has no column “%(column)s”%(hint)s", table=table, column=column, hint=hint))
            raise self.fail(M("“%(table)s” has no column “%(column)s” (columns: %(columns)s)", table=table, column=column, columns=columns))
        self.names.add(table)
        return lambda env: [row.get(column) for row in (env.get(table) or [])]

    def _record_value(self, record: str, key: str) -> Node:
        if key not in self.scope.records[record]:
            raise self.fail(
                M(
                    "“%(table)s” has no field “%(column)s”%(hint)s",
                    table=record,
                    column=key,
                    hint=_did_you_mean(key, sorted(self.scope.records[record])),
                )
            )
        self.names.add(record)
        return lambda env: (env.get(record) or {}).get(key)

    def _changed(self, node: ast.Call) -> Node:
        """`changed("field")`: whether the event changed that stored value."""
        known = sorted(set().union(*self.scope.records.values()))
        arg = node.args[0] if len(node.args) == 1 and not node.keywords else None
        if not isinstance(arg, ast.Constant) or not isinstance(arg.value, str):
            raise self.fail(M('changed() takes one field key in quotes, such as changed("priority")'))
        key = arg.value
        if key not in known:
            raise self.fail(M("unknown field “%(key)s”%(hint)s", key=key, hint=_did_you_mean(key, known)))
        self.names.add(CHANGED_KEY)
        return lambda env: key in (env.get(CHANGED_KEY) or ())

    def _BoolOp(self, node: ast.BoolOp, depth: int) -> Node:
        parts = [self.compile(v, depth) for v in node.values]
        if isinstance(node.op, ast.And):

            def both(env: Env) -> Any:
                result: Any = True
                for part in parts:
                    result = part(env)
                    if not result:
                        return result
                return result

            return both

        def either(env: Env) -> Any:
            result: Any = False
            for part in parts:
                result = part(env)
                if result:
                    return result
            return result

        return either

    def _UnaryOp(self, node: ast.UnaryOp, depth: int) -> Node:
        operand = self.compile(node.operand, depth)
        if isinstance(node.op, ast.Not):
            return lambda env: not operand(env)
        if isinstance(node.op, (ast.USub, ast.UAdd)):
            negate = isinstance(node.op, ast.USub)

            def sign(env: Env) -> Any:
                value = operand(env)
                if value is None:
                    return None
                if not is_number(value):
                    raise ExpressionError(M("cannot negate %(left)s", left=kind_of(value)))
                return -value if negate else value

            return sign
        raise self.fail(M("the operator %(operator)s is not allowed", operator=_describe(node.op)))

    def _BinOp(self, node: ast.BinOp, depth: int) -> Node:
        entry = BINARY_OPERATORS.get(type(node.op))
        if entry is None:
            raise self.fail(M("the operator %(operator)s is not allowed", operator=_describe(node.op)))
        _, fn = entry
        left, right = self.compile(node.left, depth), self.compile(node.right, depth)

        def binop(env: Env) -> Any:
            a, b = left(env), right(env)
            if a is None or b is None:
                return None
            return check_magnitude(fn(a, b))

        return binop

    def _Compare(self, node: ast.Compare, depth: int) -> Node:
        left = self.compile(node.left, depth)
        ops = []
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            fn = COMPARISONS.get(type(op))
            if fn is None:
                raise self.fail(M("the comparison %(operator)s is not allowed (use == or !=)", operator=_describe(op)))
            ops.append((fn, self.compile(comparator, depth)))

        def compare(env: Env) -> bool:
            a = left(env)
            for fn, right in ops:
                b = right(env)
                if not fn(a, b):
                    return False
                a = b
            return True

        return compare

    def _IfExp(self, node: ast.IfExp, depth: int) -> Node:
        test, body, orelse = (self.compile(n, depth) for n in (node.test, node.body, node.orelse))
        return lambda env: body(env) if test(env) else orelse(env)

    def _List(self, node: ast.List | ast.Tuple, depth: int) -> Node:
        if len(node.elts) > MAX_LIST:
            raise self.fail(M("list too long (limit %(max)s items)", max=MAX_LIST))
        items = [self.compile(e, depth) for e in node.elts]
        return lambda env: [item(env) for item in items]

    _Tuple = _List

    def _Call(self, node: ast.Call, depth: int) -> Node:
        if not isinstance(node.func, ast.Name):
            raise self.fail(M("only plain function calls such as sum(items.amount) are allowed"))
        name = node.func.id
        if name == "changed" and self.scope.records:
            return self._changed(node)
        spec = FUNCTIONS.get(name)
        if spec is None:
            hint = _did_you_mean(name, sorted(FUNCTIONS))
            raise self.fail(
                M("unknown function “%(key)s”%(hint)s; functions: %(functions)s", key=name, hint=hint, functions=sorted(FUNCTIONS))
            )
        if node.keywords:
            raise self.fail(M("%(function)s() takes no named arguments", function=name))
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.fail(M("* arguments are not allowed"))
        if not spec.min_args <= len(node.args) <= spec.max_args:
            raise self.fail(_arguments(name, spec, len(node.args)))
        if spec.reads_calendars and len(node.args) == spec.max_args:
            self._check_calendar_key(name, node.args[-1])
        if spec.reads_clock:
            self.names.add(f"{name}()")
        args = [self.compile(a, depth) for a in node.args]
        fn = spec.fn
        if spec.reads_clock:

            def read_clock(env: Env) -> Any:
                # A caller that acts at a given moment (a transition's time) passes it as
                # `"now()"` in env, a key no field can have; else the clock is read.
                moment = env.get(CLOCK_KEY)
                return fn(moment) if moment is not None else fn()

            return read_clock

        def call(env: Env) -> Any:
            return check_magnitude(fn(*(a(env) for a in args)))

        return call

    def _check_calendar_key(self, name: str, node: ast.expr) -> None:
        """A calendar named by a literal key must be one of the instance's calendars, so a
        typo fails when the document is checked (a key from a field is checked when used)."""
        if not isinstance(node, ast.Constant) or node.value is None:
            return
        if not isinstance(node.value, str):
            raise self.fail(M("%(function)s() needs a calendar key as text, got %(kind)s", function=name, kind=kind_of(node.value)))
        known = sorted(calendar_book.current().calendars)
        if node.value not in known:
            raise self.fail(M("unknown calendar “%(key)s”; calendars: %(keys)s", key=node.value, keys=known))


_FOLDABLE = (ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.IfExp, ast.Call)


def _is_constant(node: ast.AST) -> bool:
    # Only the callee of a call is a function name; a field named like a function (`count`,
    # `year`) used as a value is a name and must not be folded away.
    callees = {id(sub.func) for sub in ast.walk(node) if isinstance(sub, ast.Call)}
    for sub in ast.walk(node):
        if isinstance(sub, (ast.Attribute,)):
            return False
        if isinstance(sub, ast.Name) and sub.id not in _CONSTANT_NAMES and id(sub) not in callees:
            return False
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name):
            spec = FUNCTIONS.get(sub.func.id)
            if spec is None or spec.reads_clock or spec.reads_calendars:  # `changed()` reads the event
                return False
    return True


def _fold(fn: Node) -> Node:
    """Evaluate a constant part once, now, so `9**9**9` fails when the schema is checked."""
    value = Expression("", frozenset(), fn).evaluate({})
    return lambda env: value


def _did_you_mean(name: str, known: list[str]) -> Message | str:
    """` (did you mean “date”?)` after an unknown name, when one known name is close."""
    close = get_close_matches(name, known, n=1)
    return M(" (did you mean “%(key)s”?)", key=close[0]) if close else ""


def _arguments(name: str, spec: Function, count: int) -> Message:
    if spec.min_args == spec.max_args:
        return M("%(function)s() takes %(expected)s argument(s), got %(count)s", function=name, expected=spec.min_args, count=count)
    return M(
        "%(function)s() takes %(min)s to %(max)s arguments, got %(count)s", function=name, min=spec.min_args, max=spec.max_args, count=count
    )


def _describe(node: ast.AST) -> Message | str:
    """What a part of an expression is called: words for the constructs, Python's own
    spelling for operators and keywords."""
    words = {
        "Lambda": Mp("a part of an expression", "lambda"),
        "Subscript": Mp("a part of an expression", "indexing with [...]"),
        "Dict": Mp("a part of an expression", "a dictionary"),
        "Set": Mp("a part of an expression", "a set"),
        "ListComp": Mp("a part of an expression", "a comprehension"),
        "GeneratorExp": Mp("a part of an expression", "a comprehension"),
        "DictComp": Mp("a part of an expression", "a comprehension"),
        "SetComp": Mp("a part of an expression", "a comprehension"),
        "JoinedStr": Mp("a part of an expression", "an f-string"),
        "NamedExpr": Mp("a part of an expression", "assignment"),
        "Slice": Mp("a part of an expression", "slicing"),
    }
    found = words.get(type(node).__name__)
    if found is not None:
        return found
    names = {
        "Await": "await",
        "Yield": "yield",
        "Starred": "*",
        "Is": "'is'",
        "IsNot": "'is not'",
        "BitAnd": "'&'",
        "BitOr": "'|'",
        "BitXor": "'^'",
        "LShift": "'<<'",
        "RShift": "'>>'",
        "MatMult": "'@'",
        "Invert": "'~'",
    }
    return names.get(type(node).__name__, type(node).__name__)


_PYTHON_SAYS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], Message]], ...] = (
    (re.compile(r"invalid syntax"), lambda m: M("invalid syntax")),
    (re.compile(r"invalid syntax\. Perhaps you forgot a comma\?"), lambda m: M("invalid syntax. Perhaps you forgot a comma?")),
    (re.compile(r"'(.)' was never closed"), lambda m: M("'%(bracket)s' was never closed", bracket=m[1])),
    (re.compile(r"unmatched '(.)'"), lambda m: M("unmatched '%(bracket)s'", bracket=m[1])),
    (
        re.compile(r"unterminated string literal \(detected at line (\d+)\)"),
        lambda m: M("unterminated string literal (detected at line %(line)s)", line=m[1]),
    ),
    (re.compile(r"invalid decimal literal"), lambda m: M("invalid decimal literal")),
)
"""Python's own words for the syntax errors people make most, as messages; the rest stay
Python's (English) text."""


def _syntax_error(exc: SyntaxError, indent: int) -> Message:
    said: Message | str = exc.msg
    for pattern, message in _PYTHON_SAYS:
        found = pattern.fullmatch(exc.msg)
        if found is not None:
            said = message(found)
            break
    # Python gives column 0 when the text ends too early; columns count from the unstripped source.
    if exc.offset is None:
        return M("syntax error: %(detail)s", detail=said)
    if exc.offset == 0:
        return M("syntax error: %(detail)s at the end", detail=said)
    return M("syntax error: %(detail)s at column %(column)s", detail=said, column=exc.offset + indent)


def _bracket_depth(source: str) -> int:
    """How deeply (), [] and {} nest in `source` (which already parsed)."""
    depth = deepest = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(source.strip()).readline):
            if token.type == tokenize.OP and token.string in ("(", "[", "{"):
                depth += 1
                deepest = max(deepest, depth)
            elif token.type == tokenize.OP and token.string in (")", "]", "}"):
                depth -= 1
    except (tokenize.TokenError, SyntaxError):
        return 0
    return deepest


def holds(expression: Expression | None, env: Env) -> bool:
    """A condition a rule depends on (a constraint's `where`, a transition's guard, a
    `required_if`): no condition always holds; one that cannot be worked out for these
    values (an ExpressionError) does not."""
    if expression is None:
        return True
    try:
        return bool(expression.evaluate(env))
    except ExpressionError:
        return False


def compile_expression(source: str, scope: Scope) -> Expression:
    """Parse and check `source`; raises ExpressionError naming what is wrong."""
    if not isinstance(source, str):
        raise ExpressionError(M("an expression must be text"))
    if len(source) > MAX_SOURCE_LENGTH:
        raise ExpressionError(M("expression too long (%(length)s characters; limit %(max)s)", length=len(source), max=MAX_SOURCE_LENGTH))
    if not source.strip():
        raise ExpressionError(M("expression is empty"))
    if "__" in source:
        raise ExpressionError(M("names with “__” are not allowed"))
    too_deep = ExpressionError(M("expression nested too deeply (limit %(max)s levels)", max=MAX_DEPTH))
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        if "too many nested parentheses" in exc.msg:
            raise too_deep from None
        raise ExpressionError(_syntax_error(exc, len(source) - len(source.lstrip()))) from None
    except (RecursionError, MemoryError, ValueError):
        raise too_deep from None
    # Redundant brackets leave no trace in the tree, so the tree's depth check cannot see them.
    if _bracket_depth(source) > MAX_DEPTH:
        raise too_deep
    compiler = _Compiler(scope)
    fn = compiler.compile(tree.body)
    return Expression(source=source, names=frozenset(compiler.names), _fn=fn)


def text_results(expression: Expression) -> frozenset[str]:
    """The text constants an expression can return as written: the branches of `a if c else
    b`, the operands of `or`/`and`, the arguments of `coalesce`. A computed field's options
    are checked against them, so a typo in a code is caught when the schema is checked."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
        elif isinstance(node, ast.IfExp):
            visit(node.body)
            visit(node.orelse)
        elif isinstance(node, ast.BoolOp):
            for value in node.values:
                visit(value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "coalesce":
            for arg in node.args:
                visit(arg)

    visit(ast.parse(expression.source.strip(), mode="eval").body)
    return frozenset(found)
