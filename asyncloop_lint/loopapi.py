"""What the rules know about asyncio's (and uvloop's) loop API, by qualified name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .rule import cst

if TYPE_CHECKING:  # pragma: no cover
    import libcst

    from .context import LintContext

RUN_FUNCTIONS = frozenset({"asyncio.run", "asyncio.runners.run", "uvloop.run"})
RUNNER_CLASSES = frozenset({"asyncio.Runner", "asyncio.runners.Runner"})
NEW_EVENT_LOOP = frozenset({"asyncio.new_event_loop", "asyncio.events.new_event_loop", "uvloop.new_event_loop"})
GET_EVENT_LOOP = frozenset({"asyncio.get_event_loop", "asyncio.events.get_event_loop"})
LOOP_RUN_METHODS = frozenset({"run_until_complete", "run_forever"})

# Substrings without which no loop runner can appear in a file.
RUNNER_NEEDLES = (b"asyncio", b"uvloop", b"run_until_complete", b"run_forever")


def _is_runner_object(expr: libcst.BaseExpression, ctx: LintContext) -> bool:
    """``asyncio.Runner(...)``, or a name bound to one (``with asyncio.Runner() as r``)."""
    if isinstance(expr, cst.Call):
        return ctx.has_name(expr.func, RUNNER_CLASSES) is not None
    if isinstance(expr, cst.Name):
        return any(_is_runner_object(value, ctx) for value in ctx.bound_values(expr))
    return False


def loop_runner(call: libcst.Call, ctx: LintContext) -> str | None:
    """The display name of the loop runner ``call`` invokes, or None if it is not one."""
    func = call.func
    found = ctx.has_name(func, RUN_FUNCTIONS)
    if found:
        return found.replace(".runners", "")
    if isinstance(func, cst.Attribute):
        attr = func.attr.value
        if attr == "run" and _is_runner_object(func.value, ctx):
            return "asyncio.Runner.run"
        if attr in LOOP_RUN_METHODS:
            return f"loop.{attr}"
    return None


def loop_creator(call: libcst.Call, ctx: LintContext) -> str | None:
    """The display name of a call that creates an event loop, or None."""
    found = ctx.has_name(call.func, RUN_FUNCTIONS | NEW_EVENT_LOOP | RUNNER_CLASSES)
    if found:
        return found.replace(".runners", "").replace(".events", "")
    return None


def is_get_event_loop(call: libcst.Call, ctx: LintContext) -> bool:
    return ctx.has_name(call.func, GET_EVENT_LOOP) is not None


GET_EVENT_LOOP_POLICY = frozenset({"asyncio.get_event_loop_policy", "asyncio.events.get_event_loop_policy"})


def loop_getter(call: libcst.Call, ctx: LintContext) -> str | None:
    """``asyncio.get_event_loop()`` or ``asyncio.get_event_loop_policy().get_event_loop()``:
    the display name of the call, or None."""
    func = call.func
    if ctx.has_name(func, GET_EVENT_LOOP):
        return "asyncio.get_event_loop"
    if (
        isinstance(func, cst.Attribute)
        and func.attr.value == "get_event_loop"
        and isinstance(func.value, cst.Call)
        and ctx.has_name(func.value.func, GET_EVENT_LOOP_POLICY)
    ):
        return "asyncio.get_event_loop_policy().get_event_loop"
    return None
