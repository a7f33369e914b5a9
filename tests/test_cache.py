"""The results cache: warm runs match cold ones, start no parser, survive damage and races."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BAD = b"import asyncio\n\nasync def main():\n    pass\n\nVALUE = asyncio.run(main())\n"
PROBE = """
import sys
from asyncloop_lint.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print("EXIT", code, "libcst" in sys.modules, "rich" in sys.modules)
"""


def run(cwd: Path, *args: str) -> tuple[str, int, bool, bool]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120)
    *output, last = proc.stdout.splitlines()
    _, code, libcst, rich = last.split()
    return "\n".join(output), int(code), libcst == "True", rich == "True"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for i in range(5):
        (tmp_path / f"bad{i}.py").write_bytes(BAD)
        (tmp_path / f"plain{i}.py").write_text("x = 1\n")
    return tmp_path


def cache_files(tree: Path) -> list[Path]:
    return sorted((tree / ".asyncloop_lint_cache").glob("results-*.json"))


def test_warm_run_matches_cold_and_parses_nothing(tree):
    cold = run(tree, ".")
    assert cold[1] == 1 and cold[2] is True
    assert (tree / ".asyncloop_lint_cache" / ".gitignore").read_text().strip().endswith("*")
    warm = run(tree, ".")
    assert warm[0] == cold[0] and warm[1] == 1
    assert warm[2] is False and warm[3] is False  # neither libcst nor rich


def test_edit_invalidates_and_touch_does_not(tree):
    run(tree, ".")
    target = tree / "bad0.py"
    time.sleep(0.01)
    target.write_bytes(BAD)  # same content, new mtime: a content hit
    assert run(tree, ".")[2] is False
    target.write_bytes(BAD.replace(b"VALUE = asyncio.run(main())", b"if __name__ == '__main__':\n    asyncio.run(main())"))
    out, code, parsed, _ = run(tree, "--output-format", "concise", ".")
    assert parsed is True and "bad0.py" not in out and out.count("AL101") == 4


def test_no_cache_and_cache_dir(tree, tmp_path_factory):
    run(tree, "--no-cache", ".")
    assert not (tree / ".asyncloop_lint_cache").exists()
    elsewhere = tmp_path_factory.mktemp("cache")
    run(tree, "--cache-dir", str(elsewhere), ".")
    assert list(elsewhere.glob("results-*.json"))


def test_settings_change_uses_another_cache(tree):
    run(tree, ".")
    out, code, parsed, _ = run(tree, "--ignore", "AL101", ".")
    assert code == 0 and parsed is True
    assert len(cache_files(tree)) == 2


@pytest.mark.parametrize("damage", [b"", b"{not json", b'{"version": "0.1.0", "files": {"bad0.py": [1]}}', b"\x00\xff" * 50])
def test_damaged_cache_is_ignored(tree, damage):
    cold = run(tree, "--output-format", "concise", ".")
    for file in cache_files(tree):
        file.write_bytes(damage if damage else file.read_bytes()[: len(file.read_bytes()) // 2])
    again = run(tree, "--output-format", "concise", ".")
    assert again[:2] == cold[:2]
    json.loads(cache_files(tree)[0].read_bytes())  # rebuilt, valid


def test_concurrent_runs_leave_a_valid_cache(tree):
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "asyncloop_lint", "--output-format", "concise", "."],
                              cwd=tree, env=env, stdout=subprocess.PIPE) for _ in range(4)]
    outputs = {p.communicate(timeout=120)[0] for p in procs}
    assert len(outputs) == 1
    for file in cache_files(tree):
        assert len(json.loads(file.read_bytes())["files"]) == 10
    assert not list((tree / ".asyncloop_lint_cache").glob(".results-*"))


def test_findings_that_depend_on_another_module_are_relinted_when_it_changes(tmp_path: Path) -> None:
    """``@app.task`` is an entrypoint because ``app`` is a Celery app in another module: the
    cached result of tasks.py depends on celery_app.py, and a warm run must notice its edit."""
    (tmp_path / "celery_app.py").write_text("from celery import Celery\n\napp = Celery('jobs')\n")
    (tmp_path / "tasks.py").write_text(
        "import asyncio\n\nfrom celery_app import app\n\n\nasync def job():\n    pass\n\n\n"
        "@app.task\ndef run_job():\n    return asyncio.run(job())\n"
    )
    cold, code, _, _ = run(tmp_path, "--output-format", "concise", "--select", "AL201", ".")
    assert code == 1 and "AL201" in cold
    warm, code, libcst, _ = run(tmp_path, "--output-format", "concise", "--select", "AL201", ".")
    assert (warm, code, libcst) == (cold, 1, False)  # replayed from the cache
    time.sleep(0.01)
    (tmp_path / "celery_app.py").write_text("class Registry:\n    def task(self, f):\n        return f\n\napp = Registry()\n")
    after, code, libcst, _ = run(tmp_path, "--output-format", "concise", "--select", "AL201", ".")
    assert code == 0 and "AL201" not in after and libcst  # linted again, and no longer a task
