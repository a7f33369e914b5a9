"""AL201 loop-per-invocation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..diagnostic import UNSAFE
from ..loopapi import loop_creator
from ..rule import Fix, Rule, cst, describe_chain
from ._loopfix import import_of, run_function_arg, runtime_run_call

if TYPE_CHECKING:  # pragma: no cover
    from ..context import LintContext


class LoopPerInvocation(Rule):
    code = "AL201"
    name = "loop-per-invocation"
    summary = "A new event loop on every invocation of a request handler"
    fix = "sometimes"
    needs_call_graph = True
    needs_loop_model = True
    needles = ((b"asyncio", b"uvloop"),)
    candidates = r"run|new_event_loop|Runner"
    what = """
Checks for loop creators (`asyncio.run`, `uvloop.run`, `asyncio.new_event_loop`,
`uvloop.new_event_loop`, `asyncio.Runner(...)`) inside an invocation entrypoint, or in a
function of the same module that an entrypoint calls (transitively). Invocation entrypoints
are the functions a platform calls once per request:

- module-level functions with the Lambda signature `(event, context)` (any parameter names
  for `handler`, `lambda_handler` and `main`);
- functions listed in the `entrypoints` setting;
- Celery tasks (`@app.task`, `@shared_task`, the `__call__`/`run` methods of `Task`
  subclasses), Flask, Quart and FastAPI sync routes (`@app.route`, `@bp.get`, ...), Django
  function views registered in a `urls.py` next to them, Django and DRF class-based views'
  handler methods, gRPC servicer methods. The app or router object may live in another module
  of the project (`from worker.celery_app import app`).
- the wrapper function of a decorator of the module applied to an entrypoint (a decorator
  that runs every call of a task in `asyncio.run`).

Not reported: a get-or-create-and-set fallback (`try: get_event_loop()` / `except RuntimeError:
loop = new_event_loop(); set_event_loop(loop)`), whose loop is created once per process, set as
current and reused. A fallback whose loop is closed at the end of the invocation, or never set
as current, is reported: the next invocation creates another.
"""
    why = """
Every request builds an event loop and tears it down again. Nothing bound to a loop survives
between warm invocations: connection pools, HTTP clients and caches are rebuilt each time, or,
when they are created once at module level, they are used on a loop other than the one they
were created on and fail with "attached to a different loop" or "Event loop is closed".
"""
    example = """
import asyncio

async def process(event: dict) -> dict:
    return {"statusCode": 200}

def handler(event, context):
    return asyncio.run(process(event))
"""
    use_instead = """
from asyncloop_lint import runtime

async def process(event: dict) -> dict:
    return {"statusCode": 200}

def handler(event, context):
    return runtime.run(process(event))
"""
    fix_safety = """
`asyncio.run(coro)` and `uvloop.run(coro)` with no other arguments are rewritten to
`runtime.run(coro)`: the runtime module keeps one loop per process (made by a loop factory:
uvloop when importable, else asyncio) and reuses it for every invocation. The fix is unsafe:
the loop is never closed, and code that relied on a fresh loop (or on `asyncio.run`'s
cleanup of pending tasks) behaves differently. Manual loop management has no automatic fix.
"""
    options = """
- `entrypoints`: extra invocation entrypoints (`"package.module:function"`).
- `runtime-import`: where fixes import the runtime module from (default
  `asyncloop_lint.runtime`).
"""
    references = (
        "https://docs.aws.amazon.com/lambda/latest/dg/best-practices.html",
        "https://github.com/Kludex/mangum/pull/363",
    )

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, cst.Call, str, Fix | None, object]] = []

    def visit_Call(self, node: cst.Call, ctx: LintContext) -> None:
        key = ctx.function_key
        if key is None or ctx.in_async_function or ctx.executes_at_import:
            return
        creator = loop_creator(node, ctx)
        if creator is None:
            return
        fix = None if ctx.in_lambda else self.persistent_fix(node, ctx)
        self.found.append((key, node, creator, fix, ctx.statement))

    def finish(self, ctx: LintContext) -> None:
        for key, node, creator, fix, statement in self.found:
            chain = ctx.graph.entrypoint_chain(key)
            if chain is None or ctx.loops.once_per_process(node, key):  # type: ignore[union-attr]
                continue
            reason = ctx.graph.functions[chain[0]].entrypoint
            through = f" (through {describe_chain(chain)})" if len(chain) > 1 else ""
            ctx.report(
                self,
                node,
                f"`{creator}()` creates a new event loop on every invocation of {reason} "
                f"`{chain[0]}()`{through}: loop-bound clients and pools cannot survive; "
                "use one persistent loop",
                fix,
                statement,  # type: ignore[arg-type]
            )

    @staticmethod
    def persistent_fix(node: cst.Call, ctx: LintContext) -> Fix | None:
        coro = run_function_arg(node, ctx)
        if coro is None:
            return None
        new, request = runtime_run_call(ctx, node, coro)
        removals = tuple(r for r in (import_of(node.func, ctx),) if r is not None)
        return Fix("Run on the runtime's persistent loop", UNSAFE, {node: new}, (request,), removals)
