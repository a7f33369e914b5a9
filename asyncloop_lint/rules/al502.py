"""AL502 executor-per-call."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..rule import Rule, cst

if TYPE_CHECKING:  # pragma: no cover
    from ..context import LintContext

POOL_CLASSES = frozenset(
    {
        "concurrent.futures.ThreadPoolExecutor", "concurrent.futures.thread.ThreadPoolExecutor",
        "concurrent.futures.ProcessPoolExecutor", "concurrent.futures.process.ProcessPoolExecutor",
    }
)
CONSTRUCTORS = frozenset({"__init__", "__new__", "__post_init__", "__enter__", "__aenter__"})
# Methods and functions that take ownership of an executor (and shut it down later).
OWNERS = frozenset({"set_default_executor", "enter_context", "callback", "push"})


class ExecutorPerCall(Rule):
    code = "AL502"
    name = "executor-per-call"
    summary = "An executor is created per call and never shut down"
    needles = ((b"PoolExecutor",),)
    what = """
Checks for `ThreadPoolExecutor(...)` and `ProcessPoolExecutor(...)` constructed inside a
function when the function neither uses it as a context manager (`with ... as pool:`), nor
shuts it down (`pool.shutdown(...)`), nor returns it, nor hands it to an owner
(`loop.set_default_executor(pool)`, `ExitStack.enter_context(pool)`), nor stores it on `self`
in a constructor or in a `global`. An executor built at module scope is not reported.
"""
    why = """
Every executor owns worker threads (or processes) that live until it is shut down. Built per
call and dropped, it leaks them on every call; with many calls the process runs out of threads
or memory. A bounded executor built once (at module scope, or owned by a long-lived object)
and shut down at exit is the usual shape.
"""
    example = """
from concurrent.futures import ThreadPoolExecutor

def checksum_all(paths: list[str]) -> list[int]:
    pool = ThreadPoolExecutor(max_workers=4)
    return list(pool.map(len, paths))
"""
    use_instead = """
from concurrent.futures import ThreadPoolExecutor

POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="checksum")

def checksum_all(paths: list[str]) -> list[int]:
    return list(POOL.map(len, paths))
"""
    fix_safety = """
No automatic fix: whether the executor should become a module-level one, a context manager or
an attribute of a long-lived object depends on the program. The message points at a
module-level bounded executor.
"""
    references = (
        "https://docs.python.org/3/library/concurrent.futures.html#concurrent.futures.Executor.shutdown",
    )

    def __init__(self) -> None:
        super().__init__()
        # (call, statement, function key, target name or None, stored-on-self/global)
        self.created: list[tuple[cst.Call, cst.CSTNode | None, str, cst.Name | None]] = []
        self.kept: set[int] = set()  # ids of constructor calls that are owned
        self.kept_names: set[tuple[str, str]] = set()  # (function key, name) owned/shut down
        self.globals: set[tuple[str, str]] = set()
        self.returned: set[int] = set()

    def visit_Global(self, node: cst.Global, ctx: LintContext) -> None:
        key = ctx.function_key
        if key is not None:
            self.globals.update((key, item.name.value) for item in node.names)

    def visit_WithItem(self, node: cst.WithItem, ctx: LintContext) -> None:
        self._keep(node.item, ctx)

    def visit_Return(self, node: cst.Return, ctx: LintContext) -> None:
        if node.value is not None:
            self._keep(node.value, ctx)

    def visit_Yield(self, node: cst.Yield, ctx: LintContext) -> None:
        if isinstance(node.value, cst.BaseExpression):
            self._keep(node.value, ctx)

    def visit_Attribute(self, node: cst.Attribute, ctx: LintContext) -> None:
        # `pool.shutdown(...)`, also as a callback (`atexit.register(pool.shutdown)`).
        if node.attr.value == "shutdown":
            self._keep(node.value, ctx)

    def visit_Call(self, node: cst.Call, ctx: LintContext) -> None:
        func = node.func
        owner = func.attr.value if isinstance(func, cst.Attribute) else None
        if owner in OWNERS or ctx.full_names(func) & {"atexit.register", "weakref.finalize"}:
            for arg in node.args:
                self._keep(arg.value, ctx)
        if ctx.has_name(func, POOL_CLASSES) is None or ctx.function_key is None:
            return
        self.created.append((node, ctx.statement, ctx.function_key, self._target(node, ctx)))

    def _target(self, call: cst.Call, ctx: LintContext) -> cst.Name | None:
        """The name the executor is assigned to, or the call itself kept when stored on self."""
        statement = ctx.statement
        if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
            return None
        small = statement.body[0]
        if isinstance(small, cst.Assign) and small.value is call and len(small.targets) == 1:
            target = small.targets[0].target
        elif isinstance(small, cst.AnnAssign) and small.value is call:
            target = small.target
        else:
            return None
        if isinstance(target, cst.Name):
            return target
        function = ctx.function
        if (
            isinstance(target, cst.Attribute)
            and isinstance(target.value, cst.Name)
            and target.value.value in ("self", "cls")
            and function is not None
            and function.name.value in CONSTRUCTORS
        ):
            self.kept.add(id(call))
        return None

    def _keep(self, expr: cst.BaseExpression, ctx: LintContext) -> None:
        if isinstance(expr, cst.Call):
            self.kept.add(id(expr))
        elif isinstance(expr, cst.Name) and ctx.function_key is not None:
            self.kept_names.add((ctx.function_key, expr.value))

    def finish(self, ctx: LintContext) -> None:
        for call, statement, key, target in self.created:
            if id(call) in self.kept:
                continue
            if target is not None and (
                (key, target.value) in self.kept_names or (key, target.value) in self.globals
            ):
                continue
            ctx.report(
                self,
                call,
                f"`{ctx.module.code_for_node(call.func)}()` is built on every call and never shut "
                "down: its threads leak; create one bounded executor at module scope (or use "
                "`with` and shut it down)",
                statement=statement,
            )
