"""AL102 import-time-get-event-loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..diagnostic import UNSAFE
from ..loopapi import loop_getter
from ..rule import Fix, Rule, cst, describe_chain
from ._loopfix import import_of, references, removal, runtime_run_call, single_coroutine_arg, statement_of_assignment

if TYPE_CHECKING:  # pragma: no cover
    from ..context import LintContext


class ImportTimeGetEventLoop(Rule):
    code = "AL102"
    name = "import-time-get-event-loop"
    summary = "`asyncio.get_event_loop()` at import time"
    fix = "sometimes"
    needs_call_graph = True
    needs_loop_model = True
    needles = ((b"get_event_loop",),)
    candidates = r"get_event_loop"
    what = """
Checks for `asyncio.get_event_loop()` (and `asyncio.get_event_loop_policy().get_event_loop()`)
that executes when the module is imported: at module scope, in class bodies, decorators and
default arguments, and in functions of the same module that those places call (reported at
the import-time call, naming the chain).

Code inside `async def`, under `if __name__ == "__main__":` and in `__main__.py` is not
import time. Not reported either where a current loop is guaranteed, because the call then
simply returns it on every Python version: after `set_event_loop(loop)`, after `Mangum(app)`
(0.21 and later set a current loop in the constructor), after a call to a get-or-create-and-set
helper of the module, and inside such a helper (its lookup falls back to setting a new loop).
"""
    why = """
At import time no loop is running, so `get_event_loop()` falls back to the deprecated policy
machinery: Python 3.10–3.13 warn (`DeprecationWarning: There is no current event loop`) and
create a loop as a side effect, and 3.14 raises `RuntimeError` when no loop has been set. Even
where it works, the loop it returns is rarely the one that later runs the application: a
server or an ASGI adapter starts its own, and objects bound to the import-time loop fail with
"attached to a different loop".
"""
    example = """
import asyncio

async def load_settings() -> dict:
    return {}

loop = asyncio.get_event_loop()
SETTINGS = loop.run_until_complete(load_settings())
"""
    use_instead = """
from asyncloop_lint import runtime

async def load_settings() -> dict:
    return {}

SETTINGS = runtime.run(load_settings())
"""
    fix_safety = """
When the loop is only used to run coroutines at import time
(`loop = asyncio.get_event_loop()` followed by `loop.run_until_complete(c)`, or
`asyncio.get_event_loop().run_until_complete(c)`), the fix runs them on the runtime module's
persistent loop instead: `runtime.run(c)`. It is unsafe: the persistent loop stays open (and
current) after import. Otherwise there is no automatic fix.
"""
    options = """
- `runtime-import`: where fixes import the runtime module from (default
  `asyncloop_lint.runtime`).
"""
    references = (
        "https://docs.python.org/3/library/asyncio-eventloop.html#asyncio.get_event_loop",
        "https://docs.python.org/3/whatsnew/3.14.html#id8",
    )

    def __init__(self) -> None:
        super().__init__()
        self.pending: dict[str, list[tuple[cst.Call, str]]] = {}  # function key -> getters, for import-time chains
        self.direct: list[tuple[cst.Call, str, Fix | None, Any]] = []
        self.run_calls: dict[int, tuple[cst.Call, bool]] = {}  # id(loop name) -> (call, at import)
        self.assigned: list[tuple[cst.Call, str, cst.SimpleStatementLine, cst.Name]] = []
        self.outer_runs: dict[int, cst.Call] = {}  # id(getter call) -> getter().run_until_complete(...)

    def visit_Call(self, node: cst.Call, ctx: LintContext) -> None:
        func = node.func
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value == "run_until_complete"
            and isinstance(func.value, cst.Name)
        ):
            self.run_calls[id(func.value)] = (node, ctx.executes_at_import and not ctx.in_lambda)
        elif isinstance(func, cst.Attribute) and func.attr.value == "run_until_complete" and isinstance(func.value, cst.Call):
            self.outer_runs[id(func.value)] = node
        getter = loop_getter(node, ctx)
        if getter is None or ctx.in_async_function:
            return
        if ctx.executes_at_import:
            found = statement_of_assignment(ctx, node) if len(ctx.frames) == 1 else None
            if found is not None and found[2] is None:
                self.assigned.append((node, getter, found[0], found[1]))
            else:
                self.direct.append((node, getter, self.chained_fix(node, ctx), ctx.statement))
        elif (key := ctx.import_time_callee_key) is not None:
            self.pending.setdefault(key, []).append((node, getter))

    def finish(self, ctx: LintContext) -> None:
        loops = ctx.loops
        assert loops is not None
        for getter_call, getter, fix, statement in self.direct:
            if not (loops.guaranteed_before(None, getter_call) or loops.get_or_create(getter_call, None)):
                ctx.report(self, getter_call, self.message(getter), fix, statement)
        for getter_call, getter, statement, target in self.assigned:
            if not (loops.guaranteed_before(None, getter_call) or loops.get_or_create(getter_call, None)):
                ctx.report(self, getter_call, self.message(getter), self.assigned_fix(ctx, statement, target), statement)
        for key, getters in self.pending.items():
            if loops.ensures_current(key):
                continue  # a get-or-create-and-set helper: it sets the loop it falls back to
            for getter_call, getter in getters:
                if not loops.guaranteed_before(key, getter_call):
                    ctx.report_at_import_time_calls(self, key, lambda chain, getter=getter: self.message(getter, chain))
                    break

    @staticmethod
    def message(getter: str, chain: list[str] | None = None) -> str:
        where = f" through {describe_chain(chain)}" if chain else ""
        return (
            f"`{getter}()` runs at import time{where}, before anything here sets a current loop: "
            "3.12 and 3.13 warn and create one as a side effect, 3.14 raises `RuntimeError`"
        )

    def chained_fix(self, getter_call: cst.Call, ctx: LintContext) -> Fix | None:
        """``asyncio.get_event_loop().run_until_complete(c)`` → ``runtime.run(c)``."""
        outer = self.outer_runs.get(id(getter_call))
        if outer is None:
            return None
        coro = single_coroutine_arg(outer)
        if coro is None:
            return None
        new, request = runtime_run_call(ctx, outer, coro)
        removals = tuple(r for r in (import_of(_getter_func(getter_call), ctx),) if r is not None)
        return Fix("Run on the runtime's persistent loop", UNSAFE, {outer: new}, (request,), removals)

    def assigned_fix(self, ctx: LintContext, statement: cst.SimpleStatementLine, target: cst.Name) -> Fix | None:
        """``loop = get_event_loop()`` used only as ``loop.run_until_complete(c)`` at import."""
        uses = references(ctx, target)
        if not uses:
            return None
        replacements: dict[Any, Any] = removal(statement, ctx.module)
        request = None
        for use in uses:
            found = self.run_calls.get(id(use))
            if found is None or not found[1]:
                return None
            call = found[0]
            coro = single_coroutine_arg(call)
            if coro is None:
                return None
            replacements[call], request = runtime_run_call(ctx, call, coro)
        value = statement.body[0].value  # type: ignore[attr-defined]
        removals = tuple(r for r in (import_of(_getter_func(value), ctx),) if r is not None)
        return Fix("Run on the runtime's persistent loop", UNSAFE, replacements, (request,), removals)  # type: ignore[arg-type]


def _getter_func(getter_call: cst.Call) -> cst.BaseExpression:
    func = getter_call.func
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call):
        return func.value.func  # get_event_loop_policy
    return func
