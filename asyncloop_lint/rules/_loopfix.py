"""Fix building blocks shared by the loop-lifecycle rules (AL101, AL102, AL105, AL201, AL202).

Private to the rules package (the registry skips modules whose name starts with ``_``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..loopapi import RUN_FUNCTIONS
from ..rule import ImportRequest, cst
from ..runtimefix import runtime_reference

if TYPE_CHECKING:  # pragma: no cover
    from ..context import LintContext


def single_coroutine_arg(call: cst.Call) -> cst.BaseExpression | None:
    """The only argument of ``run(coro)``: one positional argument, no keywords or stars."""
    if len(call.args) != 1:
        return None
    arg = call.args[0]
    if arg.keyword is not None or arg.star:
        return None
    return arg.value


def run_function_arg(call: cst.Call, ctx: LintContext) -> cst.BaseExpression | None:
    """``asyncio.run(c)`` / ``uvloop.run(c)`` with nothing but the coroutine: ``c``."""
    if ctx.has_name(call.func, RUN_FUNCTIONS) is None:
        return None
    return single_coroutine_arg(call)


def import_of(func: cst.BaseExpression, ctx: LintContext) -> ImportRequest | None:
    """The import that binds the name ``func`` is spelled with (``asyncio`` in ``asyncio.run``,
    ``run`` in ``run(...)``), for removal when the fix leaves it unused."""
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
        names = ctx.full_names(func.value)
        if len(names) == 1:
            (module,) = names
            if "." not in module:
                return ImportRequest(module, None, None if func.value.value == module else func.value.value)
        return None
    if isinstance(func, cst.Name):
        names = ctx.full_names(func)
        if len(names) == 1:
            (qualified,) = names
            module, _, obj = qualified.rpartition(".")
            if module and not qualified.startswith("builtins."):
                return ImportRequest(module, obj, None if func.value == obj else func.value)
    return None


def runtime_attr(ctx: LintContext, attr: str, at: cst.CSTNode | None = None) -> tuple[cst.Attribute, ImportRequest]:
    """``runtime.<attr>`` spelled with a non-colliding name, and the import it needs."""
    name, request = runtime_reference(ctx, at)
    return cst.Attribute(cst.Name(name), cst.Name(attr)), request


def runtime_run_call(ctx: LintContext, original: cst.Call, coro: cst.BaseExpression) -> tuple[Any, ImportRequest]:
    """``runtime.run(coro)`` keeping the original call's parentheses and argument whitespace."""
    func, request = runtime_attr(ctx, "run", original)
    arg = original.args[0].with_changes(value=coro)
    return original.with_changes(func=func, args=[arg]), request


def statement_of_assignment(
    ctx: LintContext, value: cst.BaseExpression
) -> tuple[cst.SimpleStatementLine, cst.Name, cst.BaseExpression | None] | None:
    """When ``ctx.statement`` is exactly ``name = value`` (or ``name: T = value``): the
    statement line, the target name and the annotation."""
    statement = ctx.statement
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    if isinstance(small, cst.Assign) and small.value is value and len(small.targets) == 1:
        target = small.targets[0].target
        if isinstance(target, cst.Name):
            return statement, target, None
    if isinstance(small, cst.AnnAssign) and small.value is value and isinstance(small.target, cst.Name):
        return statement, small.target, small.annotation.annotation
    return None


def _single_assignment(ctx: LintContext, target: cst.Name) -> Any:
    scope = ctx.scope(target)
    if scope is None:
        return None
    assignments = list(scope.assignments[target.value])
    if len(assignments) != 1 or assignments[0].node is not target:
        return None
    return assignments[0]


def references(ctx: LintContext, target: cst.Name) -> list[cst.CSTNode] | None:
    """Every use of the name bound by ``target``, when that is its only binding in its scope."""
    assignment = _single_assignment(ctx, target)
    if assignment is None:
        return None
    return [access.node for access in assignment.references]


def _Parents(wanted: set[int]) -> Any:  # noqa: N802 - builds the visitor class on first use
    """A visitor recording the parent of each wanted node. The class is made on first use:
    rule modules must not touch libcst at import time (the CLI reads their metadata without it)."""

    class Parents(cst.CSTVisitor):
        def __init__(self) -> None:
            super().__init__()
            self.stack: list[cst.CSTNode] = []
            self.parents: dict[int, cst.CSTNode] = {}

        def on_visit(self, node: cst.CSTNode) -> bool:
            if id(node) in wanted and self.stack:
                self.parents[id(node)] = self.stack[-1]
            self.stack.append(node)
            return True

        def on_leave(self, original_node: cst.CSTNode) -> None:
            self.stack.pop()

    return Parents()


