"""--fix --unsafe-fixes over real installed async code: nothing breaks, everything converges."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("starlette", "mangum")
# Small files of the standard library's asyncio tests that exercise the rules' fixes.
ASYNCIO_TESTS = ("test_threads.py", "test_runners.py", "test_queues.py", "test_sock_lowlevel.py", "test_locks.py")


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "asyncloop_lint", "--isolated", "--no-cache", *args],
                          cwd=cwd, capture_output=True, env=env, timeout=900)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("real")
    sources = {"asyncio": Path(asyncio.__file__).parent}
    tests = Path(asyncio.__file__).parent.parent / "test" / "test_asyncio"
    (root / "test_asyncio").mkdir()
    for name in ASYNCIO_TESTS:  # some distributions ship the standard library without its tests
        if (tests / name).is_file():
            shutil.copy(tests / name, root / "test_asyncio" / name)
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            sources[name] = Path(list(spec.submodule_search_locations)[0])
    for name, source in sources.items():
        shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so"))
    return root


def test_fix_over_real_code_compiles_converges_and_leaves_nothing_fixable(tree):
    target = f"py3{sys.version_info[1]}"
    before = json.loads(cli("--select", "ALL", "--output-format", "json", "--exit-zero", ".", cwd=tree).stdout)
    fixable = [d for d in before if d["fix"]]
    assert fixable, "the corpus should exercise the rules and their fixes"

    first = cli("--select", "ALL", "--fix", "--unsafe-fixes", "--target-version", target, "--exit-zero", ".", cwd=tree)
    stderr = first.stderr.decode()
    assert first.returncode == 0, stderr
    assert "internal error" not in stderr and "Traceback" not in stderr and "warning:" not in stderr

    for path in tree.rglob("*.py"):
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)

    again = cli("--select", "ALL", "--diff", "--unsafe-fixes", ".", cwd=tree)
    assert again.returncode == 0 and again.stdout == b"", again.stdout.decode()[:2000]

    after = json.loads(cli("--select", "ALL", "--output-format", "json", "--exit-zero", ".", cwd=tree).stdout)
    assert [d for d in after if d["fix"]] == []
    assert len(after) == len(before) - len(fixable)
