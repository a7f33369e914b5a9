"""AL303 hardcoded-loop-debug."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..diagnostic import UNSAFE
from ..loopapi import RUN_FUNCTIONS, RUNNER_CLASSES
from ..project import is_test_path
from ..rule import Fix, Rule, cst, is_call_statement

if TYPE_CHECKING:  # pragma: no cover
    from ..context import LintContext

# Calls that take a ``debug=`` keyword: ``asyncio.run``, ``uvloop.run``, ``asyncio.Runner``.
DEBUG_TAKERS = RUN_FUNCTIONS | RUNNER_CLASSES


def _is_true(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "True"


class HardcodedLoopDebug(Rule):
    code = "AL303"
    name = "hardcoded-loop-debug"
    summary = "Event loop debug mode switched on with a literal `True`"
    fix = UNSAFE
    needs_loop_model = True
    needles = ((b"set_debug(", b"debug=True", b"debug = True"), (b"asyncio", b"uvloop"))
    candidates = r"set_debug|debug"
    what = """
Checks for event loop debug mode switched on unconditionally: `loop.set_debug(True)` on an
event loop (a loop from `new_event_loop()`, `get_event_loop()` or `get_running_loop()`, or a
parameter or attribute named `loop`), and `asyncio.run(..., debug=True)`,
`uvloop.run(..., debug=True)` and `asyncio.Runner(debug=True)`, with a literal `True`.
Not reported: a value from configuration (`debug=settings.DEBUG`), a call inside an `if`
(the condition is the switch), test modules (`test_*.py`, `conftest.py`, files in a `tests`
folder) and test case classes (a base named `...TestCase`, such as
`unittest.IsolatedAsyncioTestCase`), where debug mode is what you want.
"""
    why = """
Debug mode makes every callback and task slower: the loop records a traceback for every
handle and task it creates, times every callback to log slow ones, and checks that loop
methods are called from the right thread — typically 10–30 % overhead per loop iteration,
and more memory per task. Left on in production it costs latency on every request. Debug mode
belongs behind the environment (`PYTHONASYNCIODEBUG=1`, `python -X dev`), which asyncio reads
by itself, so no code change is needed to turn it on while debugging.
"""
    example = """
import asyncio

async def main() -> None:
    await asyncio.sleep(0)

if __name__ == "__main__":
    asyncio.run(main(), debug=True)
"""
    use_instead = """
import asyncio

async def main() -> None:
    await asyncio.sleep(0)

if __name__ == "__main__":
    asyncio.run(main())  # PYTHONASYNCIODEBUG=1 or -X dev turns debug mode on
"""
    fix_safety = """
