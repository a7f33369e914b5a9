"""AL301, AL401, AL402, AL501: programs fixed by the real CLI behave as the fixes promise.

Each scenario writes a small program to a temporary directory, runs
``python -m asyncloop_lint --fix --unsafe-fixes --isolated --target-version <this Python>`` on
it in a fresh interpreter, then executes the original and the fixed program (also in fresh
interpreters) and compares what they print.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TARGET = f"py3{min(max(sys.version_info.minor, 10), 14)}"
HAS_UVLOOP = importlib.util.find_spec("uvloop") is not None


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env.pop("ASYNCLOOP_NO_UVLOOP", None)
    return env


def write(tmp_path: Path, source: str, name: str = "prog.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    return path


def fix(path: Path, *codes: str) -> str:
    """Run the real CLI's fixer on ``path`` and return the fixed source."""
    args = [sys.executable, "-m", "asyncloop_lint", "--fix", "--unsafe-fixes", "--isolated", "--no-cache",
            "--target-version", TARGET]
    if codes:
        args += ["--select", ",".join(codes)]
    done = subprocess.run([*args, str(path)], capture_output=True, text=True, env=_env(), cwd=path.parent, timeout=120)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return path.read_text(encoding="utf-8")


def execute(path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, *flags, str(path)], capture_output=True, text=True, env=_env(), cwd=path.parent, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def lint_codes(path: Path, *codes: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "asyncloop_lint", "--isolated", "--no-cache", "--output-format", "concise",
         "--target-version", TARGET, "--select", ",".join(codes), str(path)],
        capture_output=True, text=True, env=_env(), cwd=path.parent, timeout=120,
    )
    return done.stdout


# ---- AL301: uvloop through loop_factory, no policy call, no DeprecationWarning ------------------

AL301_PROGRAMS = {
    "install": """
        import asyncio

        import uvloop


        async def main() -> None:
            loop = asyncio.get_running_loop()
            print("LOOP", type(loop).__module__, type(loop).__name__)


        if __name__ == "__main__":
            uvloop.install()
            asyncio.run(main())
    """,
    "policy-object": """
        import asyncio
        from asyncio import set_event_loop_policy

        import uvloop


        async def main() -> None:
            loop = asyncio.get_running_loop()
            print("LOOP", type(loop).__module__, type(loop).__name__)


        if __name__ == "__main__":
            set_event_loop_policy(uvloop.EventLoopPolicy())
            asyncio.run(main())
    """,
}


@pytest.mark.skipif(not HAS_UVLOOP, reason="uvloop is not installed")
@pytest.mark.parametrize("name", sorted(AL301_PROGRAMS))
def test_al301_fixed_program_runs_on_uvloop_without_policy(tmp_path, name):
    path = write(tmp_path, AL301_PROGRAMS[name])
    assert "LOOP uvloop" in execute(path).stdout  # the original uses uvloop through a policy
    fixed = fix(path, "AL301")
    assert "policy" not in fixed.lower() and "install" not in fixed
    assert "loop_factory=uvloop.new_event_loop" in fixed or "uvloop.run(" in fixed
    compile(fixed, str(path), "exec")
    done = execute(path, "-W", "error::DeprecationWarning")
    assert "LOOP uvloop" in done.stdout, done.stdout + done.stderr
    assert lint_codes(path, "AL301").strip().endswith("All checks passed!")


# ---- AL401: spawn keeps the task alive and logs its failure --------------------------------------

AL401_PROGRAM = """
    import asyncio
    import gc
    import logging
    import sys
    import weakref

    logging.basicConfig(stream=sys.stdout, level=logging.ERROR, format="LOG %(name)s %(message)s")
    FUTURE = None


    async def job() -> None:
        global FUTURE
        future = asyncio.get_running_loop().create_future()
        FUTURE = weakref.ref(future)  # only a weak reference: the task alone keeps it
        await future
        raise RuntimeError("boom-401")


    async def main() -> None:
        asyncio.create_task(job())
        await asyncio.sleep(0.05)
        gc.collect()  # the task is pending: only a strong reference keeps it alive
        future = FUTURE()
        print("ALIVE", future is not None, flush=True)
        if future is not None:
            future.set_result(None)
            del future
            await asyncio.sleep(0.05)
        print("AFTER", flush=True)


    if __name__ == "__main__":
        asyncio.run(main())
"""


def test_al401_spawned_task_survives_gc_and_its_failure_is_logged(tmp_path):
    path = write(tmp_path, AL401_PROGRAM)
    before = execute(path)
    assert "ALIVE False" in before.stdout  # the hazard: collected mid-flight
    assert "Task was destroyed but it is pending" in before.stdout + before.stderr
    fixed = fix(path, "AL401")
    assert "runtime.spawn(job())" in fixed and "import asyncloop_runtime as runtime" in fixed
    assert (path.parent / "asyncloop_runtime.py").is_file()  # vendored beside the program
    out = execute(path, "-W", "error::DeprecationWarning").stdout
    assert "ALIVE True" in out
    failure = out.find("boom-401")
    assert "LOG asyncloop_lint.runtime" in out and 0 <= failure < out.index("AFTER"), out
    assert "destroyed but it is pending" not in out


