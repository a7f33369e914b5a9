"""AL403 swallowed-cancellation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..diagnostic import UNSAFE
from ..loopapi import loop_runner
from ..rule import Fix, Rule, cst

if TYPE_CHECKING:  # pragma: no cover
    from ..context import LintContext

CANCELLED = frozenset({"asyncio.CancelledError", "asyncio.exceptions.CancelledError"})
BASE_EXCEPTION = frozenset({"builtins.BaseException"})
SUPPRESS = frozenset({"contextlib.suppress"})
EXITS = frozenset({"sys.exit", "os._exit", "os.abort"})
EXC_INFO = frozenset({"sys.exc_info", "sys.exception"})
# Loop methods that run a sync function as a callback.
CALLBACK_REGISTRARS = frozenset({"add_done_callback"})


def _walk(node: cst.CSTNode):  # noqa: ANN202 - a generator of nodes
    """Every node under ``node`` that runs as part of it (not nested defs, lambdas, classes)."""
    nested = (cst.FunctionDef, cst.Lambda, cst.ClassDef)  # cst is lazy: not at import time
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(child for child in current.children if not isinstance(child, nested))


def _has_checkpoint(body: cst.CSTNode) -> bool:
    """An ``await``, ``async for`` or ``async with``: where a cancellation is delivered."""
    for node in _walk(body):
        if isinstance(node, cst.Await):
            return True
        if isinstance(node, (cst.For, cst.With)) and node.asynchronous is not None:
            return True
    return False


def caught(handler_type: cst.BaseExpression | None, ctx: LintContext) -> str | None:
    """How an ``except`` clause catches an asyncio cancellation: its display, or None."""
    if handler_type is None:
        return "bare `except:`"
    types = [e.value for e in handler_type.elements] if isinstance(handler_type, cst.Tuple) else [handler_type]
    for expr in types:
        if ctx.has_name(expr, CANCELLED):
            return f"`except {ctx.module.code_for_node(expr)}`"
    for expr in types:
        if ctx.has_name(expr, BASE_EXCEPTION):
            return "`except BaseException`"
    return None


def _ends_how(body: cst.BaseSuite) -> str:
    """How a handler body ends: ``raise``, ``return``, ``break``, ``continue`` or ``falls``."""
    statements = list(body.body) if isinstance(body, cst.IndentedBlock) else [body]
    if not statements:
        return "falls"
    last = statements[-1]
    small = last.body[-1] if isinstance(last, cst.SimpleStatementLine) and last.body else (
        last.body[-1] if isinstance(last, cst.SimpleStatementSuite) and last.body else None
    )
    if isinstance(small, cst.Raise):
        return "raise"
    if isinstance(small, cst.Return):
        return "return"
    if isinstance(small, cst.Break):
        return "break"
    if isinstance(small, cst.Continue):
        return "continue"
    return "falls"


LOGGING_METHODS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "log", "print_exc", "format_exc"}
)


def _is_logging_call(node: cst.CSTNode) -> bool:
    if not isinstance(node, cst.Call):
        return False
    func = node.func
    if isinstance(func, cst.Name):
        return func.value == "print"
    return isinstance(func, cst.Attribute) and func.attr.value in LOGGING_METHODS


def _propagates(handler: cst.ExceptHandler | cst.ExceptStarHandler, ctx: LintContext) -> bool:
    """The handler re-raises (any ``raise``, also ``raise ... from``), exits the process,
    calls ``uncancel()`` (a deliberate, 3.11+ way to absorb one cancellation), or hands the
    exception on: uses the caught exception (``as exc``) other than in a logging call —
    stores it, passes it to a function or a future that raises or reports it — or takes it
    with ``sys.exc_info()``/``sys.exception()``."""
    body = handler.body
    caught_name = handler.name.name.value if handler.name is not None and isinstance(handler.name.name, cst.Name) else None
    logged: set[int] = set()
    used: list[cst.Name] = []
    for node in _walk(body):
        if isinstance(node, cst.Raise):
            return True
        if isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value == "uncancel":
                return True
            if ctx.has_name(func, EXITS | EXC_INFO):
                return True
            if _is_logging_call(node):
                logged.update(id(n) for arg in node.args for n in _walk(arg))
        if caught_name is not None and isinstance(node, cst.Name) and node.value == caught_name:
            used.append(node)
    return any(id(name) not in logged for name in used)


@dataclass
class _Function:
    node: cst.FunctionDef
    key: str | None
    cancelled: set[str] = field(default_factory=set)  # receivers of `.cancel()` seen so far
    loops: list[cst.CSTNode] = field(default_factory=list)


@dataclass
class _Candidate:
    node: cst.CSTNode  # the handler (or the `with` item) reported
    function: _Function
    how: str  # falls, return, break, continue, suppress
    catches: str
    top_level: bool  # the `try` is a statement of the function body itself
    fix: Fix | None
    statement: cst.CSTNode | None


class SwallowedCancellation(Rule):
    code = "AL403"
    name = "swallowed-cancellation"
    summary = "A coroutine catches its own cancellation and carries on"
    fix = UNSAFE
    needles = (
        (b"CancelledError", b"BaseException", b"except:", b"except :"),
        (b"await", b"async with", b"async for", b"add_done_callback"),
    )
    what = """
