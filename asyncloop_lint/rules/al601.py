"""AL601 sync-signal-handler."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..diagnostic import UNSAFE
from ..loopapi import RUNNER_NEEDLES, loop_runner
from ..project import is_test_path
from ..rule import Fix, ImportRequest, Rule, cst, is_call_statement

if TYPE_CHECKING:  # pragma: no cover
    from ..context import LintContext

SIGNAL_SIGNAL = frozenset({"signal.signal"})
GET_SIGNAL = frozenset({"signal.getsignal"})
# Handlers that run no Python code of the program (or restore what Python does by default).
NO_PYTHON_HANDLERS = frozenset({"signal.SIG_IGN", "signal.SIG_DFL", "signal.default_int_handler",
                                "signal.Handlers.SIG_IGN", "signal.Handlers.SIG_DFL"})
PARTIAL = frozenset({"functools.partial"})
# Calls that run a function in another process: ``target=``/``initializer=`` is its entry.
PROCESS_STARTERS = frozenset(
    {
        "multiprocessing.Process", "multiprocessing.context.Process", "multiprocessing.Pool",
        "multiprocessing.pool.Pool", "concurrent.futures.ProcessPoolExecutor",
        "concurrent.futures.process.ProcessPoolExecutor",
    }
)
PROCESS_ENTRY_KEYWORDS = frozenset({"target", "initializer"})
# Loop methods safe to call from a signal handler: they wake the loop.
THREADSAFE = frozenset({"call_soon_threadsafe", "run_coroutine_threadsafe"})
NOT_IMPLEMENTED = frozenset({"builtins.NotImplementedError"})
# Where `loop.add_signal_handler` does not exist: Windows (its loops raise NotImplementedError).
_PLATFORM_NAMES = frozenset({"sys.platform", "os.name"})


@dataclass
class Site:
    call: cst.Call
    statement: cst.CSTNode | None
    key: str | None  # the function it runs in (None: module level or the __main__ guard)
    in_async: bool
    class_key: str | None  # the class of the method it runs in, for `self.handler`
    kept: bool  # its return value (the previous handler) is kept


WINDOWS, NOT_WINDOWS, POSIX_ONLY = "windows", "not-windows", "posix-only"
_NEGATED = {WINDOWS: NOT_WINDOWS, NOT_WINDOWS: WINDOWS}


def windows_test(test: cst.BaseExpression, ctx: LintContext) -> str | None:
    """What a platform test says: :data:`WINDOWS` (holds only on Windows), :data:`NOT_WINDOWS`
    (holds exactly when not on Windows), :data:`POSIX_ONLY` (holds only on some non-Windows
    platform, ``sys.platform == "linux"``), or None (not a platform test)."""
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        return _NEGATED.get(windows_test(test.expression, ctx) or "")
    if isinstance(test, cst.Call) and isinstance(test.func, cst.Attribute):
        # sys.platform.startswith("win")
        if test.func.attr.value == "startswith" and ctx.has_name(test.func.value, _PLATFORM_NAMES):
            arg = test.args[0].value if test.args else None
            if isinstance(arg, cst.SimpleString) and str(arg.evaluated_value).lower().startswith("win"):
                return WINDOWS
        return None
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return None
    left, target = test.left, test.comparisons[0]
    value = target.comparator
    platform = ctx.has_name(left, _PLATFORM_NAMES) or (
        isinstance(left, cst.Call) and ctx.has_name(left.func, {"platform.system"})
    )
    if not platform or not isinstance(value, cst.SimpleString):
        return None
    text = str(value.evaluated_value).lower()
    windows = text in ("win32", "nt", "windows", "cygwin")
    elsewhere = text in ("linux", "darwin", "posix", "freebsd")
    if isinstance(target.operator, (cst.Equal, cst.Is)):
        return WINDOWS if windows else POSIX_ONLY if elsewhere else None
    if isinstance(target.operator, (cst.NotEqual, cst.IsNot)) and windows:
        return NOT_WINDOWS
    return None


class SyncSignalHandler(Rule):
    code = "AL601"
    name = "sync-signal-handler"
    summary = "`signal.signal()` where an event loop runs; use `loop.add_signal_handler()`"
    fix = "sometimes"
    needles = ((b"import signal", b"from signal import"), (b"signal(",), RUNNER_NEEDLES + (b"async def",))
    candidates = r"signal"
    what = """
