"""The loop model: which event loops a module's code touches, whether each is current, and
whether it is ever closed.

Collected in the one traversal (the model registers ``visit_``/``leave_`` hooks beside the
rules'), answered after it. The rules of the loop lifecycle (AL101, AL102, AL105, AL106,
AL201, AL202) ask it instead of matching call shapes:

- where a loop value comes from: ``new_event_loop()`` (asyncio or uvloop), ``get_event_loop()``,
  ``get_running_loop()``, or a function of this module that makes sure a current loop exists
  (a *get-or-create-and-set helper*);
- whether a current loop is guaranteed at a point: after ``set_event_loop(loop)``, after
  ``Mangum(app)`` (Mangum 0.21 and later make sure a current loop exists in the constructor and
  serve every invocation on it), after a call to such a helper;
- whether a loop is closed (``loop.close()`` in the same scope);
- whether a loop creator runs once per process (a fallback branch that sets the new loop as
  current and never closes it) or on every call.

Everything is per module and by qualified name; a scope is a function key of the call graph
(``"handler"``, ``"Task.__call__"``) or :data:`MODULE_SCOPE`. Cost: one dict insert per call
node and a few per assignment, in the traversal that runs anyway; the queries are lookups over
the handful of loop events a module has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .loopapi import GET_EVENT_LOOP, LOOP_RUN_METHODS, NEW_EVENT_LOOP, loop_getter
from .rule import cst

if TYPE_CHECKING:  # pragma: no cover
    import libcst

    from .context import LintContext

MODULE_SCOPE = "<module>"

SET_EVENT_LOOP = frozenset({"asyncio.set_event_loop", "asyncio.events.set_event_loop"})
GET_RUNNING_LOOP = frozenset({"asyncio.get_running_loop", "asyncio.events.get_running_loop"})
# Constructors that make sure a current loop exists (and serve on it). Mangum >= 0.21.
CURRENT_LOOP_MAKERS = frozenset({"mangum.Mangum", "mangum.adapter.Mangum"})
# Objects that serve requests: a module that builds one is imported by a server, never a script.
SERVING_CONSTRUCTORS = frozenset(
    {
        "mangum.Mangum", "mangum.adapter.Mangum",
        "fastapi.FastAPI", "fastapi.applications.FastAPI", "starlette.applications.Starlette",
        "celery.Celery", "celery.app.Celery", "flask.Flask", "quart.Quart",
        "aiohttp.web.Application", "django.core.asgi.get_asgi_application",
        "django.core.wsgi.get_wsgi_application",
    }
)
# What a loop needs before ``close()``: finalize async generators, join the default executor.
SHUTDOWN_METHODS = ("shutdown_asyncgens", "shutdown_default_executor")
# Names that hold an event loop by convention (asyncio's own parameters, ``self.loop``, ``bot.loop``).
LOOP_NAMES = frozenset({"loop", "_loop", "event_loop", "_event_loop"})
RUNTIME_ERROR_CATCHERS = frozenset({"builtins.RuntimeError", "builtins.Exception", "builtins.BaseException"})


def catches_runtime_error(handler: libcst.ExceptHandler | libcst.ExceptStarHandler, ctx: LintContext) -> bool:
    """The ``except`` clause catches ``RuntimeError`` (what a loop lookup raises)."""
    kind = handler.type
    if kind is None:
        return True
    kinds = [e.value for e in kind.elements] if isinstance(kind, cst.Tuple) else [kind]
    return any(ctx.has_name(k, RUNTIME_ERROR_CATCHERS) for k in kinds)


_WATCHED_ATTRS = frozenset({"set_event_loop"} | {name.rpartition(".")[2] for name in SERVING_CONSTRUCTORS})


@dataclass
class Binding:
    """``name = <call>`` in a scope."""

    order: int
    value: libcst.BaseExpression
    conditional: bool  # inside an ``if`` or an ``except`` of its own function (or module)


# Where a statement sits among exclusive branches: ``(id(if_or_try), branch)`` pairs from the
# outside in. Two events on paths that take different branches of the same ``if``/``try``
# never both run (``body``/``else`` of an ``if``; the body and each ``except`` of a ``try``).
Path = tuple[tuple[int, str], ...]


def exclusive(first: Path, second: Path) -> bool:
    """The two paths take different branches of the same ``if`` or ``try``."""
    taken = dict(first)
    return any(node in taken and taken[node] != branch for node, branch in second)


@dataclass
class Event:
    order: int
    node: libcst.CSTNode
    name: str | None = None  # the loop's variable, where there is one
    path: Path = ()


@dataclass
class Scope:
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    sets: list[Event] = field(default_factory=list)  # set_event_loop(x), x not None
    unsets: list[Event] = field(default_factory=list)  # set_event_loop(None)
    closes: list[Event] = field(default_factory=list)  # x.close()
    makers: list[Event] = field(default_factory=list)  # Mangum(...)
    runs: list[Event] = field(default_factory=list)  # x.run_until_complete(...), x.run_forever()
    # x.shutdown_asyncgens() / x.shutdown_default_executor(): (method, event)
    shutdowns: list[tuple[str, Event]] = field(default_factory=list)
    returns: list[libcst.BaseExpression] = field(default_factory=list)


@dataclass(frozen=True)
class LoopFate:
    """What happens to the loop a ``run_until_complete``/``run_forever`` call runs on."""

    origin: str  # "new", "get", "running", "current" (a helper's current loop) or "unknown"
    current: bool  # set as current (or current by construction)
    closed: bool  # closed in the same scope


class LoopModel:
    """Collects loop events during the traversal; see the module docstring."""

    def __init__(self, ctx: LintContext) -> None:
        self.ctx = ctx
        self.order: dict[int, int] = {}
        self.scopes: dict[str, Scope] = {}
        self.serving: list[libcst.Call] = []  # serving objects built at import time
        self._cond_depth = 0
        self._cond_base: list[int] = []
        self._guarded_bodies: set[int] = set()
        self._guards: list[int] = []  # ids of try bodies being visited that catch RuntimeError
        self.guarded: set[int] = set()  # ids of calls in such a body
        self._ensures: dict[str, bool] = {}
        self._branches: dict[int, tuple[int, str]] = {}  # id(block) -> (id(if/try), branch)
        self._path: list[tuple[int, str]] = []
        self._path_nodes: list[int] = []
        self.paths: dict[int, Path] = {}  # id(call) -> its path, for calls under a branch

    # ---- traversal hooks -------------------------------------------------------------------
    def _scope(self) -> Scope:
        key = self.ctx.function_key or MODULE_SCOPE
        scope = self.scopes.get(key)
        if scope is None:
            scope = self.scopes[key] = Scope()
        return scope

    @property
    def _conditional(self) -> bool:
        return self._cond_depth > (self._cond_base[-1] if self._cond_base else 0)

    def visit_FunctionDef(self, node: libcst.FunctionDef, ctx: LintContext) -> None:
        self._cond_base.append(self._cond_depth)

    def leave_FunctionDef(self, node: libcst.FunctionDef, ctx: LintContext) -> None:
        self._cond_base.pop()

    def _enter_branch(self, node: libcst.CSTNode) -> None:
        branch = self._branches.pop(id(node), None)
        if branch is not None:
            self._path.append(branch)
            self._path_nodes.append(id(node))

    def _leave_branch(self, node: libcst.CSTNode) -> None:
        if self._path_nodes and self._path_nodes[-1] == id(node):
            self._path_nodes.pop()
            self._path.pop()

    def visit_If(self, node: libcst.If, ctx: LintContext) -> None:
        self._enter_branch(node)  # an `elif` is the `else` branch of the `if` before it
        self._cond_depth += 1
        self._branches[id(node.body)] = (id(node), "body")
        if node.orelse is not None:
            self._branches[id(node.orelse)] = (id(node), "else")

    def leave_If(self, node: libcst.If, ctx: LintContext) -> None:
        self._cond_depth -= 1
        self._leave_branch(node)

    def visit_ExceptHandler(self, node: libcst.ExceptHandler, ctx: LintContext) -> None:
        self._enter_branch(node)
        self._cond_depth += 1

    def leave_ExceptHandler(self, node: libcst.ExceptHandler, ctx: LintContext) -> None:
        self._cond_depth -= 1
        self._leave_branch(node)

    def visit_Else(self, node: libcst.Else, ctx: LintContext) -> None:
        self._enter_branch(node)

    def leave_Else(self, node: libcst.Else, ctx: LintContext) -> None:
        self._leave_branch(node)

    def visit_Try(self, node: libcst.Try, ctx: LintContext) -> None:
        if any(catches_runtime_error(handler, ctx) for handler in node.handlers):
            self._guarded_bodies.add(id(node.body))
        # The body and its `else` are one path; each handler is another.
        self._branches[id(node.body)] = (id(node), "body")
        if node.orelse is not None:
            self._branches[id(node.orelse)] = (id(node), "body")
        for index, handler in enumerate(node.handlers):
            self._branches[id(handler)] = (id(node), f"except{index}")

    def visit_IndentedBlock(self, node: libcst.IndentedBlock, ctx: LintContext) -> None:
        self._enter_branch(node)
        if id(node) in self._guarded_bodies:
            self._guards.append(id(node))

    def leave_IndentedBlock(self, node: libcst.IndentedBlock, ctx: LintContext) -> None:
        if self._guards and self._guards[-1] == id(node):
            self._guards.pop()
        self._leave_branch(node)

    visit_SimpleStatementSuite = visit_IndentedBlock  # type: ignore[assignment]
    leave_SimpleStatementSuite = leave_IndentedBlock  # type: ignore[assignment]

    def visit_Assign(self, node: libcst.Assign, ctx: LintContext) -> None:
        if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
            binding = Binding(len(self.order), node.value, self._conditional)
            self.order[id(node)] = binding.order
            self._scope().bindings.setdefault(node.targets[0].target.value, []).append(binding)

    def visit_Return(self, node: libcst.Return, ctx: LintContext) -> None:
        if node.value is not None and ctx.function_key is not None and not ctx.in_lambda:
            self._scope().returns.append(node.value)

    def visit_Call(self, node: libcst.Call, ctx: LintContext) -> None:
        order = self.order[id(node)] = len(self.order)
        if self._guards:
            self.guarded.add(id(node))
        path = tuple(self._path)
        if path:
            self.paths[id(node)] = path
        func = node.func
        if isinstance(func, cst.Attribute):
            attr = func.attr.value
            receiver = func.value.value if isinstance(func.value, cst.Name) else None
            if attr == "close" and receiver is not None and not node.args:
                self._scope().closes.append(Event(order, node, receiver, path))
            elif attr in LOOP_RUN_METHODS and receiver is not None:
                self._scope().runs.append(Event(order, node, receiver, path))
            elif attr in SHUTDOWN_METHODS and receiver is not None:
                self._scope().shutdowns.append((attr, Event(order, node, receiver, path)))
            if attr not in _WATCHED_ATTRS:
                return
        elif not isinstance(func, cst.Name):
            return
        found = ctx.has_name(func, SET_EVENT_LOOP | SERVING_CONSTRUCTORS)
        if found is None:
            return
        if found in SET_EVENT_LOOP:
            arg = node.args[0].value if node.args else None
            if arg is None or (isinstance(arg, cst.Name) and arg.value == "None"):
                self._scope().unsets.append(Event(order, node))
            else:
                self._scope().sets.append(Event(order, node, arg.value if isinstance(arg, cst.Name) else None))
            return
        if found in CURRENT_LOOP_MAKERS:
            self._scope().makers.append(Event(order, node))
        if ctx.executes_at_import:
            self.serving.append(node)

    # ---- queries ----------------------------------------------------------------------------
    def scope_of(self, key: str | None) -> Scope:
        return self.scopes.get(key or MODULE_SCOPE) or Scope()

    def ensures_current(self, key: str) -> bool:
        """Function ``key`` leaves a current loop set when it returns normally: it sets one
        (``set_event_loop(loop)``), builds a Mangum adapter, or calls a function that does —
        the get-or-create-and-set helper."""
        known = self._ensures.get(key)
        if known is not None:
            return known
        self._ensures[key] = False  # recursion
        scope = self.scope_of(key)
        result = bool(scope.sets or scope.makers) and not scope.unsets
        if not result:
            result = any(self.ensures_current(callee) for callee, _ in self.ctx.graph.edges.get(key, ()))
        self._ensures[key] = result
        return result

    def get_or_create(self, getter: libcst.Call, key: str | None) -> bool:
        """``get_event_loop()`` in a ``try`` that catches ``RuntimeError``, in a scope that sets
        a loop as current (the fallback): the inline get-or-create-and-set."""
        return id(getter) in self.guarded and bool(self.scope_of(key).sets)

    def guaranteed_before(self, key: str | None, node: libcst.CSTNode) -> bool:
        """A current loop is guaranteed at ``node`` in scope ``key``: something earlier in the
        same scope set one, or (for code in functions, which run after import) the module set
        one at import time."""
        at = self.order.get(id(node), len(self.order))
        if self._guarantees(key, at):
            return True
        return key is not None and self._guarantees(None, len(self.order))

    def _guarantees(self, key: str | None, before: int) -> bool:
        scope = self.scope_of(key)
        if any(e.order < before for e in scope.sets) or any(e.order < before for e in scope.makers):
            return not any(e.order < before for e in scope.unsets)
        for callee, site in self.ctx.graph.edges.get(key, ()):
            if self.order.get(id(site.node), before) < before and self.ensures_current(callee):
                return True
        return False

    def origin(self, value: libcst.BaseExpression, key: str | None) -> str:
        """Where a loop value comes from: "new", "get", "running", "current" or "unknown"."""
        ctx = self.ctx
        if isinstance(value, cst.Call):
            if ctx.has_name(value.func, NEW_EVENT_LOOP):
                return "new"
            if loop_getter(value, ctx) is not None:
                return "get"
            if ctx.has_name(value.func, GET_RUNNING_LOOP):
                return "running"
            callee = self.local_callee(value)
            if callee is not None and self.ensures_current(callee):
                return "current"
        return "unknown"

    def local_callee(self, call: libcst.Call) -> str | None:
        """The function of this module that ``call`` calls, if the call graph resolved one."""
        for key, sites in self.ctx.graph.edges.items():
            for callee, site in sites:
                if site.node is call:
                    return callee
        return None

    def binding(self, key: str | None, name: str, node: libcst.CSTNode) -> tuple[str | None, Binding] | None:
        """The latest ``name = ...`` before ``node`` in scope ``key`` (or at module level)."""
        at = self.order.get(id(node), len(self.order))
        for scope_key in (key, None) if key is not None else (None,):
            found = [b for b in self.scope_of(scope_key).bindings.get(name, ()) if b.order < at or scope_key != key]
            if found:
                return scope_key, found[-1]
        return None

    def fate(self, receiver: libcst.BaseExpression, key: str | None, at: libcst.CSTNode) -> LoopFate:
        """What happens to the loop ``receiver`` (of ``receiver.run_until_complete(...)``)."""
        if isinstance(receiver, cst.Name):
            found = self.binding(key, receiver.value, at)
            if found is None:
                return LoopFate("unknown", False, False)
            scope_key, binding = found
            origin = self.origin(binding.value, scope_key)
            scope = self.scope_of(scope_key)
            closed = any(e.name == receiver.value for e in scope.closes)
            current = origin in ("get", "running", "current") or any(
                e.name == receiver.value for e in scope.sets
            )
            return LoopFate(origin, current, closed)
        origin = self.origin(receiver, key)
        return LoopFate(origin, origin in ("get", "running", "current"), False)

    def once_per_process(self, creation: libcst.Call, key: str | None) -> bool:
        """A loop creator whose loop is kept: it sits in a fallback branch (``if`` / ``except``),
        its loop is set as current and never closed in that scope, so later calls find it and
        do not create another (the get-or-create-and-set helper)."""
        scope = self.scope_of(key)
        for name, bindings in scope.bindings.items():
            for binding in bindings:
                if binding.value is creation:
                    return (
                        binding.conditional
                        and any(e.name == name for e in scope.sets)
                        and not any(e.name == name for e in scope.closes)
                    )
        return False

    def kept_at_import(self, creation: libcst.Call) -> bool:
        """A loop made at import time (``LOOP = new_event_loop()``) and never closed: one loop
        per process, whether or not it is set as current."""
        scope = self.scope_of(None)
        for name, bindings in scope.bindings.items():
            if any(b.value is creation for b in bindings):
                return not any(e.name == name for e in scope.closes)
        return False

    def shut_down_before(self, key: str | None, close: Event) -> set[str]:
        """The shutdown steps (:data:`SHUTDOWN_METHODS`) done for loop ``close.name`` before
        ``close`` on a path that can lead to it: on the loop itself in the same scope, or in a
        function of this module called before it (a cleanup helper, transitively)."""
        done: set[str] = set()
        scope = self.scope_of(key)
        for method, event in scope.shutdowns:
            if event.name == close.name and event.order < close.order and not exclusive(event.path, close.path):
                done.add(method)
        for callee, site in self._callees(key):
            order = self.order.get(id(site.node))
            if order is None or order > close.order or exclusive(self.paths.get(id(site.node), ()), close.path):
                continue
            done |= self._shuts_down(callee)
        return done

    def _callees(self, key: str | None) -> list[tuple[str, Any]]:
        """Functions of this module that scope ``key`` calls, coroutine functions included
        (``loop.run_until_complete(cleanup(loop))`` runs ``cleanup``)."""
        graph = self.ctx.graph
        found = []
        for site in graph.calls:
            if site.caller == key:
                callee = graph._resolve(site)
                if callee is not None:
                    found.append((callee, site))
        return found

    def _shuts_down(self, key: str, seen: set[str] | None = None) -> set[str]:
        seen = set() if seen is None else seen
        if key in seen:
            return set()
        seen.add(key)
        done = {method for method, _ in self.scope_of(key).shutdowns}
        for callee, _ in self._callees(key):
            done |= self._shuts_down(callee, seen)
        return done

    def is_loop(self, receiver: libcst.BaseExpression, key: str | None, at: libcst.CSTNode) -> bool:
        """``receiver`` is an event loop: a loop-producing call (``new_event_loop()``,
        ``get_event_loop()``, ``get_running_loop()``, a get-or-create helper), a name bound to
        one in scope, or (where no binding says otherwise) a parameter or attribute named
        ``loop``/``event_loop`` (``self.loop``, ``bot.loop``)."""
        if isinstance(receiver, cst.Call):
            return self.origin(receiver, key) != "unknown"
        if isinstance(receiver, cst.Attribute):
            return receiver.attr.value in LOOP_NAMES
        if isinstance(receiver, cst.Name):
            found = self.binding(key, receiver.value, at)
            if found is not None:
                return self.origin(found[1].value, found[0]) != "unknown" or (
                    receiver.value in LOOP_NAMES and not isinstance(found[1].value, cst.Call)
                )
            return receiver.value in LOOP_NAMES
        return False

    @property
    def builds_serving_object(self) -> bool:
        """The module builds an ASGI/WSGI app, a Mangum adapter or a Celery app at import
        time, or defines an invocation entrypoint: a server or platform imports it."""
        return bool(self.serving) or any(f.entrypoint for f in self.ctx.graph.functions.values())


__all__ = ["GET_EVENT_LOOP", "LoopFate", "LoopModel", "MODULE_SCOPE"]
