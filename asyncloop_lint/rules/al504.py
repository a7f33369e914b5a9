"""AL504 blocking-call-in-coroutine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import blocking
from ..diagnostic import SAFE, UNSAFE
from ..rule import Fix, ImportRequest, Rule, cst

if TYPE_CHECKING:  # pragma: no cover
    from ..context import LintContext

_COMPREHENSIONS = ("ListComp", "SetComp", "DictComp", "GeneratorExp")


@dataclass
class _Blocking:
    node: cst.Call
    what: str  # display name of the blocking call, e.g. "time.sleep"
    kind: str  # blocking.SLEEP / THREAD / NONE
    fixable_here: bool  # a statement-level position where `await` may go
    statement: cst.CSTNode | None
    guard: str | None = None  # runs only under `if <flag>:`, a parameter defaulting to a falsy literal


@dataclass
class _Edge:
    node: cst.Call
    local: tuple[str, ...]  # keys of functions of this module it may call
    imported: tuple[str, ...]  # qualified names from imports (other modules of the project)
    fixable_here: bool
    statement: cst.CSTNode | None
    guard: str | None = None


class BlockingCallInCoroutine(Rule):
    code = "AL504"
    name = "blocking-call-in-coroutine"
    summary = "A blocking call runs on the event loop, directly or through sync functions"
    fix = "sometimes"
    needs_call_graph = True
    # A coroutine must exist, and a blocking call by qualified name needs its module imported
    # (or is the builtin `open`/`input`); a chain into another module of the project needs a
    # relative import (the bytes cannot tell an absolute import of the project from an
    # installed package's: see the rule page).
    needles = ((b"async def",), (b"import", b"open", b"input"))

    @classmethod
    def could_match(cls, source: bytes) -> bool:
        return super().could_match(source) and blocking.PREFILTER.search(source) is not None
    what = """
Checks for known blocking calls made by a coroutine, directly in its body or through sync
functions of the project that it calls (in this module, and in other modules of the project
through the project index), and reports the coroutine's own call with the chain that gets
there: `handler()` → `load()` → `time.sleep()`.

Blocking calls, by qualified name: `time.sleep`; `open()`, `io.open`, `input()`; HTTP with
`requests` (functions and `Session` methods), `httpx` (functions and `Client` methods),
`urllib3` (`request()`, `PoolManager`/connection-pool methods), `urllib.request.urlopen`;
`subprocess.run`/`call`/`check_call`/`check_output`/`getoutput`, `os.system`, `os.wait*`;
`socket` DNS lookups and `create_connection`; file operations of `os` (`remove`, `rename`,
`makedirs`, `listdir`, `scandir`, `walk`, …) and `shutil` (`copy*`, `move`, `rmtree`, …);
`Path.read_text`/`read_bytes`/`write_text`/`write_bytes` on a `pathlib.Path`;
`acquire()` of a `threading` lock or semaphore (not `acquire(False)` or `timeout=0`);
`result()` of a `concurrent.futures.Future` from `executor.submit()` or
`asyncio.run_coroutine_threadsafe()` (not one built with `Future()`: whoever builds it
usually awaits its completion first), `concurrent.futures.wait`/`as_completed`; and the
`connect()` of synchronous database drivers (`sqlite3`, `psycopg2`, `psycopg`, `pymysql`,
`MySQLdb`, `mysql.connector`, `pymssql`, `pyodbc`, `cx_Oracle`, `oracledb`).

A function handed to `asyncio.to_thread()`, `loop.run_in_executor()`, an executor or the
runtime's `offload()` is not called by the coroutine and is not followed; neither are
lambdas and nested functions that the coroutine does not call. The receiver of a method is
recognised by what it was built from (`requests.Session()`, `with httpx.Client() as c`,
`self._lock = threading.Lock()` in the class, a parameter annotated `Path`), never by its
name.

