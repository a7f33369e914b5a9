"""AL301 deprecated-loop-policy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..diagnostic import SAFE
from ..loopapi import RUN_FUNCTIONS
from ..rule import Fix, ImportRequest, Rule, cst, is_call_statement

if TYPE_CHECKING:  # pragma: no cover
    from ..context import LintContext

_POLICY_CLASSES = (
    "AbstractEventLoopPolicy",
    "BaseDefaultEventLoopPolicy",
    "DefaultEventLoopPolicy",
    "WindowsSelectorEventLoopPolicy",
    "WindowsProactorEventLoopPolicy",
)
_POLICY_FUNCTIONS = ("set_event_loop_policy", "get_event_loop_policy")
_ASYNCIO_MODULES = ("asyncio", "asyncio.events", "asyncio.unix_events", "asyncio.windows_events")
UVLOOP_INSTALL = frozenset({"uvloop.install"})
UVLOOP_POLICY = frozenset({"uvloop.EventLoopPolicy"})
SET_POLICY = frozenset({"asyncio.set_event_loop_policy", "asyncio.events.set_event_loop_policy"})
POLICY_NAMES = frozenset(
    {f"{mod}.{name}" for mod in _ASYNCIO_MODULES for name in _POLICY_CLASSES + _POLICY_FUNCTIONS}
    | {f"{mod}._{name}" for mod in _ASYNCIO_MODULES for name in _POLICY_CLASSES}  # 3.14 spellings
    | UVLOOP_INSTALL
    | UVLOOP_POLICY
)
ASYNCIO_RUN = RUN_FUNCTIONS - {"uvloop.run"}

# The child watcher API: the Python version that deprecated each name (None: never deprecated,
# only removed). All of it is gone in 3.14 (CPython gh-120804). Measured on 3.12.1 and 3.13.0:
# the functions and the four classes warn, ThreadedChildWatcher and PidfdChildWatcher do not.
_CHILD_WATCHERS = {
    "get_child_watcher": (3, 12), "set_child_watcher": (3, 12),
    "AbstractChildWatcher": (3, 12), "SafeChildWatcher": (3, 12), "FastChildWatcher": (3, 12),
    "MultiLoopChildWatcher": (3, 12), "ThreadedChildWatcher": None, "PidfdChildWatcher": None,
}
CHILD_WATCHER_NAMES = {
    f"{mod}.{name}": since
    for mod in ("asyncio", "asyncio.events", "asyncio.unix_events")
    for name, since in _CHILD_WATCHERS.items()
}


class _ChildWatcherFinding:
    """Reported as AL301, with the version floor of the child watcher API rather than the
    policy system's: code gated to run only before 3.12 (or 3.14) is not reported."""

    code = "AL301"
    name = "deprecated-loop-policy"

    def __init__(self, since: tuple[int, int]) -> None:
        self.applies_from = since


