"""AL302, AL303, AL601, AL602: programs fixed by the real CLI behave as the fixes promise.

Each scenario writes a small program to a temporary directory, runs the real CLI's
``--fix --unsafe-fixes`` on it in a fresh interpreter, then executes the original and the fixed
program (also in fresh interpreters) and compares what they print. No assertion depends on
how long something took.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_rules_backend_executors import REPO, execute, fix, lint_codes, write

HAS_UVLOOP = importlib.util.find_spec("uvloop") is not None


def run(path: Path, env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run the program in a fresh interpreter with extra environment and arguments."""
    full = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True,
                          env=full, cwd=path.parent, timeout=60)


# ---- AL303: debug mode off after the fix, and the environment still turns it on -------------

AL303_PROGRAM = """
    import asyncio


    async def main() -> None:
        print("RUN-DEBUG", asyncio.get_running_loop().get_debug())


    def manual() -> None:
        loop = asyncio.new_event_loop()
        loop.set_debug(True)
        loop.run_until_complete(main())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


    if __name__ == "__main__":
        asyncio.run(main(), debug=True)
        manual()
"""


def test_al303_fix_turns_hardcoded_debug_off_and_leaves_it_to_the_environment(tmp_path):
    path = write(tmp_path, AL303_PROGRAM)
    assert execute(path).stdout.split() == ["RUN-DEBUG", "True", "RUN-DEBUG", "True"]
    fixed = fix(path, "AL303")
    assert "debug=True" not in fixed and "set_debug" not in fixed
    assert execute(path).stdout.split() == ["RUN-DEBUG", "False", "RUN-DEBUG", "False"]
    done = run(path, {"PYTHONASYNCIODEBUG": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["RUN-DEBUG", "True", "RUN-DEBUG", "True"]
    assert lint_codes(path, "AL303").strip().endswith("All checks passed!")


# ---- AL602: generators finalized and executor jobs joined before close ------------------------

AL602_PROGRAM = """
    import asyncio
    import threading
    import time

    release = threading.Event()


    async def stream():
        try:
            yield 1
            yield 2
        finally:
            print("GENERATOR-FINALLY", flush=True)


    def job() -> None:
        release.wait()
        time.sleep(0.05)
        print("EXECUTOR-JOB-DONE", flush=True)


    async def main() -> None:
        global held
        held = stream()
        async for _ in held:
            break
        asyncio.get_running_loop().run_in_executor(None, job)
        await asyncio.sleep(0)


    def serve() -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(main())
            release.set()
        finally:
            loop.close()
        print("CLOSED", flush=True)


    if __name__ == "__main__":
        serve()
"""


def test_al602_fix_finalizes_generators_and_joins_the_executor_before_close(tmp_path):
    path = write(tmp_path, AL602_PROGRAM)
    before = execute(path).stdout.split()
    assert "GENERATOR-FINALLY" not in before  # the suspended generator's finally never ran
    fixed = fix(path, "AL602")
    assert "loop.run_until_complete(loop.shutdown_asyncgens())" in fixed
    assert "loop.run_until_complete(loop.shutdown_default_executor())" in fixed
    after = execute(path, "-W", "error::DeprecationWarning").stdout.split()
    # Both happen before close() returns (their relative order is the threads' business).
    assert sorted(after[:2]) == ["EXECUTOR-JOB-DONE", "GENERATOR-FINALLY"] and after[2:] == ["CLOSED"]
    assert lint_codes(path, "AL602").strip().endswith("All checks passed!")


# ---- AL601: the handler wakes the loop after the fix --------------------------------------------

AL601_PROGRAM = """
    import asyncio
    import os
    import signal
    import sys
    import threading
    import time

    handled = threading.Event()


    def main_thread_in_selector() -> bool:
        frame = sys._current_frames().get(threading.main_thread().ident)
        return frame is not None and frame.f_code.co_name == "select"


    def send_when_the_loop_sleeps(loop) -> None:
        # Wait until the main thread is in the selector with nothing ready to run (it computed
        # its timeout from the timers alone), then signal: the signal arrives while the loop is
        # blocked, as a SIGTERM from outside would. Only the loop's thread empties `_ready`,
        # after the selector returns, so this state is not a race.
        while not (main_thread_in_selector() and not loop._ready):
            time.sleep(0.001)
        os.kill(os.getpid(), signal.SIGUSR1)


    def observe(loop) -> None:
        # After the handler ran: the loop still sleeps in the selector although the waiter's
        # wake-up is ready to run. Report it, then wake the loop from outside.
        handled.wait()
        while not (main_thread_in_selector() and loop._ready):
            time.sleep(0.001)
        print("ASLEEP-WITH-WORK-READY", flush=True)
        loop.call_soon_threadsafe(lambda: None)


    async def main() -> None:
        stop = asyncio.Event()
        signal.signal(signal.SIGUSR1, lambda *_: (handled.set(), stop.set()))
        loop = asyncio.get_running_loop()
        if sys.argv[1:] == ["observe"]:
            threading.Thread(target=observe, args=(loop,), daemon=True).start()
        threading.Thread(target=send_when_the_loop_sleeps, args=(loop,), daemon=True).start()
        await stop.wait()
        print("WOKEN", flush=True)


    asyncio.run(main())
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_al601_fix_makes_the_signal_wake_the_loop(tmp_path):
    path = write(tmp_path, AL601_PROGRAM)
    # The original: the handler ran, the waiter's wake-up is ready, and the loop sleeps on
    # until something else wakes it (here the observer).
    original = run(path, args=("observe",))
    assert original.stdout.split() == ["ASLEEP-WITH-WORK-READY", "WOKEN"], original.stdout + original.stderr
    fixed = fix(path, "AL601")
    assert "asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, lambda *_: (handled.set(), stop.set()))" in fixed
    # No observer and no deadline: the fixed program can only finish because the signal woke
    # the loop.
    after = execute(path)
    assert after.stdout.split() == ["WOKEN"], after.stdout + after.stderr
    assert lint_codes(path, "AL601").strip().endswith("All checks passed!")


# ---- AL302: the runtime's factory keeps uvloop where it is, and falls back where it is not ------

AL302_PROGRAM = """
    import asyncio

    import uvloop


    async def main() -> None:
        loop = asyncio.get_running_loop()
        print("LOOP", type(loop).__module__.split(".")[0])


    if __name__ == "__main__":
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())
"""


@pytest.mark.skipif(not HAS_UVLOOP, reason="uvloop is not installed")
@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.Runner is 3.11+")
def test_al302_fix_falls_back_to_asyncio_without_uvloop(tmp_path):
    program = tmp_path / "prog"
    program.mkdir()
    path = write(program, AL302_PROGRAM)
    # A directory that makes `import uvloop` fail, as on Windows.
    blocked = tmp_path / "no_uvloop"
    (blocked / "uvloop").mkdir(parents=True)
    (blocked / "uvloop" / "__init__.py").write_text("raise ImportError('no uvloop here')\n")
    without = {"PYTHONPATH": os.pathsep.join([str(blocked), str(REPO)])}

    assert execute(path).stdout.split() == ["LOOP", "uvloop"]
    original = run(path, without)
    assert original.returncode != 0 and "ImportError" in original.stderr
    fixed = fix(path, "AL302")
    assert "import uvloop" not in fixed and "default_loop_factory()" in fixed
    assert execute(path).stdout.split() == ["LOOP", "uvloop"]  # unchanged where uvloop exists
    after = run(path, without)
    assert after.returncode == 0, after.stderr
    assert after.stdout.split() == ["LOOP", "asyncio"]


# ---- AL301's uvloop note: what uvloop 0.23 does to a later get_event_loop() ---------------------

UVLOOP_702 = """
    import asyncio
    import sys
    import warnings

    import uvloop

    warnings.simplefilter("ignore", DeprecationWarning)
    if sys.argv[1] == "install":
        uvloop.install()
    else:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        asyncio.get_event_loop()
        print("RETURNED")
    except RuntimeError as error:
        print("RAISED", type(error).__name__)
"""


@pytest.mark.skipif(
    not HAS_UVLOOP or not __import__("uvloop").__version__.startswith("0.23."),
    reason="pins what AL301's message says about uvloop 0.23",
)
@pytest.mark.parametrize("how", ["install", "policy"])
def test_al301_uvloop_023_get_event_loop_raises_after_the_policy(tmp_path, how):
    path = write(tmp_path, UVLOOP_702)
    assert run(path, args=(how,)).stdout.split() == ["RAISED", "RuntimeError"]
