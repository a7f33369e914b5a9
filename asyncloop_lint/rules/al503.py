"""AL503 oversized-executor."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..rule import Rule, cst
from .al502 import POOL_CLASSES

if TYPE_CHECKING:  # pragma: no cover
    from ..context import LintContext

PROCESS_POOLS = frozenset(
    {"concurrent.futures.ProcessPoolExecutor", "concurrent.futures.process.ProcessPoolExecutor"}
)


def literal_int(expr: cst.BaseExpression) -> int | None:
    """The value of an integer literal, or of arithmetic on integer literals (``32 * 8``)."""
    if isinstance(expr, cst.Integer):
        try:
            return int(expr.value.replace("_", ""), 0)
        except ValueError:
            return None
    if isinstance(expr, cst.BinaryOperation):
        left, right = literal_int(expr.left), literal_int(expr.right)
        if left is None or right is None:
            return None
        op = expr.operator
        if isinstance(op, cst.Add):
            return left + right
        if isinstance(op, cst.Multiply):
            return left * right
        if isinstance(op, cst.Subtract):
            return left - right
        if isinstance(op, cst.FloorDivide) and right:
            return left // right
        if isinstance(op, cst.Power) and 0 <= right < 64:
            return left**right
        if isinstance(op, cst.LeftShift) and 0 <= right < 64:
            return left << right
    return None


class OversizedExecutor(Rule):
    code = "AL503"
    name = "oversized-executor"
    summary = "An executor with a literal `max_workers` above the configured limit"
    default = False
    needles = ((b"PoolExecutor",),)
    candidates = r"ThreadPoolExecutor|ProcessPoolExecutor"
    what = """
Checks for `ThreadPoolExecutor(...)` and `ProcessPoolExecutor(...)` whose `max_workers`
(keyword or first positional argument) is an integer literal, or arithmetic on literals
(`32 * 8`), above the configured limit (`max-workers`, default 64). When the executor is
handed straight to `loop.set_default_executor(...)` the message says so: then every
`run_in_executor(None, ...)` and `asyncio.to_thread()` of the process uses it. A `max_workers`
computed at run time (`os.cpu_count() * 4`, a setting) is not reported.
"""
    why = """
A thread pool starts a new thread for each job that finds no idle one, up to `max_workers`,
and keeps it: a burst of blocking work leaves that many threads behind. A process pool using
the `fork` start method (Linux's default before 3.14) starts all its workers at the first
submit (measured on CPython 3.10–3.13). Each thread
reserves its own stack and takes turns on the GIL, so hundreds of threads add memory and
contention rather than throughput, and a limit on threads or memory (containers, AWS Lambda's
1024 threads) turns the burst into `RuntimeError: can't start new thread`. Each worker
process is a whole interpreter with the application's memory; on Windows a process pool
raises `ValueError` above 61 workers. A bound near the real concurrency the resource needs (connections, cores) is the
backpressure that keeps the service alive under load.
"""
    example = """
from concurrent.futures import ThreadPoolExecutor

POOL = ThreadPoolExecutor(max_workers=500)
"""
    use_instead = """
from concurrent.futures import ThreadPoolExecutor

POOL = ThreadPoolExecutor(max_workers=32, thread_name_prefix="io")
"""
    fix_safety = "No automatic fix: the right bound depends on the resource the workers wait for."
    options = """
`max-workers` in `[tool.asyncloop-lint]` (default 64): the largest literal `max_workers`
that is not reported.
"""
    references = (
        "https://docs.python.org/3/library/concurrent.futures.html#threadpoolexecutor",
        "https://docs.python.org/3/library/asyncio-eventloop.html#asyncio.loop.set_default_executor",
    )

    def __init__(self) -> None:
        super().__init__()
        self.default_executor: set[int] = set()  # constructor calls passed to set_default_executor

    def visit_Call(self, node: cst.Call, ctx: LintContext) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "set_default_executor":
            self.default_executor.update(id(a.value) for a in node.args)
            return
        found = ctx.has_name(func, POOL_CLASSES)
        if found is None:
            return
        arg = next((a for a in node.args if a.keyword is not None and a.keyword.value == "max_workers"), None)
        if arg is None and node.args and node.args[0].keyword is None and not node.args[0].star:
            arg = node.args[0]
        value = literal_int(arg.value) if arg is not None else None
        limit = ctx.settings.max_workers
        if value is None or value <= limit:
            return
        shown = found.rpartition(".")[2]
        if found in PROCESS_POOLS:
            effect = (
                f"starts {value} worker processes, one interpreter each (with the `fork` start "
                "method, Linux's default before 3.14, all of them at the first submit)"
            )
        else:
            effect = f"lets a burst of blocking work start {value} threads"
        where = (
            " and it becomes the loop's default executor (every `run_in_executor(None, ...)` and "
            "`asyncio.to_thread()`)"
            if id(node) in self.default_executor
            else ""
        )
        ctx.report(
            self,
            node,
            f"`{shown}(max_workers={value})` {effect}, above the limit of {limit}{where}: they cost "
            "memory and contend instead of adding throughput; bound it near the concurrency the "
            "work really has",
        )