class DeprecatedLoopPolicy(Rule):
    code = "AL301"
    name = "deprecated-loop-policy"
    summary = "The event loop policy system is deprecated; use `loop_factory`"
    fix = "sometimes"
    applies_from = (3, 14)  # the policy system is deprecated from 3.14
    needles = ((b"asyncio", b"uvloop"), (b"olicy", b"uvloop", b"hild_watcher", b"hildWatcher"))
    candidates = r"\w*EventLoopPolicy|set_event_loop_policy|get_event_loop_policy|install|\w*[cC]hild_?[wW]atcher"
    what = """
Checks for the event loop policy API: `asyncio.set_event_loop_policy()`,
`asyncio.get_event_loop_policy()`, the policy classes (`asyncio.DefaultEventLoopPolicy`,
`asyncio.AbstractEventLoopPolicy`, `asyncio.WindowsSelectorEventLoopPolicy`,
`asyncio.WindowsProactorEventLoopPolicy`), `uvloop.install()` and `uvloop.EventLoopPolicy()`,
however they are imported. `asyncio.set_event_loop()` is not part of the policy system and is
not reported. Also the child watcher API that belongs to it: `asyncio.get_child_watcher()`,
`asyncio.set_child_watcher()` and the watcher classes (`AbstractChildWatcher`,
`SafeChildWatcher`, `FastChildWatcher`, `MultiLoopChildWatcher`, deprecated in 3.12;
`ThreadedChildWatcher`, `PidfdChildWatcher`), all removed in 3.14 — code gated to run only on
Pythons where a name still works without a warning is not reported.
"""
    why = """
Python 3.14 deprecates the policy system and 3.16 removes it. The forward-compatible way to
choose a loop implementation is a `loop_factory`: `asyncio.run(main(), loop_factory=...)`
(3.12+), `asyncio.Runner(loop_factory=...)` (3.11+) or `uvloop.run(main())`. A policy is also
process-global state that silently changes every loop created later, including loops made by
libraries and tests. With uvloop 0.23, `uvloop.install()` (or its policy) also breaks a later
`asyncio.get_event_loop()` outside a running loop: it raises `RuntimeError: There is no current
event loop` on every Python version (uvloop issue 702; measured with uvloop 0.23.0 on CPython
3.10–3.13, where uvloop 0.21 returned a uvloop loop). The child watcher API is gone in 3.14;
since 3.12 the loop chooses the best watcher (pidfd or thread) by itself.
"""
    example = """
import asyncio
import uvloop

async def main() -> None:
    await asyncio.sleep(0)

if __name__ == "__main__":
    uvloop.install()
    asyncio.run(main())
"""
    use_instead = """
import asyncio
import uvloop

async def main() -> None:
    await asyncio.sleep(0)

if __name__ == "__main__":
    asyncio.run(main(), loop_factory=uvloop.new_event_loop)
"""
    fix_safety = """
The common pattern, `uvloop.install()` or `asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())`
directly followed by `asyncio.run(main())` in the same block, is rewritten to a loop factory
chosen by the target version: `asyncio.run(main(), loop_factory=uvloop.new_event_loop)` for
py312+, `with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner: runner.run(main())`
for py311, `uvloop.run(main())` for older targets. The policy call is removed and imports that
become unused are dropped. The fix is safe: the coroutine runs on a uvloop loop as before.
Any other use of the policy API is reported without a fix.
"""
    references = (
        "https://docs.python.org/3.14/library/asyncio-policy.html",
        "https://docs.python.org/3/library/asyncio-runner.html#asyncio.run",
        "https://github.com/MagicStack/uvloop#using-uvloop",
    )

    def visit_Call(self, node: cst.Call, ctx: LintContext) -> None:
        if self._child_watcher(node.func, node, ctx, called=True):
            return
        name = ctx.has_name(node.func, POLICY_NAMES)
        if name is None or self.state.get("inside"):
            return
        self.state["inside"] = node
        ctx.report(self, node, self.message(name, called=True), loop_factory_fix(node, ctx))

    def leave_Call(self, node: cst.Call, ctx: LintContext) -> None:
        if self.state.get("inside") is node:
            self.state["inside"] = None

    def visit_Attribute(self, node: cst.Attribute, ctx: LintContext) -> None:
        self._reference(node, ctx)

    def visit_Name(self, node: cst.Name, ctx: LintContext) -> None:
        self._reference(node, ctx)

    def visit_Import(self, node: cst.Import, ctx: LintContext) -> bool:
        self.state["inside_import"] = True
        return True

    def leave_Import(self, node: cst.Import, ctx: LintContext) -> None:
        self.state["inside_import"] = False

    visit_ImportFrom = visit_Import  # type: ignore[assignment]
    leave_ImportFrom = leave_Import  # type: ignore[assignment]

    def _reference(self, node: cst.Attribute | cst.Name, ctx: LintContext) -> None:
        """A policy class or function used without calling it (subclassed, annotated, passed)."""
        if self.state.get("inside") or self.state.get("inside_import"):
            return
        if self._child_watcher(node, node, ctx, called=False):
            return
        name = ctx.has_name(node, POLICY_NAMES)
        if name is None:
            return
        self.state["inside"] = node
        ctx.report(self, node, self.message(name, called=False))

    def leave_Attribute(self, node: cst.Attribute, ctx: LintContext) -> None:
        if self.state.get("inside") is node:
            self.state["inside"] = None

    leave_Name = leave_Attribute  # type: ignore[assignment]

    def visit_Annotation(self, node: cst.Annotation, ctx: LintContext) -> None:
        self.state["annotations"] = self.state.get("annotations", 0) + 1

    def leave_Annotation(self, node: cst.Annotation, ctx: LintContext) -> None:
        self.state["annotations"] -= 1

    def _child_watcher(self, expr: cst.BaseExpression, node: cst.CSTNode, ctx: LintContext, *, called: bool) -> bool:
        if self.state.get("inside") or not isinstance(expr, (cst.Name, cst.Attribute)):
            return False
        if self.state.get("annotations") and ctx.has_name(expr, CHILD_WATCHER_NAMES):
            # An annotation is not evaluated where the name is gone (local variables never,
            # the rest lazily from 3.14 on): no error to report.
            return True
        name = ctx.has_name(expr, CHILD_WATCHER_NAMES)
        if name is None:
            return False
        self.state["inside"] = node
        since = CHILD_WATCHER_NAMES[name]
        shown = "asyncio." + name.rpartition(".")[2] + ("()" if called else "")
        status = (
            f"deprecated in Python {since[0]}.{since[1]} and removed in 3.14"
            if since is not None
            else "removed in Python 3.14"
        )
        ctx.report(
            _ChildWatcherFinding(since or (3, 14)),  # type: ignore[arg-type]
            node,
            f"`{shown}` is part of the child watcher API, {status} (`AttributeError` or `ImportError` there); "
            "since 3.12 the loop picks the best watcher itself: remove it",
        )
        return True

    @staticmethod
    def message(name: str, *, called: bool) -> str:
        shown = name.replace(".events.", ".").replace(".unix_events.", ".").replace(".windows_events.", ".")
        shown = shown.replace("._", ".")
        call = "()" if called else ""
        uvloop_note = ""
        if name in UVLOOP_INSTALL or (name in UVLOOP_POLICY and called):
            # Measured with uvloop 0.23.0 on CPython 3.10-3.13; uvloop 0.21 returned a loop.
            uvloop_note = (
                "; with uvloop 0.23 a later `asyncio.get_event_loop()` outside a running loop "
                "raises `RuntimeError` on every Python version (uvloop issue 702)"
            )
        return (
            f"`{shown}{call}` uses the event loop policy system, deprecated in Python 3.14 and "
            f"removed in 3.16: pass a `loop_factory` to `asyncio.run()`/`asyncio.Runner()` instead{uvloop_note}"
        )


