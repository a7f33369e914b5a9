"""One traversal for all rules, and the facts about "where am I" that every rule shares.

The traversal keeps its own stack of frames (module, class, function, lambda body), the
statement stack (for ``noqa`` on the first line of a multi-line statement) and the
``if __name__ == "__main__":`` guard depth, so no rule needs a parent-node provider or a
private "inside async def" flag. It also records the module's call graph: which functions of
this module are called at import time or from an invocation entrypoint, transitively.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

import libcst as cst
from libcst.metadata import QualifiedName, QualifiedNameSource, Scope

from .bindings import BindingIndex
from .loopmodel import LoopModel
from .project import ProjectIndex, index_for
from .rule import Fix, Rule, describe_chain  # noqa: F401 - re-exported
from .walk import walk

if TYPE_CHECKING:  # pragma: no cover
    from .config import Settings

MODULE, CLASS, FUNCTION, LAMBDA = "module", "class", "function", "lambda"

_MAIN = frozenset({'"__main__"', "'__main__'"})


def is_main_guard(node: cst.If) -> bool:
    """``if __name__ == "__main__":`` (either way round). Plain checks: matching with
    ``libcst.matchers`` would cost its import (a sixth of a short run) for one pattern."""
    test = node.test
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return False
    target = test.comparisons[0]
    if not isinstance(target.operator, cst.Equal):
        return False
    sides = (test.left, target.comparator)
    return any(
        isinstance(a, cst.Name) and a.value == "__name__" and isinstance(b, cst.SimpleString) and b.value in _MAIN
        for a, b in (sides, sides[::-1])
    )


def _simple_callee(func: cst.BaseExpression) -> bool:
    """``f``, ``obj.f``, and (for decorators with arguments) ``f(...)``/``obj.f(...)``."""
    if isinstance(func, cst.Call):
        func = func.func
    return isinstance(func, cst.Name) or (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name))


# Lambda-style handler names whose two parameters may have any names.
LAMBDA_HANDLER_NAMES = frozenset({"handler", "lambda_handler", "main"})


@dataclass
class Frame:
    kind: str
    node: cst.CSTNode
    key: str | None = None  # qualified key of a function ("load", "K.m", "f.<locals>.g")
    is_async: bool = False


@dataclass
class Finding:
    code: str
    name: str
    node: cst.CSTNode
    message: str
    fix: Fix | None
    statement: cst.CSTNode | None


@dataclass
class FunctionInfo:
    key: str
    node: cst.FunctionDef
    is_async: bool
    module_level: bool
    entrypoint: str | None = None  # why it is an invocation entrypoint, if it is one
    decorators: tuple[str, ...] = ()  # local qualified names of its decorators


@dataclass
class CallSite:
    caller: str | None  # None: the call executes at import time
    callee_names: tuple[str, ...]  # local qualified names of the callee
    node: cst.Call | cst.Decorator
    statement: cst.CSTNode | None = None


@dataclass
class CallGraph:
    functions: dict[str, FunctionInfo] = field(default_factory=dict)
    classes: set[str] = field(default_factory=set)
    calls: list[CallSite] = field(default_factory=list)
    _edges: dict[str | None, list[tuple[str, CallSite]]] | None = None

    def _resolve(self, site: CallSite) -> str | None:
        for name in site.callee_names:
            if name in self.functions:
                return name
            if name in self.classes and f"{name}.__init__" in self.functions:
                return f"{name}.__init__"
        return None

    @property
    def edges(self) -> dict[str | None, list[tuple[str, CallSite]]]:
        if self._edges is None:
            edges: dict[str | None, list[tuple[str, CallSite]]] = {}
            for site in self.calls:
                callee = self._resolve(site)
                # Calling an async def only creates a coroutine: its body does not run here.
                if callee is not None and not self.functions[callee].is_async:
                    edges.setdefault(site.caller, []).append((callee, site))
            self._edges = edges
        return self._edges

    def _paths_from(self, start: str) -> dict[str, list[CallSite]]:
        """Shortest call path from ``start`` to every sync function it reaches."""
        paths: dict[str, list[CallSite]] = {start: []}
        queue = deque([start])
        while queue:
            key = queue.popleft()
            for callee, site in self.edges.get(key, ()):
                if callee not in paths:
                    paths[callee] = paths[key] + [site]
                    queue.append(callee)
        return paths

    def reachable(self, start: str) -> set[str]:
        """The sync functions ``start`` reaches through calls of this module (itself included)."""
        return set(self._paths_from(start))

    def import_time_chains(self, key: str) -> list[tuple[CallSite, list[str]]]:
        """Import-time call sites whose call reaches function ``key``, with the function chain."""
        chains = []
        for callee, site in self.edges.get(None, ()):
            path = self._paths_from(callee).get(key)
            if path is not None:
                chains.append((site, [callee] + [self._resolve(s) or "?" for s in path]))
        return chains

    def entrypoint_chain(self, key: str) -> list[str] | None:
        """The chain from an invocation entrypoint to function ``key`` (itself if it is one).
        The wrapper functions of an entrypoint's own decorators (``def deco(f): def
        wrapper(...): ...; return wrapper``) run on every invocation too."""
        for name, info in self.functions.items():
            if info.entrypoint is None:
                continue
            starts = self._wrappers(info) if info.is_async else [name, *self._wrappers(info)]
            for start in starts:
                path = self._paths_from(start).get(key)
                if path is not None:
                    return [name] + ([start] if start != name else []) + [self._resolve(s) or "?" for s in path]
        return None

    def _wrappers(self, info: FunctionInfo) -> list[str]:
        found = []
        for decorator in info.decorators:
            target = self.functions.get(decorator)
            if target is None or target.is_async:
                continue
            prefix = decorator + ".<locals>."
            found += [k for k, f in self.functions.items() if k.startswith(prefix) and not f.is_async and "<locals>" not in k[len(prefix):]]
        return found


class LintContext:
    """Shared, per-file state handed to every rule hook."""

    def __init__(
        self,
        *,
        module: cst.Module,
        path: str,
        module_name: str | None,
        settings: Settings,
        scopes: Any = None,
        source: bytes | None = None,
        wrapper: Any = None,
    ) -> None:
        self.module = module
        self.path = path
        self.module_name = module_name
        self.settings = settings
        # libcst's scopes, resolved only when a rule asks for a Scope object (references for a
        # fix, say); names and values come from the binding pass, which costs a fraction.
        self._scopes = scopes
        self._wrapper = wrapper
        self.bindings = BindingIndex(module)
        self._source = source
        self._text: str | None = None
        self._qualified_names: dict[int, set[QualifiedName]] = {}
        filename = path.replace("\\", "/").rsplit("/", 1)[-1]
        # Files a tool executes as a program rather than imports: ``__main__.py``, and
        # Alembic's ``env.py``, which ``alembic upgrade`` runs once per command (its async
        # template calls ``asyncio.run()`` at the top level by design).
        self.is_main_module = filename == "__main__.py" or (
            filename == "env.py" and b"alembic" in (source if source is not None else module.code.encode())
        )
        self.frames: list[Frame] = [Frame(MODULE, module)]
        self.statements: list[cst.CSTNode] = []
        self.main_guard_depth = 0
        self.findings: list[Finding] = []
        self.graph = CallGraph()
        self._reported: set[tuple[str, int]] = set()
        self.loops: LoopModel | None = None  # set by the traversal when a rule asks for it
        self.dependencies: set[str] = set()  # other files the findings depend on ("*": all)
        # Version gates: the exclusive upper bound of the Python versions the code being
        # visited runs on (``if sys.version_info < (3, 12):`` → (3, 12)), and the bound of
        # each call, name and attribute visited under one.
        self.version_ceilings: list[tuple[int, int]] = []
        self._node_ceilings: dict[int, tuple[int, int]] = {}

    @property
    def project(self) -> ProjectIndex:
        """The index of the file's project (other modules, scripts): see :mod:`.project`.
        Ask it through :meth:`object_kind` and :meth:`is_script`, which record what the
        file's results then depend on (for the cache)."""
        return index_for(self.settings.project_root)

    def object_kind(self, qualified: str) -> str | None:
        """The constructor of a module-level object of another module of the project."""
        kind, path = self.project.object_kind(qualified, self.path)
        if path is not None:
            self.dependencies.add(path)
        return kind

    def is_script(self) -> bool:
        """Whether this module is run as a program (nothing in the project imports it)."""
        self.dependencies.add("*")
        return self.project.is_script(self.path)

    def ceiling(self, node: cst.CSTNode) -> tuple[int, int] | None:
        """The exclusive upper bound of the Python versions ``node`` runs on, if gated."""
        return self._node_ceilings.get(id(node))

    def runs_on(self, node: cst.CSTNode, since: tuple[int, int] | None = None) -> bool:
        """``node`` runs on a Python the project targets (and on ``since`` or later): it is
        not under a version gate that excludes them."""
        bound = self._node_ceilings.get(id(node))
        if bound is None:
            return True
        floor = max(self.settings.target_tuple, since or (0, 0))
        return bound > floor

    @property
    def text(self) -> str:
        """The module's source text (decoded from the original bytes when available: no codegen)."""
        if self._text is None:
            self._text = self._source.decode(self.module.encoding) if self._source is not None else self.module.code
        return self._text

    # ---- where am I -------------------------------------------------------------------
    @property
    def function_frame(self) -> Frame | None:
        """The nearest enclosing ``def`` (lambdas and comprehensions are transparent)."""
        for frame in reversed(self.frames):
            if frame.kind == FUNCTION:
                return frame
        return None

    @property
    def function(self) -> cst.FunctionDef | None:
        frame = self.function_frame
        return frame.node if frame else None  # type: ignore[return-value]

    @property
    def function_key(self) -> str | None:
        frame = self.function_frame
        return frame.key if frame else None

    @property
    def in_async_function(self) -> bool:
        frame = self.function_frame
        return bool(frame and frame.is_async)

    @property
    def in_deferred_code(self) -> bool:
        """Inside a function or lambda body: runs only when called."""
        return any(frame.kind in (FUNCTION, LAMBDA) for frame in self.frames)

    @property
    def in_main_guard(self) -> bool:
        return self.main_guard_depth > 0

    @property
    def executes_at_import(self) -> bool:
        """This code runs when the module is imported (module scope, class body, decorators,
        defaults), and not under the ``__main__`` guard or in ``__main__.py``."""
        return not (self.is_main_module or self.main_guard_depth or self.in_deferred_code)

    @property
    def is_program_entry(self) -> bool:
        """Top-level code of a program: under the ``__main__`` guard or in ``__main__.py``."""
        return (self.is_main_module or self.main_guard_depth > 0) and not self.in_deferred_code

    @property
    def in_lambda(self) -> bool:
        """Inside a lambda body that is nearer than any ``def``."""
        for frame in reversed(self.frames):
            if frame.kind in (FUNCTION, LAMBDA):
                return frame.kind == LAMBDA
        return False

    @property
    def import_time_callee_key(self) -> str | None:
        """The function whose body this is, when that body would run at import time if the
        module called it (not a lambda, not under the ``__main__`` guard or in ``__main__.py``).
        Rules record candidates under this key and report them with
        :meth:`report_at_import_time_calls` once the call graph is complete."""
        if self.in_lambda or self.main_guard_depth or self.is_main_module:
            return None
        if self.version_ceilings and min(self.version_ceilings) <= self.settings.target_tuple:
            return None  # runs on no Python the project targets
        return self.function_key

    @property
    def statement(self) -> cst.CSTNode | None:
        return self.statements[-1] if self.statements else None

    # ---- names --------------------------------------------------------------------------
    def qualified_names(self, node: cst.CSTNode) -> set[QualifiedName]:
        names = self._qualified_names.get(id(node))
        if names is None:
            names = self._qualified_names[id(node)] = self.bindings.qualified_names(node)
        return names

    def full_names(self, node: cst.CSTNode) -> set[str]:
        """Qualified names of an expression that come from imports or builtins."""
        return {
            q.name
            for q in self.qualified_names(node)
            if q.source in (QualifiedNameSource.IMPORT, QualifiedNameSource.BUILTIN)
        }

    def has_name(self, node: cst.CSTNode, names: frozenset[str] | set[str]) -> str | None:
        """The first of ``names`` that ``node`` resolves to, else None."""
        for name in self.full_names(node):
            if name in names:
                return name
        return None

    def scope(self, node: cst.CSTNode) -> Scope | None:
        """libcst's Scope of ``node`` (resolved on first use: prefer the binding pass)."""
        if self._scopes is None:
            from libcst.metadata import MetadataWrapper, ScopeProvider

            wrapper = self._wrapper or MetadataWrapper(self.module, unsafe_skip_copy=True)
            self._scopes = wrapper.resolve(ScopeProvider)
        return self._scopes.get(node)

    def bound_values(self, name: cst.Name) -> list[cst.BaseExpression]:
        """Expressions assigned to ``name`` (``x = expr``, ``with expr as x``) in its scope."""
        return [b.value for b in self.bindings.bindings_for(name) if b.value is not None]

    def local_names(self, node: cst.CSTNode) -> set[str]:
        """What of this module an expression may name (its LOCAL qualified names), and for
        ``self.m``/``cls.m`` in a method, the method ``m`` of the enclosing class."""
        names = {q.name for q in self.qualified_names(node) if q.source == QualifiedNameSource.LOCAL}
        if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value in ("self", "cls"):
            for index in range(len(self.frames) - 1, 0, -1):
                if self.frames[index].kind == FUNCTION:
                    owner = self.frames[index - 1]
                    if owner.kind == CLASS and owner.key:
                        names.add(f"{owner.key}.{node.attr.value}")
                    break
        return names

    def local_names_in(self, expr: cst.BaseExpression) -> set[str]:
        """:meth:`local_names` of every name and attribute in ``expr``."""
        found: set[str] = set()
        ctx = self

        class Names(cst.CSTVisitor):
            def on_visit(self, node: cst.CSTNode) -> bool:
                if isinstance(node, (cst.Name, cst.Attribute)):
                    found.update(ctx.local_names(node))
                return True

        expr.visit(Names())
        return found

    def parameter(self, name: cst.Name) -> cst.Param | None:
        """The parameter the Name refers to, when it refers to one."""
        for binding in self.bindings.bindings_for(name):
            if isinstance(binding.node, cst.Param):
                return binding.node
        return None

    def name_is_free(self, name: str, at: cst.CSTNode | None = None) -> bool:
        """True when ``name`` is not bound in the module's global scope (or the scope of ``at``)."""
        scope = self.bindings.scope_of(at) if at is not None else None
        return not (scope or self.bindings.module_scope).lookup(name)

    def binds_as_module(self, name: str, at: cst.CSTNode) -> bool:
        """True when ``name`` written at ``at`` means what it means at module level (no local
        binding shadows it there)."""
        scope = self.bindings.scope_of(at)
        if scope is None:  # not an expression the binding pass placed: ask libcst
            here, module_scope = self.scope(at), self.scope(self.module)
            return here is None or module_scope is None or set(here[name]) == set(module_scope[name])
        return {id(b) for b in scope.lookup(name)} == {id(b) for b in self.bindings.module_scope.lookup(name)}

    def has_name_binding(self, name: str, qualified: frozenset[str] | set[str]) -> bool:
        """True when the module binds ``name`` and every binding is one of ``qualified``."""
        names = {b.qualified.name for b in self.bindings.module_scope.bindings.get(name, ())}
        return bool(names) and names <= set(qualified)

    # ---- reporting ------------------------------------------------------------------------
    def report(
        self,
        rule: Rule | type[Rule],
        node: cst.CSTNode,
        message: str,
        fix: Fix | None = None,
        statement: cst.CSTNode | None = None,
    ) -> None:
        key = (rule.code, id(node))
        if key in self._reported or not self.runs_on(node, rule.applies_from):
            return
        self._reported.add(key)
        self.findings.append(
            Finding(rule.code, rule.name, node, message, fix, statement or self.statement)
        )

    def report_at_import_time_calls(
        self, rule: Rule | type[Rule], key: str, message: Callable[[list[str]], str]
    ) -> None:
        """Report at every import-time call that reaches function ``key``; ``message`` gets
        the chain of functions (for :func:`describe_chain`)."""
        for site, chain in self.graph.import_time_chains(key):
            self.report(rule, site.node, message(chain), statement=site.statement)

