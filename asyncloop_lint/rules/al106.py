"""AL106 get-event-loop-outside-coroutine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..rule import Rule, cst
from .al105 import LoopGetterUses

if TYPE_CHECKING:  # pragma: no cover
    from ..context import LintContext


class GetEventLoopOutsideCoroutine(Rule):
    code = "AL106"
    name = "get-event-loop-outside-coroutine"
    summary = "`asyncio.get_event_loop()` in sync code"
    needs_call_graph = True
    needs_loop_model = True
    applies_from = (3, 12)  # get_event_loop() warns from 3.12 when no loop is set, 3.14 raises
    needles = ((b"get_event_loop",),)
    candidates = r"get_event_loop"
    what = """
Checks for `asyncio.get_event_loop()` (and `asyncio.get_event_loop_policy().get_event_loop()`)
in sync code that does not run at import time: constructors, helpers, `__main__` blocks.

Not reported: calls in the body of a `try` that catches `RuntimeError` (the usual fallback to
`new_event_loop()`) or of a `with` that expects an error (`pytest.raises`, `assertRaises`,
`contextlib.suppress(RuntimeError)`), sync functions nested in an `async def` (callbacks that run inside the
loop), generator-based coroutines (`yield from`), calls after `asyncio.set_event_loop(loop)` in
the same function (they return that loop), calls after a get-or-create-and-set helper or
`Mangum(app)` (in the same function, or at import time), code gated to Pythons before 3.12,
calls whose loop runs a coroutine (AL105) and calls reached at import time (AL102).
"""
    why = """
`get_event_loop()` returns the running loop only when called from a coroutine or a callback
running on the loop. Anywhere else it falls back to the deprecated policy machinery: Python
3.12 and 3.13 warn and create a loop as a side effect, 3.14 raises `RuntimeError` when no loop
has been set. A helper or constructor written this way works today and breaks on upgrade, or
binds objects to a loop that never runs.
"""
    example = """
import asyncio

class Poller:
    def __init__(self) -> None:
        self.loop = asyncio.get_event_loop()
"""
    use_instead = """
import asyncio

class Poller:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    @classmethod
    async def create(cls) -> "Poller":
        return cls(asyncio.get_running_loop())
"""
    fix_safety = """
No automatic fix: `asyncio.get_running_loop()` is right only when a loop is guaranteed to be
running at that point; otherwise pass the loop in, create objects inside a coroutine, or fall
back explicitly (`try: get_running_loop()` / `except RuntimeError: new_event_loop()`).
"""
    references = (
        "https://docs.python.org/3/library/asyncio-eventloop.html#asyncio.get_event_loop",
        "https://docs.python.org/3/library/asyncio-eventloop.html#asyncio.get_running_loop",
    )

    def __init__(self) -> None:
        super().__init__()
        self.uses = LoopGetterUses()

    def visit_Try(self, node: cst.Try, ctx: LintContext) -> None:
        self.uses.visit_try(node, ctx)

    def visit_TryStar(self, node: cst.TryStar, ctx: LintContext) -> None:
        self.uses.visit_try(node, ctx)

    def visit_With(self, node: cst.With, ctx: LintContext) -> None:
        self.uses.visit_with(node, ctx)

    def visit_IndentedBlock(self, node: cst.IndentedBlock, ctx: LintContext) -> None:
        self.uses.visit_suite(node, ctx)

    def leave_IndentedBlock(self, node: cst.IndentedBlock, ctx: LintContext) -> None:
        self.uses.leave_suite(node)

    def visit_SimpleStatementSuite(self, node: cst.SimpleStatementSuite, ctx: LintContext) -> None:
        self.uses.visit_suite(node, ctx)

    def leave_SimpleStatementSuite(self, node: cst.SimpleStatementSuite, ctx: LintContext) -> None:
        self.uses.leave_suite(node)

    def visit_Call(self, node: cst.Call, ctx: LintContext) -> None:
        self.uses.visit_call(node, ctx)

    def visit_Yield(self, node: cst.Yield, ctx: LintContext) -> None:
        self.uses.visit_yield(node, ctx)

    def finish(self, ctx: LintContext) -> None:
        for call in self.uses.calls:
            if (
                call.guarded
                or call.under_async
                or self.uses.in_legacy_coroutine(call)
                or self.uses.used_to_run(call, ctx)
                or self.uses.current_is_set(call, ctx)
            ):
                continue
            if call.function_key is not None and not call.in_lambda and ctx.graph.import_time_chains(call.function_key):
                continue  # AL102 reports it at the import-time call
            ctx.report(
                self,
                call.node,
                f"`{call.getter}()` outside a coroutine: 3.12/3.13 warn and create a loop, 3.14 "
                "raises when none is set; pass the loop in or get it inside a coroutine",
                statement=call.assignment[0] if call.assignment else None,
            )