Checks, in an `async def`, for a handler that catches the coroutine's own cancellation and
does not let it go on: `except asyncio.CancelledError:`, `except BaseException:`, a bare
`except:` (or a tuple with one of them), and `with contextlib.suppress(asyncio.CancelledError)`
(or `BaseException`), around code that awaits (`await`, `async for`, `async with`: the only
places a cancellation arrives). A broad handler after an earlier `except CancelledError`
clause of the same `try` does not see the cancellation and is not checked.

Not reported:

- a handler that re-raises (any `raise`, also `raise ... from`), exits the process
  (`sys.exit()`), or calls `uncancel()` (the deliberate way, from Python 3.11, to absorb one
  cancellation);
- a handler that hands the exception on: uses the caught exception (`except ... as exc`)
  other than in a logging call — stores it to raise later, passes it to a function or sets it
  on a future — or takes it with `sys.exc_info()`;
- a `try` (or `suppress`) that awaits a task this function itself cancelled earlier
  (`task.cancel()` then `try: await task` / `except CancelledError: pass`, also
  `for t in tasks: t.cancel()` then `gather(*tasks)`, and `loop.call_soon(task.cancel)`):
  that is how one waits for a cancelled task to finish; and a task that cancels itself
  (`asyncio.current_task().cancel()`) on purpose;
- the top-level statements of the entry coroutine of a program (`asyncio.run(main())` under
  `if __name__ == "__main__":` or in `__main__.py`): nothing above it waits for the
  cancellation, and `asyncio.run()` itself turns Ctrl-C into `KeyboardInterrupt` after it;
- a handler that ends the coroutine, with `return` (or a `break` out of the loop that is the
  last statement of the function, or by being the last thing the function runs) after any
  cleanup — logging, closing connections, cancelling child tasks, setting flags. This is
  the usual end of a worker loop started as a task: the task finishes promptly when
  cancelled, so shutdown does not hang. It is reported only when this module awaits that
  coroutine directly (`await fetch()`): then the caller continues as if the call had
  completed.

In sync callbacks run by the loop (`fut.add_done_callback(cb)`), a cancellation is never
delivered to the callback itself; `fut.result()` raises `CancelledError` when the future was
cancelled, and catching it there is correct — except when the callback forwards the outcome
to another future (`other.set_result(fut.result())`) and the handler drops the cancellation
(no `other.cancel()`, `set_exception()` or `set_result()`): whoever awaits the other future
then waits forever. That case is reported too.

