"""AL401 dangling-task."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..diagnostic import UNSAFE
from ..loopapi import GET_EVENT_LOOP, NEW_EVENT_LOOP
from ..rule import Fix, Rule, cst

if TYPE_CHECKING:  # pragma: no cover
    from ..context import LintContext

CREATE_TASK = frozenset({"asyncio.create_task", "asyncio.tasks.create_task"})
ENSURE_FUTURE = frozenset({"asyncio.ensure_future", "asyncio.tasks.ensure_future"})
GET_RUNNING_LOOP = frozenset({"asyncio.get_running_loop", "asyncio.events.get_running_loop"})
LOOP_TYPES = frozenset(
    {
        "asyncio.AbstractEventLoop", "asyncio.events.AbstractEventLoop",
        "asyncio.BaseEventLoop", "asyncio.base_events.BaseEventLoop",
        "uvloop.Loop",
    }
)
TASK_GROUPS = frozenset({"asyncio.TaskGroup", "asyncio.taskgroups.TaskGroup"})


def _param_annotation(name: cst.Name, ctx: LintContext) -> cst.BaseExpression | None:
    """The annotation of the parameter ``name`` refers to, if it is an annotated parameter."""
    param = ctx.parameter(name)
    if param is None:
        return None
    return param.annotation.annotation if param.annotation is not None else None


def is_event_loop(expr: cst.BaseExpression, ctx: LintContext) -> bool:
    """An expression that evaluates to an event loop, as far as the module shows.

    Calls of the loop getters and creators; names bound to them or annotated as a loop; and,
    for receivers whose type is unknowable here (parameters, attributes), the conventional
    names ``loop``/``event_loop``/``self.loop``/``self._loop`` unless bound to a TaskGroup.
    """
    if isinstance(expr, cst.Call):
        return ctx.has_name(expr.func, GET_EVENT_LOOP | GET_RUNNING_LOOP | NEW_EVENT_LOOP) is not None
    if isinstance(expr, cst.Name):
        values = ctx.bound_values(expr)
        if values:
            return any(is_event_loop(value, ctx) for value in values)
        annotation = _param_annotation(expr, ctx)
        if annotation is not None:
            return ctx.has_name(annotation, LOOP_TYPES) is not None
        return expr.value in ("loop", "_loop", "event_loop")
    if isinstance(expr, cst.Attribute):
        # ``self.bot.loop``, ``client.loop``: an attribute named ``loop`` on any receiver
        # (discord.py's ``Client.loop``, aiogram's and many SDKs' ``.loop``).
        if expr.attr.value == "loop":
            return True
        if isinstance(expr.value, cst.Name) and expr.value.value in ("self", "cls"):
            return expr.attr.value in ("_loop", "event_loop", "_event_loop")
    return False


def task_creation(call: cst.Call, ctx: LintContext) -> str | None:
    """``asyncio.create_task``/``asyncio.ensure_future``/``loop.create_task``: its display name."""
    found = ctx.has_name(call.func, CREATE_TASK | ENSURE_FUTURE)
    if found:
        return found.replace(".tasks", "")
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value == "create_task" and is_event_loop(func.value, ctx):
        return "loop.create_task"
    return None


def discarded_task(statement: cst.CSTNode | None, ctx: LintContext) -> tuple[cst.Call, str] | None:
    """The task-creating call whose result an expression statement discards."""
    if not isinstance(statement, cst.Expr) or not isinstance(statement.value, cst.Call):
        return None
    name = task_creation(statement.value, ctx)
    return (statement.value, name) if name else None


def thrown_away_tasks(expr: cst.BaseExpression, ctx: LintContext) -> list[tuple[cst.Call, str, str]]:
    """Task-creating calls whose task an expression statement throws away, with the display
    name and how: the statement itself (``create_task(c)``), an element of a list, tuple or
    set display or comprehension, a branch of a conditional expression, or the receiver of
    ``.add_done_callback(...)`` (the task keeps its callbacks; nothing keeps the task)."""
    if isinstance(expr, cst.Call):
        name = task_creation(expr, ctx)
        if name:
            return [(expr, name, "")]
        func = expr.func
        if isinstance(func, cst.Attribute) and func.attr.value == "add_done_callback" and isinstance(func.value, cst.Call):
            return [(call, name, " (a done callback does not keep it alive)") for call, name, _ in thrown_away_tasks(func.value, ctx)]
        return []
    if isinstance(expr, (cst.List, cst.Tuple, cst.Set)):
        return [found for element in expr.elements for found in thrown_away_tasks(element.value, ctx)]
    if isinstance(expr, (cst.ListComp, cst.SetComp)):
        return thrown_away_tasks(expr.elt, ctx)
    if isinstance(expr, cst.IfExp):
        return thrown_away_tasks(expr.body, ctx) + thrown_away_tasks(expr.orelse, ctx)
    return []


def unread_local_task(node: cst.Assign, ctx: LintContext) -> tuple[cst.Call, str, str] | None:
    """``task = create_task(c)`` in a function where ``task`` is never read afterwards (no
    reference at all to that binding: not awaited, stored, returned or passed on)."""
    if len(node.targets) != 1 or not isinstance(node.value, cst.Call) or ctx.function_frame is None:
        return None
    target = node.targets[0].target
    if not isinstance(target, cst.Name):
        return None
    name = task_creation(node.value, ctx)
    if name is None:
        return None
    bound = ctx.bindings.bindings_for(target)
    if len(bound) != 1 or bound[0].node is not target:
        return None
    scope = bound[0].scope
    if scope.kind != "function" or scope.prefix != f"{ctx.function_key}.<locals>.":
        return None  # declared global or nonlocal: bound in another scope
    if any(b.imported is not None for b in scope.bindings[target.value]):
        return None  # also bound by an import: not followed
    if bound[0].references:
        return None
    return node.value, name, f" (stored in `{target.value}`, which is never read)"


class DanglingTask(Rule):
    code = "AL401"
    name = "dangling-task"
    summary = "A task is created and its result discarded"
    fix = UNSAFE
    needles = ((b"create_task", b"ensure_future"),)
    candidates = r"create_task|ensure_future"
    what = """
