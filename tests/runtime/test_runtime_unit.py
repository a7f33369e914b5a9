"""Unit tests of asyncloop_lint.runtime (in-process with reset state, or in subprocesses)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import importlib.metadata
import logging
import shutil
import sys
import textwrap
import threading
import time
import types
import warnings
import weakref

import pytest

from runtime_test_support import REPO_ROOT, fresh_runtime, run_python, subprocess_env

rt_fixture = pytest.fixture(name="rt")(fresh_runtime)

LOGGER = "asyncloop_lint.runtime"


def never_awaited_warnings(caught):
    return [w for w in caught if "never awaited" in str(w.message)]


# ----------------------------------------------------------------- import hygiene


def test_import_is_light_and_standalone(tmp_path):
    code = textwrap.dedent(
        """
        import sys
        import asyncloop_lint.runtime as r
        heavy = [m for m in ("libcst", "click", "rich", "mangum", "uvloop", "asyncloop_lint.cli") if m in sys.modules]
        assert not heavy, heavy
        assert r.LOGGER_NAME == "asyncloop_lint.runtime"
        assert set(r.__all__) <= set(dir(r))
        """
    )
    proc = run_python(["-c", code])
    assert proc.returncode == 0, proc.stderr


def test_vendored_copy_works_under_another_name(tmp_path):
    shutil.copy(REPO_ROOT / "asyncloop_lint" / "runtime.py", tmp_path / "my_loop_runtime.py")
    code = textwrap.dedent(
        """
        import asyncio, sys
        import my_loop_runtime as r
        assert "asyncloop_lint" not in sys.modules
        async def f():
            return asyncio.get_running_loop()
        assert r.run(f()) is r.run(f())
        r.shutdown()
        print("ok")
        """
    )
    env = subprocess_env()
    env["PYTHONPATH"] = str(tmp_path)
    proc = run_python(["-c", code], env=env)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


# ------------------------------------------------------------------------ run()


async def current_loop():
    return asyncio.get_running_loop()


def test_run_reuses_one_loop_sets_it_current_and_never_closes_it(rt):
    first = rt.run(current_loop())
    second = rt.run(current_loop())
    assert first is second is rt.get_loop()
    assert not first.is_closed()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert asyncio.get_event_loop() is first
    assert first.get_exception_handler() is rt.log_exception_handler


def test_loop_recreated_after_close(rt):
    first = rt.run(current_loop())
    first.close()  # e.g. another library closed it behind our back
    second = rt.run(current_loop())
    assert second is not first and not second.is_closed()
    assert rt.get_loop() is second


def test_each_run_gets_a_fresh_context(rt):
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    async def read_then_set(value):
        seen = var.get()
        var.set(value)
        return seen

    var.set("caller")
    assert rt.run(read_then_set("first")) == "caller"
    assert rt.run(read_then_set("second")) == "caller"
    assert var.get() == "caller"


def test_timeout(rt):
    with pytest.raises(asyncio.TimeoutError) as info:
        rt.run(asyncio.sleep(10), timeout=0.05)
    if sys.version_info >= (3, 11):
        assert info.type is TimeoutError
    assert rt.run(current_loop()) is rt.get_loop()  # still usable


def test_run_inside_running_loop_is_refused_without_never_awaited_warning(rt):
    async def nested():
        async def inner():
            return 1

        with pytest.raises(rt.RuntimeMisuseError, match="await"):
            rt.run(inner())
        return "done"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert rt.run(nested()) == "done"
        gc.collect()
    assert never_awaited_warnings(caught) == []


def test_run_inside_foreign_running_loop_is_refused(rt):
    async def main():
        with pytest.raises(rt.RuntimeMisuseError):
            rt.run(asyncio.sleep(0))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(main())
        gc.collect()
    assert never_awaited_warnings(caught) == []


def test_non_owner_thread_is_refused(rt):
    loop = rt.get_loop()
    errors = []

    def worker():
        try:
            rt.run(asyncio.sleep(0))
        except rt.RuntimeMisuseError as exc:
            errors.append(exc)
        try:
            rt.get_loop()
        except rt.RuntimeMisuseError as exc:
            errors.append(exc)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = threading.Thread(target=worker, name="not-the-owner")
        t.start()
        t.join()
        gc.collect()
    assert len(errors) == 2
    assert "not-the-owner" in str(errors[0]) and "MainThread" in str(errors[0])
    assert never_awaited_warnings(caught) == []
    assert rt.get_loop() is loop


def test_loop_of_an_exited_thread_is_taken_over(rt):
    box = []
    t = threading.Thread(target=lambda: box.append(rt.get_loop()))
    t.start()
    t.join()
    assert rt.get_loop() is box[0]


def test_set_loop_factory_before_and_after_creation(rt):
    made = []

    def factory():
        loop = asyncio.new_event_loop()
        made.append(loop)
        return loop

    rt.set_loop_factory(factory)
    assert rt.run(current_loop()) is made[0]
    with pytest.raises(rt.RuntimeMisuseError, match="set_loop_factory"):
        rt.set_loop_factory(asyncio.new_event_loop)
    rt.shutdown()
    rt.run(current_loop())
    assert len(made) == 2  # the configured factory is kept for re-creation


def test_default_loop_factory(monkeypatch):
    from asyncloop_lint import runtime

    monkeypatch.setenv("ASYNCLOOP_NO_UVLOOP", "1")
    assert runtime.default_loop_factory() is asyncio.new_event_loop
    monkeypatch.delenv("ASYNCLOOP_NO_UVLOOP")
    uvloop = pytest.importorskip("uvloop")
    assert runtime.default_loop_factory() is uvloop.new_event_loop


FORK_SCRIPT = """
import asyncio, os, sys
import asyncloop_lint.runtime as r