def reachable(start: Iterable[str], edges: dict[str | None, set[str]]) -> set[str]:
    """Everything reachable from ``start`` along ``edges`` (``start`` included)."""
    seen = set(start)
    queue = deque(seen)
    while queue:
        for callee in edges.get(queue.popleft(), ()):
            if callee not in seen:
                seen.add(callee)
                queue.append(callee)
    return seen


# Statement node types, by name (``isinstance`` against libcst's ABCs is slow on every node).
_STATEMENT_TYPES = frozenset(
    {"SimpleStatementLine"}
    | {k.__name__ for k in vars(cst).values() if isinstance(k, type) and issubclass(k, cst.BaseCompoundStatement)}
)


def _key_for(frames: list[Frame], name: str) -> str:
    parent = frames[-1]
    if parent.kind == MODULE:
        return name
    if parent.kind == CLASS:
        return f"{parent.key}.{name}"
    return f"{parent.key}.<locals>.{name}"


class Traversal:
    """Visits the module once (:func:`asyncloop_lint.walk.walk`: source order, no trivia, no
    rebuilt nodes) and dispatches to every rule's ``visit_X``/``leave_X`` hooks."""

    def __init__(self, ctx: LintContext, rules: list[Rule], build_graph: bool) -> None:
        self.ctx = ctx
        self.rules = rules
        self._visit: dict[str, list[Callable[..., Any]]] = {}
        self._leave: dict[str, list[Callable[..., Any]]] = {}
        hooks: list[Any] = list(rules)
        if any(getattr(rule, "needs_loop_model", False) for rule in rules):
            # The model's hooks run before the rules', so its facts are there when they look.
            ctx.loops = LoopModel(ctx)
            hooks.insert(0, ctx.loops)
            build_graph = True
        self.build_graph = build_graph
        for rule in hooks:
            for attr in dir(type(rule)):
                if attr.startswith("visit_"):
                    self._visit.setdefault(attr[6:], []).append(getattr(rule, attr))
                elif attr.startswith("leave_"):
                    self._leave.setdefault(attr[6:], []).append(getattr(rule, attr))
        self._body_frames: dict[int, Frame] = {}
        self._guard_bodies: set[int] = set()
        self._gated: dict[int, tuple[int, int]] = {}  # id(block) -> version ceiling
        self._popped: dict[int, tuple[bool, bool, bool, bool]] = {}

    def run(self, module: cst.Module) -> None:
        walk(module, self.on_visit, self.on_leave)

    def on_visit(self, node: cst.CSTNode) -> bool:
        ctx = self.ctx
        type_name = type(node).__name__
        node_id = id(node)
        frame = self._body_frames.pop(node_id, None)
        if frame is not None:
            ctx.frames.append(frame)
        is_guard = node_id in self._guard_bodies
        if is_guard:
            ctx.main_guard_depth += 1
        is_statement = type_name in _STATEMENT_TYPES
        if is_statement:
            ctx.statements.append(node)
        ceiling = self._gated.pop(node_id, None)
        if ceiling is not None:
            ctx.version_ceilings.append(ceiling)
        if frame is not None or is_guard or is_statement or ceiling is not None:
            self._popped[node_id] = (frame is not None, is_guard, is_statement, ceiling is not None)
        if ctx.version_ceilings and type_name in ("Call", "Name", "Attribute"):
            ctx._node_ceilings[node_id] = min(ctx.version_ceilings)

        if type_name == "FunctionDef":
            self._enter_function(node)  # type: ignore[arg-type]
        elif type_name == "ClassDef":
            key = _key_for(ctx.frames, node.name.value)  # type: ignore[attr-defined]
            ctx.graph.classes.add(key)
            self._body_frames[id(node.body)] = Frame(CLASS, node, key)  # type: ignore[attr-defined]
        elif type_name == "Lambda":
            self._body_frames[id(node.body)] = Frame(LAMBDA, node)  # type: ignore[attr-defined]
        elif type_name == "If":
            if is_main_guard(node):  # type: ignore[arg-type]
                self._guard_bodies.add(id(node.body))  # type: ignore[attr-defined]
            else:
                self._gate(node)  # type: ignore[arg-type]
        elif type_name == "Call" and self.build_graph:
            self._record_call(node, node.func)  # type: ignore[attr-defined]
        elif type_name == "Decorator" and self.build_graph:
            # A decorator is called with the function it decorates, when the def executes.
            self._record_call(node, node.decorator)  # type: ignore[attr-defined]

        for hook in self._visit.get(type_name, ()):
            hook(node, ctx)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        for hook in self._leave.get(type(original_node).__name__, ()):
            hook(original_node, self.ctx)
        popped = self._popped.pop(id(original_node), None)
        if popped is not None:
            had_frame, was_guard, was_statement, was_gated = popped
            if was_gated:
                self.ctx.version_ceilings.pop()
            if had_frame:
                self.ctx.frames.pop()
            if was_guard:
                self.ctx.main_guard_depth -= 1
            if was_statement:
                self.ctx.statements.pop()

    def _gate(self, node: cst.If) -> None:
        """``if sys.version_info < (3, N):`` — the body runs only before 3.N, and the ``else``
        of ``if sys.version_info >= (3, N):`` too."""
        found = version_test(node.test, self.ctx)
        if found is None:
            return
        ceiling, below = found
        if below:
            self._gated[id(node.body)] = ceiling
        elif node.orelse is not None:
            self._gated[id(node.orelse)] = ceiling

    def _enter_function(self, node: cst.FunctionDef) -> None:
        ctx = self.ctx
        key = _key_for(ctx.frames, node.name.value)
        is_async = node.asynchronous is not None
        module_level = ctx.frames[-1].kind == MODULE
        info = FunctionInfo(key, node, is_async, module_level)
        # An async def can be an entrypoint too, when a decorator of its own wraps it in a sync
        # function (``@app.task`` over ``@run_async``): the wrapper is what runs per request.
        if not is_async or node.decorators:
            parent = ctx.frames[-1]
            if module_level:
                info.entrypoint = entrypoint_reason(ctx, node, key)
            elif parent.kind == CLASS and len(ctx.frames) == 2:
                info.entrypoint = method_entrypoint_reason(ctx, parent.node, node)  # type: ignore[arg-type]
            if info.entrypoint is not None:
                info.decorators = tuple(
                    q.name
                    for decorator in node.decorators
                    if isinstance(decorator.decorator, cst.Name)
                    for q in ctx.qualified_names(decorator.decorator)
                    if q.source == QualifiedNameSource.LOCAL
                )
                if is_async and not info.decorators:
                    info.entrypoint = None
        ctx.graph.functions[key] = info
        self._body_frames[id(node.body)] = Frame(FUNCTION, node, key, is_async)

    def _record_call(self, node: cst.Call | cst.Decorator, func: cst.BaseExpression) -> None:
        if not _simple_callee(func):
            return
        target = func.func if isinstance(func, cst.Call) else func  # `@decorator(args)`
        names = tuple(
            q.name for q in self.ctx.qualified_names(target) if q.source == QualifiedNameSource.LOCAL
        )
        if not names:
            return
        ctx = self.ctx
        if ctx.executes_at_import:
            caller = None
        elif ctx.in_deferred_code and not ctx.is_main_module:
            frame = ctx.function_frame
            if frame is None:
                return  # inside a module-level lambda: runs later, from anywhere
            caller = frame.key
        else:
            return
        ctx.graph.calls.append(CallSite(caller, names, node, ctx.statement))


