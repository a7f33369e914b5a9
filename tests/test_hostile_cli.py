"""The command against its surroundings, in real subprocesses: Ctrl-C (SIGINT to the process
group, as a terminal sends it, or to the main process only) exits 130 with no traceback and no
file written; ``python -m asyncloop_lint`` does not import a linted tree's own modules."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the workers")


def _env(**extra: str) -> dict:
    environment = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"}
    environment.update({"PYTHONPATH": str(REPO), "NO_COLOR": "1", **extra})
    return environment


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def _busy_tree(root: Path) -> dict[Path, bytes]:
    """Enough files with findings and fixes that the lint pool is busy for a while."""
    handlers = "".join(
        f"\n\nasync def handler_{i}(request):\n    loop = asyncio.get_event_loop()\n"
        f"    asyncio.create_task(asyncio.sleep({i}))\n    return await loop.run_in_executor(None, len, request)\n"
        for i in range(150)
    )
    source = ("import asyncio\n" + handlers + "\n\nasyncio.run(handler_0([]))\n").encode()
    files = {}
    for n in range(60):
        path = root / f"module_{n}.py"
        path.write_bytes(source)
        files[path] = source
    return files


@linux_only
@pytest.mark.parametrize("target", ["process group", "main process"])
def test_ctrl_c_exits_130_without_traceback_or_writes(tmp_path, target):
    files = _busy_tree(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "asyncloop_lint", "--no-cache", "--fix", "--unsafe-fixes", "-j", "2", "."],
        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        while not _children(proc.pid):  # the pool's workers: linting has started
            if proc.poll() is not None:
                pytest.fail(f"finished before it could be interrupted: {proc.communicate()}")
            time.sleep(0.02)
        if target == "process group":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert b"Traceback" not in err and b"Aborted!" not in err, err
    assert err.decode().strip().endswith("asyncloop-lint: interrupted")
    assert all(path.read_bytes() == source for path, source in files.items())  # nothing written
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".asyncloop-lint-")]  # no temporary files


def test_ctrl_c_while_a_fixed_file_is_written_waits_for_the_write(tmp_path):
    """``interrupts.deferred`` holds a real SIGINT back until the block is done."""
    probe = (
        "import os, signal\n"
        "from asyncloop_lint import interrupts\n"
        "interrupts.install()\n"
        "try:\n"
        "    with interrupts.deferred():\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "        print('block finished', flush=True)\n"
        "except interrupts.Interrupted:\n"
        "    print('interrupted after the block', flush=True)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], env=_env(), capture_output=True, text=True, timeout=120)
    assert result.stdout.splitlines() == ["block finished", "interrupted after the block"], result.stderr


@pytest.mark.parametrize("shadow", ["click.py", "tomllib.py"])
def test_python_dash_m_does_not_import_the_linted_trees_modules(tmp_path, shadow):
    marker = tmp_path / "imported.txt"
    (tmp_path / shadow).write_text(f"open({str(marker)!r}, 'w').write('imported')\nraise SystemExit(99)\n")
    (tmp_path / "pyproject.toml").write_text("[tool.asyncloop-lint]\n")  # makes the linter read TOML
    (tmp_path / "app.py").write_text("import asyncio\n\nasync def main():\n    pass\n\nX = asyncio.run(main())\n")
    result = subprocess.run([sys.executable, "-m", "asyncloop_lint", "--no-cache", "--output-format", "concise", "."],
                            cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
    assert not marker.exists()
    assert result.returncode == 1 and "app.py:6:5: AL101" in result.stdout, result.stderr


@pytest.mark.skipif(sys.version_info < (3, 11), reason="python -P is new in 3.11")
def test_python_dash_capital_p_also_keeps_a_trees_own_asyncloop_lint_out(tmp_path):
    """A tree's own ``asyncloop_lint/`` package is imported by ``-m`` before any of our code
    runs (what the README says); ``-P`` is the way around it."""
    marker = tmp_path / "imported.txt"
    (tmp_path / "asyncloop_lint").mkdir()
    (tmp_path / "asyncloop_lint" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n")
    (tmp_path / "app.py").write_text("x = 1\n")
    result = subprocess.run([sys.executable, "-P", "-m", "asyncloop_lint", "--no-cache", "."],
                            cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and not marker.exists(), result.stderr
    plain = subprocess.run([sys.executable, "-m", "asyncloop_lint", "--no-cache", "."],
                           cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
    assert marker.exists() and plain.returncode != 0  # the limitation the README states
