"""AL103 get-event-loop-in-coroutine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..diagnostic import SAFE
from ..loopapi import GET_EVENT_LOOP
from ..rule import Fix, ImportRequest, Rule, cst

if TYPE_CHECKING:  # pragma: no cover
    from ..context import LintContext


class GetEventLoopInCoroutine(Rule):
    code = "AL103"
    name = "get-event-loop-in-coroutine"
    summary = "`asyncio.get_event_loop()` inside a coroutine"
    fix = SAFE
    needles = ((b"get_event_loop",), (b"async",))
    candidates = r"get_event_loop"
    what = """
Checks for `asyncio.get_event_loop()` in the body of an `async def`, including list, set and
dict comprehensions in that body (they run at once). A lambda, a generator expression or a
nested plain `def` is not the coroutine's body: it runs when it is called or consumed, which
may be after the coroutine returns or in another thread, where no loop is running.
"""
    why = """
Inside a coroutine a loop is always running, and `asyncio.get_running_loop()` says exactly
that: it returns the running loop or raises. `get_event_loop()` carries the deprecated
policy machinery (it may create a loop as a side effect when called elsewhere) and its
behaviour changes across Python versions (3.12 warns, 3.14 raises when no loop is set).
"""
    example = """
import asyncio

async def fetch(url: str) -> bytes:
    loop = asyncio.get_event_loop()
    return await loop.run_in_executor(None, download, url)
"""
    use_instead = """
import asyncio

async def fetch(url: str) -> bytes:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, download, url)
"""
    fix_safety = """
The fix replaces the call with `asyncio.get_running_loop()` (spelled the way the file
imports asyncio). It is safe: inside a coroutine both return the running loop.
"""
    references = ("https://docs.python.org/3/library/asyncio-eventloop.html#asyncio.get_running_loop",)

    def __init__(self) -> None:
        super().__init__()
        self.generators = 0  # generator expressions around the visited node: lazily evaluated

    def visit_GeneratorExp(self, node: cst.GeneratorExp, ctx: LintContext) -> None:
        self.generators += 1

    def leave_GeneratorExp(self, node: cst.GeneratorExp, ctx: LintContext) -> None:
        self.generators -= 1

    def visit_Call(self, node: cst.Call, ctx: LintContext) -> None:
        # Only code that runs while the coroutine runs: a lambda or a generator expression
        # may run later, outside it, where `get_running_loop()` raises.
        if not ctx.in_async_function or ctx.in_lambda or self.generators:
            return
        if not ctx.has_name(node.func, GET_EVENT_LOOP):
            return
        ctx.report(
            self,
            node,
            "`asyncio.get_event_loop()` in a coroutine: use `asyncio.get_running_loop()`",
            self.running_loop_fix(node, ctx),
        )

    @staticmethod
    def running_loop_fix(node: cst.Call, ctx: LintContext) -> Fix | None:
        func = node.func
        message = "Replace with `asyncio.get_running_loop()`"
        if isinstance(func, cst.Attribute):
            return Fix(message, SAFE, {func.attr: func.attr.with_changes(value="get_running_loop")})
        if isinstance(func, cst.Name):
            if not ctx.name_is_free("get_running_loop") and not ctx.has_name_binding(
                "get_running_loop", {"asyncio.get_running_loop", "asyncio.events.get_running_loop"}
            ):
                return None
            return Fix(
                message,
                SAFE,
                {func: cst.Name("get_running_loop")},
                add_imports=(ImportRequest("asyncio", "get_running_loop"),),
                remove_imports=(ImportRequest("asyncio", "get_event_loop", None if func.value == "get_event_loop" else func.value),),
            )
        return None