Checks for tasks returned by `asyncio.create_task()`, `asyncio.ensure_future()` or
`loop.create_task()` that nothing keeps:

- an expression statement that is the call itself, a list, tuple or set display (or
  comprehension) of such calls, or a conditional expression with one in a branch;
- `create_task(...).add_done_callback(...)` as a statement: the task holds its callbacks,
  but nothing holds the task;
- `task = create_task(...)` in a function where that binding of `task` is never read.

The loop receiver is recognised by what it was bound to (`get_running_loop()`,
`new_event_loop()`, a parameter annotated as a loop) or, when that is unknowable, by its
name: `loop`, and any attribute named `loop` (`self.bot.loop`, `client.loop`).
`TaskGroup.create_task()` is not reported (the group keeps its tasks and propagates their
failures), and neither is a task that is kept: stored in a collection or an attribute,
read after the assignment, awaited, gathered or returned; nor a call inside
`with self.assertRaises(...)` or `with pytest.raises(...)`, where a test expects it to raise
(no task is created).
"""
    why = """
The event loop keeps only a weak reference to a task. A task nobody references can be
garbage-collected before it finishes, and when it fails its exception is never observed: at
best `Task exception was never retrieved` is logged when the object is collected, often long
after the failure.
"""
    example = """
import asyncio

async def notify(user_id: int) -> None:
    await asyncio.sleep(0)

async def handle(user_id: int) -> None:
    asyncio.create_task(notify(user_id))
"""
    use_instead = """
import asyncio
from asyncloop_lint import runtime

async def notify(user_id: int) -> None:
    await asyncio.sleep(0)

async def handle(user_id: int) -> None:
    runtime.spawn(notify(user_id))
"""
    fix_safety = """
The fix starts the coroutine with the runtime's `spawn()`, which keeps a strong reference to
the task until it finishes and logs its failure at once. It is unsafe: `spawn()` requires a
running loop and a coroutine (not an arbitrary awaitable), and `create_task(context=...)`
or `ensure_future(loop=...)` calls are left alone.
"""
    references = (
        "https://docs.python.org/3/library/asyncio-task.html#asyncio.create_task",
        "https://docs.python.org/3/library/asyncio-task.html#task-groups",
    )

    def __init__(self) -> None:
        super().__init__()
        self.expecting_raise = 0  # depth of `with self.assertRaises(...)` / `pytest.raises(...)`

    def visit_With(self, node: cst.With, ctx: LintContext) -> None:
        if any(_expects_raise(item.item, ctx) for item in node.items):
            self.expecting_raise += 1

    def leave_With(self, node: cst.With, ctx: LintContext) -> None:
        if any(_expects_raise(item.item, ctx) for item in node.items):
            self.expecting_raise -= 1

    def visit_Expr(self, node: cst.Expr, ctx: LintContext) -> None:
        if self.expecting_raise:
            return  # a test expects the call to raise: no task is created
        for call, name, how in thrown_away_tasks(node.value, ctx):
            self._report(call, name, how, ctx)

    def visit_Assign(self, node: cst.Assign, ctx: LintContext) -> None:
        found = unread_local_task(node, ctx)
        if found is not None:
            self._report(*found, ctx)

    def _report(self, call: cst.Call, name: str, how: str, ctx: LintContext) -> None:
        ctx.report(
            self,
            call,
            f"The task from `{name}()` is discarded{how}: it can be garbage-collected mid-flight and its "
            "exception is never observed; keep a reference (e.g. a TaskGroup) or use the runtime's `spawn()`",
            spawn_fix(call, name, ctx),
        )


RAISES_CONTEXTS = frozenset({"pytest.raises"})


def _expects_raise(expr: cst.BaseExpression, ctx: LintContext) -> bool:
    """``self.assertRaises(...)``/``assertRaisesRegex(...)`` or ``pytest.raises(...)``."""
    if not isinstance(expr, cst.Call):
        return False
    func = expr.func
    if isinstance(func, cst.Attribute) and func.attr.value in ("assertRaises", "assertRaisesRegex"):
        return True
    return ctx.has_name(func, RAISES_CONTEXTS) is not None


def spawn_fix(call: cst.Call, name: str, ctx: LintContext) -> Fix | None:
    from ..runtimefix import runtime_reference

    positional = [a for a in call.args if a.keyword is None]
    keywords = [a for a in call.args if a.keyword is not None]
    if len(positional) != 1 or positional[0].star or any(a.keyword.value != "name" for a in keywords):  # type: ignore[union-attr]
        return None
    if name == "asyncio.ensure_future" and not isinstance(positional[0].value, cst.Call):
        return None  # may be a future, which spawn() does not take
    if name == "loop.create_task" and not ctx.in_async_function:
        return None  # the loop may not be the running one
    from .al301 import imports_used_by

    runtime_name, runtime_import = runtime_reference(ctx, call)
    new_func = cst.Attribute(value=cst.Name(runtime_name), attr=cst.Name("spawn"))
    return Fix(
        "Start the task with the runtime's `spawn()`",
        UNSAFE,
        {call: lambda updated: updated.with_changes(func=new_func)},
        add_imports=(runtime_import,),
        remove_imports=imports_used_by([call.func], ctx),
    )
