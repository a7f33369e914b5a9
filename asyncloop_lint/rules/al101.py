"""AL101 import-time-asyncio-run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..diagnostic import SAFE, UNSAFE
from ..loopapi import RUNNER_NEEDLES, loop_runner
from ..rule import Fix, Rule, cst, describe_chain, is_call_statement
from ._loopfix import (
    async_only_loads,
    await_get,
    factory_for,
    import_of,
    run_function_arg,
    runtime_attr,
    runtime_run_call,
    statement_of_assignment,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..context import LintContext

# Runners that close their loop when they return.
CLOSING_RUNNERS = frozenset({"asyncio.run", "uvloop.run", "asyncio.Runner.run"})


class ImportTimeAsyncioRun(Rule):
    code = "AL101"
    name = "import-time-asyncio-run"
    summary = "A loop runner executes at import time"
    fix = "sometimes"
    needs_call_graph = True
    needs_loop_model = True
    needles = (RUNNER_NEEDLES,)
    candidates = r"run|run_until_complete|run_forever"
    what = """
Checks for loop runners that execute when the module is imported, at module scope, in class
bodies, decorators and default arguments, and in functions of the same module that those
places call (followed transitively; the finding is reported at the import-time call and
names the chain):

- `asyncio.run`, `asyncio.Runner(...).run` and `uvloop.run`, which close their loop;
- `loop.run_until_complete` / `loop.run_forever` on a loop that is closed afterwards
  (`loop.close()`), or on a new loop that is never set as current.

Not reported: a run on the loop that is current and stays open — the loop
`get_event_loop()` returns, the loop a get-or-create-and-set helper of the module returns, a
loop passed to `set_event_loop()` and never closed. After `Mangum(app)` (0.21 and later set a
current loop in the constructor and serve every invocation on it), running startup on that
loop at import is the known lifespan-once workaround, not a hazard. Code under
`if __name__ == "__main__":`, in `__main__.py`, or inside `async def` is not import time.
"""
    why = """
`asyncio.run()` creates a loop, runs the coroutine, and closes the loop. Anything created
during that run (connection pools, HTTP clients, futures) is bound to a loop that no longer
exists, and the thread is left with no current event loop. ASGI adapters such as Mangum look
the loop up when a request arrives and fail with
`RuntimeError: There is no current event loop in thread 'MainThread'`. A loop closed by hand
after `run_until_complete` fails the same way ("Event loop is closed"), and a new loop that is
never set as current leaves startup's resources on a loop that never serves: every request
then runs on another one ("attached to a different loop").
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
A bare statement such as `asyncio.run(main())` in a script — a module that nothing in the
project imports (or one in a `scripts`/`bin` folder) and that builds no serving object (no
ASGI app, Mangum adapter, Celery app or Lambda handler) — is wrapped in an
`if __name__ == "__main__":` guard. This fix is safe: the script still runs when executed.
In any other module a guard would stop the code from running when the module is imported
(a Lambda handler module is imported, never run), so it is never offered there.

Otherwise `asyncio.run(coro)` (or `uvloop.run`), whether its value is used or not, is rewritten
to run the coroutine on the runtime module's persistent loop, `runtime.run(coro)`: it still runs
at import, and the loop stays open and current, so resources created during import stay usable
and ASGI adapters such as Mangum find it. This fix is unsafe: the loop is no longer closed
after the call.

With `fix-strategy = "lazy"`, when every use of `X = asyncio.run(coro)` in the module is
inside an `async def`, the value is computed lazily instead: `X = runtime.once(coro_factory)`
and every use becomes `await X.get()`. Unsafe: `X` changes type for other modules that import
it, and the work moves from import time to the first request.

`run_until_complete`/`run_forever` on a closed or never-current loop have no automatic fix.
"""
    options = """
- `runtime-import`: where fixes import the runtime module from (default
  `asyncloop_lint.runtime`).
- `fix-strategy`: `persistent` (default) runs import-time coroutines on the runtime's
  persistent loop; `lazy` turns module-level values into async-once initializers when every use
  is inside an `async def`.