async def loop_id():
    return id(asyncio.get_running_loop())

parent = r.get_loop()
parent_id = r.run(loop_id())
pid = os.fork()
if pid == 0:
    try:
        child_id = r.run(loop_id())
        assert child_id != parent_id, "child reused the parent's loop"
        assert not parent.is_closed(), "the inherited loop must be dropped, not closed"
        assert r.get_loop() is not parent
        assert r.run(loop_id()) == child_id
        r.shutdown()
    except BaseException as exc:
        print("child failed:", repr(exc), file=sys.stderr, flush=True)
        os._exit(1)
    os._exit(0)
_, status = os.waitpid(pid, 0)
assert os.WEXITSTATUS(status) == 0, status
assert not parent.is_closed()
assert r.run(loop_id()) == parent_id
r.shutdown()
print("ok")
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
@pytest.mark.parametrize("no_uvloop", ["1", "0"])
def test_fork_child_gets_a_new_loop_parent_keeps_its_own(no_uvloop):
    if no_uvloop == "0":
        pytest.importorskip("uvloop")
    proc = run_python(["-c", FORK_SCRIPT], env=subprocess_env(ASYNCLOOP_NO_UVLOOP=no_uvloop))
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


# ---------------------------------------------------------------------- shutdown


def test_shutdown_is_idempotent_and_drains(rt):
    finalized = []

    async def agen():
        try:
            yield 1
            yield 2
        finally:
            finalized.append("agen")

    async def forever():
        try:
            await asyncio.sleep(3600)
        finally:
            finalized.append("task")

    holder = {}

    async def start():
        gen = agen()
        await gen.__anext__()  # suspended inside try: only shutdown_asyncgens can finish it
        holder["gen"] = gen
        holder["task"] = asyncio.get_running_loop().create_task(forever())
        await asyncio.sleep(0)

    rt.run(start())
    loop = rt.get_loop()
    t0 = time.monotonic()
    rt.shutdown(timeout=2)
    assert time.monotonic() - t0 < 2
    assert loop.is_closed()
    assert sorted(finalized) == ["agen", "task"]
    rt.shutdown()
    rt.shutdown()
    assert rt.run(current_loop()) is not loop  # a new loop after shutdown


def test_shutdown_on_sigterm_chains_previous_handler():
    code = textwrap.dedent(
        """
        import asyncio, os, signal
        import asyncloop_lint.runtime as r
        calls = []
        signal.signal(signal.SIGTERM, lambda s, f: calls.append(s))
        loop = r.get_loop()
        r.shutdown_on_exit(deadline=1.0)
        os.kill(os.getpid(), signal.SIGTERM)
        assert loop.is_closed(), "SIGTERM did not shut the loop down"
        assert calls == [signal.SIGTERM], calls
        print("ok")
        """
    )
    proc = run_python(["-c", code])
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_sigterm_with_default_action_exits_143_after_shutdown():
    code = textwrap.dedent(
        """
        import asyncio, os, signal
        import asyncloop_lint.runtime as r
        async def gen():
            try:
                yield 1
            finally:
                print("agen closed", flush=True)
        async def start():
            g = gen(); await g.__anext__(); return g
        keep = r.run(start())
        r.shutdown_on_exit(deadline=1.0)
        os.kill(os.getpid(), signal.SIGTERM)
        print("not reached")
        """
    )
    proc = run_python(["-c", code])
    assert proc.returncode == 143, proc.stderr
    assert proc.stdout.strip() == "agen closed"