# ---- the fix --------------------------------------------------------------------------------


def _uvloop_module_expr(call: cst.Call, ctx: LintContext) -> tuple[cst.BaseExpression, tuple[ImportRequest, ...]] | None:
    """How to spell the uvloop module at ``call`` (``uvloop``, ``uv``), plus an import if needed."""
    func = call.func
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
        if ctx.full_names(func.value) == {"uvloop"}:
            return cst.Name(func.value.value), ()
    if ctx.has_name_binding("uvloop", {"uvloop"}):
        return cst.Name("uvloop"), ()
    if ctx.name_is_free("uvloop"):
        return cst.Name("uvloop"), (ImportRequest("uvloop"),)
    return None


def _asyncio_module_expr(run_call: cst.Call, ctx: LintContext) -> tuple[cst.BaseExpression, tuple[ImportRequest, ...]] | None:
    func = run_call.func
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
        if ctx.full_names(func.value) == {"asyncio"}:
            return cst.Name(func.value.value), ()
    if ctx.has_name_binding("asyncio", {"asyncio"}):
        return cst.Name("asyncio"), ()
    if ctx.name_is_free("asyncio"):
        return cst.Name("asyncio"), (ImportRequest("asyncio"),)
    return None


def imports_used_by(nodes: list[cst.CSTNode], ctx: LintContext) -> tuple[ImportRequest, ...]:
    """``remove_unused_import`` requests for the imported names that ``nodes`` reference."""
    from libcst.helpers import get_full_name_for_node

    from ..walk import iter_nodes

    requests: list[ImportRequest] = []
    for node in nodes:
        for name in iter_nodes(node):
            if type(name) is not cst.Name:
                continue
            for binding in ctx.bindings.bindings_for(name):
                statement, alias = binding.statement, binding.node
                if statement is None or not isinstance(alias, cst.ImportAlias):
                    continue
                asname = alias.evaluated_alias
                if isinstance(statement, cst.Import):
                    requests.append(ImportRequest(alias.evaluated_name, None, asname))
                elif not statement.relative and statement.module is not None:
                    module = get_full_name_for_node(statement.module)
                    if module:
                        requests.append(ImportRequest(module, alias.evaluated_name, asname))
    return tuple(dict.fromkeys(requests))


def _is_uvloop_policy_statement(call: cst.Call, ctx: LintContext) -> bool:
    """``uvloop.install()`` or ``set_event_loop_policy(uvloop.EventLoopPolicy())``."""
    if ctx.has_name(call.func, UVLOOP_INSTALL):
        return not call.args
    if ctx.has_name(call.func, SET_POLICY) and len(call.args) == 1 and not call.args[0].keyword:
        arg = call.args[0].value
        return (
            isinstance(arg, cst.Call) and not arg.args and ctx.has_name(arg.func, UVLOOP_POLICY) is not None
        )
    return False


