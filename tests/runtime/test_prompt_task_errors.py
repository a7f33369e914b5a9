"""A failed task whose exception nobody retrieves is reported at once, not at GC.

In-process with the runtime's global state reset around each test (``rt`` fixture),
on the persistent loop with ``install_exception_handler`` (what the AL402 fix
inserts) and on foreign loops; asyncio and uvloop (when importable). The persistent
loop alone does not report promptly.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import logging
import sys

import pytest

from runtime_test_support import fresh_runtime

rt_fixture = pytest.fixture(name="rt")(fresh_runtime)

LOGGER = "asyncloop_lint.runtime"
NEVER = "Task exception was never retrieved"
HAS_UVLOOP = importlib.util.find_spec("uvloop") is not None
LOOP_KINDS = ["asyncio", pytest.param("uvloop", marks=pytest.mark.skipif(not HAS_UVLOOP, reason="no uvloop"))]


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def reports(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Every "never retrieved" record, whatever the logger (asyncio's own included)."""
    return [r for r in caplog.records if NEVER in r.getMessage()]


def reporting_loop_for(runtime, kind: str) -> asyncio.AbstractEventLoop:  # type: ignore[no-untyped-def]
    loop = new_loop(kind)
    runtime.install_exception_handler(loop)
    return loop


async def fail(message: str = "boom", delay: float = 0) -> None:
    await asyncio.sleep(delay)
    raise LookupError(message)


@pytest.mark.parametrize("kind", LOOP_KINDS)
def test_detached_task_kept_alive_is_reported_at_once_and_once(rt, caplog, kind):
    rt.set_loop_factory(lambda: reporting_loop_for(rt, kind))
    seen_before_next_step: list[int] = []
    keep: list[asyncio.Task[None]] = []

    async def main() -> None:
        keep.append(asyncio.create_task(fail("detached-boom"), name="detached"))
        await asyncio.sleep(0.05)
        seen_before_next_step.append(len(reports(caplog)))

    with caplog.at_level(logging.DEBUG):
        rt.run(main())
        assert keep[0].done() and seen_before_next_step == [1]
        keep.clear()
        gc.collect()
        rt.shutdown()
        gc.collect()
    (record,) = reports(caplog)  # exactly once: not again at garbage collection
    assert record.name == LOGGER and record.levelno == logging.ERROR
    assert "detached" in record.getMessage()
    assert isinstance(record.exc_info[1], LookupError) and record.exc_info[2] is not None
    assert "detached-boom" in caplog.text and "in fail" in caplog.text  # the traceback


@pytest.mark.parametrize("kind", LOOP_KINDS)
def test_retrieved_exceptions_are_not_reported(rt, caplog, kind):
    rt.set_loop_factory(lambda: reporting_loop_for(rt, kind))
    keep: list[asyncio.Task[None]] = []

    async def main() -> None:
        create = asyncio.create_task

        awaited = create(fail())
        with pytest.raises(LookupError):
            await awaited
        with pytest.raises(LookupError):
            await asyncio.gather(create(fail()))
        results = await asyncio.gather(create(fail()), return_exceptions=True)
        assert isinstance(results[0], LookupError)

        in_callback = create(fail())
        in_callback.add_done_callback(lambda task: task.exception())
        keep.append(in_callback)

        done, _ = await asyncio.wait([create(fail())])
        assert all(isinstance(task.exception(), LookupError) for task in done)
        for future in asyncio.as_completed([create(fail()), create(fail(delay=0.01))]):
            with pytest.raises(LookupError):
                await future
        with pytest.raises(LookupError):
            await asyncio.wait_for(create(fail()), 5)
        with pytest.raises(LookupError):
            await asyncio.shield(create(fail()))

        cancelled = create(asyncio.sleep(3600))
        keep.append(cancelled)
        await asyncio.sleep(0)
        cancelled.cancel()
        keep.append(create(asyncio.sleep(0)))  # a success
        await asyncio.sleep(0.05)

    gc.collect()  # nothing left over from earlier tests
    with caplog.at_level(logging.DEBUG):
        rt.run(main())
        keep.clear()
        gc.collect()
    assert reports(caplog) == []
    assert [r for r in caplog.records if r.name == LOGGER] == []