# ---------------------------------------------------------------------------- once


def test_once_shares_one_in_flight_computation(rt):
    calls = []

    @rt.once
    async def get_value():
        """Docstring kept."""
        calls.append(1)
        await asyncio.sleep(0.01)
        return object()

    async def main():
        values = await asyncio.gather(*(get_value.get() for _ in range(10)))
        again = await get_value()  # callable form
        return values, again

    values, again = rt.run(main())
    assert len(calls) == 1
    assert all(v is values[0] for v in values) and again is values[0]
    assert get_value.__name__ == "get_value" and get_value.__doc__ == "Docstring kept."


def test_once_does_not_cache_failures(rt):
    attempts = []

    async def flaky():
        attempts.append(1)
        await asyncio.sleep(0)
        if len(attempts) == 1:
            raise ConnectionError("first attempt fails")
        return "value"

    lazy = rt.once(flaky)

    async def main():
        results = await asyncio.gather(lazy.get(), lazy.get(), return_exceptions=True)
        assert all(isinstance(r, ConnectionError) for r in results)
        return await lazy.get()

    assert rt.run(main()) == "value"
    assert len(attempts) == 2
    assert rt.run(lazy.get()) == "value" and len(attempts) == 2


def test_once_recomputes_for_a_new_loop(rt):
    made = []

    @rt.once
    async def client():
        made.append(asyncio.get_running_loop())
        return len(made)

    assert rt.run(client.get()) == 1
    assert rt.run(client.get()) == 1
    rt.shutdown()
    assert rt.run(client.get()) == 2  # the value bound to the closed loop is not reused
    assert made[0] is not made[1]
    assert asyncio.run(client.get()) == 3  # a different (foreign) loop gets its own value


def test_once_caller_cancellation_does_not_cancel_shared_computation(rt):
    calls = []

    @rt.once
    async def slow():
        calls.append(1)
        await asyncio.sleep(0.02)
        return "v"

    async def main():
        first = asyncio.ensure_future(slow.get())
        await asyncio.sleep(0)
        first.cancel()
        return await slow.get()

    assert rt.run(main()) == "v"
    assert len(calls) == 1


def test_once_factory_awaiting_its_own_value_fails_instead_of_hanging(rt):
    """Directly or through a helper it awaits: the computation would wait for itself."""

    @rt.once
    async def config():
        return await merged()

    async def merged():
        return {"base": await config.get()}

    async def main():
        with pytest.raises(rt.RuntimeMisuseError, match="awaits its own value"):
            await asyncio.wait_for(config.get(), timeout=5)
        return "done"

    assert rt.run(main()) == "done"

    # The failure is not cached and unrelated concurrent callers are unaffected.
    @rt.once
    async def fine():
        await asyncio.sleep(0.01)
        return 1

    async def together():
        return await asyncio.gather(fine.get(), fine.get())

    assert rt.run(together()) == [1, 1]


# ------------------------------------------------- exception handler and spawn()


def test_log_exception_handler_logs_with_traceback_and_ignores_cancelled(rt, caplog):
    loop = rt.get_loop()
    try:
        raise ValueError("kaboom")
    except ValueError as exc:
        error = exc
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        context = {"message": "Task exception was never retrieved", "exception": error, "future": "F"}
        rt.log_exception_handler(loop, context)
        rt.log_exception_handler(loop, {"message": "ignored", "exception": asyncio.CancelledError()})
        rt.log_exception_handler(loop, {"message": "no exception here", "handle": "<Handle cb()>"})
    records = [r for r in caplog.records if r.name == LOGGER]
    assert len(records) == 2
    first, second = records
    assert first.levelno == logging.ERROR and first.exc_info[1] is error
    assert "Task exception was never retrieved" in first.getMessage() and "future: 'F'" in first.getMessage()
    assert "kaboom" in caplog.text and "Traceback" in caplog.text
    assert second.exc_info is None and "handle: '<Handle cb()>'" in second.getMessage()


