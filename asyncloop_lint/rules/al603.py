"""AL603 no-graceful-shutdown."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..loopapi import RUNNER_NEEDLES, loop_runner
from ..rule import Rule, cst

if TYPE_CHECKING:  # pragma: no cover
    from ..context import LintContext

ENTRY = "<entry>"  # top-level code of a program: the __main__ guard, or __main__.py
SIGTERM = frozenset({"signal.SIGTERM", "signal.Signals.SIGTERM"})
SIGNAL_SIGNAL = frozenset({"signal.signal"})
# Text that shows an imported module of the project registers SIGTERM itself.
REGISTERS_SIGTERM = (b"add_signal_handler", b"SIGTERM")
RUNTIME_EXIT_HOOK = "shutdown_on_exit"


def _is_forever(test: cst.BaseExpression) -> bool:
    if isinstance(test, cst.Name):
        return test.value == "True"
    return isinstance(test, cst.Integer) and test.value not in ("0", "0x0", "0o0", "0b0")


@dataclass
class Entry:
    call: cst.Call
    statement: cst.CSTNode | None
    runner: str
    caller: str | None
    roots: set[str] = field(default_factory=set)


class NoGracefulShutdown(Rule):
    code = "AL603"
    name = "no-graceful-shutdown"
    summary = "A long-lived service with no SIGTERM handler"
    default = False
    needs_loop_model = True
    needles = ((b"run_forever", b"serve_forever", b"while True", b"while 1"), RUNNER_NEEDLES)
    candidates = r"run_forever|serve_forever|while"
    what = """
Checks for a program entry — a loop runner under `if __name__ == "__main__":` or in
`__main__.py`, directly or through functions of the module it calls — that runs a long-lived
service: `loop.run_forever()`, a coroutine that reaches `serve_forever()` (through functions
of the module), or an entry coroutine with a `while True:` loop, when nothing in the module
(nor in a project module it imports) registers SIGTERM: `loop.add_signal_handler(SIGTERM, ...)`,
`signal.signal(SIGTERM, ...)` (which AL601 judges) or the runtime's `shutdown_on_exit()`.
A `run_forever()` on a loop the module did not make (`with framework.entrypoint() as loop:`, a
parameter) belongs to the framework, which usually handles signals, and is not reported.
A `run_forever()` whose loop the module stops itself (`loop.stop()`, also passed as a
callback, as an interactive console thread does when it exits) is not a service.
Reported at each such entry's loop runner.
"""
    why = """
`docker stop`, Kubernetes, systemd and most process managers stop a service with SIGTERM.
Python's default action for SIGTERM ends the process at once: no `finally` block runs, no task
is cancelled, open connections are dropped mid-request and buffered work is lost (`asyncio.run`
handles SIGINT from 3.11 on, never SIGTERM). Measured on CPython 3.10–3.13: a service
coroutine with `try: while True: ... finally: cleanup()` killed by SIGTERM exits with status 143
and the `finally` block never runs.
"""
    example = """
import asyncio

async def main() -> None:
    while True:
        await asyncio.sleep(60)

if __name__ == "__main__":
    asyncio.run(main())
"""
    use_instead = """
import asyncio
import signal

async def main() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), 60)
        except asyncio.TimeoutError:
            pass

if __name__ == "__main__":
    asyncio.run(main())
