"""The binding pass: which names each scope binds, and what a name or dotted expression refers
to, as qualified names (``asyncio.run``, ``K.m``, ``builtins.len``).

It answers what the rules ask most (``ctx.qualified_names``, ``ctx.bound_values``) without
libcst's ScopeProvider and the ExpressionContextProvider it pulls in, which together cost more
than parsing: one walk over the tree's fields (no visitor dispatch, no node rebuilding, no
whitespace), then a resolution of the loads it saw. Python's rules: a name bound anywhere in a
function is local to it unless declared ``global``/``nonlocal``; class bodies do not enclose the
functions defined in them; comprehensions and lambdas have scopes of their own (the first
iterable of a comprehension is evaluated outside it); a walrus binds in the nearest enclosing
non-comprehension scope; ``from m import *`` binds nothing that can be named. The qualified
names follow libcst's spelling, and a test keeps the two in agreement on the fixtures and the
standard library's asyncio package.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field, fields
from typing import Any, Iterator

import libcst as cst
from libcst.metadata import QualifiedName, QualifiedNameSource

_BUILTINS = frozenset(dir(builtins))
_IMPORT, _LOCAL, _BUILTIN = QualifiedNameSource.IMPORT, QualifiedNameSource.LOCAL, QualifiedNameSource.BUILTIN


@dataclass(eq=False)
class Binding:
    name: str
    scope: Scope
    node: cst.CSTNode  # the Name target, Param, FunctionDef, ClassDef or ImportAlias
    value: cst.BaseExpression | None = None  # ``name = value`` / ``with value as name``
    imported: str | None = None  # the qualified name an import binds
    references: list[cst.Name] = field(default_factory=list)
    statement: cst.Import | cst.ImportFrom | None = None  # for an import: the statement

    @property
    def qualified(self) -> QualifiedName:
        if self.imported is not None:
            return QualifiedName(self.imported, _IMPORT)
        return QualifiedName(self.scope.prefix + self.name, _LOCAL)


@dataclass(eq=False)
class Scope:
    kind: str  # "module", "class", "function", "comprehension"
    prefix: str  # what LOCAL qualified names of this scope start with
    parent: Scope | None
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    globals: set[str] = field(default_factory=set)
    nonlocals: set[str] = field(default_factory=set)

    def bind(self, name: str, node: cst.CSTNode, value: cst.BaseExpression | None = None,
             imported: str | None = None) -> Binding:
        target = self._owner(name)
        binding = Binding(name, target, node, value, imported)
        target.bindings.setdefault(name, []).append(binding)
        return binding

    def _owner(self, name: str) -> Scope:
        if name in self.globals:
            return self.module
        if name in self.nonlocals:
            scope = self.parent
            while scope is not None and (scope.kind == "class" or name not in scope.bindings) and scope.parent:
                scope = scope.parent
            return scope or self
        return self

    @property
    def module(self) -> Scope:
        scope = self
        while scope.parent is not None:
            scope = scope.parent
        return scope

    def lookup(self, name: str) -> list[Binding]:
        """The bindings ``name`` refers to from code in this scope (empty: unbound/builtin)."""
        if name in self.globals:
            return self.module.bindings.get(name, [])
        scope: Scope | None = self
        if name in self.nonlocals:
            scope = self.parent
        first = True
        while scope is not None:
            if (first or scope.kind != "class") and name in scope.bindings:
                return scope.bindings[name]
            if not first and name in scope.globals:
                return self.module.bindings.get(name, [])
            first = False
            scope = scope.parent
        return []


class BindingIndex:
    """The result of the binding pass over one module."""

    def __init__(self, module: cst.Module) -> None:
        self.module_scope = Scope("module", "", None)
        self._scope_of: dict[int, Scope] = {}  # id(expression Name/Attribute/Call) -> its scope
        self._targets: dict[int, Binding] = {}  # id(binding Name) -> the binding it makes
        self._nodes: dict[int, cst.CSTNode] = {}
        self._loads: list[tuple[Scope, cst.Name]] = []
        self.imports: list[Binding] = []  # every binding an import statement makes, in any scope
        # An explicit stack, not recursion: generated modules nest expressions thousands deep
        # (a long concatenated string literal is one level per line).
        self._stack: list[tuple[cst.CSTNode, Scope]] = []
        self._walk_body(module.body, self.module_scope)
        self._drain()
        for scope, name in self._loads:
            for binding in scope.lookup(name.value):
                binding.references.append(name)

    # ---- queries ----------------------------------------------------------------------------
    def scope_of(self, node: cst.CSTNode) -> Scope | None:
        return self._scope_of.get(id(node))

    def bindings_for(self, name: cst.Name) -> list[Binding]:
        """What the Name refers to (a load) or binds (a target)."""
        target = self._targets.get(id(name))
        if target is not None:
            return [target]
        scope = self._scope_of.get(id(name))
        return scope.lookup(name.value) if scope is not None else []

    def qualified_names(self, node: cst.CSTNode) -> set[QualifiedName]:
        if isinstance(node, cst.Name):
            if id(node) not in self._scope_of and id(node) not in self._targets:
                return set()
            found = {b.qualified for b in self.bindings_for(node)}
            if not found and node.value in _BUILTINS and id(node) not in self._targets:
                found = {QualifiedName(f"builtins.{node.value}", _BUILTIN)}
            return found
        if isinstance(node, cst.Attribute) and id(node) in self._scope_of:
            parts = []
            base: cst.BaseExpression = node
            while isinstance(base, (cst.Attribute, cst.Call, cst.Subscript)):
                if isinstance(base, cst.Attribute):
                    parts.append(base.attr.value)
                    base = base.value
                else:  # libcst names ``f().x`` and ``f[0].x`` as ``f.x``
                    base = base.func if isinstance(base, cst.Call) else base.value
            if not isinstance(base, cst.Name):
                return set()
            suffix = "." + ".".join(reversed(parts))
            # libcst gives a builtin's own name for its attributes (``super().x``: builtins.super).
            return {
                q if q.source is _BUILTIN else QualifiedName(q.name + suffix, q.source)
                for q in self.qualified_names(base)
            }
        return set()

    # ---- the walk ---------------------------------------------------------------------------
    def _walk_body(self, body: Any, scope: Scope) -> None:
        for statement in reversed(body):
            self._walk(statement, scope)

    def _walk(self, node: cst.CSTNode, scope: Scope) -> None:
        """Schedule ``node``: nodes are handled depth-first, siblings in source order (so a
        ``global`` statement is seen before the statements after it)."""
        self._stack.append((node, scope))

    def _drain(self) -> None:
        stack = self._stack
        while stack:
            node, scope = stack.pop()
            handler = _HANDLERS.get(type(node).__name__)
            if handler is not None:
                mark = len(stack)
                handler(self, node, scope)
                stack[mark:] = stack[mark:][::-1]  # what the handler scheduled, in its order
                continue
            for child in reversed(list(_children(node))):
                stack.append((child, scope))

    def _load(self, node: cst.CSTNode, scope: Scope) -> None:
        self._walk(node, scope)

    def _target(self, target: cst.CSTNode, scope: Scope, value: cst.BaseExpression | None) -> None:
        """Bind the names of an assignment target; subscripts and attributes are loads."""
        if isinstance(target, cst.Name):
            self._targets[id(target)] = scope.bind(target.value, target, value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._target(element.value, scope, None)
        elif isinstance(target, cst.StarredElement):
            self._target(target.value, scope, None)
        else:
            self._load(target, scope)

    # handlers ---------------------------------------------------------------------------------
    def _name(self, node: cst.Name, scope: Scope) -> None:
        self._scope_of[id(node)] = scope
        self._loads.append((scope, node))

    def _attribute(self, node: cst.Attribute, scope: Scope) -> None:
        self._scope_of[id(node)] = scope
        self._walk(node.value, scope)

    def _function(self, node: cst.FunctionDef, scope: Scope) -> None:
        for decorator in node.decorators:
            self._load(decorator.decorator, scope)
        self._parameters(node.params, scope)
        if node.returns is not None:
            self._load(node.returns.annotation, scope)
        self._targets[id(node.name)] = scope.bind(node.name.value, node)
        inner = Scope("function", scope.prefix + node.name.value + ".<locals>.", scope)
        self._bind_parameters(node.params, inner)
        self._walk(node.body, inner)

    def _lambda(self, node: cst.Lambda, scope: Scope) -> None:
        self._parameters(node.params, scope)
        inner = Scope("function", scope.prefix + "<locals>.", scope)
        self._bind_parameters(node.params, inner)
        self._walk(node.body, inner)

    def _parameters(self, params: cst.Parameters, scope: Scope) -> None:
        """Defaults and annotations: evaluated where the function is defined."""
        for param in _all_params(params):
            if param.default is not None:
                self._load(param.default, scope)
            if param.annotation is not None:
                self._load(param.annotation.annotation, scope)

    def _bind_parameters(self, params: cst.Parameters, inner: Scope) -> None:
        for param in _all_params(params):
            self._targets[id(param.name)] = inner.bind(param.name.value, param)

    def _class(self, node: cst.ClassDef, scope: Scope) -> None:
        for decorator in node.decorators:
            self._load(decorator.decorator, scope)
        for arg in (*node.bases, *node.keywords):
            self._load(arg.value, scope)
        self._targets[id(node.name)] = scope.bind(node.name.value, node)
        inner = Scope("class", scope.prefix + node.name.value + ".", scope)
        self._walk(node.body, inner)

    def _comprehension(self, node: Any, scope: Scope) -> None:
        comp = node.for_in
        self._load(comp.iter, scope)  # the first iterable: evaluated outside
        inner = Scope("comprehension", scope.prefix + "<comprehension>.", scope)
        first = True
        while comp is not None:
            if not first:
                self._load(comp.iter, inner)
            first = False
            self._target(comp.target, inner, None)
            for condition in comp.ifs:
                self._load(condition.test, inner)
            comp = comp.inner_for_in
        if isinstance(node, cst.DictComp):
            self._load(node.key, inner)
            self._load(node.value, inner)
        else:
            self._load(node.elt, inner)

    def _assign(self, node: cst.Assign, scope: Scope) -> None:
        self._load(node.value, scope)
        for target in node.targets:
            self._target(target.target, scope, node.value)

    def _ann_assign(self, node: cst.AnnAssign, scope: Scope) -> None:
        self._load(node.annotation.annotation, scope)
        if node.value is not None:
            self._load(node.value, scope)
        self._target(node.target, scope, node.value)

    def _aug_assign(self, node: cst.AugAssign, scope: Scope) -> None:
        self._load(node.value, scope)
        self._target(node.target, scope, None)

    def _for(self, node: cst.For, scope: Scope) -> None:
        self._load(node.iter, scope)
        self._target(node.target, scope, None)
        self._walk(node.body, scope)
        if node.orelse is not None:
            self._walk(node.orelse, scope)

    def _with(self, node: cst.With, scope: Scope) -> None:
        for item in node.items:
            self._load(item.item, scope)
            if item.asname is not None:
                self._target(item.asname.name, scope, item.item)
        self._walk(node.body, scope)

    def _except(self, node: Any, scope: Scope) -> None:
        if node.type is not None:
            self._load(node.type, scope)
        if node.name is not None:
            self._target(node.name.name, scope, None)
        self._walk(node.body, scope)

    def _named_expr(self, node: cst.NamedExpr, scope: Scope) -> None:
        self._load(node.value, scope)
        owner = scope
        while owner.kind == "comprehension" and owner.parent is not None:
            owner = owner.parent
        self._target(node.target, owner, node.value)

    def _import(self, node: cst.Import, scope: Scope) -> None:
        for alias in node.names:
            dotted = _dotted(alias.name)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                binding = scope.bind(alias.asname.name.value, alias, imported=dotted)
            else:
                top = dotted.split(".", 1)[0]
                binding = scope.bind(top, alias, imported=top)
            binding.statement = node
            self.imports.append(binding)

    def _import_from(self, node: cst.ImportFrom, scope: Scope) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        module = "." * len(node.relative) + (_dotted(node.module) if node.module is not None else "")
        for alias in node.names:
            name = _dotted(alias.name)
            full = f"{module}{name}" if module.endswith(".") or not module else f"{module}.{name}"
            bound = alias.asname.name.value if alias.asname is not None and isinstance(alias.asname.name, cst.Name) else name
            binding = scope.bind(bound, alias, imported=full)
            binding.statement = node
            self.imports.append(binding)

    def _call(self, node: cst.Call, scope: Scope) -> None:
        self._scope_of[id(node)] = scope  # fixes ask which names are free where a call is
        self._walk(node.func, scope)
        for arg in node.args:
            self._load(arg.value, scope)

    def _arg(self, node: cst.Arg, scope: Scope) -> None:
        self._load(node.value, scope)  # ``keyword=`` is no load

    def _skip(self, node: cst.CSTNode, scope: Scope) -> None:
        pass

    def _global(self, node: cst.Global, scope: Scope) -> None:
        # Python rejects a use or assignment of the name before the declaration, so handling
        # it in source order is exact.
        scope.globals.update(n.name.value for n in node.names)

    def _nonlocal(self, node: cst.Nonlocal, scope: Scope) -> None:
        scope.nonlocals.update(n.name.value for n in node.names)

    def _decorator(self, node: cst.Decorator, scope: Scope) -> None:
        self._load(node.decorator, scope)

    def _match_as(self, node: Any, scope: Scope) -> None:
        if getattr(node, "pattern", None) is not None:
            self._walk(node.pattern, scope)
        if node.name is not None:
            self._target(node.name, scope, None)

    def _del(self, node: cst.Del, scope: Scope) -> None:
        self._load(node.target, scope)


def _all_params(params: cst.Parameters) -> Iterator[cst.Param]:
    yield from params.posonly_params
    yield from params.params
    if isinstance(params.star_arg, cst.Param):
        yield params.star_arg
    yield from params.kwonly_params
    if params.star_kwarg is not None:
        yield params.star_kwarg


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


# Fields that never hold a name: whitespace, punctuation, comments.
_FIELD_CACHE: dict[type, tuple[str, ...]] = {}


def _children(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    names = _FIELD_CACHE.get(type(node))
    if names is None:
        names = _FIELD_CACHE[type(node)] = tuple(
            f.name for f in fields(node) if not (
                f.name.startswith(("whitespace", "lpar", "rpar", "comma", "semicolon", "leading_lines",
                                   "lines_after", "header", "footer", "trailing", "indent", "newline"))
                or f.name in ("equal", "colon", "arrow", "dot", "lbracket", "rbracket", "lbrace", "rbrace",
                              "operator", "star", "asynchronous", "keyword_whitespace")
            )
        )
    for name in names:
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            yield value
        elif isinstance(value, (tuple, list)):
            for item in value:
                if isinstance(item, cst.CSTNode):
                    yield item


_HANDLERS = {
    "Name": BindingIndex._name,
    "Attribute": BindingIndex._attribute,
    "FunctionDef": BindingIndex._function,
    "Lambda": BindingIndex._lambda,
    "ClassDef": BindingIndex._class,
    "ListComp": BindingIndex._comprehension,
    "SetComp": BindingIndex._comprehension,
    "GeneratorExp": BindingIndex._comprehension,
    "DictComp": BindingIndex._comprehension,
    "Assign": BindingIndex._assign,
    "AnnAssign": BindingIndex._ann_assign,
    "AugAssign": BindingIndex._aug_assign,
    "For": BindingIndex._for,
    "With": BindingIndex._with,
    "ExceptHandler": BindingIndex._except,
    "ExceptStarHandler": BindingIndex._except,
    "NamedExpr": BindingIndex._named_expr,
    "Import": BindingIndex._import,
    "ImportFrom": BindingIndex._import_from,
    "Arg": BindingIndex._arg,
    "Call": BindingIndex._call,
    "Decorator": BindingIndex._decorator,
    "Global": BindingIndex._global,
    "Nonlocal": BindingIndex._nonlocal,
    "MatchAs": BindingIndex._match_as,
    "Del": BindingIndex._del,
    "SimpleString": BindingIndex._skip,
    "Integer": BindingIndex._skip,
    "Float": BindingIndex._skip,
    "Comment": BindingIndex._skip,
    "EmptyLine": BindingIndex._skip,
}