Cross-module chains use a per-module summary (see Options). The byte pre-filter parses a
file for this rule only when it defines a coroutine and imports a module with blocking calls
(`time`, `os`, `requests`, …), uses `open`/`input`, or has a relative import (`from . import
x`, `from .db import load`): a module whose only way to a blocking call is an absolute import
of another project module (`from app.db import load`) is not checked for that chain. ruff's ASYNC210–ASYNC251 and
flake8-async's ASYNC2xx rules report blocking calls written in the coroutine's own body;
`# noqa: ASYNC2xx` (any of them) on the line also silences AL504.
"""
    why = """
A coroutine runs on the event loop's thread. While a blocking call waits — for the network,
the disk, a child process, a lock held by another thread — no other task runs: every
request the process is serving stalls, timeouts fire late, heartbeats are missed. Three
helpers down, the blocking call is just as blocking and much harder to see.
"""
    example = """
import asyncio
import time

def load(key: str) -> str:
    time.sleep(0.1)  # stands for a slow synchronous client
    return key

async def handler(key: str) -> str:
    time.sleep(0.05)
    return load(key)
"""
    use_instead = """
import asyncio
import time

def load(key: str) -> str:
    time.sleep(0.1)  # stands for a slow synchronous client
    return key

async def handler(key: str) -> str:
    await asyncio.sleep(0.05)
    return await asyncio.to_thread(load, key)
"""
    fix_safety = """
Fixes change only the coroutine's own call. `time.sleep(x)` written as a statement in the
coroutine becomes `await asyncio.sleep(x)`: safe — the coroutine's code runs in the same order
and after the same delay, only other tasks may now run during it. Other blocking calls, and
calls of project functions that reach one, become `await asyncio.to_thread(f, ...)`: unsafe,
because the function now runs in a worker thread (objects bound to one thread, such as a
`sqlite3` connection or a non-thread-safe client, may refuse or misbehave; the context
variables are copied, so changes made in the thread are not seen by the caller). No fix
inside comprehensions, inside a `try` whose handlers catch `CancelledError` (or
`BaseException`, or a bare `except:`) or a `suppress()` of one — the new `await` would let a
cancellation in to be swallowed there (AL403) —, for `open()`, `urlopen()`, `os.scandir()`, `os.walk()`,
`as_completed()` and `httpx.stream()` (their results are used afterwards and block too), for
`sqlite3.connect()` (the connection refuses use from any thread but the one that made it) and
`RLock.acquire()` (only the acquiring thread may release it), or when the call is already
awaited.
"""
    options = """
