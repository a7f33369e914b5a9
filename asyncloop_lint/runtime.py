"""A persistent event loop runtime for sync entry points (AWS Lambda, workers, scripts).

This module is what ``asyncloop-lint --fix`` rewrites code to.  It is standard
library only and self-contained: it can be imported as ``asyncloop_lint.runtime``
or copied verbatim into a project under any module name (it never imports the
rest of ``asyncloop_lint``).

Why
---
``asyncio.run()`` creates a loop, runs one coroutine, *closes the loop* and leaves
the thread with no current loop.  Code that runs it at import time and then serves
requests from another loop (Mangum on Lambda, for example) ends up with resources
bound to a dead loop, or with ``RuntimeError: There is no current event loop``.
This module keeps **one loop per process**, created lazily, reused by every call
and never closed behind your back.

Usage
-----
::

    from asyncloop_lint.runtime import run, mangum_handler, once, spawn, offload

    POOL = run(create_pool())            # module level: runs on the persistent loop
    handler = mangum_handler(app)        # every Lambda invocation runs on that loop

    @once
    async def get_client() -> Client:    # lazily created once per loop
        return await Client.connect()

    async def endpoint():
        client = await get_client.get()  # or: await get_client()
        spawn(audit(client))             # fire-and-forget with a strong reference
        return await offload(blocking_io, limit=4)

Summary of the public API:

* :func:`run` -- run an awaitable on the persistent loop from sync code.
* :func:`get_loop`, :func:`set_loop_factory`, :func:`default_loop_factory`.
* :func:`shutdown`, :func:`shutdown_on_exit` -- orderly teardown (atexit/SIGTERM).
* :func:`sync_handler` -- ``async def handler(event, context)`` -> sync handler.
* :func:`mangum_handler` -- a Mangum handler pinned to the persistent loop, with
  optional once-per-process ASGI lifespan (``lifespan_once=True``).
* :func:`once` / :class:`Once` -- async lazy initializer, once per loop.
* :func:`log_exception_handler`, :func:`install_exception_handler`, :func:`spawn`.
* :func:`offload`, :func:`bounded_gather` -- bounded concurrency helpers.

Loop factory
------------
The loop is created by ``uvloop.new_event_loop`` when uvloop is importable, else by
``asyncio.new_event_loop``.  Set the environment variable ``ASYNCLOOP_NO_UVLOOP=1``
to never use uvloop, or call :func:`set_loop_factory` before the loop exists.
The policy system (deprecated in 3.14) is never used, and neither is
``asyncio.get_event_loop()``.

Threads and processes
---------------------
The loop belongs to the thread that created it; calls from another thread raise
:class:`RuntimeMisuseError` (if the owner thread has exited and the loop is idle,
the calling thread takes it over).  In a forked child the inherited loop is dropped
without being closed (its file descriptors are shared with the parent) and a new
one is created on first use.  A closed loop is replaced on next use.

Logging
-------
Errors are logged through the logger named ``"asyncloop_lint.runtime"``
(:data:`LOGGER_NAME`; the name stays the same when the file is vendored).
After :func:`install_exception_handler` (what the AL402 fix inserts), a task that
fails without anyone retrieving its exception (a detached task, even one still
referenced) is reported within a few loop iterations -- "Task exception was never
retrieved", with its traceback -- instead of only when it is garbage collected.
This wraps the loop's task factory (a factory set earlier keeps working). The
persistent loop of :func:`get_loop` only gets the logging handler.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import functools
import inspect
import logging
import os
import signal
import sys
import threading
import traceback
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Coroutine, Generic, ParamSpec, TypeVar, cast

if TYPE_CHECKING:  # pragma: no cover
    from concurrent.futures import ThreadPoolExecutor

P = ParamSpec("P")

__all__ = [
    "DEFAULT_GATHER_LIMIT",
    "DEFAULT_OFFLOAD_LIMIT",
    "LOGGER_NAME",
    "NO_UVLOOP_ENV",
    "Once",
    "RuntimeMisuseError",
    "bounded_gather",
    "default_loop_factory",
    "get_loop",
    "install_exception_handler",
    "log_exception_handler",
    "mangum_handler",
    "offload",
    "once",
    "run",
    "set_loop_factory",
    "shutdown",
    "shutdown_on_exit",
    "spawn",
    "sync_handler",
]

T = TypeVar("T")
LoopFactory = Callable[[], asyncio.AbstractEventLoop]

#: Name of the logger used for every message of this module.
LOGGER_NAME = "asyncloop_lint.runtime"
#: Environment variable; a true value ("1", "true", "yes", "on") disables uvloop.
NO_UVLOOP_ENV = "ASYNCLOOP_NO_UVLOOP"
#: Default number of concurrent :func:`offload` calls per loop (same as ThreadPoolExecutor).
DEFAULT_OFFLOAD_LIMIT: int = min(32, (os.cpu_count() or 1) + 4)
#: Default number of awaitables :func:`bounded_gather` keeps in flight.
DEFAULT_GATHER_LIMIT: int = 16

logger = logging.getLogger(LOGGER_NAME)


class RuntimeMisuseError(RuntimeError):
    """The runtime was used in a way that cannot work (the message says what to do)."""


# --------------------------------------------------------------------------- state

_lock = threading.RLock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int = 0
_owner: threading.Thread | None = None
_factory: LoopFactory | None = None
_shutdown_hooks: list[Callable[[asyncio.AbstractEventLoop, float], Awaitable[None]]] = []
_spawned: set["asyncio.Task[Any]"] = set()
_executors: dict[int, "ThreadPoolExecutor"] = {}
_executors_pid: int = 0
# id(loop) -> (loop, {limit: semaphore})
_semaphores: dict[int, tuple[asyncio.AbstractEventLoop, dict[int, asyncio.Semaphore]]] = {}
_exit_registered = False
_sigterm_installed = False


def _forget_inherited_state() -> None:
    """Drop (never close) everything inherited from a parent process."""
    global _loop, _owner, _loop_pid, _executors_pid
    _loop = None
    _owner = None
    _loop_pid = os.getpid()
    _spawned.clear()
    _semaphores.clear()
    _executors.clear()  # the worker threads do not exist in the child
    _executors_pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_state)


def _reset_for_tests() -> None:
    """Close and forget all process-global state.  For tests only."""
    global _factory
    with _lock:
        loop = _loop
        if loop is not None and _loop_pid == os.getpid() and not loop.is_closed():
            if not loop.is_running():
                loop.close()
        for executor in _executors.values():
            executor.shutdown(wait=False)
        _forget_inherited_state()
        _factory = None
        _shutdown_hooks.clear()


# ------------------------------------------------------------------ loop factory


def _uvloop_disabled() -> bool:
    return os.environ.get(NO_UVLOOP_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def default_loop_factory() -> LoopFactory:
    """Return the default loop factory: ``uvloop.new_event_loop`` when uvloop is
    importable and ``ASYNCLOOP_NO_UVLOOP`` is not set to a true value, else
    ``asyncio.new_event_loop``.  (It ignores :func:`set_loop_factory`.)"""
    if not _uvloop_disabled():
        try:
            import uvloop  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            pass
        else:
            return cast(LoopFactory, uvloop.new_event_loop)
    return asyncio.new_event_loop


def set_loop_factory(factory: LoopFactory | None) -> None:
    """Choose the callable that creates the persistent loop (``None``: the default).

    Must be called before the loop exists (before the first :func:`run`,
    :func:`get_loop`, ...); afterwards it raises :class:`RuntimeMisuseError`.
    """
    global _factory
    with _lock:
        if _current_loop_unlocked() is not None:
            raise RuntimeMisuseError(
                "set_loop_factory() called after the persistent event loop was created; "
                "call it once at startup, before the first run()/get_loop()/mangum_handler()"
            )
        _factory = factory


# ------------------------------------------------------------------------ the loop


def _current_loop_unlocked() -> asyncio.AbstractEventLoop | None:
    """The live persistent loop of this process, or None (drops forked/closed loops)."""
    global _loop
    if _loop is not None and _loop_pid != os.getpid():
        _forget_inherited_state()
    if _loop is not None and _loop.is_closed():
        _loop = None
    return _loop


def get_loop() -> asyncio.AbstractEventLoop:
    """Return the persistent loop of this process, creating it if needed.

    The loop is (re)created by the loop factory when none exists, when the previous
    one was closed, or in a forked child.  A new loop gets
    :func:`log_exception_handler` unless the factory already installed a handler.
    Prompt reporting of failed tasks is not turned on here (it costs a callback per
    task and may report a failure that is awaited later); call
    :func:`install_exception_handler` for it.
    Raises :class:`RuntimeMisuseError` when called from a thread other than the one
    that owns the loop.  This does not make the loop current; :func:`run` does.
    """
    global _loop, _loop_pid, _owner
    with _lock:
        loop = _current_loop_unlocked()
        me = threading.current_thread()
        if loop is not None:
            if _owner is me:
                return loop
            if (_owner is not None and _owner.is_alive()) or loop.is_running():
                raise RuntimeMisuseError(
                    f"the persistent event loop belongs to thread {_owner.name if _owner else '?'!r}; "
                    f"it cannot be used from thread {me.name!r}. Run the work on the owner thread, "
                    "or hand it over with asyncio.run_coroutine_threadsafe(coro, loop)"
                )
            _owner = me  # the owner thread has exited and the loop is idle: take it over
            return loop
        factory = _factory or default_loop_factory()
        loop = factory()
        if loop.get_exception_handler() is None:
            loop.set_exception_handler(log_exception_handler)
        _loop = loop
        _loop_pid = os.getpid()
        _owner = me
        return loop


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _discard(awaitable: object) -> None:
    """Close an un-awaited coroutine so it does not warn 'was never awaited'."""
    if inspect.iscoroutine(awaitable):
        awaitable.close()


async def _await_with_timeout(awaitable: Awaitable[T], timeout: float | None) -> T:
    if timeout is None:
        return await awaitable
    return await asyncio.wait_for(awaitable, timeout)


def run(awaitable: Awaitable[T], *, timeout: float | None = None) -> T:
    """Run *awaitable* to completion on the persistent loop and return its result.

    For sync code (module level, Lambda handlers, CLIs).  The loop is made current
    with :func:`asyncio.set_event_loop` (so libraries that look it up, like Mangum,
    find it), is **not** closed afterwards, and each call runs in a fresh copy of
    the caller's :mod:`contextvars` context.  With *timeout* (seconds) the awaitable
    is cancelled and :class:`TimeoutError` raised (``asyncio.TimeoutError`` on 3.10).

    Called while an event loop is running in this thread (that is, from async
    code), the coroutine is closed and :class:`RuntimeMisuseError` is raised: use
    ``await`` there instead.
    """
    if _running_loop() is not None:
        _discard(awaitable)
        raise RuntimeMisuseError(
            "asyncloop runtime run() was called while an event loop is running in this "
            "thread; inside async code `await` the coroutine instead of calling run()"
        )
    try:
        loop = get_loop()
    except BaseException:
        _discard(awaitable)
        raise
    asyncio.set_event_loop(loop)
    context = contextvars.copy_context()
    # Task() copies the current context, so create the task inside the fresh copy.
    task = context.run(loop.create_task, _await_with_timeout(awaitable, timeout))
    try:
        return loop.run_until_complete(task)
    except BaseException:
        # KeyboardInterrupt/SystemExit raised while the loop ran: don't leave the task behind.
        if not task.done():
            task.cancel()
            try:
                loop.run_until_complete(task)
            except BaseException:
                pass
        raise


# ----------------------------------------------------------------------- shutdown


def shutdown(timeout: float = 5.0) -> None:
    """Tear the persistent loop down within about *timeout* seconds.

    In order: registered hooks (for example the ASGI lifespan shutdown of
    :func:`mangum_handler` with ``lifespan_once``), cancel and gather the remaining
    tasks, ``loop.shutdown_asyncgens()``, ``loop.shutdown_default_executor()``,
    then close the loop and the runtime's :func:`offload` executors, and clear
    the current loop of the calling (owner) thread.  Idempotent; a later
    :func:`run` creates a new loop.  (On 3.10/3.11 the default executor
    shutdown has no timeout: a blocked ``run_in_executor`` job can delay it.)
    """
    global _loop, _owner
    with _lock:
        loop = _current_loop_unlocked()
        if loop is None:
            _close_executors()
            return
        if loop.is_running():
            raise RuntimeMisuseError(
                "shutdown() was called while the persistent loop is running; call it from "
                "sync code (it is registered by shutdown_on_exit() for atexit/SIGTERM)"
            )
        if _running_loop() is not None:
            raise RuntimeMisuseError("shutdown() cannot be called while an event loop is running")
        _loop = None
        owner, _owner = _owner, None
        executors = list(_executors.values()) if _executors_pid == os.getpid() else []
        _executors.clear()
    deadline = loop.time() + max(timeout, 0.0)

    def remaining() -> float:
        return max(deadline - loop.time(), 0.0)

    try:
        for hook in list(_shutdown_hooks):
            try:
                loop.run_until_complete(asyncio.wait_for(hook(loop, remaining()), remaining()))
            except Exception:
                logger.exception("shutdown hook %r failed", hook)
        tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            done, pending = loop.run_until_complete(asyncio.wait(tasks, timeout=remaining() or 0.001))
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    loop.call_exception_handler(
                        {
                            "message": "unhandled exception during shutdown()",
                            "exception": task.exception(),
                            "task": task,
                        }
                    )
            if pending:
                logger.warning("shutdown(): %d task(s) did not finish within the deadline", len(pending))
        try:
            loop.run_until_complete(asyncio.wait_for(loop.shutdown_asyncgens(), remaining() or 0.001))
        except (asyncio.TimeoutError, Exception):
            logger.warning("shutdown(): async generators were not closed within the deadline", exc_info=True)
        try:
            try:
                executor_shutdown = loop.shutdown_default_executor(timeout=remaining())  # type: ignore[call-arg]
            except TypeError:  # 3.10/3.11: no timeout parameter
                executor_shutdown = loop.shutdown_default_executor()
            loop.run_until_complete(executor_shutdown)
        except Exception:
            logger.warning("shutdown(): default executor shutdown failed", exc_info=True)
    finally:
        for executor in executors:
            executor.shutdown(wait=False, cancel_futures=True)
        with _lock:
            _semaphores.pop(id(loop), None)
        if owner is threading.current_thread():
            asyncio.set_event_loop(None)
        loop.close()


def _close_executors() -> None:
    with _lock:
        executors = list(_executors.values()) if _executors_pid == os.getpid() else []
        _executors.clear()
    for executor in executors:
        executor.shutdown(wait=False, cancel_futures=True)


def shutdown_on_exit(deadline: float = 2.0) -> None:
    """Call :func:`shutdown` (with *deadline* seconds) at interpreter exit and on SIGTERM.

    The SIGTERM handler is installed only when called from the main thread; it
    chains to the previous handler.  If that was the default action, it raises
    ``SystemExit(143)`` after the shutdown so the process still exits.  If SIGTERM
    arrives while the loop is running, the shutdown is left to the atexit hook.
    Safe to call more than once.
    """
    global _exit_registered, _sigterm_installed
    with _lock:
        if not _exit_registered:
            atexit.register(_shutdown_quietly, deadline)
            _exit_registered = True
        if _sigterm_installed or threading.current_thread() is not threading.main_thread():
            return
        sigterm = getattr(signal, "SIGTERM", None)
        if sigterm is None:  # pragma: no cover
            return
        previous = signal.getsignal(sigterm)

        def _on_sigterm(signum: int, frame: Any) -> None:
            loop = _loop
            if loop is None or not loop.is_running():
                _shutdown_quietly(deadline)
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_IGN:
                return
            else:
                raise SystemExit(128 + signum)

        signal.signal(sigterm, _on_sigterm)
        _sigterm_installed = True


def _shutdown_quietly(deadline: float) -> None:
    try:
        shutdown(deadline)
    except Exception:
        logger.exception("asyncloop runtime shutdown failed")


# ------------------------------------------------------------------ error handling


def log_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Loop exception handler that logs through the ``asyncloop_lint.runtime`` logger.

    Ignores :class:`asyncio.CancelledError`; logs the message, the context details
    (task, future, handle, ... like the default handler) and the exception with its
    traceback (``exc_info``).
    """
    exception = context.get("exception")
    if isinstance(exception, asyncio.CancelledError):
        return
    message = context.get("message") or "Unhandled exception in event loop"
    lines = [str(message)]
    for key in sorted(context):
        if key in {"message", "exception"}:
            continue
        value = context[key]
        if key in {"source_traceback", "handle_traceback"}:
            rendered = "".join(traceback.format_list(value)).rstrip()
            lines.append(f"{key}: Object created at (most recent call last):\n{rendered}")
        else:
            try:
                lines.append(f"{key}: {value!r}")
            except Exception:  # a broken __repr__ must not hide the error
                lines.append(f"{key}: <unrepresentable {type(value).__name__}>")
    exc_info = (type(exception), exception, exception.__traceback__) if isinstance(exception, BaseException) else None
    logger.error("\n".join(lines), exc_info=exc_info)


