"""AL401 (second batch), AL403, AL504: fixed programs behave as the fixes promise, run by the
real CLI and executed in fresh interpreters; and the peer-code alias table of ``noqa``.

No timed assertions: blocking is observed by counting the ticks a heartbeat task gets while
the code under test runs (zero when the loop is blocked), cancellation by whether a task is
done after a number of loop iterations.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from asyncloop_lint.config import Settings
from asyncloop_lint.engine import lint_source
from asyncloop_lint.rule import registry
from asyncloop_lint.suppression import PEER_ALIASES, is_suppressed, peer_aliases
from test_rules_backend_executors import TARGET, _env, execute, fix, lint_codes, write

# ---- AL504: the safe sleep fix and the thread fix at the coroutine's own call ---------------------

HEARTBEAT = """
    import asyncio
    import time

    TICKS = 0


    async def heartbeat() -> None:
        global TICKS
        while True:
            TICKS += 1
            await asyncio.sleep(0)
"""

AL504_SLEEP = HEARTBEAT + """

    async def handler() -> str:
        before = TICKS
        time.sleep(0.2)
        return f"ticks during the sleep: {TICKS - before}"


    async def main() -> None:
        beat = asyncio.create_task(heartbeat())
        await asyncio.sleep(0)
        print(await handler())
        beat.cancel()


    if __name__ == "__main__":
        asyncio.run(main())
"""


def test_al504_sleep_fix_is_safe_and_lets_other_tasks_run(tmp_path):
    path = write(tmp_path, AL504_SLEEP)
    assert "ticks during the sleep: 0" in execute(path).stdout  # the hazard: the loop is blocked
    # Safe fixes alone (no --unsafe-fixes) apply this one.
    done = subprocess.run(
        [sys.executable, "-m", "asyncloop_lint", "--fix", "--isolated", "--no-cache", "--target-version", TARGET,
         "--select", "AL504", str(path)],
        capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    fixed = path.read_text(encoding="utf-8")
    assert "await asyncio.sleep(0.2)" in fixed and "time.sleep" not in fixed
    out = execute(path, "-W", "error::DeprecationWarning").stdout
    ticks = int(re.search(r"ticks during the sleep: (\d+)", out).group(1))
    assert ticks > 0, out
    assert lint_codes(path, "AL504").strip().endswith("All checks passed!")


AL504_CHAIN = HEARTBEAT + """

    def settle() -> None:
        time.sleep(0.2)


    def load(key: str) -> str:
        settle()
        return key.upper()


    async def handler(key: str) -> str:
        before = TICKS
        value = load(key)
        return f"{value} ticks during load: {TICKS - before}"


    async def main() -> None:
        beat = asyncio.create_task(heartbeat())
        await asyncio.sleep(0)
        print(await handler("k"))
        beat.cancel()


    if __name__ == "__main__":
        asyncio.run(main())
"""


def test_al504_chain_fix_runs_the_project_function_in_a_thread(tmp_path):
    path = write(tmp_path, AL504_CHAIN)
    assert "K ticks during load: 0" in execute(path).stdout
    report = lint_codes(path, "AL504")
    assert "`handler()` → `load()` → `settle()` → `time.sleep()`" in report
    fixed = fix(path, "AL504")
    assert "value = await asyncio.to_thread(load, key)" in fixed
    assert "    time.sleep(0.2)" in fixed  # the helper itself is not touched
    out = execute(path).stdout
    match = re.search(r"K ticks during load: (\d+)", out)
    assert match and int(match.group(1)) > 0, out  # same result, and the loop kept running


AL504_APP = HEARTBEAT + """

    from .storage import slow


    async def handler() -> None:
        before = TICKS
        value = slow("ab")
        print(value, "ticks:", TICKS - before)


    async def main() -> None:
        beat = asyncio.create_task(heartbeat())
        await asyncio.sleep(0)
        await handler()
        beat.cancel()
