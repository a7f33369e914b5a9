"""AL602 loop-close-without-shutdown."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..diagnostic import UNSAFE
from ..loopmodel import MODULE_SCOPE, SHUTDOWN_METHODS
from ..project import is_test_path
from ..rule import Fix, Rule, cst, is_call_statement

if TYPE_CHECKING:  # pragma: no cover
    from ..context import LintContext
    from ..loopmodel import Event, LoopModel

# Where a closed loop comes from, as the loop model names it, and how the message says it.
MANUAL_ORIGINS = {
    "new": "`new_event_loop()`",
    "get": "`get_event_loop()`",
    "current": "a get-or-create helper",
}
CONSEQUENCES = {
    "shutdown_asyncgens": "async generators left suspended never run their `finally` blocks",
    "shutdown_default_executor": (
        "jobs still running in the default executor outlive the loop (their threads are joined "
        "only at interpreter exit)"
    ),
}


class LoopCloseWithoutShutdown(Rule):
    code = "AL602"
    name = "loop-close-without-shutdown"
    summary = "`loop.close()` without `shutdown_asyncgens()` and `shutdown_default_executor()`"
    fix = "sometimes"
    needs_loop_model = True
    needles = ((b".close(",), (b"new_event_loop", b"get_event_loop"), (b"run_until_complete", b"run_forever"))
    candidates = r"close"
    what = """
Checks for `loop.close()` on a loop the code manages itself — made by `new_event_loop()`
(asyncio's or uvloop's), returned by `get_event_loop()` or by a get-or-create helper of the
module — and ran in the same function (`run_until_complete`, `run_forever`), when
`loop.shutdown_asyncgens()` and `loop.shutdown_default_executor()` were not awaited before it
on a path that leads to the close. A shutdown step counts when it comes earlier in the same
function and not in a branch that excludes the close (the other side of an `if`, another
`except`), or inside a function of the module called before the close (a cleanup helper).
`asyncio.run()`, `asyncio.Runner` and `uvloop.run()` do both steps themselves and are never
reported; neither is a loop that never ran, nor a test module (`test_*.py`, `conftest.py`,
files in a `tests` folder).
"""
    why = """
`close()` does neither step. Async generators suspended at an `async for ... break` or an
exception are finalized only by `shutdown_asyncgens()`: without it their `finally` blocks and
`async with` exits (closing connections, releasing locks) never run. `close()` shuts the
default executor down without waiting, so `run_in_executor()` jobs still running outlive the
loop and are joined only when the interpreter exits. Measured on CPython 3.10–3.13: a
suspended generator's `finally` is silently skipped and an executor job finishes after
`close()` returned.
"""
    example = """
import asyncio

async def main() -> None:
    await asyncio.sleep(0)

def serve() -> None:
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
"""
    use_instead = """
import asyncio

async def main() -> None:
    await asyncio.sleep(0)

def serve() -> None:
    with asyncio.Runner() as runner:  # or asyncio.run(main())
        runner.run(main())
"""
    fix_safety = """
When the `close()` is a statement of its own in a sync function or a program's entry (not in
module code run at import, where running a loop that is then closed is AL101's hazard), the
fix inserts the missing
`loop.run_until_complete(loop.shutdown_asyncgens())` and
`loop.run_until_complete(loop.shutdown_default_executor())` before it. It is unsafe: code that
never ran before now runs (the generators' `finally` blocks), and the close now waits for the
executor's jobs (without a timeout before 3.12, up to five minutes from 3.12). Replacing the
manual loop with `asyncio.Runner` is the other way out; it is left to you because it also
changes which loop is current.
"""
    references = (
        "https://docs.python.org/3/library/asyncio-eventloop.html#asyncio.loop.shutdown_asyncgens",
        "https://docs.python.org/3/library/asyncio-eventloop.html#asyncio.loop.shutdown_default_executor",
        "https://docs.python.org/3/library/asyncio-runner.html#asyncio.Runner",
    )

    def __init__(self) -> None:
        super().__init__()
        self.close_statements: dict[int, tuple[cst.CSTNode | None, bool]] = {}

    def visit_Call(self, node: cst.Call, ctx: LintContext) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "close" and not node.args:
            # No fix in a coroutine (run_until_complete cannot run there) nor at import time,
            # where a loop run that then closes is AL101's hazard: the fix would add two more.
            self.close_statements[id(node)] = (ctx.statement, ctx.in_async_function or ctx.executes_at_import)

    def finish(self, ctx: LintContext) -> None:
        loops = ctx.loops
        assert loops is not None
        if is_test_path(ctx.path, ctx.settings.project_root):
            return  # a test's loop lives for one test; what it leaks is the test runner's concern
        for scope_key, scope in loops.scopes.items():
            key = None if scope_key == MODULE_SCOPE else scope_key
            for close in scope.closes:
                self._check(loops, key, close, ctx)

    def _check(self, loops: LoopModel, key: str | None, close: Event, ctx: LintContext) -> None:
        name = close.name
        assert name is not None
        found = loops.binding(key, name, close.node)
        if found is None:
            return
        origin = loops.origin(found[1].value, found[0])
        if origin not in MANUAL_ORIGINS:
            return
        scope = loops.scope_of(key)
        if not any(run.name == name and run.order < close.order for run in scope.runs):
            return  # never ran here: nothing to finalize
        missing = [method for method in SHUTDOWN_METHODS if method not in loops.shut_down_before(key, close)]
        if not missing:
            return
        statement, no_fix = self.close_statements.get(id(close.node), (None, True))
        steps = " and ".join(f"`{name}.{method}()`" for method in missing)
        effects = "; ".join(CONSEQUENCES[method] for method in missing)
        ctx.report(
            self,
            close.node,
            f"`{name}.close()` on a loop from {MANUAL_ORIGINS[origin]} without {steps} first: "
            f"{effects}; await them before closing, or let `asyncio.Runner`/`asyncio.run()` "
            "manage the loop",
            None if no_fix else _insert_fix(close.node, statement, name, missing),
            statement=statement,
        )


def _insert_fix(call: cst.CSTNode, statement: cst.CSTNode | None, name: str, missing: list[str]) -> Fix | None:
    if not is_call_statement(statement, call):
        return None
    inserted = [
        cst.SimpleStatementLine(
            body=[cst.Expr(cst.parse_expression(f"{name}.run_until_complete({name}.{method}())"))]
        )
        for method in missing
    ]

    def insert(updated: cst.SimpleStatementLine) -> cst.FlattenSentinel:
        first = inserted[0].with_changes(leading_lines=updated.leading_lines)
        return cst.FlattenSentinel([first, *inserted[1:], updated.with_changes(leading_lines=())])

    return Fix(
        "Run " + " and ".join(f"`{name}.{method}()`" for method in missing) + " before closing",
        UNSAFE,
        {statement: insert},
    )