def test_install_exception_handler(rt):
    async def main():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(None)
        rt.install_exception_handler()
        return loop.get_exception_handler()

    assert rt.run(main()) is rt.log_exception_handler
    other = asyncio.new_event_loop()
    try:
        rt.install_exception_handler(other)
        assert other.get_exception_handler() is rt.log_exception_handler
    finally:
        other.close()
    with pytest.raises(rt.RuntimeMisuseError):
        rt.install_exception_handler()


def test_spawn_keeps_task_alive_and_logs_failure(rt, caplog):
    progress = []

    async def background():
        await asyncio.sleep(0.01)
        progress.append("done")

    async def failing():
        await asyncio.sleep(0)
        raise LookupError("background boom")

    async def cancelled():
        await asyncio.sleep(3600)

    async def main():
        ref = weakref.ref(rt.spawn(background(), name="bg"))
        gc.collect()
        assert ref() is not None and ref().get_name() == "bg"
        fail_task = rt.spawn(failing(), name="failing-task")
        cancel_task = rt.spawn(cancelled())
        await asyncio.sleep(0.05)
        cancel_task.cancel()
        await asyncio.sleep(0)
        return ref, fail_task

    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        ref, fail_task = rt.run(main())
    assert progress == ["done"]
    errors = [r for r in caplog.records if r.name == LOGGER]
    assert len(errors) == 1
    assert "failing-task" in errors[0].getMessage()
    assert isinstance(errors[0].exc_info[1], LookupError)
    assert not rt._spawned


def test_spawn_outside_a_loop_is_refused(rt):
    async def job():
        pass

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(rt.RuntimeMisuseError):
            rt.spawn(job())
        gc.collect()
    assert never_awaited_warnings(caught) == []


# ----------------------------------------------------------- offload and gather


class ConcurrencyMeter:
    def __init__(self):
        self.lock = threading.Lock()
        self.current = 0
        self.peak = 0

    def __enter__(self):
        with self.lock:
            self.current += 1
            self.peak = max(self.peak, self.current)

    def __exit__(self, *exc):
        with self.lock:
            self.current -= 1


def test_offload_never_exceeds_its_limit(rt):
    meter = ConcurrencyMeter()
    var: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="none")

    def blocking(i):
        with meter:
            time.sleep(0.01)
        return i, var.get(), threading.current_thread().name

    async def main():
        var.set("caller")
        return await asyncio.gather(*(rt.offload(blocking, i, limit=3) for i in range(15)))

    results = rt.run(main())
    assert [r[0] for r in results] == list(range(15))
    assert {r[1] for r in results} == {"caller"}  # contextvars propagate to the thread
    assert all(r[2].startswith("asyncloop-offload-3") for r in results)
    assert meter.peak == 3


def test_offload_default_limit(rt):
    import os

    assert rt.DEFAULT_OFFLOAD_LIMIT == min(32, (os.cpu_count() or 1) + 4)
    meter = ConcurrencyMeter()

    def blocking():
        with meter:
            time.sleep(0.005)

    async def main():
        await asyncio.gather(*(rt.offload(blocking) for _ in range(rt.DEFAULT_OFFLOAD_LIMIT * 2)))

    rt.run(main())
    assert 1 <= meter.peak <= rt.DEFAULT_OFFLOAD_LIMIT
    with pytest.raises(ValueError):
        rt.run(rt.offload(blocking, limit=0))


def test_bounded_gather_limits_concurrency_and_keeps_order(rt):
    active = 0
    peak = 0
    started = []

    async def job(i):
        nonlocal active, peak
        started.append(i)
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.001 * (i % 3))
        active -= 1
        return i * i

    results = rt.run(rt.bounded_gather(*(job(i) for i in range(20)), limit=4))
    assert results == [i * i for i in range(20)]
    assert peak == 4
    assert rt.run(rt.bounded_gather()) == []


def test_bounded_gather_failure(rt):
    async def ok(i):
        await asyncio.sleep(0.01)
        return i

    async def bad():
        raise KeyError("bad")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(KeyError):
            rt.run(rt.bounded_gather(bad(), *(ok(i) for i in range(5)), limit=2))
        gc.collect()
    assert never_awaited_warnings(caught) == []  # unstarted coroutines were closed

    results = rt.run(rt.bounded_gather(ok(1), bad(), ok(2), limit=2, return_exceptions=True))
    assert results[0] == 1 and isinstance(results[1], KeyError) and results[2] == 2