def version_test(test: cst.BaseExpression, ctx: LintContext) -> tuple[tuple[int, int], bool] | None:
    """For ``sys.version_info <op> (3, N)``: the exclusive version bound the test draws, and
    whether the test holds below it (``<``, ``<=``) or from it on (``>=``, ``>``)."""
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return None
    left = test.left
    if isinstance(left, cst.Subscript):
        left = left.value
    if not isinstance(left, (cst.Name, cst.Attribute)) or ctx.has_name(left, {"sys.version_info"}) is None:
        return None
    target = test.comparisons[0]
    version = target.comparator
    if not isinstance(version, cst.Tuple) or len(version.elements) < 2:
        return None
    numbers = [e.value for e in version.elements[:2]]
    if not all(isinstance(n, cst.Integer) for n in numbers):
        return None
    major, minor = (int(n.value) for n in numbers)  # type: ignore[union-attr]
    operator = target.operator
    if isinstance(operator, cst.LessThan):
        return (major, minor), True
    if isinstance(operator, cst.LessThanEqual):
        return (major, minor + 1), True
    if isinstance(operator, cst.GreaterThanEqual):
        return (major, minor), False
    if isinstance(operator, cst.GreaterThan):
        return (major, minor + 1), False
    return None


# ---- invocation entrypoints ---------------------------------------------------------------
CELERY_TASK_DECORATORS = frozenset({"celery.shared_task", "celery.app.shared_task"})
CELERY_APPS = frozenset({"celery.Celery", "celery.app.Celery", "celery.app.base.Celery"})
CELERY_TASK_BASES = frozenset({"celery.Task", "celery.app.task.Task", "celery.app.Task"})
ROUTE_OWNERS = frozenset(
    {
        "flask.Flask", "flask.Blueprint", "quart.Quart", "quart.Blueprint",
        "fastapi.FastAPI", "fastapi.APIRouter", "fastapi.routing.APIRouter",
    }
)
ROUTE_METHODS = frozenset({"route", "get", "post", "put", "delete", "patch", "api_route"})
# Class-based views: the methods a request is dispatched to.
VIEW_BASE_PREFIXES = ("django.views.", "rest_framework.views.", "rest_framework.viewsets.", "rest_framework.generics.")
VIEW_METHODS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "dispatch",
     "list", "create", "retrieve", "update", "partial_update", "destroy"}
)


