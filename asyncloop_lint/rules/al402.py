"""AL402 missing-exception-handler."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..diagnostic import SAFE
from ..loopapi import RUNNER_NEEDLES, loop_runner
from ..rule import Fix, Rule, cst
from .al401 import discarded_task, task_creation

if TYPE_CHECKING:  # pragma: no cover
    from ..context import LintContext

ENTRY = "<entry>"  # the program's top-level code: under the __main__ guard or in __main__.py
INSTALL_HANDLER = "install_exception_handler"
# Uses of a stored task that neither observe its result nor keep it for someone who will.
_IGNORING_METHODS = frozenset({"cancel", "cancelled", "done", "get_name", "set_name", "get_coro"})


@dataclass
class Entry:
    node: cst.Call
    statement: cst.CSTNode | None
    runner: str
    caller: str | None
    roots: set[str] = field(default_factory=set)  # local functions named in the run argument


class MissingExceptionHandler(Rule):
    code = "AL402"
    name = "missing-exception-handler"
    summary = "A program runs detached tasks without a loop exception handler"
    fix = "sometimes"
    needles = (RUNNER_NEEDLES, (b"create_task", b"ensure_future"))
    candidates = r"run|run_until_complete|run_forever"
    what = """
Checks for a program entry — a loop runner under `if __name__ == "__main__":` or in
`__main__.py` (directly or through functions of the module it calls), or any
`loop.run_forever()` — that runs a coroutine of the module whose code creates detached tasks
(tasks created and discarded, or stored in a variable that is never awaited, gathered,
returned or given a done callback), while nothing in the module installs a loop exception
handler (`loop.set_exception_handler(...)`, also through an alias or a helper, or the runtime's
`install_exception_handler()`). The finding is reported once, at the entry call.
"""
    why = """
A detached task that fails has no awaiter: its exception reaches the loop's exception handler
only when the task object is garbage-collected, which can be minutes later or never (while
something still references it). With no handler installed, asyncio's default handler is the
only boundary. A handler of your own (`loop.set_exception_handler(...)`) decides where the
report goes, but asyncio still calls it only at garbage collection; the runtime's
`install_exception_handler()` also reports a failed task as soon as it fails and nothing
retrieved its exception, so it is the one that makes such failures visible at once.
"""
    example = """
import asyncio

async def tick() -> None:
    raise RuntimeError("boom")

async def main() -> None:
    asyncio.create_task(tick())
    await asyncio.sleep(1)

if __name__ == "__main__":
    asyncio.run(main())
"""
    use_instead = """
import asyncio
from asyncloop_lint import runtime

async def tick() -> None:
    raise RuntimeError("boom")

async def main() -> None:
    runtime.install_exception_handler()
    asyncio.create_task(tick())
    await asyncio.sleep(1)

if __name__ == "__main__":
    asyncio.run(main())
"""
    fix_safety = """