The fix removes the `debug=True` argument, or the `loop.set_debug(True)` statement (a `pass`
stays where it was the only statement of a block). It is unsafe: debug mode is then off
unless `PYTHONASYNCIODEBUG=1` or `-X dev` turns it on, so the warnings it gave (slow
callbacks, never-awaited coroutines with their creation traceback, non-threadsafe calls) are
no longer printed. A `set_debug(True)` whose statement holds anything else gets no fix.
"""
    references = (
        "https://docs.python.org/3/library/asyncio-dev.html#debug-mode",
        "https://docs.python.org/3/library/asyncio-eventloop.html#asyncio.loop.set_debug",
    )

    def __init__(self) -> None:
        super().__init__()
        self.conditions = 0  # enclosing `if` statements and conditional expressions (not the main guard)
        self.set_debug: list[tuple[cst.Call, cst.CSTNode | None, str | None]] = []
        self.skip: bool | None = None

    def _skipped(self, ctx: LintContext) -> bool:
        if self.skip is None:
            self.skip = is_test_path(ctx.path, ctx.settings.project_root)
        return self.skip

    def visit_If(self, node: cst.If, ctx: LintContext) -> None:
        from ..context import is_main_guard

        if not is_main_guard(node):
            self.conditions += 1
            self.state.setdefault("counted", set()).add(id(node))

    def leave_If(self, node: cst.If, ctx: LintContext) -> None:
        if id(node) in self.state.get("counted", ()):
            self.conditions -= 1

    def visit_IfExp(self, node: cst.IfExp, ctx: LintContext) -> None:
        self.conditions += 1

    def leave_IfExp(self, node: cst.IfExp, ctx: LintContext) -> None:
        self.conditions -= 1

    def visit_ClassDef(self, node: cst.ClassDef, ctx: LintContext) -> None:
        # A test case class (unittest's, Django's, aiohttp's `...TestCase`): test code, also
        # where it lives in a library (`unittest.IsolatedAsyncioTestCase` runs tests in debug mode).
        if any(_names_test_case(base.value, ctx) for base in node.bases):
            self.state["test_classes"] = self.state.get("test_classes", 0) + 1
            self.state.setdefault("test_class_ids", set()).add(id(node))

    def leave_ClassDef(self, node: cst.ClassDef, ctx: LintContext) -> None:
        if id(node) in self.state.get("test_class_ids", ()):
            self.state["test_classes"] -= 1

    def visit_Call(self, node: cst.Call, ctx: LintContext) -> None:
        if self.conditions or self.state.get("test_classes") or self._skipped(ctx):
            return
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "set_debug":
            if len(node.args) == 1 and node.args[0].keyword is None and _is_true(node.args[0].value):
                self.set_debug.append((node, ctx.statement, ctx.function_key))
            return
        debug = next(
            (a for a in node.args if a.keyword is not None and a.keyword.value == "debug" and _is_true(a.value)),
            None,
        )
        if debug is None:
            return
        found = ctx.has_name(func, DEBUG_TAKERS)
        if found is None:
            return
        shown = found.replace(".runners", "")
        shown = f"{shown}(...)" if shown != "asyncio.Runner" else shown + "()"
        ctx.report(
            self,
            node,
            f"`{shown}` with `debug=True` runs the loop in debug mode everywhere it is deployed, "
            "10–30 % slower per loop iteration: drop it and use `PYTHONASYNCIODEBUG=1` or "
            "`-X dev` when debugging",
            Fix("Remove `debug=True`", UNSAFE, {node: _without_debug(node, debug)}),
        )

    def finish(self, ctx: LintContext) -> None:
        loops = ctx.loops
        assert loops is not None
        for call, statement, key in self.set_debug:
            receiver = call.func.value  # type: ignore[attr-defined]
            if not loops.is_loop(receiver, key, call):
                continue
            ctx.report(
                self,
                call,
                f"`{ctx.module.code_for_node(call.func)}(True)` turns debug mode on "
                "unconditionally: every loop iteration is 10–30 % slower in production; remove "
                "it and use `PYTHONASYNCIODEBUG=1` or `-X dev` when debugging",
                _remove_statement_fix(call, statement),
                statement=statement,
            )


def _names_test_case(expr: cst.BaseExpression, ctx: LintContext) -> bool:
    names = {q.name for q in ctx.qualified_names(expr)}
    if isinstance(expr, (cst.Name, cst.Attribute)):
        names.add(ctx.module.code_for_node(expr))
    return any(name.rpartition(".")[2].endswith("TestCase") for name in names)


def _without_debug(call: cst.Call, debug: cst.Arg) -> Any:
    def rewrite(updated: cst.Call) -> cst.Call:
        index = list(call.args).index(debug)
        args = list(updated.args)
        removed = args.pop(index)
        if index == len(args) and args:
            # The new last argument takes the removed one's comma (or none), so a trailing
            # comment and the closing parenthesis's line stay where they were.
            args[-1] = args[-1].with_changes(comma=removed.comma)
        return updated.with_changes(args=args)

    return rewrite


def _remove_statement_fix(call: cst.Call, statement: cst.CSTNode | None) -> Fix | None:
    if not is_call_statement(statement, call):
        return None
    return Fix("Remove the `set_debug(True)` call", UNSAFE, {statement: cst.RemovalSentinel.REMOVE})