def async_only_loads(ctx: LintContext, target: cst.Name) -> dict[cst.Name, bool] | None:
    """The loads of a module-level name, mapped to "needs parentheses around ``await``", when
    every use is directly in the body of an ``async def`` (not in a nested lambda, def,
    class or generator) and the module binds the name exactly once. Else None."""
    uses = references(ctx, target)
    if not uses:
        return None
    by_function: dict[int, tuple[cst.FunctionDef, set[int]]] = {}
    for use in uses:
        if not isinstance(use, cst.Name):
            return None  # a string annotation, `__all__`, ...
        scope = ctx.scope(use)
        function = getattr(scope, "node", None)
        if not isinstance(function, cst.FunctionDef) or function.asynchronous is None:
            return None
        by_function.setdefault(id(function), (function, set()))[1].add(id(use))
    result: dict[cst.Name, bool] = {}
    for function, wanted in by_function.values():
        visitor = _Parents(wanted)
        function.body.visit(visitor)
        for use in uses:
            if id(use) in wanted:
                parent = visitor.parents.get(id(use))
                if isinstance(parent, (cst.Del, cst.Global, cst.Nonlocal)):
                    return None
                result[use] = _is_primary_base(use, parent)  # type: ignore[index]
    return result


def _is_primary_base(node: cst.CSTNode, parent: cst.CSTNode | None) -> bool:
    """``node`` is the base of an attribute, subscript or call: ``await`` needs parentheses."""
    if isinstance(parent, (cst.Attribute, cst.Subscript)):
        return parent.value is node
    if isinstance(parent, cst.Call):
        return parent.func is node
    return False


def await_get(name: cst.Name, runtime_name: str, parens: bool) -> cst.Await:
    """``await name.get()``, parenthesized when needed (or when ``name`` already was)."""
    call = cst.Call(cst.Attribute(cst.Name(name.value), cst.Name("get")))
    if name.lpar:
        return cst.Await(call, lpar=name.lpar, rpar=name.rpar)
    if parens:
        return cst.Await(call, lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return cst.Await(call)


def factory_for(coro: cst.BaseExpression) -> cst.BaseExpression:
    """A no-argument async factory for a coroutine expression: ``fetch`` for ``fetch()``,
    else ``lambda: <coro>``."""
    if isinstance(coro, cst.Call) and not coro.args and not coro.lpar and isinstance(coro.func, (cst.Name, cst.Attribute)):
        return coro.func
    return cst.Lambda(params=cst.Parameters(), body=coro)


def asyncio_run_func(ctx: LintContext, getter: cst.Call, at: cst.CSTNode) -> tuple[cst.BaseExpression, tuple[ImportRequest, ...]] | None:
    """``asyncio.run`` spelled the way the file imports asyncio (from the getter call's
    spelling when it is ``<asyncio>.get_event_loop``), with the import it needs."""
    func = getter.func
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call):
        func = func.value.func  # asyncio.get_event_loop_policy().get_event_loop()
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and ctx.full_names(func.value) == {"asyncio"}:
        return cst.Attribute(cst.Name(func.value.value), cst.Name("run")), ()
    if ctx.has_name_binding("asyncio", {"asyncio"}):
        if ctx.binds_as_module("asyncio", at):
            return cst.Attribute(cst.Name("asyncio"), cst.Name("run")), ()
        return None
    if ctx.name_is_free("asyncio") and ctx.name_is_free("asyncio", at):
        return cst.Attribute(cst.Name("asyncio"), cst.Name("run")), (ImportRequest("asyncio"),)
    return None


def removal(statement: cst.CSTNode, root: cst.CSTNode) -> dict[Any, Any]:
    """Replacements that remove ``statement`` (found under ``root``) and hand its leading blank
    lines to the statement after it, so the surrounding layout is kept."""
    replacements: dict[Any, Any] = {statement: cst.RemovalSentinel.REMOVE}
    following = following_statement(statement, root)
    lines = getattr(statement, "leading_lines", ())
    if following is not None and lines:

        def prepend(updated: Any) -> Any:
            return updated.with_changes(leading_lines=(*lines, *updated.leading_lines))

        replacements[following] = prepend
    return replacements


def following_statement(statement: cst.CSTNode, root: cst.CSTNode) -> cst.CSTNode | None:
    found: list[cst.CSTNode | None] = []

    class Finder(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            if found:
                return False
            body = getattr(node, "body", None)
            if isinstance(body, (list, tuple)) and any(child is statement for child in body):
                index = next(i for i, child in enumerate(body) if child is statement)
                found.append(body[index + 1] if index + 1 < len(body) else None)
                return False
            return not isinstance(node, (cst.BaseExpression, cst.BaseSmallStatement))

    root.visit(Finder())
    return found[0] if found else None