"""


def test_al504_chain_through_another_module(tmp_path):
    (tmp_path / "pkg").mkdir()
    write(tmp_path / "pkg", "", "__init__.py")
    write(tmp_path / "pkg", """
        import time


        def slow(key):
            time.sleep(0.2)
            return key * 2
    """, "storage.py")
    write(tmp_path / "pkg", AL504_APP, "app.py")
    runner = write(tmp_path, "import asyncio\nfrom pkg.app import main\n\nasyncio.run(main())\n", "run.py")
    assert "abab ticks: 0" in execute(runner).stdout
    app = tmp_path / "pkg" / "app.py"
    assert "`handler()` → `storage.slow()` → `time.sleep()`" in lint_codes(app, "AL504")
    fixed = fix(app, "AL504")
    assert "value = await asyncio.to_thread(slow, \"ab\")" in fixed
    out = execute(runner).stdout
    match = re.search(r"abab ticks: (\d+)", out)
    assert match and int(match.group(1)) > 0, out


# ---- AL403: re-raising lets cancel() stop the worker -----------------------------------------------

AL403_PROGRAM = """
    import asyncio

    STOP = False


    async def consume(queue: asyncio.Queue) -> None:
        while not STOP:
            try:
                await queue.get()
            except asyncio.CancelledError:
                print("cleanup")


    async def main() -> None:
        global STOP
        queue = asyncio.Queue()
        worker = asyncio.create_task(consume(queue))
        await asyncio.sleep(0)
        worker.cancel()
        for _ in range(20):
            await asyncio.sleep(0)
        print("DONE", worker.done(), "CANCELLED", worker.done() and worker.cancelled())
        STOP = True  # lets the original end: cancel() alone does not stop it
        queue.put_nowait(None)
        await asyncio.sleep(0)


    if __name__ == "__main__":
        asyncio.run(main())
"""


def test_al403_fixed_worker_stops_when_cancelled(tmp_path):
    path = write(tmp_path, AL403_PROGRAM)
    assert "DONE False" in execute(path).stdout  # the hazard: still running after cancel()
    fixed = fix(path, "AL403")
    assert '            print("cleanup")\n            raise\n' in fixed
    out = execute(path).stdout
    assert "cleanup" in out and "DONE True CANCELLED True" in out, out


# ---- AL401: a task kept only by an unread local is collected; spawn keeps it ---------------------

AL401_UNREAD_LOCAL = """
    import asyncio
    import gc
    import weakref

    FUTURE = None


    async def job() -> None:
        global FUTURE
        future = asyncio.get_running_loop().create_future()
        FUTURE = weakref.ref(future)
        await future
        print("JOB FINISHED", flush=True)


    async def start() -> None:
        task = asyncio.create_task(job())
        await asyncio.sleep(0)


    async def main() -> None:
        await start()
        gc.collect()
        future = FUTURE()
        print("ALIVE", future is not None, flush=True)
        if future is not None:
            future.set_result(None)
            del future
            await asyncio.sleep(0.01)


    if __name__ == "__main__":
        asyncio.run(main())
"""


def test_al401_unread_local_task_is_collected_and_spawn_keeps_it(tmp_path):
    path = write(tmp_path, AL401_UNREAD_LOCAL)
    before = execute(path)
    assert "ALIVE False" in before.stdout and "JOB FINISHED" not in before.stdout
    fixed = fix(path, "AL401")
    assert "task = runtime.spawn(job())" in fixed
    after = execute(path).stdout
    assert "ALIVE True" in after and "JOB FINISHED" in after


# ---- noqa: peer codes silence exactly the mapped codes -------------------------------------------

PEERS = sorted({*PEER_ALIASES, "ASYNC210", "ASYNC251", "ASYNC230", "ASYNC102", "ASYNC105", "RUF005", "ASYNC3000"})


@pytest.mark.parametrize("peer", PEERS)
def test_peer_code_silences_exactly_its_aliases(peer):
    line = [f"x = 1  # noqa: {peer}"]
    expected = {
        "RUF006": {"AL401"}, "ASYNC300": {"AL401"}, "ASYNC103": {"AL403"}, "ASYNC104": {"AL403"},
        "ASYNC210": {"AL504"}, "ASYNC251": {"AL504"}, "ASYNC230": {"AL504"},
    }.get(peer, set())
    silenced = {code for code in registry() if is_suppressed(code, (1,), line)}
    assert silenced == expected
    assert peer_aliases(peer) == frozenset(expected)


ALIASED = b'''import asyncio
import time


async def work() -> None:
    await asyncio.sleep(0)


async def handler() -> None:
    asyncio.create_task(work())  # noqa: RUF006
    asyncio.ensure_future(work())  # noqa: ASYNC300
    time.sleep(1)  # noqa: ASYNC251
    time.sleep(2)  # noqa: RUF006
    try:
        await work()
    except asyncio.CancelledError:  # noqa: ASYNC103
        pass
    try:
        await work()
    except asyncio.CancelledError:  # noqa: ASYNC251, E722
        pass
    print("carried on")
'''


def test_peer_codes_end_to_end(tmp_path):
    settings = Settings(codes=frozenset({"AL401", "AL403", "AL504"}), project_root=str(tmp_path))
    found = [(d.location.row, d.code) for d in lint_source(ALIASED, str(tmp_path / "m.py"), settings).diagnostics]
    # Only the lines whose peer code maps to another rule still report.
    assert found == [(13, "AL504"), (20, "AL403")]