def _run_call_of(statement: cst.CSTNode, ctx: LintContext) -> cst.Call | None:
    """The ``asyncio.run(coro)`` that is the whole value of a simple statement."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    value = getattr(small, "value", None) if isinstance(small, (cst.Expr, cst.Assign, cst.Return)) else None
    if not isinstance(value, cst.Call) or ctx.has_name(value.func, ASYNCIO_RUN) is None:
        return None
    positional = [a for a in value.args if a.keyword is None]
    keywords = [a for a in value.args if a.keyword is not None]
    if len(positional) != 1 or positional[0].star or any(a.keyword.value != "debug" for a in keywords):  # type: ignore[union-attr]
        return None
    return value


def _free_local_name(base: str, at: cst.CSTNode, ctx: LintContext) -> str:
    scope = ctx.scope(at)
    candidates = [base] + [f"{base}_{i}" for i in range(2, 10)]
    for candidate in candidates:
        if scope is None or (not scope[candidate] and candidate not in scope.accesses):
            if ctx.name_is_free(candidate):
                return candidate
    return candidates[-1]


def loop_factory_fix(call: cst.Call, ctx: LintContext) -> Fix | None:
    statement = ctx.statement
    if not _is_uvloop_policy_statement(call, ctx) or not is_call_statement(statement, call):
        return None
    parent = ctx.statements[-2] if len(ctx.statements) > 1 else ctx.module
    body = getattr(parent, "body", None)
    if isinstance(body, cst.BaseSuite):
        body = getattr(body, "body", None)
    if not isinstance(body, (list, tuple)):
        return None
    siblings = list(body)
    index = next((i for i, s in enumerate(siblings) if s is statement), None)
    if index is None or index + 1 >= len(siblings):
        return None
    run_statement = siblings[index + 1]
    run_call = _run_call_of(run_statement, ctx)
    if run_call is None:
        return None
    policy_arg = call.args[0].value if call.args else call
    uv = _uvloop_module_expr(policy_arg if isinstance(policy_arg, cst.Call) else call, ctx)
    if uv is None:
        return None
    uv_expr, imports = uv
    factory = cst.Attribute(value=uv_expr, attr=cst.Name("new_event_loop"))
    target = ctx.settings.target_tuple
    replacements: dict[Any, Any] = {statement: cst.RemovalSentinel.REMOVE}
    leading = statement.leading_lines

    def keep_leading(new: Any) -> Any:
        return new.with_changes(leading_lines=(*leading, *new.leading_lines))

    if target >= (3, 12):
        new_call = run_call.with_changes(
            args=[
                *[a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in run_call.args],
                cst.Arg(factory, keyword=cst.Name("loop_factory"), equal=cst.AssignEqual(
                    whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
                )),
            ]
        )
        replacements[run_statement] = lambda updated: keep_leading(
            updated.with_changes(body=[updated.body[0].with_changes(value=new_call)])
        )
        message = "Pass `loop_factory=uvloop.new_event_loop` to `asyncio.run()` instead of installing a policy"
    elif target >= (3, 11):
        aio = _asyncio_module_expr(run_call, ctx)
        if aio is None:
            return None
        aio_expr, more = aio
        imports += more
        runner_name = _free_local_name("runner", run_statement, ctx)
        new_call = run_call.with_changes(
            func=cst.Attribute(value=cst.Name(runner_name), attr=cst.Name("run")),
            args=[a for a in run_call.args if a.keyword is None],
        )
        debug = [a for a in run_call.args if a.keyword is not None]
        runner = cst.Call(
            func=cst.Attribute(value=aio_expr, attr=cst.Name("Runner")),
            args=[
                *[a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in debug],
                cst.Arg(factory, keyword=cst.Name("loop_factory"), equal=cst.AssignEqual(
                    whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
                )),
            ],
        )

        def to_with(updated: Any) -> Any:
            inner = updated.with_changes(body=[updated.body[0].with_changes(value=new_call)]).with_changes(leading_lines=())
            return cst.With(
                items=[cst.WithItem(runner, asname=cst.AsName(cst.Name(runner_name)))],
                body=cst.IndentedBlock(body=[inner]),
                leading_lines=(*leading, *updated.leading_lines),
            )

        replacements[run_statement] = to_with
        message = "Run on `asyncio.Runner(loop_factory=uvloop.new_event_loop)` instead of installing a policy"
    else:
        new_call = run_call.with_changes(func=cst.Attribute(value=uv_expr, attr=cst.Name("run")))
        replacements[run_statement] = lambda updated: keep_leading(
            updated.with_changes(body=[updated.body[0].with_changes(value=new_call)])
        )
        message = "Use `uvloop.run()` instead of installing a policy"
    removes = imports_used_by([statement, run_call.func], ctx)
    return Fix(message, SAFE, replacements, add_imports=imports, remove_imports=removes)