#: Loop iterations a failed task is given for its exception to be retrieved before
#: it is reported.  One is enough for ``await task`` and ``gather``; ``asyncio.wait``,
#: ``as_completed`` and ``wait_for`` (3.10/3.11) hand the task back one iteration later.
_PROMPT_CHECK_ROUNDS = 3
_PROMPT_FACTORY_MARK = "_asyncloop_reports_task_errors_promptly"


def _report_if_unretrieved(loop: asyncio.AbstractEventLoop, task: "asyncio.Task[Any]", rounds: int) -> None:
    # ``_log_traceback`` is the flag asyncio itself checks at garbage collection: True
    # while the exception has not been retrieved (result(), exception(), await, gather).
    if not getattr(task, "_log_traceback", False):
        return
    if rounds > 1:
        loop.call_soon(_report_if_unretrieved, loop, task, rounds - 1)
        return
    exception = task.exception()  # also clears _log_traceback: no second report at GC
    task._log_traceback = False  # type: ignore[attr-defined]
    context: dict[str, Any] = {"message": "Task exception was never retrieved", "exception": exception, "future": task}
    source_traceback = getattr(task, "_source_traceback", None)
    if source_traceback:
        context["source_traceback"] = source_traceback
    loop.call_exception_handler(context)


def _on_task_done(task: "asyncio.Task[Any]") -> None:
    if getattr(task, "_log_traceback", False):  # failed (not cancelled), not retrieved yet
        loop = task.get_loop()
        loop.call_soon(_report_if_unretrieved, loop, task, _PROMPT_CHECK_ROUNDS)


