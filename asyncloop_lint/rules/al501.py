"""AL501 unbounded-executor-fanout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..diagnostic import UNSAFE
from ..rule import Fix, Rule, cst

if TYPE_CHECKING:  # pragma: no cover
    from ..context import LintContext

TO_THREAD = frozenset({"asyncio.to_thread", "asyncio.threads.to_thread"})
EXECUTOR_CLASSES = frozenset(
    {
        "concurrent.futures.ThreadPoolExecutor", "concurrent.futures.thread.ThreadPoolExecutor",
        "concurrent.futures.ProcessPoolExecutor", "concurrent.futures.process.ProcessPoolExecutor",
        "concurrent.futures.Executor", "concurrent.futures._base.Executor",
    }
)
LIMITERS = frozenset(
    {
        "asyncio.Semaphore", "asyncio.locks.Semaphore",
        "asyncio.BoundedSemaphore", "asyncio.locks.BoundedSemaphore",
        "asyncio.Lock", "asyncio.locks.Lock",
    }
)
# Awaiting these awaits their first argument: the submission is not left pending.
AWAIT_WRAPPERS = frozenset({"asyncio.wait_for", "asyncio.tasks.wait_for", "asyncio.shield", "asyncio.tasks.shield"})
BOUNDED_HELPERS = ("offload", "bounded_gather")
FIX_LIMIT = 8
_LOOPS = ("For", "While", "ListComp", "SetComp", "DictComp", "GeneratorExp")


def _param_annotation(name: cst.Name, ctx: LintContext) -> cst.BaseExpression | None | bool:
    """The annotation of the parameter ``name`` refers to; True for an unannotated parameter."""
    param = ctx.parameter(name)
    if param is None:
        return None
    return param.annotation.annotation if param.annotation is not None else True


def _is_executor(expr: cst.BaseExpression, ctx: LintContext) -> bool:
    if isinstance(expr, cst.Call):
        return ctx.has_name(expr.func, EXECUTOR_CLASSES) is not None
    if isinstance(expr, cst.Name):
        if any(_is_executor(value, ctx) for value in ctx.bound_values(expr)):
            return True
        annotation = _param_annotation(expr, ctx)
        return isinstance(annotation, cst.BaseExpression) and ctx.has_name(annotation, EXECUTOR_CLASSES) is not None
    return False


def _is_limiter(expr: cst.BaseExpression, ctx: LintContext) -> bool:
    """An ``async with`` item that bounds concurrency: a semaphore (or lock), or an object we
    cannot see (a parameter, an attribute) that is not a known non-limiter."""
    if isinstance(expr, cst.Call):
        return ctx.has_name(expr.func, LIMITERS) is not None
    if isinstance(expr, cst.Name):
        values = ctx.bound_values(expr)
        if values:
            return any(_is_limiter(value, ctx) for value in values)
        annotation = _param_annotation(expr, ctx)
        if isinstance(annotation, cst.BaseExpression):
            return ctx.has_name(annotation, LIMITERS) is not None
        return True  # passed in, or bound where we cannot see
    return isinstance(expr, cst.Attribute)


def submission(call: cst.Call, ctx: LintContext) -> str | None:
    """``loop.run_in_executor``, ``asyncio.to_thread`` or ``executor.submit``: its display name."""
    if ctx.has_name(call.func, TO_THREAD):
        return "asyncio.to_thread"
    func = call.func
    if isinstance(func, cst.Attribute):
        if func.attr.value == "run_in_executor":
            return "loop.run_in_executor"
        if func.attr.value == "submit" and _is_executor(func.value, ctx):
            return "executor.submit"
    return None


class UnboundedExecutorFanout(Rule):
    code = "AL501"
    name = "unbounded-executor-fanout"
    summary = "Executor work is submitted per item with no bound on concurrency"
    fix = "sometimes"
    needles = ((b"run_in_executor", b"to_thread", b"submit"), (b"async",))
    candidates = r"run_in_executor|to_thread|submit"
    what = """
Checks, inside an `async def`, for `loop.run_in_executor(...)`, `asyncio.to_thread(...)` or
`executor.submit(...)` created per item of a `for`/`while` loop or a comprehension without
being awaited right there (so the submissions pile up, typically to be gathered), when no
`async with` on a semaphore (`asyncio.Semaphore`/`BoundedSemaphore`, also one passed in as a
parameter) encloses the submission and it is not an argument of the runtime's bounded helpers
(`offload()`, `bounded_gather()`).
"""
    why = """
An executor's work queue is unbounded: every submission is queued at once, whatever
`max_workers` is. A burst of items enqueues tens of thousands of jobs faster than the pool
drains them, memory grows until the process is killed, and cancellation cannot reach work
that is already queued. Backpressure must come from the caller.
"""
    example = """
import asyncio

def resize(path: str) -> bytes:
    return path.encode()

async def resize_all(paths: list[str]) -> list[bytes]:
    return await asyncio.gather(*[asyncio.to_thread(resize, p) for p in paths])
"""
    use_instead = """
import asyncio
from asyncloop_lint import runtime

def resize(path: str) -> bytes:
    return path.encode()

async def resize_all(paths: list[str]) -> list[bytes]:
    return await asyncio.gather(*[runtime.offload(resize, p, limit=8) for p in paths])
"""
    fix_safety = """