"""
    fix_safety = "No automatic fix: what a graceful shutdown must finish is the program's decision."
    references = (
        "https://docs.python.org/3/library/asyncio-eventloop.html#asyncio.loop.add_signal_handler",
        "https://docs.python.org/3/library/asyncio-runner.html#handling-keyboard-interruption",
    )

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[Entry] = []
        self.calls: dict[str, set[str]] = {}  # caller -> local names it references in calls
        self.forever_loops: set[str] = set()  # async functions with `while True` in their own body
        self.serve_forever: set[str] = set()  # functions that call `.serve_forever()`
        self.registers = False
        self.imports: list[str] = []
        self.stopped: set[str] = set()  # loop names whose `stop` the module uses

    def _caller(self, ctx: LintContext) -> str | None:
        return ENTRY if ctx.is_program_entry else ctx.function_key

    def visit_While(self, node: cst.While, ctx: LintContext) -> None:
        if _is_forever(node.test) and ctx.in_async_function and not ctx.in_lambda:
            key = ctx.function_key
            if key is not None:
                self.forever_loops.add(key)

    def visit_Import(self, node: cst.Import, ctx: LintContext) -> None:
        self.imports += [ctx.module.code_for_node(alias.name) for alias in node.names]

    def visit_ImportFrom(self, node: cst.ImportFrom, ctx: LintContext) -> None:
        dots = "." * len(node.relative)
        module = ctx.module.code_for_node(node.module) if node.module is not None else ""
        self.imports.append(dots + module)
        if not isinstance(node.names, cst.ImportStar):
            self.imports += [f"{dots}{module}.{alias.name.value}" if module else f"{dots}{alias.name.value}"
                             for alias in node.names if isinstance(alias.name, cst.Name)]

    def visit_Call(self, node: cst.Call, ctx: LintContext) -> None:
        func = node.func
        caller = self._caller(ctx)
        if isinstance(func, cst.Attribute):
            attr = func.attr.value
            if attr == "add_signal_handler" or attr == RUNTIME_EXIT_HOOK:
                if attr == RUNTIME_EXIT_HOOK or any(self._mentions_sigterm(a.value, ctx) for a in node.args[:1]):
                    self.registers = True
                elif node.args and isinstance(node.args[0].value, cst.Name):
                    # `for sig in (SIGINT, SIGTERM): loop.add_signal_handler(sig, ...)`
                    self.state["loop_var_handler"] = True
            elif attr == "serve_forever" and caller is not None:
                self.serve_forever.add(caller)
        elif isinstance(func, cst.Name) and func.value == RUNTIME_EXIT_HOOK:
            self.registers = True
        if ctx.has_name(func, SIGNAL_SIGNAL) and node.args and self._mentions_sigterm(node.args[0].value, ctx):
            self.registers = True
        if caller is not None:
            names = ctx.local_names(func)
            if names:
                self.calls.setdefault(caller, set()).update(names)
        runner = loop_runner(node, ctx)
        if runner is None:
            return
        entry = Entry(node, ctx.statement, runner, caller)
        if runner != "loop.run_forever" and node.args:
            entry.roots = ctx.local_names_in(node.args[0].value)
        self.entries.append(entry)

    def visit_Attribute(self, node: cst.Attribute, ctx: LintContext) -> None:
        if node.attr.value == "stop" and isinstance(node.value, cst.Name):
            self.stopped.add(node.value.value)  # `loop.stop()`, `call_soon_threadsafe(loop.stop)`
        if node.attr.value == "SIGTERM" and ctx.has_name(node, SIGTERM):
            self.state["sigterm"] = True

    def visit_Name(self, node: cst.Name, ctx: LintContext) -> None:
        if node.value == "SIGTERM" and ctx.has_name(node, SIGTERM):
            self.state["sigterm"] = True

    @staticmethod
    def _mentions_sigterm(expr: cst.BaseExpression, ctx: LintContext) -> bool:
        return isinstance(expr, (cst.Name, cst.Attribute)) and ctx.has_name(expr, SIGTERM) is not None

    def finish(self, ctx: LintContext) -> None:
        from ..context import reachable

        if not self.entries:
            return
        if self.registers or (self.state.get("loop_var_handler") and self.state.get("sigterm")):
            return
        from_entry = reachable({ENTRY}, self.calls)
        for entry in self.entries:
            if entry.caller != ENTRY and entry.caller not in from_entry:
                continue
            if entry.runner == "loop.run_forever":
                receiver = entry.call.func.value  # type: ignore[attr-defined]
                if isinstance(receiver, cst.Name) and receiver.value in self.stopped:
                    continue  # the program stops the loop itself when its work is done
                loops = ctx.loops
                assert loops is not None
                key = None if entry.caller == ENTRY else entry.caller
                if loops.fate(receiver, key, entry.call).origin == "unknown":
                    continue  # a framework's loop (`with entrypoint() as loop`): it owns the signals
                why = "`run_forever()` serves until the process is stopped"
            else:
                reached = reachable(entry.roots, self.calls)
                serving = sorted(reached & self.serve_forever)
                forever = sorted(entry.roots & self.forever_loops)
                if serving:
                    why = f"`{serving[0].replace('.<locals>', '')}()` calls `serve_forever()`"
                elif forever:
                    why = f"`{forever[0].replace('.<locals>', '')}()` loops with `while True`"
                else:
                    continue
            if self._imported_module_registers(ctx):
                return
            ctx.report(
                self,
                entry.call,
                f"`{entry.runner}()` runs a long-lived service ({why}) and nothing registers "
                "SIGTERM: `docker stop`, Kubernetes and systemd send SIGTERM, whose default "
                "action ends the process at once — no `finally`, no task cancellation, "
                "connections dropped; handle it with `loop.add_signal_handler(signal.SIGTERM, ...)`",
                statement=entry.statement,
            )

    def _imported_module_registers(self, ctx: LintContext) -> bool:
        project = ctx.project
        return any(project.module_contains(name, ctx.path, *REGISTERS_SIGTERM) for name in self.imports)