def owner_kinds(ctx: LintContext, name: cst.Name) -> set[str]:
    """What the object ``name`` was built from: ``app = Celery(...)`` in this module, or a
    module-level object imported from another module of the project (the project index)."""
    kinds: set[str] = set()
    for value in ctx.bound_values(name):
        if isinstance(value, cst.Call):
            kinds |= ctx.full_names(value.func)
    if not kinds:
        for qualified in ctx.qualified_names(name):
            if qualified.source == QualifiedNameSource.IMPORT:
                kind = ctx.object_kind(qualified.name)
                if kind is not None:
                    kinds.add(kind)
    return kinds


def entrypoint_reason(ctx: LintContext, node: cst.FunctionDef, key: str) -> str | None:
    """Why a module-level sync function is called once per request, or None."""
    params = node.params
    positional = [*params.posonly_params, *params.params]
    names = [p.name.value for p in positional]
    if len(positional) == 2 and (
        node.name.value in LAMBDA_HANDLER_NAMES
        or (names == ["event", "context"] and not node.name.value.startswith("test"))
    ):
        return "Lambda handler"
    if ctx.module_name is not None and any(
        func == key and (ctx.module_name == mod or ctx.module_name.endswith("." + mod))
        for mod, func in ctx.settings.entrypoints
    ):
        return "configured entrypoint"
    for decorator in node.decorators:
        expr = decorator.decorator
        call_target = expr.func if isinstance(expr, cst.Call) else expr
        if ctx.has_name(call_target, CELERY_TASK_DECORATORS):
            return "Celery task"
        if isinstance(call_target, cst.Attribute) and isinstance(call_target.value, cst.Name):
            method = call_target.attr.value
            if method not in ROUTE_METHODS and method != "task":
                continue
            owners = owner_kinds(ctx, call_target.value)
            if method == "task" and owners & CELERY_APPS:
                return "Celery task"
            if method in ROUTE_METHODS and owners & ROUTE_OWNERS:
                return "route handler"
    if names[:1] == ["request"] and node.name.value in _django_url_views(ctx):
        return "Django view"
    return None


