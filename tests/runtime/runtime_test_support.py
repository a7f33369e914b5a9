"""Shared helpers for the runtime tests (imported by the test modules; no conftest
so it cannot clash with other test directories)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
APPS = HERE / "apps"


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    parts = [str(REPO_ROOT), str(APPS)]
    if env.get("PYTHONPATH"):
        parts.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env.pop("ASYNCLOOP_NO_UVLOOP", None)
    env.update(extra)
    return env


def run_python(
    args: list[str], *, env: dict[str, str] | None = None, werror: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    flags = ["-W", "error::DeprecationWarning"] if werror else []
    return subprocess.run(
        [sys.executable, *flags, *args],
        cwd=str(APPS),
        env=env or subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def drive(
    module: str, *args: str, env: dict[str, str] | None = None, werror: bool = True
) -> tuple[list[dict[str, Any]], str]:
    """Run apps/drive.py on *module*; return its JSON records and stderr."""
    proc = run_python(["drive.py", module, *args], env=env, werror=werror)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return records, proc.stderr


def fresh_runtime() -> Iterator[Any]:
    """Yield the runtime module with its process-global state reset around the test."""
    from asyncloop_lint import runtime

    runtime._reset_for_tests()
    yield runtime
    runtime._reset_for_tests()
    asyncio.set_event_loop(None)
