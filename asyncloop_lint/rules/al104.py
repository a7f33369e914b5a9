"""AL104 nested-loop-run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..loopapi import RUNNER_NEEDLES, loop_runner
from ..rule import Rule, cst

if TYPE_CHECKING:  # pragma: no cover
    from ..context import LintContext


class NestedLoopRun(Rule):
    code = "AL104"
    name = "nested-loop-run"
    summary = "A loop runner called inside a coroutine"
    needles = (RUNNER_NEEDLES, (b"async",))
    candidates = r"run|run_until_complete|run_forever"
    what = """
Checks for loop runners (`asyncio.run`, `asyncio.Runner(...).run`, `uvloop.run`,
`loop.run_until_complete`, `loop.run_forever`) called in the body of an `async def`.
A nested plain `def` or a `lambda` is not the coroutine's body: they usually run elsewhere
(in a worker thread via `run_in_executor`/`to_thread`, for example), where starting a loop is
legitimate.
"""
    why = """
A coroutine body runs while its event loop is running, and a thread can run only one loop at
a time: `asyncio.run()` raises `RuntimeError: asyncio.run() cannot be called from a running
event loop`, `run_until_complete()` raises `RuntimeError: This event loop is already running`
(or `Cannot run the event loop while another loop is running`), and work-arounds that nest
loops deadlock or starve the outer loop.
"""
    example = """
import asyncio

async def fetch_user(user_id: int) -> dict:
    return {"id": user_id}

async def handle(user_id: int) -> dict:
    return asyncio.run(fetch_user(user_id))
"""
    use_instead = """
import asyncio

async def fetch_user(user_id: int) -> dict:
    return {"id": user_id}

async def handle(user_id: int) -> dict:
    return await fetch_user(user_id)
"""
    fix_safety = """
No automatic fix: `await` the coroutine instead (the call's caller is already a coroutine).
When the work really must run on another loop, start it in a worker thread.
"""
    references = (
        "https://docs.python.org/3/library/asyncio-runner.html#asyncio.run",
        "https://docs.python.org/3/library/asyncio-eventloop.html#asyncio.loop.run_until_complete",
    )

    def visit_Call(self, node: cst.Call, ctx: LintContext) -> None:
        if not ctx.in_async_function or ctx.in_lambda:
            return
        runner = loop_runner(node, ctx)
        if runner is None:
            return
        function = ctx.function
        name = function.name.value if function is not None else "?"
        ctx.report(
            self,
            node,
            f"`{runner}()` inside coroutine `{name}()`: the loop is already running, so this "
            "raises `RuntimeError` (or deadlocks); `await` the coroutine instead",
        )
