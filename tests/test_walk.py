"""The read-only walk meets the nodes libcst's visitor meets, in the same order.

The lint path walks trees with :func:`asyncloop_lint.walk.walk` instead of libcst's visitor
(which rebuilds every node). Two checks keep them from drifting: the field table is derived
again from the installed libcst's own ``_visit_and_replace_children``, and both walks are run
over the fixtures and the standard library's asyncio package and compared node by node.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import inspect
import textwrap
from pathlib import Path

import libcst as cst
import pytest

from asyncloop_lint.walk import CHILD_FIELDS, TRIVIA_FIELDS, TRIVIA_PREFIXES, iter_nodes, walk

REPO = Path(__file__).resolve().parent.parent

# Node types that only ever sit in trivia fields: the walk does not visit them.
TRIVIA_TYPES = (
    cst.BaseParenthesizableWhitespace, cst.TrailingWhitespace, cst.Comment, cst.EmptyLine, cst.Newline,
    cst.LeftParen, cst.RightParen, cst.LeftSquareBracket, cst.RightSquareBracket, cst.LeftCurlyBrace,
    cst.RightCurlyBrace, cst.Comma, cst.Semicolon, cst.Colon, cst.Dot, cst.AssignEqual, cst.Asynchronous,
    cst.ParamSlash, cst.BaseBinaryOp, cst.BaseBooleanOp, cst.BaseCompOp, cst.BaseUnaryOp, cst.BaseAugOp,
)


def visiting_order(kind: type) -> list[str]:
    """The fields ``kind._visit_and_replace_children`` visits, in order."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(kind._visit_and_replace_children)))
    calls = sorted(
        (n.lineno, n.col_offset, n.args[1].value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and (getattr(n.func, "id", None) or getattr(n.func, "attr", "")).startswith("visit_")
        and len(n.args) >= 2 and isinstance(n.args[1], ast.Constant) and isinstance(n.args[1].value, str)
    )
    return list(dict.fromkeys(field for _, _, field in calls))


def node_types() -> list[type]:
    return [
        kind for kind in vars(cst).values()
        if isinstance(kind, type) and issubclass(kind, cst.CSTNode) and dataclasses.is_dataclass(kind)
        and not inspect.isabstract(kind)
    ]


def test_field_table_is_libcsts_visiting_order_without_trivia():
    derived = {}
    for kind in node_types():
        code = [f for f in visiting_order(kind) if not (f.startswith(TRIVIA_PREFIXES) or f in TRIVIA_FIELDS)]
        if code:
            derived[kind.__name__] = tuple(code)
    assert derived == CHILD_FIELDS


def test_every_field_of_every_node_is_code_or_trivia():
    """A field libcst adds later would be missed silently: every field is accounted for."""
    for kind in node_types():
        declared = {f.name for f in dataclasses.fields(kind)}
        visited = set(visiting_order(kind))
        code = set(CHILD_FIELDS.get(kind.__name__, ()))
        assert code <= declared, kind
        assert visited - code <= {f for f in visited if f.startswith(TRIVIA_PREFIXES) or f in TRIVIA_FIELDS}, kind


class Recorder(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, int]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if not isinstance(node, TRIVIA_TYPES):
            self.events.append(("enter", id(node)))
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if not isinstance(original_node, TRIVIA_TYPES):
            self.events.append(("leave", id(original_node)))


# Syntax the fixtures and asyncio may not hold: every statement and expression form.
EXOTIC = """\
from . import a as b, c
from ..pkg import *
import x.y as z
type Alias[T: int = str, *Ts, **P] = list[T]
@deco(arg, *rest, key=value, **more)
class K[T](Base, metaclass=Meta):
    attr: int = 1
    def m[S](self, /, a, b: int = 2, *args, c, d=3, **kw) -> S:
        global g
        nonlocal_ = lambda p, q=1, *r, s, **t: (p, q)
        del self.attr, x[1:2:3]
        assert a, f"{a!r:>{b}} {c=}"
        raise ValueError(a) from b
async def co():
    async with ctx() as (p, q), other():
        async for i in agen():
            yield i
    try:
        pass
    except* (OSError, ValueError) as group:
        pass
    else:
        pass
    finally:
        pass
    x = [i async for i in agen() if i if not i]
    y = {k: v for k, v in pairs}, {*s}, {**m, 'k': 1}, (i for i in s)
    z = a if b else c
    w = (n := 10) + -n ** 2 // 3 @ m
    v = not a and b or c < d <= e is not f in g
    u = t[1:, ::2, ...]
    await co()
    return (yield from gen())
match command:
    case [1, 2, *rest] | (3, 4):
        pass
    case {"k": v, **others} if v > 0:
        pass
    case Point(x=0, y=yy) | Point(1, _) as p:
        pass
    case None | True | -1 | 1+2j | "s" | a.b:
        pass
while True:
    continue
else:
    break
for a, *b in c:
    a += 1; b -= 2
"""


def sources() -> list[Path]:
    # AL001's fixtures are deeper than libcst's recursive visitor can go: not comparable.
    fixtures = [p for p in sorted((REPO / "fixtures").rglob("*.py")) if "AL001" not in p.parts]
    return fixtures + sorted(Path(asyncio.__file__).parent.glob("*.py"))


def test_walk_meets_the_same_nodes_in_the_same_order_as_libcst():
    compared = 0
    for path in [None, *sources()]:
        try:
            module = cst.parse_module(EXOTIC if path is None else path.read_bytes())
        except (cst.ParserSyntaxError, UnicodeDecodeError):
            assert path is not None
            continue
        recorder = Recorder()
        module.visit(recorder)
        ours: list[tuple[str, int]] = []
        walk(module, lambda n: ours.append(("enter", id(n))), lambda n: ours.append(("leave", id(n))))
        assert ours == recorder.events, path
        compared += len(ours)
    assert compared > 100_000


def test_enter_returning_false_skips_children_but_not_leave():
    module = cst.parse_module("f(g(x))\n")
    seen: list[str] = []

    def enter(node):
        seen.append(type(node).__name__)
        return not isinstance(node, cst.Arg)

    walk(module, enter, lambda n: seen.append("/" + type(n).__name__))
    assert seen == ["Module", "SimpleStatementLine", "Expr", "Call", "Name", "/Name", "Arg", "/Arg", "/Call",
                    "/Expr", "/SimpleStatementLine", "/Module"]


def test_deep_nesting_costs_no_recursion():
    tree = cst.Name("x")
    for _ in range(50_000):
        tree = cst.List([cst.Element(tree)])
    assert len(iter_nodes(tree)) == 100_001