When the entry runs a coroutine function defined in the module, the fix inserts the runtime's
`install_exception_handler()` as the first statement of that `async def` (after its
docstring): it installs a handler on the running loop that logs through the
`asyncloop_lint.runtime` logger and ignores cancellation. It is safe: it only adds logging of
errors that were otherwise reported late. Other entries (`run_forever()`) get no fix.
"""
    references = (
        "https://docs.python.org/3/library/asyncio-eventloop.html#error-handling-api",
        "https://docs.python.org/3/library/asyncio-task.html#asyncio.create_task",
    )

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[Entry] = []
        self.references: list[tuple[str | None, tuple[str, ...]]] = []
        self.detached: dict[str | None, list[tuple[cst.Call, str]]] = {}
        self.stored: list[tuple[str | None, cst.Name, cst.Call, str]] = []
        self.ignoring_uses: set[int] = set()
        self.has_handler = False

    # ---- traversal ----------------------------------------------------------------------
    def _caller(self, ctx: LintContext) -> str | None:
        if ctx.is_program_entry:
            return ENTRY
        return ctx.function_key

    def visit_Call(self, node: cst.Call, ctx: LintContext) -> None:
        runner = loop_runner(node, ctx)
        if runner is None:
            return
        entry = Entry(node, ctx.statement, runner, self._caller(ctx))
        if runner != "loop.run_forever" and node.args:
            entry.roots = ctx.local_names_in(node.args[0].value)
        self.entries.append(entry)

    def visit_Expr(self, node: cst.Expr, ctx: LintContext) -> None:
        found = discarded_task(node, ctx)
        if found is not None:
            self.detached.setdefault(self._caller(ctx), []).append(found)

    def visit_Assign(self, node: cst.Assign, ctx: LintContext) -> None:
        if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
            return
        if not isinstance(node.value, cst.Call) or ctx.function_key is None:
            return
        name = task_creation(node.value, ctx)
        if name is not None:
            self.stored.append((ctx.function_key, node.targets[0].target, node.value, name))

    def visit_Attribute(self, node: cst.Attribute, ctx: LintContext) -> None:
        attr = node.attr.value
        if attr == "set_exception_handler":
            self.has_handler = True
        elif attr == INSTALL_HANDLER and self._is_runtime_name(node, ctx):
            self.has_handler = True
        elif attr in _IGNORING_METHODS and isinstance(node.value, cst.Name):
            self.ignoring_uses.add(id(node.value))
        self._reference(node, ctx)

    def visit_Name(self, node: cst.Name, ctx: LintContext) -> None:
        if self._is_runtime_name(node, ctx):
            self.has_handler = True
        self._reference(node, ctx)

    def _is_runtime_name(self, node: cst.CSTNode, ctx: LintContext) -> bool:
        targets = {
            f"{ctx.settings.runtime_import}.{INSTALL_HANDLER}",
            f"asyncloop_lint.runtime.{INSTALL_HANDLER}",
        }
        return ctx.has_name(node, targets) is not None

    def _reference(self, node: cst.Name | cst.Attribute, ctx: LintContext) -> None:
        names = ctx.local_names(node)
        if names:
            self.references.append((self._caller(ctx), names))

    # ---- after the traversal --------------------------------------------------------------
    def finish(self, ctx: LintContext) -> None:
        from ..context import reachable

        if self.has_handler or not self.entries:
            return
        for key, name_node, call, name in self.stored:
            if self._never_observed(name_node, ctx):
                self.detached.setdefault(key, []).append((call, name))
        if not self.detached:
            return
        functions = ctx.graph.functions
        edges: dict[str | None, set[str]] = {}
        for caller, names in self.references:
            for name in names:
                if name in functions:
                    edges.setdefault(caller, set()).add(name)
                elif name in ctx.graph.classes:
                    edges.setdefault(caller, set()).update(
                        k for k in functions if k.startswith(f"{name}.") and "<locals>" not in k[len(name):]
                    )
        # A function reaches the functions nested in it (callbacks it passes around).
        for key in functions:
            if ".<locals>." in key:
                edges.setdefault(key.rsplit(".<locals>.", 1)[0], set()).add(key)
        from_main = reachable({ENTRY}, edges)
        for entry in self.entries:
            if entry.runner == "loop.run_forever":
                detached = [site for sites in self.detached.values() for site in sites]
                coroutine = None
            else:
                if entry.caller != ENTRY and entry.caller not in from_main:
                    continue
                roots = {r for r in entry.roots if r in functions}
                # Tasks the entry's own code schedules before running the loop run on it too.
                reached = reachable(roots, edges) | {entry.caller}
                detached = [site for key in reached for site in self.detached.get(key, ())]
                coroutine = next(
                    (functions[r] for r in sorted(roots) if functions[r].is_async), None
                )
            if not detached:
                continue
            call, name = detached[0]
            what = f"`{coroutine.key}()`" if coroutine is not None else "the loop"
            ctx.report(
                self,
                entry.node,
                f"`{entry.runner}()` runs {what}, which creates detached tasks (`{name}()`), but no "
                "loop exception handler is installed: their failures surface only at garbage "
                "collection; install the runtime's `install_exception_handler()` (it reports them "
                "as soon as they fail)",
                install_fix(coroutine.node, ctx) if coroutine is not None else None,
                statement=entry.statement,
            )

    def _never_observed(self, name: cst.Name, ctx: LintContext) -> bool:
        """A stored task whose every use ignores its outcome (or that is never used)."""
        scope = ctx.scope(name)
        if scope is None:
            return False
        for assignment in scope[name.value]:
            for access in getattr(assignment, "references", ()):
                if id(access.node) not in self.ignoring_uses:
                    return False
        return True


def install_fix(function: cst.FunctionDef, ctx: LintContext) -> Fix | None:
    from ..runtimefix import runtime_reference

    body = function.body
    if not isinstance(body, cst.IndentedBlock) or not body.body:
        return None
    runtime_name, runtime_import = runtime_reference(ctx, body.body[0])
    statement = cst.parse_statement(
        f"{runtime_name}.install_exception_handler()\n", config=ctx.module.config_for_parsing
    )
    first = body.body[0]
    has_docstring = (
        isinstance(first, cst.SimpleStatementLine)
        and len(first.body) == 1
        and isinstance(first.body[0], cst.Expr)
        and isinstance(first.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )
    position = 1 if has_docstring else 0

    def insert(updated: Any) -> Any:
        statements = list(updated.body)
        if position == 0 and statements:
            # Comments above the first statement stay above the inserted line.
            new = statement.with_changes(leading_lines=statements[0].leading_lines)
            statements[0] = statements[0].with_changes(leading_lines=())
        else:
            new = statement
        return updated.with_changes(body=[*statements[:position], new, *statements[position:]])

    return Fix(
        "Install the runtime's logging exception handler at the top of the entry coroutine",
        SAFE,
        {body: insert},
        add_imports=(runtime_import,),
    )