`asyncio.to_thread(f, x)` and `loop.run_in_executor(None, f, x)` become the runtime's
`offload(f, x, limit=8)`, which waits on a semaphore before submitting to a bounded executor;
the limit is written out so it can be tuned. The fix is unsafe: `offload()` returns a
coroutine, not a future (it starts when awaited or gathered, and `asyncio.wait()` or
`add_done_callback` need a task), and it runs on the runtime's executor instead of the loop's
default one. `executor.submit()` and a custom executor passed to `run_in_executor` get no fix.
"""
    references = (
        "https://docs.python.org/3/library/asyncio-eventloop.html#asyncio.loop.run_in_executor",
        "https://docs.python.org/3/library/asyncio-sync.html#asyncio.Semaphore",
    )

    def __init__(self) -> None:
        super().__init__()
        self.loops: list[Any] = []  # function frames of the enclosing loops/comprehensions
        self.limits: list[Any] = []  # function frames of the enclosing `async with <semaphore>`
        self.helpers: list[cst.Call] = []  # enclosing calls of the runtime's bounded helpers
        self.awaited: set[int] = set()
        self.loop_nodes: list[cst.CSTNode] = []
        # Awaited names per innermost loop, and submissions assigned to a name in a loop.
        self.awaited_names: dict[int, set[str]] = {}
        self.pending: list[tuple[cst.Call, str, int, str, cst.CSTNode | None]] = []

    def _push_loop(self, node: cst.CSTNode, ctx: LintContext) -> None:
        self.loops.append(ctx.function_frame)
        self.loop_nodes.append(node)

    def _pop_loop(self, node: cst.CSTNode, ctx: LintContext) -> None:
        self.loops.pop()
        self.loop_nodes.pop()

    visit_For = visit_While = visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _push_loop
    leave_For = leave_While = leave_ListComp = leave_SetComp = leave_DictComp = leave_GeneratorExp = _pop_loop

    def visit_With(self, node: cst.With, ctx: LintContext) -> None:
        limited = node.asynchronous is not None and any(_is_limiter(item.item, ctx) for item in node.items)
        self.limits.append(ctx.function_frame if limited else None)

    def leave_With(self, node: cst.With, ctx: LintContext) -> None:
        self.limits.pop()

    def visit_Await(self, node: cst.Await, ctx: LintContext) -> None:
        expr = node.expression
        self.awaited.add(id(expr))
        if isinstance(expr, cst.Name):
            for loop in self.loop_nodes:
                self.awaited_names.setdefault(id(loop), set()).add(expr.value)
        if isinstance(expr, cst.Call) and expr.args and ctx.has_name(expr.func, AWAIT_WRAPPERS):
            self.awaited.add(id(expr.args[0].value))

    def _is_bounded_helper(self, call: cst.Call, ctx: LintContext) -> bool:
        runtimes = {ctx.settings.runtime_import, "asyncloop_lint.runtime"}
        names = {f"{r}.{h}" for r in runtimes for h in BOUNDED_HELPERS}
        return ctx.has_name(call.func, names) is not None

    def visit_Call(self, node: cst.Call, ctx: LintContext) -> None:
        if self._is_bounded_helper(node, ctx):
            self.helpers.append(node)
            return
        if not ctx.in_async_function or ctx.in_lambda or id(node) in self.awaited or self.helpers:
            return
        frame = ctx.function_frame
        if not any(f is frame for f in self.loops) or any(f is frame for f in self.limits):
            return
        name = submission(node, ctx)
        if name is None:
            return
        statement = ctx.statement
        small = statement.body[0] if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1 else None
        if (
            isinstance(small, cst.Assign)
            and small.value is node
            and len(small.targets) == 1
            and isinstance(small.targets[0].target, cst.Name)
        ):
            # `fut = loop.run_in_executor(...)` then `await fut` in the same loop: sequential.
            self.pending.append((node, name, id(self.loop_nodes[-1]), small.targets[0].target.value, statement))
            return
        self.report(node, name, ctx)

    def finish(self, ctx: LintContext) -> None:
        for node, name, loop, target, statement in self.pending:
            if target not in self.awaited_names.get(loop, ()):
                self.report(node, name, ctx, statement)

    def report(self, node: cst.Call, name: str, ctx: LintContext, statement: cst.CSTNode | None = None) -> None:
        ctx.report(
            self,
            node,
            f"`{name}()` per item with no bound: the executor's queue grows without limit; "
            "bound it with `async with <semaphore>:` or the runtime's `offload(..., limit=N)`",
            offload_fix(node, name, ctx),
            statement=statement,
        )

    def leave_Call(self, node: cst.Call, ctx: LintContext) -> None:
        if self.helpers and self.helpers[-1] is node:
            self.helpers.pop()


def offload_fix(call: cst.Call, name: str, ctx: LintContext) -> Fix | None:
    from ..runtimefix import runtime_reference
    from .al301 import imports_used_by

    args = list(call.args)
    if name == "loop.run_in_executor":
        if not args or args[0].keyword is not None or not (
            isinstance(args[0].value, cst.Name) and args[0].value.value == "None"
        ):
            return None
        args = args[1:]
    elif name != "asyncio.to_thread":
        return None
    if not args or args[0].keyword is not None or args[0].star:
        return None
    if any(a.keyword is not None and a.keyword.value == "limit" for a in args):
        return None
    positional = [a for a in args if a.keyword is None and a.star != "**"]
    rest = [a for a in args if not (a.keyword is None and a.star != "**")]
    limit = cst.Arg(
        cst.Integer(str(FIX_LIMIT)),
        keyword=cst.Name("limit"),
        equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")),
    )
    new_args = [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in (*positional, limit, *rest)]
    runtime_name, runtime_import = runtime_reference(ctx, call)
    new_func = cst.Attribute(value=cst.Name(runtime_name), attr=cst.Name("offload"))
    return Fix(
        f"Run through the runtime's bounded `offload(..., limit={FIX_LIMIT})`",
        UNSAFE,
        {call: lambda updated: updated.with_changes(func=new_func, args=new_args)},
        add_imports=(runtime_import,),
        remove_imports=imports_used_by([call.func], ctx),
    )
