"""AL105 sync-get-event-loop-run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..diagnostic import UNSAFE
from ..loopapi import LOOP_RUN_METHODS, loop_getter
from ..loopmodel import RUNTIME_ERROR_CATCHERS, catches_runtime_error
from ..rule import Fix, ImportRequest, Rule, cst
from ._loopfix import (
    asyncio_run_func,
    import_of,
    references,
    removal,
    runtime_run_call,
    single_coroutine_arg,
    statement_of_assignment,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..context import Frame, LintContext


@dataclass
class GetterCall:
    """A ``get_event_loop()`` call in sync code and where it is."""

    node: cst.Call
    getter: str
    function_key: str | None
    function_frame: Frame | None
    root: cst.CSTNode  # the function (or module) whose body holds the call
    in_lambda: bool
    under_async: bool  # some enclosing def is async (a callback inside a coroutine)
    guarded: bool  # in the body of a `try` that catches RuntimeError
    assignment: tuple[cst.SimpleStatementLine, cst.Name] | None  # `loop = get_event_loop()`


class LoopGetterUses:
    """Finds ``get_event_loop()`` calls in sync (not import-time) code and how their loop is
    used; shared by AL105 (used to run) and AL106 (everything else)."""

    def __init__(self) -> None:
        self.calls: list[GetterCall] = []
        self.run_calls: dict[int, tuple[cst.Call, str]] = {}  # id(loop name) -> (call, method)
        self.outer_runs: dict[int, tuple[cst.Call, str]] = {}  # id(getter call) -> (call, method)
        self.guard_bodies: dict[int, bool] = {}
        self.guards: list[tuple[int, Frame | None]] = []  # (id(try body), function frame)
        self.legacy_coroutines: set[int] = set()  # frames of generator-based coroutines

    def visit_yield(self, node: cst.Yield, ctx: LintContext) -> None:
        """``yield from`` in a plain def: a generator-based coroutine, which runs on the loop."""
        if isinstance(node.value, cst.From):
            self.legacy_coroutines.add(id(ctx.function_frame))

    # ---- traversal -------------------------------------------------------------------
    def visit_try(self, node: cst.Try | cst.TryStar, ctx: LintContext) -> None:
        if any(catches_runtime_error(handler, ctx) for handler in node.handlers):
            self.guard_bodies[id(node.body)] = True

    def visit_with(self, node: cst.With, ctx: LintContext) -> None:
        """``with pytest.raises(...)`` / ``self.assertRaises(...)`` / ``suppress(RuntimeError)``:
        the code expects the call to fail, like an ``except RuntimeError`` guard."""
        for item in node.items:
            call = item.item
            if not isinstance(call, cst.Call):
                continue
            func = call.func
            if isinstance(func, cst.Attribute) and func.attr.value in ("assertRaises", "assertRaisesRegex"):
                self.guard_bodies[id(node.body)] = True
            elif ctx.has_name(func, {"pytest.raises"}) or (
                ctx.has_name(func, {"contextlib.suppress"})
                and any(ctx.has_name(arg.value, RUNTIME_ERROR_CATCHERS) for arg in call.args)
            ):
                self.guard_bodies[id(node.body)] = True

    def visit_suite(self, node: cst.BaseSuite, ctx: LintContext) -> None:
        if self.guard_bodies.pop(id(node), False):
            self.guards.append((id(node), ctx.function_frame))

    def leave_suite(self, node: cst.BaseSuite) -> None:
        if self.guards and self.guards[-1][0] == id(node):
            self.guards.pop()

    def visit_call(self, node: cst.Call, ctx: LintContext) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in LOOP_RUN_METHODS:
            if isinstance(func.value, cst.Name):
                self.run_calls[id(func.value)] = (node, func.attr.value)
            elif isinstance(func.value, cst.Call):
                self.outer_runs[id(func.value)] = (node, func.attr.value)
        frame = ctx.function_frame
        getter = loop_getter(node, ctx)
        if getter is None or ctx.in_async_function or ctx.executes_at_import:
            return
        found = statement_of_assignment(ctx, node)
        self.calls.append(
            GetterCall(
                node,
                getter,
                ctx.function_key,
                frame,
                frame.node if frame is not None else ctx.module,
                ctx.in_lambda,
                any(f.is_async for f in ctx.frames),
                any(guard_frame is frame for _, guard_frame in self.guards),
                (found[0], found[1]) if found is not None and found[2] is None else None,
            )
        )

    # ---- results ------------------------------------------------------------------------
    def in_legacy_coroutine(self, call: GetterCall) -> bool:
        return id(call.function_frame) in self.legacy_coroutines

    def runs(self, call: GetterCall, ctx: LintContext) -> list[tuple[cst.Call, str]]:
        """The ``run_until_complete``/``run_forever`` calls made on this getter's loop."""
        outer = self.outer_runs.get(id(call.node))
        if outer is not None:
            return [outer]
        if call.assignment is None:
            return []
        uses = references(ctx, call.assignment[1])
        if uses is None:
            return []
        return [self.run_calls[id(use)] for use in uses if id(use) in self.run_calls]

    def used_to_run(self, call: GetterCall, ctx: LintContext) -> bool:
        return bool(self.runs(call, ctx))

    def current_is_set(self, call: GetterCall, ctx: LintContext) -> bool:
        """A current loop is guaranteed where the call is (``set_event_loop(loop)``, a Mangum
        adapter or a get-or-create-and-set helper before it), or the call is part of such a
        helper: ``get_event_loop()`` just returns that loop, on every Python version."""
        loops = ctx.loops
        assert loops is not None
        if call.function_key is not None and call.guarded and loops.ensures_current(call.function_key):
            return True
        return loops.guaranteed_before(call.function_key, call.node)


