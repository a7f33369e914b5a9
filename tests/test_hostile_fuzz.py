"""Property-based: random valid programs (hypothesmith, from Python's grammar) with asyncio
hazards spliced in, through the real command. Never a traceback or an internal error; what
``--fix --unsafe-fixes`` writes always compiles; and a second ``--fix`` changes nothing.

Derandomized, so CI sees the same examples every run; about 40 examples, two runs of the
command each (about a minute here).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import hypothesmith
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

HEADER = "import asyncio\nimport time\n\n\nasync def main():\n    await asyncio.sleep(0)\n\n\n"
HAZARDS = [
    "DATA = asyncio.run(main())\n",
    "loop = asyncio.get_event_loop()\nloop.run_until_complete(main())\n",
    "async def _fuzz_worker():\n    loop = asyncio.get_event_loop()\n    time.sleep(1)\n    asyncio.create_task(main())\n    return loop\n",
    "def handler(event, context):\n    return asyncio.run(main())\n",
    "asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())\n",
    "async def _fuzz_cancel():\n    try:\n        await asyncio.sleep(1)\n    except asyncio.CancelledError:\n        pass\n",
    "_loop = asyncio.new_event_loop()\n_loop.run_until_complete(main())\n_loop.close()\n",
    "if __name__ == '__main__':\n    asyncio.run(main())\n",
]


def _cli(args: list[str], cwd: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "asyncloop_lint", "--isolated", "--no-cache", "-j", "1", *args],
        cwd=cwd, env=env, capture_output=True, timeout=300,
    )


def _assert_no_crash(proc: subprocess.CompletedProcess, source: str) -> None:
    err = proc.stderr.decode()
    assert proc.returncode in (0, 1), f"exit {proc.returncode}\n{err}\n--- source ---\n{source}"
    assert "Traceback" not in err and "internal error" not in err, f"{err}\n--- source ---\n{source}"


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
@given(
    program=hypothesmith.from_grammar(auto_target=False),
    before=st.lists(st.sampled_from(HAZARDS), max_size=2),
    after=st.lists(st.sampled_from(HAZARDS), min_size=1, max_size=3),
)
def test_fix_never_crashes_compiles_and_is_idempotent(program, before, after):
    source = HEADER + "".join(before) + program.rstrip("\\") + "\n\n" + "".join(after)
    try:
        compile(source, "app.py", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        assume(False)  # e.g. a generated `from __future__` import that must come first
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "app.py"
        path.write_text(source, encoding="utf-8")
        first = _cli(["--fix", "--unsafe-fixes", "."], tmp)
        _assert_no_crash(first, source)
        fixed = path.read_bytes()
        compile(fixed, "app.py", "exec", dont_inherit=True)
        written = {p.name: p.read_bytes() for p in Path(tmp).glob("*.py")}
        second = _cli(["--fix", "--unsafe-fixes", "."], tmp)
        _assert_no_crash(second, source)
        assert {p.name: p.read_bytes() for p in Path(tmp).glob("*.py")} == written, "a second --fix changed the files"
        assert "fixed" not in second.stdout.decode(), second.stdout.decode()