Checks for `signal.signal(sig, handler)` that installs a Python handler inside an `async def`,
or in a module that runs an event loop (any loop runner: `asyncio.run()`, `Runner.run()`,
`uvloop.run()`, `run_until_complete()`, `run_forever()`) in the same process. Not reported:
- a handler that runs no Python code (`signal.SIG_IGN`, `signal.SIG_DFL`,
  `signal.default_int_handler`), or that the linter cannot see (a parameter, a previously
  saved handler being restored);
- code in a function that runs in another process (`multiprocessing.Process(target=...)`,
  a pool's `initializer=`) when no loop runs there, and a loop that runs only in such a child;
- a handler that only sets flags (assignments, `list.append`) when the previous handler is
  saved and restored (the pattern servers such as uvicorn use and poll);
- a handler that hands its work to the loop with `loop.call_soon_threadsafe()` or
  `asyncio.run_coroutine_threadsafe()` (which wake the loop), or forwards the signal to a
  stored callback the linter cannot see;
- test modules (`test_*.py`, `conftest.py`, files in a `tests` folder);
- Windows-only code (`if sys.platform == "win32":`, `os.name == "nt"`, the `except
  NotImplementedError:` fallback of `add_signal_handler`), where the loop has no
  `add_signal_handler`.
"""
    why = """
A handler installed with `signal.signal()` runs in the main thread between two arbitrary
bytecodes of whatever is executing — possibly the middle of the loop's own bookkeeping — and
it does not wake the loop: asyncio only installs its wake-up descriptor for handlers added with
`loop.add_signal_handler()`. A handler that sets an `asyncio.Event` or schedules a callback
therefore takes effect only when the loop wakes up for another reason. Measured on CPython
3.10–3.13: a SIGUSR1 sent 0.2 s after `await asyncio.wait_for(stop.wait(), 2)` started woke the
coroutine after 2.0 s (the timeout) with `signal.signal()`, after 0.2 s with
`loop.add_signal_handler()`; with no timeout, the loop sat in its selector with the waiter's
wake-up ready to run until something outside woke it.
"""
    example = """
import asyncio
import signal

async def main() -> None:
    stop = asyncio.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    await stop.wait()
"""
    use_instead = """
import asyncio
import signal

async def main() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
"""
    fix_safety = """
Inside an `async def`, when the statement is the bare call and the handler can be called with
no arguments (a lambda or function whose parameters are all optional or `*args`), the fix
rewrites it to `asyncio.get_running_loop().add_signal_handler(sig, handler)`. It is unsafe:
the handler then runs as a loop callback (promptly, between callbacks), `add_signal_handler`
raises `NotImplementedError` on Windows, and closing the loop removes the handler (the signal
gets its default action again). Handlers that take `(signum, frame)` get no fix.
"""
    references = (
        "https://docs.python.org/3/library/asyncio-eventloop.html#asyncio.loop.add_signal_handler",
        "https://docs.python.org/3/library/signal.html#execution-of-python-signal-handlers",
    )

    def __init__(self) -> None:
        super().__init__()
        self.sites: list[Site] = []
        self.handlers: list[tuple[cst.Call, str | None, str | None]] = []  # every signal.signal call
        self.runners: list[tuple[str | None, cst.Call, str]] = []  # (function key, call, runner)
        self.children: set[str] = set()  # local functions that are another process's entry
        self.saves = False  # signal.getsignal() is called somewhere
        self.windows_blocks: set[int] = set()
        self.windows_depth = 0
        self.fallback_tries: list[int] = []

    # ---- where am I ---------------------------------------------------------------------
    def visit_If(self, node: cst.If, ctx: LintContext) -> None:
        windows = windows_test(node.test, ctx)
        if windows == WINDOWS:
            self.windows_blocks.add(id(node.body))
        elif windows == NOT_WINDOWS and node.orelse is not None:
            self.windows_blocks.add(id(node.orelse))

    def visit_Try(self, node: cst.Try, ctx: LintContext) -> None:
        # `try: loop.add_signal_handler(...) except NotImplementedError: signal.signal(...)`
        if "add_signal_handler" not in ctx.module.code_for_node(node.body):
            return
        for handler in node.handlers:
            kind = handler.type
            kinds = [e.value for e in kind.elements] if isinstance(kind, cst.Tuple) else [kind]
            if any(k is not None and ctx.has_name(k, NOT_IMPLEMENTED) for k in kinds):
                self.windows_blocks.add(id(handler))

    def _enter(self, node: cst.CSTNode, ctx: LintContext) -> None:
        if id(node) in self.windows_blocks:
            self.windows_depth += 1

    def _leave(self, node: cst.CSTNode, ctx: LintContext) -> None:
        if id(node) in self.windows_blocks:
            self.windows_depth -= 1

    visit_IndentedBlock = visit_SimpleStatementSuite = visit_Else = visit_ExceptHandler = _enter
    leave_IndentedBlock = leave_SimpleStatementSuite = leave_Else = leave_ExceptHandler = _leave

    # ---- what happens -----------------------------------------------------------------------
    def visit_Call(self, node: cst.Call, ctx: LintContext) -> None:
        func = node.func
        runner = loop_runner(node, ctx)
        if runner is not None:
            self.runners.append((ctx.function_key, node, runner))
            return
        if ctx.has_name(func, GET_SIGNAL):
            self.saves = True
            return
        is_process = ctx.has_name(func, PROCESS_STARTERS) or (
            isinstance(func, cst.Attribute) and func.attr.value == "Process"
        )
        if is_process:
            for arg in node.args:
                if arg.keyword is not None and arg.keyword.value in PROCESS_ENTRY_KEYWORDS:
                    self.children.update(self._local_functions(arg.value, ctx))
            return
        if not ctx.has_name(func, SIGNAL_SIGNAL) or len(node.args) < 2:
            return
        handler = node.args[1].value
        class_key = None
        frames = ctx.frames
        for index in range(len(frames) - 1, 0, -1):
            if frames[index].kind == "function":
                if frames[index - 1].kind == "class":
                    class_key = frames[index - 1].key
                break
        no_python = ctx.has_name(handler, NO_PYTHON_HANDLERS) is not None
        resolved = "<no-python>" if no_python else self._resolve(handler, ctx, class_key)
        self.handlers.append((node, resolved, ctx.function_key))
        if self.windows_depth or no_python:
            return
        statement = ctx.statement
        bare = is_call_statement(statement, node)
        self.sites.append(Site(node, statement, ctx.function_key, ctx.in_async_function, class_key, not bare))

    @staticmethod
    def _local_functions(expr: cst.BaseExpression, ctx: LintContext) -> set[str]:
        from libcst.metadata import QualifiedNameSource

        return {q.name for q in ctx.qualified_names(expr) if q.source == QualifiedNameSource.LOCAL}

    def _resolve(self, handler: cst.BaseExpression, ctx: LintContext, class_key: str | None) -> str | None:
        """What the handler is: a local function key, ``"<lambda>"``, ``"<imported>"``, or
        None when it is an opaque value (a parameter, a saved handler)."""
        if isinstance(handler, cst.Lambda):
            return "<lambda>"
        if isinstance(handler, cst.Call) and ctx.has_name(handler.func, PARTIAL) and handler.args:
            return self._resolve(handler.args[0].value, ctx, class_key)
        if (
            isinstance(handler, cst.Attribute)
            and isinstance(handler.value, cst.Name)
            and handler.value.value in ("self", "cls")
            and class_key is not None
        ):
            return f"{class_key}.{handler.attr.value}"
        if isinstance(handler, (cst.Name, cst.Attribute)):
            local = self._local_functions(handler, ctx)
            if local:
                # A local name: a function of the module, or a variable (decided in `finish`).
                return "|".join(sorted(local))
            if ctx.full_names(handler) - NO_PYTHON_HANDLERS - {"builtins.None"}:
                return "<imported>"
        return None

    # ---- after the traversal ------------------------------------------------------------------
    def finish(self, ctx: LintContext) -> None:
        if not self.sites or is_test_path(ctx.path, ctx.settings.project_root):
            return
        functions = ctx.graph.functions
        child_regions = {root: ctx.graph.reachable(root) for root in self.children if root in functions}
        # Some call installs an opaque value (a saved handler put back): a restore.
        restores = any(self._final(resolved, ctx) is None for _, resolved, _ in self.handlers)
        for site in self.sites:
            handler = site.call.args[1].value
            resolved = self._resolve_for_finish(site, ctx)
            if resolved is None:
                continue  # an opaque value: a saved handler being restored, a parameter
            if resolved in functions:
                if self._only_sets_flags(functions[resolved].node) and (site.kept or self.saves) and restores:
                    continue
                if self._hands_over(functions[resolved].node, resolved.rpartition(".")[0], ctx):
                    continue
            elif resolved == "<lambda>" and isinstance(handler, cst.Lambda):
                if self._hands_over(handler, site.class_key or "", ctx):
                    continue
            runner = self._runner_in_process(site, child_regions)
            if not site.in_async and runner is None:
                continue
            if site.in_async:
                where = "in a coroutine"
            else:
                where = f"in a module that runs an event loop (`{runner}()`)"
            if resolved in functions and self._only_sets_flags(functions[resolved].node):
                effect = (
                    "the handler does not wake the loop, so the flag it sets is seen only when the "
                    "loop next wakes, and the previous handler is never put back"
                )
            elif resolved in functions and self._only_raises(functions[resolved].node):
                effect = (
                    "the handler runs between arbitrary bytecodes, so its exception can surface "
                    "inside the loop's own bookkeeping and leave the loop inconsistent"
                )
            else:
                effect = (
                    "the handler runs between arbitrary bytecodes and does not wake the loop, so "
                    "whatever it schedules waits until something else wakes it"
                )
            ctx.report(
                self,
                site.call,
                f"`signal.signal()` {where}: {effect}; use `loop.add_signal_handler()`",
                self._fix(site, handler, resolved, ctx) if site.in_async else None,
                statement=site.statement,
            )

    def _resolve_for_finish(self, site: Site, ctx: LintContext) -> str | None:
        for call, resolved, _ in self.handlers:
            if call is site.call:
                return self._final(resolved, ctx)
        return None

    @staticmethod
    def _final(resolved: str | None, ctx: LintContext) -> str | None:
        """A local name resolves to a function key of the module, or to None (a variable or
        parameter: an opaque value such as a saved handler)."""
        if resolved is None or resolved.startswith("<"):
            return resolved
        functions = ctx.graph.functions
        return next((key for key in resolved.split("|") if key in functions), None)

    def _runner_in_process(self, site: Site, regions: dict[str, set[str]]) -> str | None:
        """A loop runner of the module that runs in the same process as ``site``."""
        own = [region for region in regions.values() if site.key in region]
        for key, _, runner in self.runners:
            if own:
                if any(key in region for region in own):
                    return runner
            elif not any(key in region for region in regions.values()):
                return runner
        return None

    @staticmethod
    def _only_raises(function: cst.FunctionDef) -> bool:
        body = function.body
        return (
            isinstance(body, cst.IndentedBlock)
            and len(body.body) == 1
            and isinstance(body.body[0], cst.SimpleStatementLine)
            and isinstance(body.body[0].body[0], cst.Raise)
        )

    @staticmethod
    def _hands_over(body: cst.CSTNode, class_key: str, ctx: LintContext) -> bool:
        """The handler hands its work to the loop thread-safely (``call_soon_threadsafe``,
        ``run_coroutine_threadsafe``, which wake the loop), or forwards it to a callable the
        linter cannot see (a stored callback): not reported."""
        from libcst.metadata import QualifiedNameSource

        functions = ctx.graph.functions
        found: list[bool] = []

        class Calls(cst.CSTVisitor):
            def visit_Call(self, call: cst.Call) -> None:
                func = call.func
                if isinstance(func, cst.Attribute) and func.attr.value in THREADSAFE:
                    found.append(True)
                elif isinstance(func, cst.Name) and ctx.has_name(func, {"asyncio.run_coroutine_threadsafe"}):
                    found.append(True)
                elif (
                    isinstance(func, cst.Attribute)
                    and isinstance(func.value, cst.Name)
                    and func.value.value in ("self", "cls")
                    and f"{class_key}.{func.attr.value}" not in functions
                    and not any(k.endswith(f".{func.attr.value}") for k in functions)
                ):
                    found.append(True)  # `self.handler(...)`: a stored callable
                elif isinstance(func, cst.Name):
                    names = ctx.qualified_names(func)
                    if names and all(q.source == QualifiedNameSource.LOCAL and q.name not in functions for q in names):
                        found.append(True)  # a parameter or variable holding a callable

        body.visit(Calls())
        return bool(found)

    @staticmethod
    def _only_sets_flags(function: cst.FunctionDef) -> bool:
        """The body only assigns, appends or tests: nothing a signal can interrupt badly."""

        def has_call(node: cst.CSTNode) -> bool:
            found = []

            class Calls(cst.CSTVisitor):
                def visit_Call(self, call: cst.Call) -> None:
                    found.append(call)

            node.visit(Calls())
            return bool(found)

        def simple(statements) -> bool:  # noqa: ANN001
            for statement in statements:
                if isinstance(statement, cst.SimpleStatementLine):
                    for small in statement.body:
                        if isinstance(small, (cst.Pass, cst.Global, cst.Nonlocal)):
                            continue
                        if isinstance(small, cst.Return) and small.value is None:
                            continue
                        if isinstance(small, (cst.Assign, cst.AugAssign, cst.AnnAssign)) and not has_call(small):
                            continue
                        if isinstance(small, cst.Expr):
                            value = small.value
                            if isinstance(value, (cst.SimpleString, cst.ConcatenatedString)):
                                continue
                            if (
                                isinstance(value, cst.Call)
                                and isinstance(value.func, cst.Attribute)
                                and value.func.attr.value in ("append", "add")
                                and not any(has_call(a) for a in value.args)
                                and not has_call(value.func.value)
                            ):
                                continue
                        return False
                elif isinstance(statement, cst.If):
                    if has_call(statement.test) or not simple(statement.body.body):
                        return False
                    orelse = statement.orelse
                    while isinstance(orelse, cst.If):
                        if has_call(orelse.test) or not simple(orelse.body.body):
                            return False
                        orelse = orelse.orelse
                    if orelse is not None and not simple(orelse.body.body):
                        return False
                else:
                    return False
            return True

        body = function.body
        return isinstance(body, cst.IndentedBlock) and simple(body.body)

    def _fix(self, site: Site, handler: cst.BaseExpression, resolved: str, ctx: LintContext) -> Fix | None:
        statement = site.statement
        if site.kept or not isinstance(statement, cst.SimpleStatementLine):
            return None
        if resolved == "<lambda>":
            params = handler.params  # type: ignore[attr-defined]
        elif resolved in ctx.graph.functions:
            function = ctx.graph.functions[resolved].node
            params = function.params
            if isinstance(handler, cst.Attribute):  # a bound method: `self` is given
                params = params.with_changes(params=params.params[1:])
        else:
            return None
        if not _callable_without_arguments(params):
            return None
        if ctx.has_name_binding("asyncio", {"asyncio"}):
            imports: tuple[ImportRequest, ...] = ()
        elif ctx.name_is_free("asyncio"):
            imports = (ImportRequest("asyncio"),)
        else:
            return None
        call = site.call
        new_call = cst.Call(
            func=cst.parse_expression("asyncio.get_running_loop().add_signal_handler"),
            args=[call.args[0].with_changes(keyword=None, equal=cst.MaybeSentinel.DEFAULT),
                  call.args[1].with_changes(keyword=None, equal=cst.MaybeSentinel.DEFAULT)],
        )
        return Fix(
            "Install the handler with `asyncio.get_running_loop().add_signal_handler()`",
            UNSAFE,
            {call: new_call},
            add_imports=imports,
        )


def _callable_without_arguments(params: cst.Parameters) -> bool:
    return (
        not params.posonly_params
        and all(p.default is not None for p in params.params)
        and all(p.default is not None for p in params.kwonly_params)
    )
