"""AL202 loop-bound-resource-at-import."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..diagnostic import UNSAFE
from ..loopapi import loop_creator
from ..rule import Fix, Rule, cst, describe_chain
from ._loopfix import async_only_loads, await_get, following_statement, runtime_attr, statement_of_assignment

if TYPE_CHECKING:  # pragma: no cover
    from ..context import LintContext

# Constructors of clients that bind to the event loop they are first used (or created) on.
LOOP_BOUND_CLIENTS = {
    "aiohttp.ClientSession": "aiohttp.ClientSession",
    "aiohttp.client.ClientSession": "aiohttp.ClientSession",
    "aiohttp.TCPConnector": "aiohttp.TCPConnector",
    "aiohttp.connector.TCPConnector": "aiohttp.TCPConnector",
    "httpx.AsyncClient": "httpx.AsyncClient",
    "httpx._client.AsyncClient": "httpx.AsyncClient",
    "redis.asyncio.Redis": "redis.asyncio.Redis",
    "redis.asyncio.client.Redis": "redis.asyncio.Redis",
    "redis.asyncio.from_url": "redis.asyncio.from_url",
    "redis.asyncio.Redis.from_url": "redis.asyncio.Redis.from_url",
    "redis.asyncio.client.Redis.from_url": "redis.asyncio.Redis.from_url",
    "motor.motor_asyncio.AsyncIOMotorClient": "motor.motor_asyncio.AsyncIOMotorClient",
    "sqlalchemy.ext.asyncio.create_async_engine": "sqlalchemy.ext.asyncio.create_async_engine",
    "sqlalchemy.ext.asyncio.engine.create_async_engine": "sqlalchemy.ext.asyncio.create_async_engine",
    "asyncpg.create_pool": "asyncpg.create_pool",
    "asyncpg.pool.create_pool": "asyncpg.create_pool",
}
# Bound to a loop (and complaining) whenever created outside a coroutine, loop creators or not.
ALWAYS = frozenset({"aiohttp.ClientSession"})


class LoopBoundResourceAtImport(Rule):
    code = "AL202"
    name = "loop-bound-resource-at-import"
    summary = "A loop-bound async client created at import time in a module that creates loops"
    fix = "sometimes"
    needs_call_graph = True
    needs_loop_model = True
    needles = (
        (b"aiohttp", b"httpx", b"redis", b"motor", b"create_async_engine", b"asyncpg"),
        (b"asyncio", b"uvloop", b"aiohttp"),
    )
    candidates = r"ClientSession|TCPConnector|AsyncClient|Redis|from_url|AsyncIOMotorClient|create_async_engine|create_pool"
    what = """
Checks for loop-bound async clients constructed at import time (module scope, class bodies,
default arguments, or functions called from there) in a module that also creates event loops:
a loop creator (`asyncio.run`, `uvloop.run`, `new_event_loop`, `asyncio.Runner`) at import time
or inside an invocation entrypoint. Clients: `aiohttp.ClientSession`, `aiohttp.TCPConnector`,
`httpx.AsyncClient`, `redis.asyncio.Redis` / `redis.asyncio.from_url`,
`motor.motor_asyncio.AsyncIOMotorClient`, `sqlalchemy.ext.asyncio.create_async_engine`,
`asyncpg.create_pool`. `aiohttp.ClientSession()` at import time is reported even without loop
creators: it must be created inside a coroutine.
"""
    why = """
These clients bind their connections (and sometimes themselves) to the event loop they are
first used on. When the module creates and closes loops, for example `asyncio.run()` per Lambda
invocation, the client made at import serves the first loop and then fails on the next with
"attached to a different loop", "Event loop is closed" or hangs.
"""
    example = """
import asyncio
import httpx

CLIENT = httpx.AsyncClient()

async def fetch(url: str) -> int:
    response = await CLIENT.get(url)
    return response.status_code

def handler(event, context):
    return asyncio.run(fetch(event["url"]))
"""
    use_instead = """
import asyncio
import httpx
from asyncloop_lint import runtime

@runtime.once
async def CLIENT():
    return httpx.AsyncClient()

async def fetch(url: str) -> int:
    response = await (await CLIENT.get()).get(url)
    return response.status_code

def handler(event, context):
    return runtime.run(fetch(event["url"]))
"""
    fix_safety = """
When the client is assigned to a module-level name (`CLIENT = httpx.AsyncClient(...)`) and
every use of that name is inside an `async def`, the fix turns it into the runtime module's
async-once lazy initializer (`@runtime.once async def CLIENT(): return httpx.AsyncClient(...)`)
and every use into `await CLIENT.get()`: the client is created inside the loop that uses it,
once per loop. It is unsafe: other modules that import the name get the initializer, and the
client is created on first use rather than at import.
"""
    options = """