class _KeepNameTask(asyncio.Task):  # type: ignore[type-arg]
    """3.13.0-3.13.2 call ``task.set_name(None)`` after any task factory, renaming an
    unnamed task "None" (python/cpython#130033); ignore that call."""

    def set_name(self, value: object) -> None:
        if value is not None:
            super().set_name(value)


_KeepNameTask.__name__ = _KeepNameTask.__qualname__ = "Task"  # reprs read as usual
_TASK_NAME_BUG = (3, 13, 0) <= sys.version_info[:3] < (3, 13, 3)


def _install_prompt_task_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Wrap the loop's task factory so that failed tasks nobody looks at are reported at once."""
    previous = loop.get_task_factory()
    if previous is not None and getattr(previous, _PROMPT_FACTORY_MARK, False):
        return  # already installed (by this module or a vendored copy of it)

    def task_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> "asyncio.Future[Any]":
        if previous is None:
            task_class = _KeepNameTask if _TASK_NAME_BUG else asyncio.Task
            task: asyncio.Future[Any] = task_class(coro, loop=loop, **kwargs)
        else:
            task = previous(loop, coro, **kwargs)  # e.g. an eager task factory keeps its semantics
        task.add_done_callback(_on_task_done)
        return task

    setattr(task_factory, _PROMPT_FACTORY_MARK, True)
    loop.set_task_factory(task_factory)  # type: ignore[arg-type]