Relation to flake8-async: ASYNC103 (`no-reraise-cancelled`) reports such handlers that do not
re-raise on every path, and ASYNC104 (`cancelled-not-raised`) reports `return`/`break` in
them; both also cover trio and anyio, and ruff does not implement them. AL403 is asyncio-only
and stricter about what it reports: it needs an `await` in the `try`, accepts the
cancel-then-await idiom, the program's entry coroutine and a returning task body, and offers
a fix. `# noqa: ASYNC103` or `# noqa: ASYNC104` on the line also silences AL403.
"""
    why = """
Cancellation is how asyncio stops work: `task.cancel()` raises `CancelledError` at the task's
next `await`, and shutdown, `asyncio.timeout()`, `wait_for()` and `TaskGroup` all wait for it
to come out of the task. A handler that catches it and carries on keeps the task running:
shutdown waits for it (often until the process is killed), a timeout silently turns into a
normal result, and a TaskGroup cannot stop its siblings. Run on CPython 3.10–3.13: after one
`cancel()`, a worker whose handler falls through is still running 0.2 s later; under
`asyncio.timeout(0.05)` (3.11+) a swallowing helper makes the block complete without
`TimeoutError`.
"""
    example = """
import asyncio

async def consume(queue: asyncio.Queue) -> None:
    while True:
        try:
            item = await queue.get()
        except asyncio.CancelledError:
            print("cancelled")
        else:
            print(item)
"""
    use_instead = """
import asyncio

async def consume(queue: asyncio.Queue) -> None:
    while True:
        try:
            item = await queue.get()
        except asyncio.CancelledError:
            print("cancelled")
            raise
        else:
            print(item)
"""
    fix_safety = """