"""
    references = (
        "https://docs.python.org/3/library/asyncio-runner.html#asyncio.run",
        "https://github.com/Kludex/mangum/pull/363",
    )

    def __init__(self) -> None:
        super().__init__()
        # (call, runner, scope key, candidate fixes) at import time; candidates per function
        self.at_import: list[tuple[cst.Call, str, Any, tuple[Fix | None, ...]]] = []
        self.pending: dict[str, list[tuple[cst.Call, str]]] = {}

    def visit_Call(self, node: cst.Call, ctx: LintContext) -> None:
        runner = loop_runner(node, ctx)
        if runner is None or ctx.in_async_function:
            return
        if ctx.executes_at_import:
            fixes = (self.guard_fix(node, ctx), self.lazy_fix(node, ctx), self.value_fix(node, ctx))
            self.at_import.append((node, runner, ctx.statement, fixes))
        elif (key := ctx.import_time_callee_key) is not None:
            self.pending.setdefault(key, []).append((node, runner))

    def finish(self, ctx: LintContext) -> None:
        for node, runner, statement, (guard, lazy, value) in self.at_import:
            hazard = self.hazard(node, runner, None, ctx)
            if hazard is None:
                continue
            fix = None
            # Only a bare run statement can take the guard, and only then is it worth asking the
            # project whether this module is a script (a question about every other file).
            script = guard is not None and self.is_script(ctx)
            if runner in CLOSING_RUNNERS:
                fix = guard if script else lazy or value
            ctx.report(self, node, self.message(runner, "script" if script else hazard), fix, statement)
        for key, candidates in self.pending.items():
            for node, runner in candidates:
                hazard = self.hazard(node, runner, key, ctx)
                if hazard is not None:
                    ctx.report_at_import_time_calls(
                        self, key, lambda chain, runner=runner, hazard=hazard: self.message(runner, hazard, chain)
                    )
                    break

    @staticmethod
    def hazard(node: cst.Call, runner: str, key: str | None, ctx: LintContext) -> str | None:
        """What goes wrong with the loop this runner runs on, or None when it runs on a loop
        that is current and stays open (the serving loop: nothing to report)."""
        if runner in CLOSING_RUNNERS:
            return "closes"
        fate = ctx.loops.fate(node.func.value, key, node)  # type: ignore[attr-defined, union-attr]
        if fate.closed:
            return "closed"
        if fate.origin == "new" and not fate.current:
            return "not current"
        return None

    @staticmethod
    def is_script(ctx: LintContext) -> bool:
        """A module run as a program, that nothing imports and that builds no serving object:
        the only place a ``__main__`` guard keeps the code running when it should."""
        return not ctx.loops.builds_serving_object and ctx.is_script()  # type: ignore[union-attr]

    @staticmethod
    def message(runner: str, hazard: str = "closes", chain: list[str] | None = None) -> str:
        where = f" through {describe_chain(chain)}" if chain else ""
        if hazard == "script":
            return (
                f"`{runner}()` runs at the top level of a script{where} with no "
                '`if __name__ == "__main__":` guard: importing the module (a test, a tool) runs the program'
            )
        if hazard == "closed":
            return (
                f"`{runner}()` runs at import time{where} on a loop that is closed afterwards: resources "
                "made on it break, and code that expects a current loop later (e.g. Mangum) finds it closed"
            )
        if hazard == "not current":
            return (
                f"`{runner}()` runs at import time{where} on a new loop that is never set as current: "
                "resources made on it are bound to a loop that will not serve (Mangum and "
                "`get_event_loop()` use another one)"
            )
        return (
            f"`{runner}()` runs at import time{where}: the loop closes when it returns, so "
            "resources made on it and code that expects a current loop (e.g. Mangum) break"
        )

    @staticmethod
    def guard_fix(node: cst.Call, ctx: LintContext) -> Fix | None:
        """Wrap a bare module-level ``asyncio.run(main())`` in a ``__main__`` guard."""
        statement = ctx.statement
        if len(ctx.frames) != 1 or not is_call_statement(statement, node):
            return None

        def wrap(updated: Any) -> cst.If:
            return cst.If(
                test=cst.parse_expression('__name__ == "__main__"'),
                body=cst.IndentedBlock(body=[updated.with_changes(leading_lines=())]),
                leading_lines=updated.leading_lines,
            )

        return Fix('Wrap in `if __name__ == "__main__":`', SAFE, {statement: wrap})

    @staticmethod
    def value_fix(node: cst.Call, ctx: LintContext) -> Fix | None:
        """``X = asyncio.run(coro)`` → ``X = runtime.run(coro)``."""
        coro = run_function_arg(node, ctx)
        if coro is None:
            return None  # not a plain run(coro)
        new, request = runtime_run_call(ctx, node, coro)
        removals = tuple(r for r in (import_of(node.func, ctx),) if r is not None)
        return Fix("Run on the runtime's persistent loop", UNSAFE, {node: new}, (request,), removals)

    @staticmethod
    def lazy_fix(node: cst.Call, ctx: LintContext) -> Fix | None:
        """``X = asyncio.run(coro)`` → ``X = runtime.once(factory)``, uses → ``await X.get()``."""
        if ctx.settings.fix_strategy != "lazy" or len(ctx.frames) != 1:
            return None
        coro = run_function_arg(node, ctx)
        found = statement_of_assignment(ctx, node) if coro is not None else None
        if found is None or found[2] is not None:
            return None
        loads = async_only_loads(ctx, found[1])
        if loads is None:
            return None
        once, request = runtime_attr(ctx, "once")
        replacements: dict[Any, Any] = {node: node.with_changes(func=once, args=[node.args[0].with_changes(value=factory_for(coro))])}
        for name, parens in loads.items():
            replacements[name] = await_get(name, once.value.value, parens)  # type: ignore[attr-defined]
        removals = tuple(r for r in (import_of(node.func, ctx),) if r is not None)
        return Fix("Initialize lazily with the runtime's async-once helper", UNSAFE, replacements, (request,), removals)