def install_exception_handler(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Install :func:`log_exception_handler` on *loop*, or on the running loop, and
    report failed tasks promptly.

    asyncio reports "Task exception was never retrieved" only when the task object
    is garbage collected, which may be much later (or never) if something keeps a
    reference to it.  This also wraps the loop's task factory (any factory already
    set, eager ones included, keeps working; installing twice does not wrap twice):
    when a task created afterwards fails and its exception has not been retrieved
    within a few loop iterations (by ``await``, ``gather``, ``wait``, ``result()``,
    ``exception()``, ...), the loop's exception handler is called at once with the
    context asyncio would use, and the task is not reported again at GC.  A task whose
    exception is only read later (for example awaited after other awaits) is
    reported too.
    """
    if loop is None:
        loop = _running_loop()
        if loop is None:
            raise RuntimeMisuseError(
                "install_exception_handler() without a loop argument must be called from "
                "async code (it installs the handler on the running loop)"
            )
    loop.set_exception_handler(log_exception_handler)
    _install_prompt_task_errors(loop)


def _on_spawned_done(task: "asyncio.Task[Any]") -> None:
    _spawned.discard(task)
    if task.cancelled():
        return
    exception = task.exception()
    if exception is not None:
        logger.error(
            "background task %r failed", task.get_name(), exc_info=(type(exception), exception, exception.__traceback__)
        )


def spawn(coro: Coroutine[Any, Any, T], *, name: str | None = None) -> "asyncio.Task[T]":
    """Start *coro* as a task on the running loop and keep it alive until it finishes.

    The task is referenced from a module-level set (so it is not garbage collected
    mid-flight) and its failure, if any, is logged at once through the runtime
    logger (cancellation is not logged).  Must be called from async code.
    """
    loop = _running_loop()
    if loop is None:
        _discard(coro)
        raise RuntimeMisuseError("spawn() must be called from async code (no event loop is running)")
    task = loop.create_task(coro)
    if name is not None:
        task.set_name(name)
    _spawned.add(task)
    task.add_done_callback(_on_spawned_done)
    return task


# --------------------------------------------------------------------------- once


class _Slot:
    __slots__ = ("loop", "task", "has_value", "value")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.task: "asyncio.Task[Any]" | None = None
        self.has_value = False
        self.value: Any = None


class Once(Generic[T]):
    """An async lazy value: ``await x.get()`` runs *factory* at most once per loop.

    Concurrent callers share one in-flight computation (it runs as its own task,
    so a cancelled caller does not cancel it for the others).  A failure is not
    cached: the next call retries.  A value computed on a loop that is closed or
    different from the running one is never returned; it is computed again for the
    new loop.  ``await x()`` is the same as ``await x.get()``; :meth:`reset` drops
    the cached values.  Create one with :func:`once`.
    """

    def __init__(self, factory: Callable[[], Awaitable[T]]) -> None:
        self._factory = factory
        self._slots: dict[int, _Slot] = {}
        self._lock = threading.Lock()
        functools.update_wrapper(self, factory)

    def __repr__(self) -> str:
        return f"<Once {getattr(self._factory, '__qualname__', self._factory)!r}>"

    def _slot(self, loop: asyncio.AbstractEventLoop) -> _Slot:
        with self._lock:
            for key in [k for k, s in self._slots.items() if s.loop.is_closed()]:
                del self._slots[key]
            slot = self._slots.get(id(loop))
            if slot is None or slot.loop is not loop:
                slot = self._slots[id(loop)] = _Slot(loop)
            return slot

    async def get(self) -> T:
        """Return the value for the running loop, computing it if needed."""
        loop = asyncio.get_running_loop()
        slot = self._slot(loop)
        if slot.has_value:
            return slot.value  # type: ignore[no-any-return]
        if slot.task is None or slot.task.done():
            slot.task = loop.create_task(self._compute(slot))
        elif slot.task is asyncio.current_task(loop):
            # The factory (or a coroutine it awaits) asks for its own value: it would wait
            # for itself forever.
            raise RuntimeMisuseError(f"{self!r}: the factory awaits its own value, which it is computing")
        return cast(T, await asyncio.shield(slot.task))

    async def _compute(self, slot: _Slot) -> T:
        try:
            value = await self._factory()
        except BaseException:
            slot.task = None  # not cached: the next get() retries
            raise
        slot.value = value
        slot.has_value = True
        return value

    def __call__(self) -> Awaitable[T]:
        return self.get()

    def reset(self) -> None:
        """Forget every cached value (in-flight computations finish but are not reused)."""
        with self._lock:
            self._slots.clear()


def once(factory: Callable[[], Awaitable[T]]) -> Once[T]:
    """Wrap a no-argument async factory in a :class:`Once`; also a decorator::

        @once
        async def get_client() -> Client:
            return await Client.connect()

        client = await get_client.get()   # or: await get_client()
    """
    return Once(factory)


# ---------------------------------------------------------------------- offload


def _executor_for(limit: int) -> "ThreadPoolExecutor":
    global _executors_pid
    from concurrent.futures import ThreadPoolExecutor  # imported on first use: keeps import cheap

    with _lock:
        if _executors_pid != os.getpid():
            _executors.clear()
            _executors_pid = os.getpid()
        executor = _executors.get(limit)
        if executor is None:
            executor = _executors[limit] = ThreadPoolExecutor(
                max_workers=limit, thread_name_prefix=f"asyncloop-offload-{limit}"
            )
        return executor


def _semaphore_for(loop: asyncio.AbstractEventLoop, limit: int) -> asyncio.Semaphore:
    with _lock:
        for key in [k for k, (lp, _) in _semaphores.items() if lp.is_closed()]:
            del _semaphores[key]
        entry = _semaphores.get(id(loop))
        if entry is None or entry[0] is not loop:
            entry = _semaphores[id(loop)] = (loop, {})
        semaphore = entry[1].get(limit)
        if semaphore is None:
            semaphore = entry[1][limit] = asyncio.Semaphore(limit)  # created inside the running loop
        return semaphore


async def offload(fn: Callable[..., T], /, *args: Any, limit: int | None = None, **kwargs: Any) -> T:
    """Run the blocking ``fn(*args, **kwargs)`` in a thread and return its result.

    At most *limit* calls (default :data:`DEFAULT_OFFLOAD_LIMIT`) with the same
    limit run at once per loop: the others wait on an :class:`asyncio.Semaphore`
    (cancellable) rather than queueing in the executor.  The threads come from a
    runtime-owned executor with *limit* workers, and the call sees the caller's
    contextvars (like :func:`asyncio.to_thread`).
    """
    n = DEFAULT_OFFLOAD_LIMIT if limit is None else limit
    if n < 1:
        raise ValueError(f"offload() limit must be >= 1, got {limit!r}")
    loop = asyncio.get_running_loop()
    semaphore = _semaphore_for(loop, n)
    async with semaphore:
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await loop.run_in_executor(_executor_for(n), call)


async def bounded_gather(
    *aws: Awaitable[Any], limit: int = DEFAULT_GATHER_LIMIT, return_exceptions: bool = False
) -> list[Any]:
    """Like :func:`asyncio.gather`, with at most *limit* awaitables in flight.

    Results come back in argument order.  Coroutines are only started when a slot
    is free (tasks and futures passed in are already running).  With
    ``return_exceptions=False`` the first exception propagates and, unlike
    ``gather``, the awaitables still in flight are cancelled and those not yet
    started are closed; with ``return_exceptions=True`` exceptions (not
    cancellations) are returned in place of results.
    """
    if limit < 1:
        raise ValueError(f"bounded_gather() limit must be >= 1, got {limit!r}")
    results: list[Any] = [None] * len(aws)
    if not aws:
        return results
    started = [False] * len(aws)
    indexes = iter(range(len(aws)))

    async def worker() -> None:
        for index in indexes:  # shared iterator: each index is taken by one worker
            started[index] = True
            try:
                results[index] = await aws[index]
            except Exception as exc:
                if not return_exceptions:
                    raise
                results[index] = exc

    loop = asyncio.get_running_loop()
    workers = [loop.create_task(worker()) for _ in range(min(limit, len(aws)))]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    finally:
        for index, awaitable in enumerate(aws):
            if not started[index]:
                _discard(awaitable)
    return results


# ------------------------------------------------------------------ sync handler


def sync_handler(async_fn: Callable[P, Awaitable[T]]) -> Callable[P, T]:
    """Turn ``async def handler(event, context)`` into a sync (Lambda) handler.

    Every call runs on the persistent loop via :func:`run`, so resources created
    with :func:`run` at import time stay usable across invocations.
    """

    @functools.wraps(async_fn)
    def handler(*args: P.args, **kwargs: P.kwargs) -> T:
        return run(async_fn(*args, **kwargs))

    return handler


# ------------------------------------------------------------------------ mangum


def _installed_mangum_version() -> str | None:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover
        return None
    try:
        return version("mangum")
    except PackageNotFoundError:
        mangum = sys.modules.get("mangum")
        found = getattr(mangum, "__version__", None)
        return str(found) if found is not None else None


def _parse_version(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in text.split(".")[:3]:
        digits = ""
        for char in piece:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _check_mangum_version() -> None:
    text = _installed_mangum_version()
    if text is None:
        return
    if _parse_version(text)[:2] == (0, 20):
        raise RuntimeMisuseError(
            f"Mangum {text} runs every invocation under asyncio.run(), which creates and "
            "closes a new event loop per call, so it cannot keep the persistent loop. "
            "Install mangum>=0.21 (0.21.x and 0.22.x run invocations on the current loop)."
        )


class _LifespanOnce:
    """Runs an ASGI app's lifespan startup once per loop and replays its state."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.supported = True
        self._task: "asyncio.Task[None]" | None = None
        self._startup: "asyncio.Future[None]" | None = None
        self._shutdown_requested: asyncio.Event | None = None
        self._shutdown_done: "asyncio.Future[None]" | None = None
        self._startup_sent = False

    async def asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") in ("http", "websocket") and self.supported:
            scope = dict(scope)
            scope["state"] = dict(self.state)
        await self.app(scope, receive, send)

    def ensure_started(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.loop is loop and not loop.is_closed():
            return
        self.state = {}
        self.supported = True
        loop.run_until_complete(self._start(loop))
        self.loop = loop

    async def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._startup = loop.create_future()
        self._shutdown_done = loop.create_future()
        self._shutdown_requested = asyncio.Event()
        self._startup_sent = False
        self._task = loop.create_task(self._run_app())
        await self._startup

    async def _receive(self) -> dict[str, Any]:
        if not self._startup_sent:
            self._startup_sent = True
            return {"type": "lifespan.startup"}
        assert self._shutdown_requested is not None
        await self._shutdown_requested.wait()
        return {"type": "lifespan.shutdown"}

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        startup, done = self._startup, self._shutdown_done
        assert startup is not None and done is not None
        if kind == "lifespan.startup.complete" and not startup.done():
            startup.set_result(None)
        elif kind == "lifespan.startup.failed" and not startup.done():
            startup.set_exception(RuntimeError(f"ASGI lifespan startup failed: {message.get('message', '')}"))
        elif kind == "lifespan.shutdown.complete" and not done.done():
            done.set_result(None)
        elif kind == "lifespan.shutdown.failed" and not done.done():
            done.set_exception(RuntimeError(f"ASGI lifespan shutdown failed: {message.get('message', '')}"))

    async def _run_app(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            assert self._startup is not None
            if not self._startup.done():
                # Like Mangum's lifespan="auto": an app that fails before starting up
                # does not support the protocol; serve requests without lifespan state.
                logger.info("ASGI 'lifespan' protocol appears unsupported (%r)", exc)
                self.supported = False
                self._startup.set_result(None)
            else:
                logger.error("exception in the ASGI lifespan task", exc_info=True)
        finally:
            for future in (self._startup, self._shutdown_done):
                if future is not None and not future.done():
                    future.set_result(None)

    async def shutdown(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        if self.loop is not loop or self._task is None or self._task.done():
            return
        assert self._shutdown_requested is not None and self._shutdown_done is not None
        self._shutdown_requested.set()
        await asyncio.wait_for(asyncio.shield(self._shutdown_done), timeout)
        self.loop = None


class _MangumHandler:
    """The callable returned by :func:`mangum_handler`; ``.adapter`` is the Mangum object."""

    def __init__(self, adapter: Any, lifespan: _LifespanOnce | None) -> None:
        self.adapter = adapter
        self._lifespan = lifespan

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        if _running_loop() is not None:
            raise RuntimeMisuseError(
                "the Mangum handler was called while an event loop is running in this thread; "
                "call it from sync code"
            )
        loop = get_loop()
        asyncio.set_event_loop(loop)  # a stray asyncio.run() may have cleared it
        if self._lifespan is not None:
            self._lifespan.ensure_started(loop)
        result: dict[str, Any] = contextvars.copy_context().run(self.adapter, event, context)
        return result


def mangum_handler(
    app: Any, *, lifespan_once: bool = False, **mangum_kwargs: Any
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """Build a Mangum handler whose every invocation runs on the persistent loop.

    The loop is made current before Mangum is constructed and again before every
    call (a stray ``asyncio.run()`` elsewhere leaves the thread without a current
    loop; this undoes it).  If the installed Mangum accepts ``loop_factory``, a
    factory returning the persistent loop is passed.  Extra keyword arguments go to
    ``Mangum``.  Mangum 0.20.x (one ``asyncio.run`` per invocation) is refused with
    :class:`RuntimeMisuseError`; 0.21 and later work.  Mangum is imported here,
    not at module import.

    ``lifespan_once=True`` runs the app's ASGI lifespan startup once per process
    (per loop) instead of on every invocation, copies its ``state`` into each
    request's ``scope["state"]``, passes ``lifespan="off"`` to Mangum, and runs the
    lifespan shutdown from :func:`shutdown`.
    """
    _check_mangum_version()
    from mangum import Mangum  # optional dependency

    lifespan: _LifespanOnce | None = None
    target = app
    if lifespan_once:
        if mangum_kwargs.get("lifespan", "off") != "off":
            raise RuntimeMisuseError("lifespan_once=True replaces Mangum's lifespan; do not pass lifespan=...")
        mangum_kwargs["lifespan"] = "off"
        lifespan = _LifespanOnce(app)
        target = lifespan.asgi
        _shutdown_hooks.append(lifespan.shutdown)
    try:
        accepts_factory = "loop_factory" in inspect.signature(Mangum).parameters
    except (TypeError, ValueError):  # pragma: no cover
        accepts_factory = False
    if accepts_factory and "loop_factory" not in mangum_kwargs:
        mangum_kwargs["loop_factory"] = get_loop
    if _running_loop() is None:
        asyncio.set_event_loop(get_loop())
    adapter = Mangum(target, **mangum_kwargs)
    return _MangumHandler(adapter, lifespan)