- `entrypoints`: extra invocation entrypoints (`"package.module:function"`).
- `runtime-import`: where fixes import the runtime module from (default
  `asyncloop_lint.runtime`).
"""
    references = (
        "https://docs.aiohttp.org/en/stable/client_advanced.html#client-session",
        "https://www.python-httpx.org/async/",
    )

    def __init__(self) -> None:
        super().__init__()
        self.at_import: list[tuple[cst.Call, str, Fix | None, Any]] = []
        self.pending: dict[str, tuple[cst.Call, str]] = {}  # function key -> client call
        self.creations_at_import: list[cst.Call] = []
        self.creator_functions: dict[str, list[cst.Call]] = {}

    def visit_Call(self, node: cst.Call, ctx: LintContext) -> None:
        if ctx.in_async_function:
            return
        at_import = ctx.executes_at_import
        if loop_creator(node, ctx):
            if at_import:
                self.creations_at_import.append(node)
            elif ctx.function_key is not None:
                self.creator_functions.setdefault(ctx.function_key, []).append(node)
        found = ctx.has_name(node.func, LOOP_BOUND_CLIENTS.keys())  # type: ignore[arg-type]
        if found is None:
            return
        client = LOOP_BOUND_CLIENTS[found]
        if at_import:
            self.at_import.append((node, client, self.lazy_fix(node, ctx), ctx.statement))
        elif (key := ctx.import_time_callee_key) is not None:
            self.pending.setdefault(key, (node, client))

    def finish(self, ctx: LintContext) -> None:
        loops = ctx.loops
        assert loops is not None
        creates = any(not loops.kept_at_import(node) for node in self.creations_at_import) or any(
            (ctx.graph.import_time_chains(key) or ctx.graph.entrypoint_chain(key))
            and not all(loops.once_per_process(node, key) for node in nodes)
            for key, nodes in self.creator_functions.items()
        )
        for node, client, fix, statement in self.at_import:
            if creates or client in ALWAYS:
                ctx.report(self, node, self.message(client, creates), fix, statement)
        for key, (_, client) in self.pending.items():
            if not (creates or client in ALWAYS):
                continue
            ctx.report_at_import_time_calls(
                self, key, lambda chain, client=client: self.message(client, creates, chain)
            )

    @staticmethod
    def message(client: str, creates: bool, chain: list[str] | None = None) -> str:
        where = f" through {describe_chain(chain)}" if chain else ""
        why = (
            "this module also creates event loops, so it will be used on a loop it was not made on"
            if creates
            else "it must be created inside a coroutine, on the loop that uses it"
        )
        return f"`{client}()` is created at import time{where}: {why}; create it lazily inside the loop"

    @staticmethod
    def lazy_fix(node: cst.Call, ctx: LintContext) -> Fix | None:
        """``CLIENT = Client(...)`` → ``@runtime.once async def CLIENT(): return Client(...)``."""
        if len(ctx.frames) != 1:
            return None
        found = statement_of_assignment(ctx, node)
        if found is None:
            return None
        statement, target, annotation = found
        loads = async_only_loads(ctx, target)
        if loads is None:
            return None
        once, request = runtime_attr(ctx, "once")
        body = cst.IndentedBlock(
            body=[cst.SimpleStatementLine([cst.Return(node)])],
            header=statement.trailing_whitespace,
        )
        function = cst.FunctionDef(
            name=cst.Name(target.value),
            params=cst.Parameters(),
            body=body,
            decorators=[cst.Decorator(once)],
            returns=cst.Annotation(annotation) if annotation is not None else None,
            asynchronous=cst.Asynchronous(),
            leading_lines=_two_blank_lines(statement.leading_lines),
        )
        replacements: dict[Any, Any] = {statement: function}
        following = following_statement(statement, ctx.module)
        if following is not None and _blank_count(following.leading_lines) < 2:
            replacements[following] = lambda updated: updated.with_changes(
                leading_lines=_two_blank_lines(updated.leading_lines)
            )
        runtime_name = once.value.value  # type: ignore[attr-defined]
        for name, parens in loads.items():
            replacements[name] = await_get(name, runtime_name, parens)
        return Fix("Create it lazily with the runtime's async-once helper", UNSAFE, replacements, (request,))


def _blank_count(lines: Any) -> int:
    count = 0
    for line in lines:
        if line.comment is not None:
            break
        count += 1
    return count


def _two_blank_lines(lines: Any) -> Any:
    """PEP 8's two blank lines before a top-level ``def`` (comments stay attached to it)."""
    missing = 2 - _blank_count(lines)
    if missing <= 0:
        return lines
    return (*[cst.EmptyLine()] * missing, *lines)