def method_entrypoint_reason(ctx: LintContext, cls: cst.ClassDef, node: cst.FunctionDef) -> str | None:
    """Why a sync method of a module-level class is called once per request, or None: a
    Celery ``Task`` subclass's ``__call__``/``run``, a Django or DRF class-based view's handler
    methods, a gRPC servicer's methods."""
    method = node.name.value
    for base in cls.bases:
        expr = base.value
        names = ctx.full_names(expr)
        if method in ("__call__", "run"):
            if names & CELERY_TASK_BASES:
                return "Celery task"
            if (
                isinstance(expr, cst.Attribute)
                and expr.attr.value == "Task"
                and isinstance(expr.value, cst.Name)
                and owner_kinds(ctx, expr.value) & CELERY_APPS
            ):
                return "Celery task"
        if method in VIEW_METHODS and any(n.startswith(VIEW_BASE_PREFIXES) for n in names):
            return "class-based view"
        params = [p.name.value for p in node.params.params]
        if (
            len(params) == 3
            and any(n.endswith("Servicer") and "_pb2_grpc." in n for n in names)
        ):
            return "gRPC method"
    return None


_URL_VIEWS_CACHE: dict[str, frozenset[str]] = {}


def _django_url_views(ctx: LintContext) -> frozenset[str]:
    """Names of this module's functions that a ``urls.py`` beside it (or this ``urls.py``
    itself) passes to ``path()``/``re_path()``/``url()``, as far as text resolves them."""
    import os
    import re

    directory, filename = os.path.split(ctx.path)
    stem = filename.removesuffix(".py")
    if filename == "urls.py":
        text = ctx.text
        pattern = r"\b(?:re_)?path\(|\burl\("
        if not re.search(pattern, text):
            return frozenset()
        return frozenset(re.findall(r"(?:\b(?:re_)?path|\burl)\([^()]*?,\s*([A-Za-z_]\w*)\s*[,)]", text))
    urls = os.path.join(directory, "urls.py")
    cached = _URL_VIEWS_CACHE.get(urls + ":" + stem)
    if cached is not None:
        return cached
    names: set[str] = set()
    try:
        from .files import read_regular

        text = read_regular(urls).decode("utf-8", "replace")
    except OSError:
        text = ""
    if re.search(r"\b(?:re_)?path\(|\burl\(", text):
        names.update(re.findall(rf"\b{re.escape(stem)}\.([A-Za-z_]\w*)", text))
        for group in re.findall(rf"from\s+\.?{re.escape(stem)}\s+import\s+\(?([\w\s,]+)\)?", text):
            names.update(n.split()[-1] for n in group.split(",") if n.strip())
    result = _URL_VIEWS_CACHE[urls + ":" + stem] = frozenset(names)
    return result