No options. Cost of the cross-module part: when a coroutine (or a sync function it reaches)
calls a function imported from another module of the project, that module is found with a
few `stat` calls and parsed once with `ast` into a summary of which of its sync functions
reach a blocking call; summaries are cached per process and followed at most three modules
deep. Modules outside the project (installed packages) are not read.
"""
    references = (
        "https://docs.python.org/3/library/asyncio-dev.html#running-blocking-code",
        "https://docs.python.org/3/library/asyncio-task.html#asyncio.to_thread",
        "https://docs.astral.sh/ruff/rules/#flake8-async-async",
    )

    def __init__(self) -> None:
        super().__init__()
        self.direct: dict[str, list[_Blocking]] = {}
        self.edges: dict[str, list[_Edge]] = {}
        self.self_attrs: dict[tuple[str, str], str] = {}  # (class key, attribute) -> kind
        self.comprehensions: list[object] = []  # function frames of enclosing comprehensions
        self.positions: dict[int, str] = {}  # id(call) -> "primary" | "awaited" | "statement"
        # `if remove_first:` where `remove_first` is a parameter defaulting to False/None/0:
        # what runs in its body runs only for callers that pass it.
        self.guard_blocks: dict[int, str] = {}
        self.guards: list[tuple[object, str]] = []  # (function frame, parameter)
        # Bodies of `try` blocks whose handlers catch a cancellation (and `suppress()` of one):
        # a fix adding an `await` there would let a cancellation in to be swallowed (AL403).
        self.catching_blocks: set[int] = set()
        self.catching: list[object] = []  # function frames of the enclosing such bodies

    def visit_If(self, node: cst.If, ctx: LintContext) -> None:
        function = ctx.function
        if function is None or not isinstance(node.test, cst.Name):
            return
        for param in (*function.params.posonly_params, *function.params.params, *function.params.kwonly_params):
            if param.name.value == node.test.value and _falsy_literal(param.default):
                self.guard_blocks[id(node.body)] = param.name.value

    def visit_Try(self, node: cst.Try, ctx: LintContext) -> None:
        from .al403 import caught

        if any(caught(handler.type, ctx) for handler in node.handlers):
            self.catching_blocks.add(id(node.body))

    def visit_With(self, node: cst.With, ctx: LintContext) -> None:
        from .al403 import BASE_EXCEPTION, CANCELLED, SUPPRESS

        for item in node.items:
            call = item.item
            if isinstance(call, cst.Call) and ctx.has_name(call.func, SUPPRESS) and any(
                ctx.has_name(a.value, CANCELLED | BASE_EXCEPTION) for a in call.args
            ):
                self.catching_blocks.add(id(node.body))

    def visit_IndentedBlock(self, node: cst.IndentedBlock, ctx: LintContext) -> None:
        guard = self.guard_blocks.get(id(node))
        if guard is not None:
            self.guards.append((ctx.function_frame, guard))
        if id(node) in self.catching_blocks:
            self.catching.append(ctx.function_frame)

    def leave_IndentedBlock(self, node: cst.IndentedBlock, ctx: LintContext) -> None:
        if id(node) in self.guard_blocks:
            self.guards.pop()
        if id(node) in self.catching_blocks:
            self.catching.pop()

    def _guard(self, ctx: LintContext) -> str | None:
        frame = ctx.function_frame
        for owner, guard in reversed(self.guards):
            if owner is frame:
                return guard
        return None

    # ---- positions -------------------------------------------------------------------------
    def _enter_comprehension(self, node: cst.CSTNode, ctx: LintContext) -> None:
        self.comprehensions.append(ctx.function_frame)

    def _leave_comprehension(self, node: cst.CSTNode, ctx: LintContext) -> None:
        self.comprehensions.pop()

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _enter_comprehension
    leave_ListComp = leave_SetComp = leave_DictComp = leave_GeneratorExp = _leave_comprehension

    def visit_Attribute(self, node: cst.Attribute, ctx: LintContext) -> None:
        self.positions[id(node.value)] = "primary"

    def visit_Subscript(self, node: cst.Subscript, ctx: LintContext) -> None:
        self.positions[id(node.value)] = "primary"

    def visit_Await(self, node: cst.Await, ctx: LintContext) -> None:
        self.positions[id(node.expression)] = "awaited"

    def visit_Expr(self, node: cst.Expr, ctx: LintContext) -> None:
        self.positions[id(node.value)] = "statement"

    def visit_Assign(self, node: cst.Assign, ctx: LintContext) -> None:
        # `self._lock = threading.Lock()` in a method of class K: K's `_lock` is a lock.
        key = ctx.function_key
        if key is None or "<locals>" in key or "." not in key:
            return
        kind = self._built_from(node.value, ctx, 0)
        if kind is None:
            return
        for target in node.targets:
            t = target.target
            if isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) and t.value.value == "self":
                self.self_attrs[(key.rsplit(".", 1)[0], t.attr.value)] = kind

    # ---- calls -----------------------------------------------------------------------------
    def visit_Call(self, node: cst.Call, ctx: LintContext) -> None:
        if ctx.in_lambda:
            return
        frame = ctx.function_frame
        if frame is None or frame.key is None:
            return
        key = frame.key
        position = self.positions.get(id(node))
        in_comprehension = any(f is frame for f in self.comprehensions)
        catching = any(f is frame for f in self.catching)
        fixable = not in_comprehension and not catching and position != "awaited"
        found = self._blocking(node, ctx)
        if found is not None:
            what, kind = found
            self.direct.setdefault(key, []).append(_Blocking(node, what, kind, fixable, ctx.statement, self._guard(ctx)))
            return
        local, imported = self._callees(node.func, ctx)
        if local or imported:
            self.edges.setdefault(key, []).append(_Edge(node, local, imported, fixable, ctx.statement, self._guard(ctx)))

    def _callees(self, func: cst.BaseExpression, ctx: LintContext) -> tuple[tuple[str, ...], tuple[str, ...]]:
        from libcst.metadata import QualifiedNameSource

        if not _is_dotted(func):
            return (), ()
        local: list[str] = []
        imported: list[str] = []
        for q in ctx.qualified_names(func):
            if q.source == QualifiedNameSource.LOCAL:
                local.append(q.name)
            elif q.source == QualifiedNameSource.IMPORT:
                imported.append(q.name)
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value in ("self", "cls"):
            key = ctx.function_key or ""
            if "." in key and "<locals>" not in key:
                local.append(f"{key.rsplit('.', 1)[0]}.{func.attr.value}")
        return tuple(local), tuple(imported)

    def _blocking(self, call: cst.Call, ctx: LintContext) -> tuple[str, str] | None:
        func = call.func
        # Only a dotted name is resolved: libcst names `input("> ").strip` `builtins.input`.
        for name in ctx.full_names(func) if _is_dotted(func) else ():
            kind = blocking.blocking_function(name)
            if kind is not None:
                return blocking.display(name), kind
        if not isinstance(func, cst.Attribute):
            return None
        method = func.attr.value
        if method not in _ALL_METHODS:
            return None
        built = self._built_from(func.value, ctx, 0)
        if built is None:
            return None
        methods, kind = blocking.METHODS[built]
        if method not in methods:
            return None
        if method == "acquire" and blocking.lock_call_is_nonblocking(
            [(a.keyword.value if a.keyword else None, ctx.module.code_for_node(a.value)) for a in call.args]
        ):
            return None
        short = "Future" if built == "concurrent.futures.Future" else built.replace("pathlib.", "").replace(".sessions", "")
        return f"{short}.{method}", kind

    def _built_from(self, expr: cst.BaseExpression, ctx: LintContext, depth: int) -> str | None:
        """The known class (a key of ``blocking.METHODS``) ``expr`` was built from."""
        if depth > 4:
            return None
        if isinstance(expr, cst.Call):
            func = expr.func
            for name in ctx.full_names(func) if _is_dotted(func) else ():
                if name in blocking.METHODS and name not in blocking.FUTURE_CLASSES:
                    return name
                if name in blocking.FUTURE_MAKERS:
                    return "concurrent.futures.Future"
            if isinstance(func, cst.Attribute):
                if func.attr.value == "submit" and self._is_executor(func.value, ctx):
                    return "concurrent.futures.Future"
                if func.attr.value in blocking.PATH_DERIVERS:
                    inner = self._built_from(func.value, ctx, depth + 1)
                    return inner if inner in blocking.PATH_CLASSES else None
            return None
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Divide):
            inner = self._built_from(expr.left, ctx, depth + 1)
            return inner if inner in blocking.PATH_CLASSES else None
        if isinstance(expr, cst.Attribute):
            if expr.attr.value == "parent":
                inner = self._built_from(expr.value, ctx, depth + 1)
                return inner if inner in blocking.PATH_CLASSES else None
            if isinstance(expr.value, cst.Name) and expr.value.value == "self":
                key = ctx.function_key or ""
                if "." in key and "<locals>" not in key:
                    return self.self_attrs.get((key.rsplit(".", 1)[0], expr.attr.value))
            return None
        if isinstance(expr, cst.Name):
            values = ctx.bound_values(expr)
            for value in values:
                found = self._built_from(value, ctx, depth + 1)
                if found is not None:
                    return found
            if not values:
                annotation = _param_annotation(expr, ctx)
                if annotation is not None:
                    for name in ctx.full_names(annotation):
                        if name in blocking.METHODS and name not in blocking.FUTURE_CLASSES:
                            return name
        return None

    def _is_executor(self, expr: cst.BaseExpression, ctx: LintContext) -> bool:
        if isinstance(expr, cst.Call):
            return ctx.has_name(expr.func, blocking.EXECUTORS) is not None
        if isinstance(expr, cst.Name):
            return any(self._is_executor(v, ctx) for v in ctx.bound_values(expr))
        return False

    # ---- chains ----------------------------------------------------------------------------
    def finish(self, ctx: LintContext) -> None:
        functions = ctx.graph.functions
        classes = ctx.graph.classes
        memo: dict[tuple[str, frozenset[str]], tuple[list[str], str] | None] = {}

        def resolve(edge: _Edge) -> str | None:
            for name in edge.local:
                info = functions.get(name)
                if info is not None:
                    return None if info.is_async else name
                if name in classes:
                    init = functions.get(f"{name}.__init__")
                    return f"{name}.__init__" if init is not None and not init.is_async else None
            return None

        def reach(key: str, visiting: set[str], passed: frozenset[str] = frozenset()) -> tuple[list[str], str] | None:
            """The chain from sync function ``key`` to a blocking call: [key, ..., what].
            ``passed``: the guard parameters the caller passes (see ``guard_blocks``)."""
            memo_key = (key, passed)
            if memo_key in memo:
                return memo[memo_key]
            if key in visiting:
                return None
            visiting.add(key)
            found: tuple[list[str], str] | None = None
            direct = [b for b in self.direct.get(key, ()) if b.guard is None or b.guard in passed]
            if direct:
                found = ([key], direct[0].what)
            else:
                for edge in self.edges.get(key, ()):
                    if edge.guard is not None and edge.guard not in passed:
                        continue
                    step = self._step(edge, resolve, reach, visiting, ctx, functions)
                    if step is not None:
                        found = ([key, *step[0]], step[1])
                        break
            visiting.discard(key)
            memo[memo_key] = found
            return found

        for key, info in functions.items():
            if not info.is_async:
                continue
            name = _short(key)
            for item in self.direct.get(key, ()):
                ctx.report(
                    self,
                    item.node,
                    f"`{item.what}()` blocks the event loop in coroutine `{name}()`: no other task runs until it "
                    f"returns; {_advice(item.kind)}",
                    self._fix(item.node, item.kind, item.fixable_here, ctx),
                    statement=item.statement,
                )
            for edge in self.edges.get(key, ()):
                step = self._step(edge, resolve, reach, set(), ctx, functions)
                if step is None:
                    continue
                chain, what = step
                names = " → ".join(f"`{_short(k)}()`" for k in [key, *chain]) + f" → `{what}()`"
                callee = _short(chain[0])
                ctx.report(
                    self,
                    edge.node,
                    f"{names}: `{callee}()` blocks the event loop (it reaches `{what}()`), so no other task runs "
                    f"until it returns; run it in a thread (`await asyncio.to_thread({callee}, ...)`)",
                    self._fix(edge.node, blocking.THREAD, edge.fixable_here, ctx),
                    statement=edge.statement,
                )

    def _step(self, edge: _Edge, resolve, reach, visiting: set[str], ctx: LintContext, functions):  # noqa: ANN001, ANN202
        """Where an edge leads: (chain of function keys, blocking call) or None."""
        callee = resolve(edge)
        if callee is not None:
            return reach(callee, visiting, _passed(edge.node, functions[callee].node))
        if edge.local:
            return None
        for qualified in edge.imported:
            found = ctx.project.blocking_chain(qualified, ctx.path)
            if found is not None:
                return found
        return None

    # ---- fixes -----------------------------------------------------------------------------
    def _fix(self, call: cst.Call, kind: str, fixable_here: bool, ctx: LintContext) -> Fix | None:
        if not fixable_here or kind == blocking.NONE:
            return None
        asyncio_name = _asyncio_name(ctx, call)
        if asyncio_name is None:
            return None
        from .al301 import imports_used_by

        adds = (ImportRequest("asyncio"),) if asyncio_name == "asyncio" and not _binds_asyncio(ctx, "asyncio") else ()
        if kind == blocking.SLEEP:
            if self.positions.get(id(call)) != "statement" or any(a.keyword or a.star for a in call.args):
                kind = blocking.THREAD
            else:
                new = cst.Await(
                    cst.Call(cst.Attribute(cst.Name(asyncio_name), cst.Name("sleep")), args=call.args)
                )
                return Fix(
                    "Use `await asyncio.sleep(...)`",
                    SAFE,
                    {call: lambda updated: new.with_changes(expression=new.expression.with_changes(args=updated.args))},
                    add_imports=adds,
                    remove_imports=imports_used_by([call.func], ctx),
                )
        primary = self.positions.get(id(call)) == "primary"

        def rewrite(updated: cst.Call) -> cst.BaseExpression:
            args = [cst.Arg(updated.func), *updated.args]
            args = [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in args]
            inner = cst.Call(cst.Attribute(cst.Name(asyncio_name), cst.Name("to_thread")), args=args)
            node = cst.Await(inner)
            if primary:
                node = node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
            return node

        return Fix("Run it in a thread with `await asyncio.to_thread(...)`", UNSAFE, {call: rewrite}, add_imports=adds)


_ALL_METHODS = frozenset(m for methods, _ in blocking.METHODS.values() for m in methods)


def _falsy_literal(expr: cst.BaseExpression | None) -> bool:
    if isinstance(expr, cst.Name):
        return expr.value in ("False", "None")
    return isinstance(expr, cst.Integer) and expr.value == "0"


def _passed(call: cst.Call, function: cst.FunctionDef) -> frozenset[str]:
    """The parameters of ``function`` that ``call`` passes (by keyword or by position)."""
    names = {a.keyword.value for a in call.args if a.keyword is not None}
    if any(a.star for a in call.args):
        return frozenset(p.name.value for p in (*function.params.posonly_params, *function.params.params, *function.params.kwonly_params))
    positional = [p.name.value for p in (*function.params.posonly_params, *function.params.params)]
    bound = isinstance(call.func, cst.Attribute) or function.name.value == "__init__"
    if positional and positional[0] in ("self", "cls") and bound:
        positional = positional[1:]
    names.update(positional[: sum(1 for a in call.args if a.keyword is None)])
    return frozenset(names)


def _is_dotted(expr: cst.BaseExpression) -> bool:
    """``name`` or ``a.b.c``: an expression whose qualified name means what it says."""
    while isinstance(expr, cst.Attribute):
        expr = expr.value
    return isinstance(expr, cst.Name)


def _short(key: str) -> str:
    return key.replace(".<locals>", "").removesuffix(".__init__")


def _advice(kind: str) -> str:
    if kind == blocking.SLEEP:
        return "use `await asyncio.sleep(...)`"
    if kind == blocking.NONE:
        return "move the work that uses it into a function run with `await asyncio.to_thread(...)`"
    return "run it in a thread (`await asyncio.to_thread(...)` or the runtime's `offload()`)"


def _param_annotation(name: cst.Name, ctx: LintContext) -> cst.BaseExpression | None:
    """The annotation of the parameter ``name`` refers to, if it is an annotated parameter."""
    param = ctx.parameter(name)
    if param is None:
        return None
    return param.annotation.annotation if param.annotation is not None else None


def _binds_asyncio(ctx: LintContext, name: str) -> bool:
    return ctx.has_name_binding(name, {"asyncio"})


def _asyncio_name(ctx: LintContext, at: cst.CSTNode) -> str | None:
    """``asyncio`` when that name is free (the fix imports it) or bound to the asyncio module
    where the fix writes it; None when something else owns the name."""
    if ctx.name_is_free("asyncio") and ctx.name_is_free("asyncio", at):
        return "asyncio"
    if _binds_asyncio(ctx, "asyncio") and ctx.binds_as_module("asyncio", at):
        return "asyncio"
    return None