@pytest.mark.skipif(sys.version_info < (3, 11), reason="TaskGroup is 3.11+")
def test_task_group_failures_are_not_reported(rt, caplog):
    async def main() -> None:
        rt.install_exception_handler()
        with pytest.raises(BaseException):
            async with asyncio.TaskGroup() as group:  # type: ignore[attr-defined,unused-ignore]
                group.create_task(fail())
        await asyncio.sleep(0.02)

    with caplog.at_level(logging.DEBUG):
        rt.run(main())
        gc.collect()
    assert reports(caplog) == []


@pytest.mark.parametrize("kind", LOOP_KINDS)
def test_install_on_a_foreign_loop_wraps_the_previous_factory_once(rt, caplog, kind):
    created: list[str] = []

    def previous_factory(loop, coro, **kwargs):
        created.append(getattr(coro, "__name__", "?"))
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop = new_loop(kind)
    keep: list[asyncio.Task[None]] = []
    try:
        loop.set_task_factory(previous_factory)
        rt.install_exception_handler(loop)
        installed = loop.get_task_factory()
        assert installed is not previous_factory
        rt.install_exception_handler(loop)  # idempotent: no double wrapping
        assert loop.get_task_factory() is installed
        assert loop.get_exception_handler() is rt.log_exception_handler

        async def main() -> None:
            keep.append(asyncio.create_task(fail("foreign-boom"), name="named-task"))
            assert keep[0].get_name() == "named-task"
            await asyncio.sleep(0.05)
            assert len(reports(caplog)) == 1

        with caplog.at_level(logging.DEBUG):
            loop.run_until_complete(main())
            keep.clear()
            gc.collect()
    finally:
        loop.close()
    assert created == ["main", "fail"]  # the previous factory still makes every task
    (record,) = reports(caplog)
    assert record.name == LOGGER and "foreign-boom" in caplog.text


def test_install_from_the_entry_coroutine_covers_tasks_created_afterwards(rt, caplog):
    """What AL402's fix does: install_exception_handler() first thing in asyncio.run's coroutine."""
    keep: list[asyncio.Task[None]] = []
    counts: list[int] = []

    async def main() -> None:
        rt.install_exception_handler()
        keep.append(asyncio.create_task(fail("entry-boom")))
        await asyncio.sleep(0.05)
        counts.append(len(reports(caplog)))

    with caplog.at_level(logging.DEBUG):
        asyncio.run(main())
        keep.clear()
        gc.collect()
    assert counts == [1] and len(reports(caplog)) == 1
    assert reports(caplog)[0].name == LOGGER


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager task factories are 3.12+")
def test_eager_task_factory_keeps_its_semantics(rt, caplog):
    started: list[str] = []
    keep: list[asyncio.Task[None]] = []

    async def eager_fail() -> None:
        started.append("ran")
        raise LookupError("eager-boom")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined,unused-ignore]
        rt.install_exception_handler()
        task = asyncio.create_task(eager_fail())
        assert started == ["ran"] and task.done()  # ran eagerly, inside create_task
        keep.append(task)
        awaited = asyncio.create_task(eager_fail())
        with pytest.raises(LookupError):
            await awaited
        await asyncio.sleep(0.05)
        assert len(reports(caplog)) == 1

    with caplog.at_level(logging.DEBUG):
        asyncio.run(main())
        keep.clear()
        gc.collect()
    assert len(reports(caplog)) == 1 and "eager-boom" in caplog.text


@pytest.mark.parametrize("kind", LOOP_KINDS)
def test_task_names_are_kept(rt, kind):
    """The wrapped factory must not rename tasks (3.13.0-3.13.2 would call them "None")."""
    rt.set_loop_factory(lambda: reporting_loop_for(rt, kind))

    async def main() -> tuple[str, str]:
        unnamed = asyncio.create_task(asyncio.sleep(0))
        named = asyncio.create_task(asyncio.sleep(0), name="named")
        await asyncio.gather(unnamed, named)
        return unnamed.get_name(), named.get_name()

    unnamed, named = rt.run(main())
    assert unnamed.startswith("Task-") and named == "named"


def test_persistent_loop_alone_does_not_report_early(rt, caplog):
    """Prompt reporting is opt-in: plain run() users pay no per-task callback."""
    keep: list[asyncio.Task[None]] = []

    async def main() -> None:
        keep.append(asyncio.create_task(fail("late")))
        await asyncio.sleep(0.05)
        assert reports(caplog) == []

    with caplog.at_level(logging.DEBUG):
        rt.run(main())
    assert rt.get_loop().get_task_factory() is None