# ------------------------------------------------------------ handlers and Mangum


def test_sync_handler_runs_on_the_persistent_loop(rt):
    @rt.sync_handler
    async def handler(event, context):
        """Lambda entry point."""
        return {"loop": id(asyncio.get_running_loop()), "event": event}

    first = handler({"n": 1}, None)
    second = handler({"n": 2}, None)
    assert first["loop"] == second["loop"] == id(rt.get_loop())
    assert second["event"] == {"n": 2}
    assert handler.__name__ == "handler" and handler.__doc__ == "Lambda entry point."


async def tiny_app(scope, receive, send):  # a minimal ASGI app
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": [[b"content-type", b"text/plain"]]})
    await send({"type": "http.response.body", "body": str(id(asyncio.get_running_loop())).encode()})


def test_mangum_020_is_refused(rt, monkeypatch):
    pytest.importorskip("mangum")
    real_version = importlib.metadata.version

    def fake_version(name):
        return "0.20.0" if name == "mangum" else real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", fake_version)
    with pytest.raises(rt.RuntimeMisuseError) as info:
        rt.mangum_handler(tiny_app)
    message = str(info.value)
    assert "0.20.0" in message and ">=0.21" in message and "asyncio.run" in message
    for ok in ("0.21.0", "0.22.0", "0.19.1"):
        monkeypatch.setattr(importlib.metadata, "version", lambda name, ok=ok: ok)
        rt._check_mangum_version()


def test_mangum_has_no_dunder_version_so_metadata_is_used():
    mangum = pytest.importorskip("mangum")
    assert not hasattr(mangum, "__version__")
    assert importlib.metadata.version("mangum")


def test_mangum_handler_in_process(rt):
    pytest.importorskip("mangum")
    import importlib.util

    from runtime_test_support import APPS

    spec = importlib.util.spec_from_file_location("runtime_test_apps_common", APPS / "common.py")
    common = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(common)
    http_v2 = common.http_v2
    handler = rt.mangum_handler(tiny_app, lifespan="off")
    first = handler(http_v2("/"), None)
    asyncio.run(asyncio.sleep(0))  # stray asyncio.run() in between
    second = handler(http_v2("/"), None)
    assert first["statusCode"] == second["statusCode"] == 200
    assert first["body"] == second["body"] == str(id(rt.get_loop()))

    async def inside():
        with pytest.raises(rt.RuntimeMisuseError):
            handler(http_v2("/"), None)

    rt.run(inside())


def test_mangum_loop_factory_is_passed_when_supported(rt, monkeypatch):
    received = {}

    class FutureMangum:  # Mangum with the loop_factory parameter of PR #363
        def __init__(self, app, lifespan="auto", loop_factory=None):
            received["loop"] = loop_factory()
            received["lifespan"] = lifespan

        def __call__(self, event, context):
            return {"statusCode": 200, "current": asyncio.get_event_loop()}

    fake = types.ModuleType("mangum")
    fake.Mangum = FutureMangum
    monkeypatch.setitem(sys.modules, "mangum", fake)
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.23.0")
    handler = rt.mangum_handler(tiny_app, lifespan_once=True)
    assert received == {"loop": rt.get_loop(), "lifespan": "off"}
    asyncio.run(asyncio.sleep(0))
    assert handler({}, None)["current"] is rt.get_loop()
    with pytest.raises(rt.RuntimeMisuseError):
        rt.mangum_handler(tiny_app, lifespan_once=True, lifespan="auto")


def test_sigterm_while_the_loop_runs_exits_and_cleans_up_at_exit():
    code = textwrap.dedent(
        """
        import asyncio, os, signal
        import asyncloop_lint.runtime as r
        async def gen():
            try:
                yield 1
            finally:
                print("agen closed", flush=True)
        async def main():
            g = gen(); await g.__anext__()
            asyncio.get_running_loop().call_later(0.01, os.kill, os.getpid(), signal.SIGTERM)
            try:
                await asyncio.sleep(5)
            finally:
                print("task cancelled", flush=True)
        r.shutdown_on_exit(deadline=1.0)
        r.run(main())
        print("not reached")
        """
    )
    proc = run_python(["-c", code])
    assert proc.returncode == 143, proc.stderr
    assert proc.stdout.split() == ["task", "cancelled", "agen", "closed"]
