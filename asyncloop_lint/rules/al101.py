"""AL101 import-time-asyncio-run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..diagnostic import SAFE
from ..loopapi import RUNNER_NEEDLES, loop_runner
from ..rule import Fix, Rule, cst, describe_chain

if TYPE_CHECKING:  # pragma: no cover
    from ..context import LintContext


class ImportTimeAsyncioRun(Rule):
    code = "AL101"
    name = "import-time-asyncio-run"
    summary = "A loop runner executes at import time"
    fix = "sometimes"
    needs_call_graph = True
    needles = (RUNNER_NEEDLES,)
    what = """
Checks for loop runners (`asyncio.run`, `asyncio.Runner(...).run`, `uvloop.run`,
`loop.run_until_complete`, `loop.run_forever`) that execute when the module is imported:
at module scope, in class bodies, decorators and default arguments, and in functions of the
same module that those places call (followed transitively; the finding is reported at the
import-time call and names the chain).

Code under `if __name__ == "__main__":`, in `__main__.py`, or inside `async def` is not
import time.
"""
    why = """
`asyncio.run()` creates a loop, runs the coroutine, and closes the loop. Anything created
during that run (connection pools, HTTP clients, futures) is bound to a loop that no longer
exists, and the thread is left with no current event loop. ASGI adapters such as Mangum look
the loop up when a request arrives and fail with
`RuntimeError: There is no current event loop in thread 'MainThread'`.
"""
    example = """
import asyncio

async def fetch_prompt() -> str:
    return "hello"

PROMPT_TEXT = asyncio.run(fetch_prompt())
"""
    use_instead = """
from asyncloop_lint import runtime

async def fetch_prompt() -> str:
    return "hello"

PROMPT_TEXT = runtime.run(fetch_prompt())
"""
    fix_safety = """
A bare statement such as `asyncio.run(main())` is wrapped in an
`if __name__ == "__main__":` guard; this fix is safe: the script still runs when executed,
and importing the module no longer starts a loop.
"""
    references = (
        "https://docs.python.org/3/library/asyncio-runner.html#asyncio.run",
        "https://github.com/Kludex/mangum/pull/363",
    )

    def visit_Call(self, node: cst.Call, ctx: LintContext) -> None:
        runner = loop_runner(node, ctx)
        if runner is None or ctx.in_async_function:
            return
        if ctx.executes_at_import:
            ctx.report(self, node, self.message(runner), self.guard_fix(node, ctx))
        elif not (ctx.in_lambda or ctx.in_main_guard or ctx.is_main_module):
            key = ctx.function_key
            if key is not None:
                self.state.setdefault(key, runner)

    def finish(self, ctx: LintContext) -> None:
        for key, runner in self.state.items():
            for site, chain in ctx.graph.import_time_chains(key):
                ctx.report(self, site.node, self.message(runner, chain), statement=site.statement)

    @staticmethod
    def message(runner: str, chain: list[str] | None = None) -> str:
        where = f" through {describe_chain(chain)}" if chain else ""
        return (
            f"`{runner}()` runs at import time{where}: the loop closes when it returns, so "
            "resources made on it and code that expects a current loop (e.g. Mangum) break"
        )

    @staticmethod
    def guard_fix(node: cst.Call, ctx: LintContext) -> Fix | None:
        """Wrap a bare module-level ``asyncio.run(main())`` in a ``__main__`` guard."""
        statement = ctx.statement
        if len(ctx.frames) != 1 or not isinstance(statement, cst.SimpleStatementLine):
            return None
        if len(statement.body) != 1 or not isinstance(statement.body[0], cst.Expr):
            return None
        if statement.body[0].value is not node:
            return None

        def wrap(updated: Any) -> cst.If:
            return cst.If(
                test=cst.parse_expression('__name__ == "__main__"'),
                body=cst.IndentedBlock(body=[updated.with_changes(leading_lines=())]),
                leading_lines=updated.leading_lines,
            )

        return Fix('Wrap in `if __name__ == "__main__":`', SAFE, {statement: wrap})