For a handler that catches only `CancelledError` and falls through (or ends in `continue` or
`break`), the fix adds `raise` at its end (replacing a lone `pass`, `continue` or `break`).
It is unsafe: the coroutine now ends with `CancelledError` where it used to carry on, so code
after the `try` no longer runs when it is cancelled. Broad handlers (`BaseException`, bare
`except:`) and `suppress()` get no fix: re-raising there would also re-raise every other
exception they swallow today.
"""
    references = (
        "https://docs.python.org/3/library/asyncio-task.html#task-cancellation",
        "https://docs.python.org/3/library/asyncio-task.html#asyncio.Task.uncancel",
        "https://flake8-async.readthedocs.io/en/latest/rules.html#async103",
    )

    def __init__(self) -> None:
        super().__init__()
        self.functions: list[_Function] = []
        self.candidates: list[_Candidate] = []
        self.entry_functions: set[str] = set()  # keys of coroutines run by a program entry
        self.awaited_functions: set[str] = set()  # keys of coroutines awaited directly
        self.callbacks: set[str] = set()  # keys of sync functions passed to add_done_callback
        self.sync_candidates: list[tuple[str, cst.ExceptHandler, str, cst.CSTNode | None]] = []

    # ---- where we are --------------------------------------------------------------------
    def visit_FunctionDef(self, node: cst.FunctionDef, ctx: LintContext) -> None:
        # The traversal pushes the function's frame on its body; the key is the frame's.
        self.functions.append(_Function(node, None))

    def leave_FunctionDef(self, node: cst.FunctionDef, ctx: LintContext) -> None:
        self.functions.pop()

    def _current(self, ctx: LintContext) -> _Function | None:
        frame = ctx.function_frame
        if frame is None or not self.functions or self.functions[-1].node is not frame.node:
            return None
        function = self.functions[-1]
        function.key = frame.key
        return function

    def _push_loop(self, node: cst.CSTNode, ctx: LintContext) -> None:
        function = self._current(ctx)
        if function is not None:
            function.loops.append(node)

    def _pop_loop(self, node: cst.CSTNode, ctx: LintContext) -> None:
        function = self._current(ctx)
        if function is not None and function.loops and function.loops[-1] is node:
            function.loops.pop()

    visit_For = visit_While = _push_loop
    leave_For = leave_While = _pop_loop

    # ---- facts ---------------------------------------------------------------------------
    def visit_Call(self, node: cst.Call, ctx: LintContext) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "cancel" and not node.args:
            function = self._current(ctx)
            if function is not None:
                self._note_cancelled(func.value, function, ctx)
        elif isinstance(func, cst.Attribute) and func.attr.value in CALLBACK_REGISTRARS and node.args:
            self.callbacks.update(self._local_keys(node.args[0].value, ctx))
        # `loop.call_soon(task.cancel)`, `call_later(1, task.cancel)`: cancelled too.
        for arg in node.args:
            value = arg.value
            if isinstance(value, cst.Attribute) and value.attr.value == "cancel":
                function = self._current(ctx)
                if function is not None:
                    self._note_cancelled(value.value, function, ctx)
        if node.args and isinstance(node.args[0].value, cst.Call) and loop_runner(node, ctx) is not None:
            if ctx.is_program_entry:
                self.entry_functions.update(self._local_keys(node.args[0].value.func, ctx))

    def visit_Await(self, node: cst.Await, ctx: LintContext) -> None:
        if isinstance(node.expression, cst.Call):
            self.awaited_functions.update(self._local_keys(node.expression.func, ctx))

    def _local_keys(self, expr: cst.BaseExpression, ctx: LintContext) -> set[str]:
        from libcst.metadata import QualifiedNameSource

        keys = {q.name for q in ctx.qualified_names(expr) if q.source == QualifiedNameSource.LOCAL}
        # `self.run()` in a method of class K: K.run.
        if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value in ("self", "cls"):
            key = ctx.function_key
            if key and "." in key:
                keys.add(f"{key.rsplit('.', 1)[0]}.{expr.attr.value}")
        return keys

    def _note_cancelled(self, receiver: cst.BaseExpression, function: _Function, ctx: LintContext) -> None:
        function.cancelled.add(ctx.module.code_for_node(receiver))
        # `for t in tasks: t.cancel()`: the tasks are cancelled too.
        for loop in function.loops:
            if (
                isinstance(loop, cst.For)
                and isinstance(loop.target, cst.Name)
                and isinstance(receiver, cst.Name)
                and loop.target.value == receiver.value
            ):
                function.cancelled.add(ctx.module.code_for_node(loop.iter))
        # `for t in tasks: t.cancel()` inside `for` over `.values()`/`.items()` etc.: the
        # iterable's base name.
        for loop in function.loops:
            if isinstance(loop, cst.For) and isinstance(loop.iter, cst.Call) and isinstance(loop.iter.func, cst.Attribute):
                function.cancelled.add(ctx.module.code_for_node(loop.iter.func.value))

    def _awaits_cancelled(self, body: cst.CSTNode, function: _Function, ctx: LintContext) -> bool:
        """The body awaits something this function cancelled (``await task``, ``gather(*tasks)``)."""
        cancelled = set(function.cancelled)  # and `task.cancel()` in the body itself
        for node in _walk(body):
            if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "cancel":
                cancelled.add(ctx.module.code_for_node(node.func.value))
            if isinstance(node, cst.Call):  # `loop.call_soon(f.cancel)` in the body itself
                for arg in node.args:
                    if isinstance(arg.value, cst.Attribute) and arg.value.attr.value == "cancel":
                        cancelled.add(ctx.module.code_for_node(arg.value.value))
        if not cancelled:
            return False
        if any(text.endswith("current_task()") for text in cancelled):
            return True  # the task cancels itself on purpose
        # Generating code for every expression under every await was a good part of a lint
        # run on large test files: names compare directly, attributes and subscripts only
        # when their last part could match.
        attrs = {text.rsplit(".", 1)[-1] for text in cancelled if "." in text}
        subscripted = any(text.endswith("]") for text in cancelled)
        for node in _walk(body):
            if isinstance(node, cst.Await):
                for inner in _walk(node.expression):
                    if isinstance(inner, cst.Name):
                        if inner.value in cancelled:
                            return True
                    elif (
                        (isinstance(inner, cst.Attribute) and inner.attr.value in attrs)
                        or (isinstance(inner, cst.Subscript) and subscripted)
                    ) and ctx.module.code_for_node(inner) in cancelled:
                        return True
        return False

    # ---- handlers ------------------------------------------------------------------------
    def visit_Try(self, node: cst.Try, ctx: LintContext) -> None:
        self._check_try(node, node.handlers, ctx)

    def visit_TryStar(self, node: cst.TryStar, ctx: LintContext) -> None:
        self._check_try(node, node.handlers, ctx)

    def _check_try(self, node: cst.Try | cst.TryStar, handlers, ctx: LintContext) -> None:  # noqa: ANN001
        if ctx.in_lambda:
            return
        frame = ctx.function_frame
        if frame is None:
            return
        if not frame.is_async:
            self._check_callback_try(node, handlers, ctx)
            return
        function = self._current(ctx)
        if function is None or not _has_checkpoint(node.body) or self._awaits_cancelled(node.body, function, ctx):
            return
        cancellation_handled = False
        for handler in handlers:
            catches = caught(handler.type, ctx)
            if catches is None:
                continue
            if cancellation_handled and "CancelledError" not in catches:
                break
            cancellation_handled = True
            if _propagates(handler, ctx):
                continue
            how = _ends_how(handler.body)
            if how == "break" and not self._break_ends_function(function):
                how = "falls"
            elif how == "break" or (how == "falls" and _last_in_function(ctx)):
                how = "return"  # nothing of the function runs after the handler
            self.candidates.append(
                _Candidate(
                    handler,
                    function,
                    how,
                    catches,
                    node in function.node.body.body if isinstance(function.node.body, cst.IndentedBlock) else False,
                    _reraise_fix(handler, catches, how) if isinstance(node, cst.Try) else None,
                    handler,
                )
            )

    def _break_ends_function(self, function: _Function) -> bool:
        """A ``break`` out of the innermost loop, when that loop is the function's last statement."""
        body = function.node.body
        return bool(function.loops) and isinstance(body, cst.IndentedBlock) and bool(body.body) and body.body[-1] is function.loops[-1]

    def visit_With(self, node: cst.With, ctx: LintContext) -> None:
        if not ctx.in_async_function or ctx.in_lambda:
            return
        function = self._current(ctx)
        if function is None:
            return
        for item in node.items:
            call = item.item
            if not isinstance(call, cst.Call) or ctx.has_name(call.func, SUPPRESS) is None:
                continue
            names = [ctx.module.code_for_node(a.value) for a in call.args if ctx.has_name(a.value, CANCELLED | BASE_EXCEPTION)]
            if not names or not _has_checkpoint(node.body) or self._awaits_cancelled(node.body, function, ctx):
                continue
            top = isinstance(function.node.body, cst.IndentedBlock) and node in function.node.body.body
            how = "return" if _last_in_function(ctx) else "suppress"  # nothing runs after it
            self.candidates.append(_Candidate(call, function, how, f"`suppress({names[0]})`", top, None, None))

    # ---- sync callbacks ------------------------------------------------------------------
    def _check_callback_try(self, node: cst.Try | cst.TryStar, handlers, ctx: LintContext) -> None:  # noqa: ANN001
        """In a sync function: a handler that drops the cancellation of a future whose outcome
        the ``try`` (or its ``else``) forwards to another future. Reported if the function is
        used as a done callback (known in :meth:`finish`)."""
        if not isinstance(node, cst.Try):
            return
        forwards = [*_walk(node.body)] + ([*_walk(node.orelse)] if node.orelse is not None else [])
        if not any(_is_call_to(n, ("set_result", "set_exception")) for n in forwards):
            return
        if not any(_is_call_to(n, ("result",)) for n in _walk(node.body)):
            return
        for handler in handlers:
            catches = caught(handler.type, ctx)
            if catches is None:
                continue
            if _propagates(handler, ctx) or any(
                _is_call_to(n, ("cancel", "set_result", "set_exception")) for n in _walk(handler.body)
            ):
                break
            key = ctx.function_key
            if key is not None:
                self.sync_candidates.append((key, handler, catches, ctx.statement))
            break

    # ---- decisions -----------------------------------------------------------------------
    def finish(self, ctx: LintContext) -> None:
        for candidate in self.candidates:
            key = candidate.function.key
            if candidate.top_level and key in self.entry_functions:
                continue
            name = candidate.function.node.name.value
            if candidate.how == "return":
                if key not in self.awaited_functions:
                    continue
                message = (
                    f"{candidate.catches} around an `await` returns from `{name}()` when it is cancelled: "
                    f"the coroutine that awaits `{name}()` carries on as if it had completed; re-raise the cancellation"
                )
            elif candidate.how == "suppress":
                message = (
                    f"{candidate.catches} around an `await` swallows the cancellation of `{name}()`: the task carries on "
                    "after `cancel()`, so shutdown, timeouts and TaskGroups wait for it or lose their cancel; "
                    "let `CancelledError` propagate"
                )
            else:
                message = (
                    f"{candidate.catches} swallows the cancellation of `{name}()` and carries on: the task keeps "
                    "running after `cancel()`, so shutdown, timeouts and TaskGroups wait for it or lose their cancel; "
                    "re-raise it (`raise`)"
                )
            ctx.report(self, candidate.node, message, candidate.fix, statement=candidate.statement)
        for key, handler, catches, _statement in self.sync_candidates:
            if key in self.callbacks:
                ctx.report(
                    self,
                    handler,
                    f"{catches} in done callback `{key.rsplit('.', 1)[-1]}()` drops the cancellation it should forward: "
                    "the future it sets is never resolved, so whoever awaits it waits forever; cancel that future too",
                    statement=handler,
                )