class SyncGetEventLoopRun(Rule):
    code = "AL105"
    name = "sync-get-event-loop-run"
    summary = "`asyncio.get_event_loop()` used to run a loop from sync code"
    fix = "sometimes"
    needs_call_graph = True
    needs_loop_model = True
    applies_from = (3, 12)  # get_event_loop() warns from 3.12 when no loop is set, 3.14 raises
    needles = ((b"get_event_loop",), (b"run_until_complete", b"run_forever"))
    candidates = r"run_until_complete|run_forever"
    what = """
Checks sync code that is not import time (functions, `__main__` blocks) for
`asyncio.get_event_loop().run_until_complete(...)`, or `loop = asyncio.get_event_loop()`
followed by `loop.run_until_complete(...)` / `loop.run_forever()`.

Not reported where a current loop is guaranteed (after `set_event_loop(loop)`, `Mangum(app)` or
a get-or-create-and-set helper, in the same function or at import time), nor in code gated to
Pythons before 3.12 (`if sys.version_info < (3, 12):`), where the lookup is not deprecated.
Invocation entrypoints include the `__call__` and `run` methods of Celery `Task` subclasses.
"""
    why = """
Outside a running loop, `get_event_loop()` creates a loop as a deprecated side effect of the
policy system: Python 3.12 and 3.13 warn, and 3.14 raises `RuntimeError` when no loop has been
set, so code written this way breaks on upgrade. `asyncio.run()` creates, runs and closes a
loop explicitly. In a per-request entrypoint (a Lambda handler, a Celery task), a loop that
lives across requests is what you want, and the runtime's persistent loop provides one.
"""
    example = """
import asyncio

async def sync_users() -> None:
    pass

def main() -> None:
    loop = asyncio.get_event_loop()
    loop.run_until_complete(sync_users())
"""
    use_instead = """
import asyncio

async def sync_users() -> None:
    pass

def main() -> None:
    asyncio.run(sync_users())
"""
    fix_safety = """
When the loop is used for nothing but one `run_until_complete(coro)` (or the call is chained,
`asyncio.get_event_loop().run_until_complete(coro)`), the fix rewrites it to
`asyncio.run(coro)`. Inside an invocation entrypoint (a Lambda handler, a request handler, a
Celery task including `Task.__call__`/`run` of a `Task` subclass) or a function it calls, it
never writes `asyncio.run` or a fresh loop: it runs the coroutine on the runtime module's
persistent loop, `runtime.run(coro)`, so resources survive warm invocations. Both are unsafe: `asyncio.run()` closes its loop and clears the
current loop when it returns, and the persistent loop is never closed. `run_forever()` has no
automatic fix.
"""
    options = """
- `entrypoints`: extra invocation entrypoints (`"package.module:function"`).
- `runtime-import`: where fixes import the runtime module from (default
  `asyncloop_lint.runtime`).
"""
    references = (
        "https://docs.python.org/3/library/asyncio-eventloop.html#asyncio.get_event_loop",
        "https://docs.python.org/3/library/asyncio-runner.html#asyncio.run",
    )

    def __init__(self) -> None:
        super().__init__()
        self.uses = LoopGetterUses()

    def visit_Call(self, node: cst.Call, ctx: LintContext) -> None:
        self.uses.visit_call(node, ctx)

    def visit_Yield(self, node: cst.Yield, ctx: LintContext) -> None:
        self.uses.visit_yield(node, ctx)

    def finish(self, ctx: LintContext) -> None:
        for call in self.uses.calls:
            runs = self.uses.runs(call, ctx)
            if not runs or self.uses.in_legacy_coroutine(call) or self.uses.current_is_set(call, ctx):
                continue
            chain = ctx.graph.entrypoint_chain(call.function_key) if call.function_key else None
            methods = sorted({method for _, method in runs})
            where = f" in `{chain[0]}()`, called on every invocation," if chain else ""
            advice = "the runtime's persistent loop" if chain else "`asyncio.run()`"
            message = (
                f"`{call.getter}()` + `loop.{'()`/`loop.'.join(methods)}()`{where} creates the loop "
                f"as a deprecated side effect (3.14 raises when none is set): use {advice}"
            )
            statement = call.assignment[0] if call.assignment else None
            ctx.report(self, call.node, message, self.fix_for(call, runs, chain is not None, ctx), statement)

    def fix_for(self, call: GetterCall, runs: list[tuple[cst.Call, str]], entry: bool, ctx: LintContext) -> Fix | None:
        if call.in_lambda or any(method != "run_until_complete" for _, method in runs):
            return None
        if call.assignment is not None:
            statement, target = call.assignment
            uses = references(ctx, target) or []
            if len(uses) != len(runs) or (not entry and len(runs) != 1):
                return None
            if any(ctx.scope(use) is not ctx.scope(target) for use in uses):
                return None
            replacements = removal(statement, call.root)
        elif call.node is runs[0][0].func.value:  # type: ignore[attr-defined]
            replacements = {}
        else:
            return None
        imports: tuple[ImportRequest, ...] = ()
        for run_call, _ in runs:
            coro = single_coroutine_arg(run_call)
            if coro is None:
                return None
            if entry:
                replacements[run_call], request = runtime_run_call(ctx, run_call, coro)
                imports = (request,)
            else:
                spelled = asyncio_run_func(ctx, call.node, run_call)
                if spelled is None:
                    return None
                replacements[run_call] = run_call.with_changes(func=spelled[0])
                imports = spelled[1]
        getter_func = call.node.func
        if isinstance(getter_func, cst.Attribute) and isinstance(getter_func.value, cst.Call):
            getter_func = getter_func.value.func
        removals = tuple(r for r in (import_of(getter_func, ctx),) if r is not None)
        message = "Run on the runtime's persistent loop" if entry else "Use `asyncio.run()`"
        return Fix(message, UNSAFE, replacements, imports, removals)