# ---- AL402: the runtime's logging handler on the entry coroutine ---------------------------------

AL402_PROGRAM = """
    import asyncio
    import logging
    import sys

    logging.basicConfig(stream=sys.stdout, level=logging.ERROR, format="LOG %(name)s %(message)s")
    KEEP = []


    async def fail() -> None:
        raise RuntimeError("boom-402")


    async def start() -> None:
        asyncio.create_task(fail())
        KEEP.extend(asyncio.all_tasks())  # a reference elsewhere: GC cannot report the failure


    async def main() -> None:
        \"\"\"The entry coroutine.\"\"\"
        await start()
        await asyncio.sleep(0.1)
        print("AFTER", flush=True)
        KEEP.clear()


    if __name__ == "__main__":
        asyncio.run(main())
"""


def test_al402_handler_is_installed_on_the_entry_coroutine(tmp_path):
    path = write(tmp_path, AL402_PROGRAM)  # the failed task stays referenced (KEEP) until the end
    before = execute(path).stdout
    assert "LOG asyncloop_lint.runtime" not in before
    assert "boom-402" not in before[: before.index("AFTER")], before  # asyncio reports it only at GC
    fixed = fix(path, "AL402")  # AL402's fix alone
    assert '"""The entry coroutine."""\n    runtime.install_exception_handler()\n' in fixed
    assert "runtime.spawn" not in fixed and "asyncio.create_task(fail())" in fixed
    out = execute(path, "-W", "error::DeprecationWarning").stdout
    # The failure of the detached task goes through the runtime's logging handler at once,
    # while the program is still running, and only once (not again at GC).
    report = "LOG asyncloop_lint.runtime Task exception was never retrieved"
    assert report in out and 0 <= out.find("boom-402") < out.index("AFTER"), out
    assert out.index(report) < out.index("AFTER") and out.count("never retrieved") == 1, out
    assert lint_codes(path, "AL402").strip().endswith("All checks passed!")


def test_al402_with_the_default_fixes_a_detached_failure_is_logged_at_once(tmp_path):
    path = write(tmp_path, AL402_PROGRAM)
    before = execute(path).stdout
    assert "boom-402" not in before[: before.index("AFTER")]  # nothing before the program goes on
    fixed = fix(path)  # every default rule: AL402 installs the handler, AL401 spawns the task
    assert "runtime.install_exception_handler()" in fixed and "runtime.spawn(fail())" in fixed
    out = execute(path, "-W", "error::DeprecationWarning").stdout
    failure = out.find("boom-402")
    assert "LOG asyncloop_lint.runtime" in out and 0 <= failure < out.index("AFTER"), out


# ---- AL501: at most `limit` blocking calls at once -----------------------------------------------

AL501_PROGRAM = """
    import asyncio
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    LOCK = threading.Lock()
    ACTIVE = 0
    PEAK = 0


    def work(i: int) -> int:
        global ACTIVE, PEAK
        with LOCK:
            ACTIVE += 1
            PEAK = max(PEAK, ACTIVE)
        time.sleep(0.02)
        with LOCK:
            ACTIVE -= 1
        return i


    async def main() -> None:
        global PEAK
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=64))
        results = await asyncio.gather(*[loop.run_in_executor(None, work, i) for i in range(64)])
        assert results == list(range(64))
        print("PEAK executor", PEAK, flush=True)
        PEAK = 0
        results = await asyncio.gather(*[asyncio.to_thread(work, i) for i in range(64)])
        assert results == list(range(64))
        print("PEAK to_thread", PEAK, flush=True)


    if __name__ == "__main__":
        asyncio.run(main())
"""


def _peaks(out: str) -> dict[str, int]:
    return {line.split()[1]: int(line.split()[2]) for line in out.splitlines() if line.startswith("PEAK")}


def test_al501_offload_bounds_concurrency_to_the_limit(tmp_path):
    path = write(tmp_path, AL501_PROGRAM)
    before = _peaks(execute(path).stdout)
    assert before["executor"] > 8  # the hazard: everything submitted at once
    fixed = fix(path, "AL501")
    assert fixed.count("runtime.offload(work, i, limit=8)") == 2
    after = _peaks(execute(path, "-W", "error::DeprecationWarning").stdout)
    assert 1 <= after["executor"] <= 8 and 1 <= after["to_thread"] <= 8, after
    assert lint_codes(path, "AL501").strip().endswith("All checks passed!")


def test_executor_per_call_message_names_what_leaks(tmp_path):
    path = write(tmp_path, """
        import concurrent.futures as cf


        def hash_all(items):
            return list(cf.ThreadPoolExecutor().map(hash, items))


        def crunch(items):
            return sum(cf.ProcessPoolExecutor().map(abs, items))
        """)
    lines = lint_codes(path, "AL502").splitlines()
    assert "prog.py:5:17: AL502" in lines[0] and "its worker threads leak" in lines[0], lines
    assert "prog.py:9:16: AL502" in lines[1] and "its worker processes leak" in lines[1], lines
