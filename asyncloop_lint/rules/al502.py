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


def _holds(value: cst.BaseExpression, call: cst.Call) -> bool:
    """``value`` evaluates to ``call``'s result: the call itself, or an operand of
    ``executor or ThreadPoolExecutor()`` / ``X if c else ThreadPoolExecutor()``."""
    if value is call:
        return True
    if isinstance(value, cst.BooleanOperation):
        return _holds(value.left, call) or _holds(value.right, call)
    if isinstance(value, cst.IfExp):
        return _holds(value.body, call) or _holds(value.orelse, call)
    return False


def _is_module_container(target: cst.BaseExpression, ctx: LintContext) -> bool:
    """``NAME[key]`` where NAME is bound at module level (a module-wide cache)."""
    if not isinstance(target, cst.Subscript) or not isinstance(target.value, cst.Name):
        return False
    return any(b.scope is ctx.bindings.module_scope for b in ctx.bindings.bindings_for(target.value))


def _is_self_attribute(target: cst.BaseExpression) -> bool:
    return (
        isinstance(target, cst.Attribute)
        and isinstance(target.value, cst.Name)
        and target.value.value in ("self", "cls")
    )


class ExecutorPerCall(Rule):
    code = "AL502"
    name = "executor-per-call"
    summary = "An executor is created per call and never shut down"
    needles = ((b"PoolExecutor",),)
    candidates = r"ThreadPoolExecutor|ProcessPoolExecutor"
    what = """
Checks for `ThreadPoolExecutor(...)` and `ProcessPoolExecutor(...)` constructed inside a
function when the function neither uses it as a context manager (`with ... as pool:`), nor
shuts it down (`pool.shutdown(...)`), nor returns it, nor hands it to an owner
(`loop.set_default_executor(pool)`, `ExitStack.enter_context(pool)`), nor stores it on `self`
in a constructor or lazily (under `if self._pool is None:`), nor in a `global`. An executor built at module scope is not reported.
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
        self.process_pools: set[int] = set()  # ids of the ProcessPoolExecutor calls
        self.kept: set[int] = set()  # ids of constructor calls that are owned
        self.kept_names: set[tuple[str, str]] = set()  # (function key, name) owned/shut down
        self.globals: set[tuple[str, str]] = set()
        self.on_self: set[tuple[str, str]] = set()  # (function key, name) stored on self
        self.lazy_ifs: list[cst.If] = []  # enclosing `if x is None:` / `if not x:` tests
        self.lazy: set[int] = set()  # ids of constructor calls made under such a test

    def visit_If(self, node: cst.If, ctx: LintContext) -> None:
        test = node.test
        lazy = isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not)
        if isinstance(test, cst.Comparison):
            lazy = any(
                isinstance(c.operator, (cst.Is, cst.Equal)) and isinstance(c.comparator, cst.Name)
                and c.comparator.value == "None"
                for c in test.comparisons
            )
        self.lazy_ifs.append(node if lazy else None)  # type: ignore[arg-type]

    def leave_If(self, node: cst.If, ctx: LintContext) -> None:
        self.lazy_ifs.pop()

    def visit_Assign(self, node: cst.Assign, ctx: LintContext) -> None:
        # `self._pool = pool`: the object owns the executor built into `pool`.
        if isinstance(node.value, cst.Name) and ctx.function_key is not None:
            for target in node.targets:
                if _is_self_attribute(target.target):
                    self.on_self.add((ctx.function_key, node.value.value))

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
        pool = ctx.has_name(func, POOL_CLASSES)
        if pool is None or ctx.function_key is None:
            return
        if "Process" in pool:
            self.process_pools.add(id(node))
        if any(self.lazy_ifs):
            self.lazy.add(id(node))
        self.created.append((node, ctx.statement, ctx.function_key, self._target(node, ctx)))

    def _target(self, call: cst.Call, ctx: LintContext) -> cst.Name | None:
        """The name the executor is assigned to, or the call itself kept when stored on self."""
        statement = ctx.statement
        if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
            return None
        small = statement.body[0]
        if isinstance(small, cst.Assign) and _holds(small.value, call) and any(self.lazy_ifs) and any(
            _is_module_container(t.target, ctx) for t in small.targets
        ):
            # `pool = _POOLS[key] = ThreadPoolExecutor()` under `if pool is None:`: one per key,
            # kept in a module-level cache for the life of the process.
            self.kept.add(id(call))
            return None
        if isinstance(small, cst.Assign) and _holds(small.value, call) and len(small.targets) == 1:
            target = small.targets[0].target
        elif isinstance(small, cst.AnnAssign) and small.value is not None and _holds(small.value, call):
            target = small.target
        else:
            return None
        if isinstance(target, cst.Name):
            return target
        function = ctx.function
        if _is_self_attribute(target) and (
            (function is not None and function.name.value in CONSTRUCTORS) or any(self.lazy_ifs)
        ):
            self.kept.add(id(call))  # built once per object (in a constructor, or lazily)
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
                (key, target.value) in self.kept_names
                or (key, target.value) in self.globals
                or ((key, target.value) in self.on_self and id(call) in self.lazy)
            ):
                continue
            ctx.report(
                self,
                call,
                f"`{ctx.module.code_for_node(call.func)}()` is built on every call and never shut "
                f"down: its worker {'processes' if id(call) in self.process_pools else 'threads'} "
                "leak; create one bounded executor at module scope (or use `with` and shut it down)",
                statement=statement,
            )