def _last_in_function(ctx: LintContext) -> bool:
    """The statement being visited is the last thing its function runs: the last statement
    of the function body, or of a ``with`` or ``if`` block that is itself last."""
    statements = ctx.statements
    for index in range(len(statements) - 1, 0, -1):
        child, parent = statements[index], statements[index - 1]
        if not isinstance(parent, (cst.FunctionDef, cst.With, cst.If)):
            return False
        body = parent.body
        if not isinstance(body, cst.IndentedBlock) or not body.body or body.body[-1] is not child:
            return False
        if isinstance(parent, cst.FunctionDef):
            return True
    return False


def _is_call_to(node: cst.CSTNode, methods: tuple[str, ...]) -> bool:
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in methods


def _reraise_fix(handler: cst.ExceptHandler, catches: str, how: str) -> Fix | None:
    """``raise`` at the end of a handler that catches only ``CancelledError``."""
    if "CancelledError" not in catches or isinstance(handler.type, cst.Tuple) or how == "return":
        return None
    body = handler.body
    if not isinstance(body, cst.IndentedBlock) or not body.body:
        return None
    statements = list(body.body)
    last = statements[-1]
    raise_line = cst.SimpleStatementLine(body=[cst.Raise()])
    if isinstance(last, cst.SimpleStatementLine) and len(last.body) == 1 and isinstance(last.body[0], (cst.Pass, cst.Continue, cst.Break)):
        statements[-1] = last.with_changes(body=[cst.Raise()])
    else:
        statements.append(raise_line)
    new_body = body.with_changes(body=statements)
    return Fix(
        "Re-raise the cancellation at the end of the handler",
        UNSAFE,
        {handler: lambda updated: updated.with_changes(body=new_body)},
    )
