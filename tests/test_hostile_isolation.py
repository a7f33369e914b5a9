"""Hostile input, per file: one file never takes the run down, costs no traceback and gets no
false verdict. Every input is generated here; every run is the real command in a subprocess.

Each case puts one hostile file among ordinary files that have findings with safe fixes, and
checks that the hostile file is reported as not analysed (AL001, with the reason), that the
others are still linted and, with ``--fix``, fixed, and that the exit code and summary say so.
``-j 1`` runs in process (the risky files in a worker); ``-j 2`` with 30 files uses the pool.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# A safe fix (AL103) in every ordinary file, so --fix has something to write.
ORDINARY = "import asyncio\n\n\nasync def fetch():\n    loop = asyncio.get_event_loop()\n    return loop\n"
FIXED = ORDINARY.replace("get_event_loop", "get_running_loop")


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, stdin: bytes | None = None):
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    for name in ("ASYNCLOOP_LINT_MAX_FILE_SIZE", "ASYNCLOOP_LINT_MAX_NESTING", "ASYNCLOOP_LINT_MEMORY_BUDGET"):
        if env is None or name not in env:
            full_env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "asyncloop_lint", "--isolated", *args],
        cwd=cwd, env=full_env, input=stdin, capture_output=True, timeout=600,
    )


def project(tmp_path: Path, hostile: dict[str, bytes], ordinary: int) -> Path:
    for i in range(ordinary):
        (tmp_path / f"ordinary_{i:02}.py").write_text(ORDINARY)
    for name, data in hostile.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path


def assert_clean_run(proc) -> tuple[str, str]:
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert "Traceback" not in out + err
    assert "RecursionError" not in err and "BrokenProcessPool" not in err
    assert "All checks passed!" not in out
    return out, err


def al001(out: str, name: str) -> str:
    """The message of the AL001 diagnostic on ``name`` in concise output."""
    lines = [line for line in out.splitlines() if line.startswith(f"{name}:") and " AL001 " in line]
    assert len(lines) == 1, out
    return lines[0].split(" AL001 ", 1)[1]


def asyncio_module(body: str) -> bytes:
    return f"import asyncio\n\nDATA = asyncio.run(main())\n{body}\n".encode()


HOSTILE = {
    "parens_2000": asyncio_module("X = asyncio.run(" + "(" * 2000 + "1" + ")" * 2000 + ")"),
    "lambdas_5000": asyncio_module("X = " + "lambda: " * 5000 + "1"),
    "plus_5000": asyncio_module("X = " + " + ".join(["1"] * 5000)),
    "attributes_5000": asyncio_module("X = a" + ".b" * 5000),
    "calls_5000": asyncio_module("X = f" + "()" * 5000),
}
# A file within the budgets that CPython does not parse on 3.11 (a 3.12 `type` statement)
# and that crashes libcst's native parser: only a worker process can take it.
CRASHER = b"import asyncio\ntype Alias = int\nX = " + b"lambda: " * 20000 + b"asyncio.run(main())\n"

MODES = [
    pytest.param("1", 3, id="j1-in-process"),
    pytest.param("2", 30, id="j2-pool"),
]


@pytest.mark.parametrize("jobs, ordinary", MODES)
@pytest.mark.parametrize("fix", [False, True], ids=["lint", "fix"])
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_deep_nesting_is_reported_and_the_rest_is_linted_and_fixed(tmp_path, kind, fix, jobs, ordinary):
    root = project(tmp_path, {"hostile.py": HOSTILE[kind]}, ordinary)
    proc = run(["--no-cache", "-j", jobs, "--output-format", "concise", *(["--fix"] if fix else []), "."], root)
    out, err = assert_clean_run(proc)
    assert proc.returncode == 1, out + err
    message = al001(out, "hostile.py")
    assert message.startswith("Not analysed: ") and "nested" in message, message
    assert "AL000" not in out  # CPython's limits are not the file's syntax errors
    assert "1 file was not analysed (AL001)." in out
    assert (root / "hostile.py").read_bytes() == HOSTILE[kind]
    for i in range(ordinary):
        text = (root / f"ordinary_{i:02}.py").read_text()
        if fix:
            assert text == FIXED
        else:
            assert f"ordinary_{i:02}.py:5:12: AL103" in out


@pytest.mark.parametrize("jobs, ordinary", MODES)
@pytest.mark.parametrize("fix", [False, True], ids=["lint", "fix"])
def test_a_file_that_kills_its_worker_is_reported_and_the_rest_is_fixed(tmp_path, fix, jobs, ordinary):
    root = project(tmp_path, {"crasher.py": CRASHER}, ordinary)
    proc = run(["--no-cache", "-j", jobs, "--output-format", "concise", *(["--fix"] if fix else []), "."], root)
    out, err = assert_clean_run(proc)
    assert proc.returncode == 1, out + err
    message = al001(out, "crasher.py")
    if sys.version_info < (3, 12):  # newer CPythons parse the type statement and refuse the nesting
        assert "the worker process analysing it died (SIGSEGV), in 2 attempts" in message, message
    assert (root / "crasher.py").read_bytes() == CRASHER
    for i in range(ordinary):
        assert (root / f"ordinary_{i:02}.py").read_text() == (FIXED if fix else ORDINARY)


def test_concatenated_strings_that_libcst_rejects_are_not_a_syntax_error(tmp_path):
    strings = asyncio_module("TEXT = (\n" + "".join(f"    'part {i} '\n" for i in range(5000)) + ")")
    compile(strings, "strings.py", "exec")  # valid Python
    root = project(tmp_path, {"strings.py": strings}, 1)
    proc = run(["--no-cache", "-j", "1", "--output-format", "concise", "."], root)
    out, _ = assert_clean_run(proc)
    assert proc.returncode == 1
    assert "AL000" not in out
    assert al001(out, "strings.py").startswith("Not analysed: CPython parses this file but libcst")


def test_deep_code_within_the_budgets_is_analysed_and_fixed(tmp_path):
    # Within what every supported Python takes: 3.12 counts libcst's native recursion against
    # its fixed C recursion limit (a chain of 900 is too deep there, not on 3.10, 3.11, 3.13).
    deep = ORDINARY + "OFFSET = " + "-" * 600 + "1\nTABLE = " + "[" * 190 + "]" * 190 + "\n"
    root = project(tmp_path, {"deep.py": deep.encode()}, 1)
    proc = run(["--no-cache", "-j", "1", "--output-format", "concise", "."], root)
    out, err = assert_clean_run(proc)
    assert "deep.py:5:12: AL103" in out and "AL001" not in out + err
    proc = run(["--no-cache", "-j", "1", "--fix", "."], root)
    out, err = assert_clean_run(proc)
    assert proc.returncode == 0, out + err
    assert (root / "deep.py").read_text() == deep.replace("get_event_loop", "get_running_loop")


def test_an_oversized_file_is_not_read_and_the_summary_says_so(tmp_path):
    big = tmp_path / "generated.py"
    with open(big, "wb") as handle:
        handle.write(b"import asyncio\n")
        handle.write(b"VALUE = 1\n" * (2 * 1024 * 1024 + 10_000))  # 20 MiB and a bit
    root = project(tmp_path, {}, 1)
    proc = run(["--no-cache", "-j", "1", "--output-format", "concise", "."], root)
    out, _ = assert_clean_run(proc)
    assert proc.returncode == 1
    assert al001(out, "generated.py") == "Not analysed: the file is 20.1 MiB, over the 10 MiB size budget"
    assert "ordinary_00.py:5:12: AL103" in out


def test_the_budgets_come_from_the_environment(tmp_path):
    root = project(tmp_path, {"nested.py": asyncio_module("X = " + "-" * 60 + "1")}, 1)
    env = {"ASYNCLOOP_LINT_MAX_FILE_SIZE": "2K", "ASYNCLOOP_LINT_MAX_NESTING": "50"}
    (root / "padded.py").write_text(ORDINARY + "#" * 3000 + "\n")
    proc = run(["--no-cache", "-j", "1", "--output-format", "concise", "."], root, env)
    out, _ = assert_clean_run(proc)
    assert al001(out, "padded.py") == "Not analysed: the file is 3 KiB, over the 2 KiB size budget"
    # Where the budget ran out: the 49th minus (Module, Assign and 48 more levels come first).
    assert "nested.py:4:53: AL001 Not analysed: nested 63 levels deep, over the nesting budget of 50" in out
    assert "2 files were not analysed (AL001)." in out


@pytest.mark.parametrize("name, value", [("ASYNCLOOP_LINT_MAX_NESTING", "deep"), ("ASYNCLOOP_LINT_MAX_FILE_SIZE", "10 parsecs")])
def test_a_bad_budget_is_a_configuration_error(tmp_path, name, value):
    root = project(tmp_path, {}, 1)
    proc = run(["--no-cache", "."], root, {name: value})
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert name in err and "Traceback" not in err


def test_the_memory_budget_costs_only_the_file_that_exceeds_it(tmp_path):
    # About 300 KiB of dense asyncio code: libcst wants a few hundred MiB for it.
    block = "async def worker_{i}(queue):\n    asyncio.create_task(queue.put({i}))\n    return await queue.get()\n\n\n"
    big = "import asyncio\n\n\n" + "".join(block.format(i=i) for i in range(3000))
    root = project(tmp_path, {"big.py": big.encode()}, 30)
    proc = run(["--no-cache", "-j", "2", "--output-format", "concise", "--fix", "."], root,
               {"ASYNCLOOP_LINT_MEMORY_BUDGET": "100M"})
    out, err = assert_clean_run(proc)
    assert proc.returncode == 1, out + err
    message = al001(out, "big.py")
    assert "ran out of memory (the budget is 100 MiB per worker process)" in message or "died" in message, message
    for i in range(30):
        assert (root / f"ordinary_{i:02}.py").read_text() == FIXED


def test_deselected_al001_still_warns_and_counts(tmp_path):
    root = project(tmp_path, {"hostile.py": HOSTILE["parens_2000"]}, 0)
    proc = run(["--no-cache", "-j", "1", "--ignore", "AL001", "."], root)
    out, err = assert_clean_run(proc)
    assert proc.returncode == 0  # the user ignored the code: only the exit code changes
    assert "warning: hostile.py: not analysed: brackets nested 2,001 deep; CPython refuses more than 200" in err
    assert "No errors found in the files that were analysed.\n1 file was not analysed (AL001)." in out


def test_select_does_not_hide_al001(tmp_path):
    root = project(tmp_path, {"hostile.py": HOSTILE["lambdas_5000"]}, 0)
    proc = run(["--no-cache", "-j", "1", "--select", "AL101", "--output-format", "json", "."], root)
    assert proc.returncode == 1
    assert [d["code"] for d in json.loads(proc.stdout)] == ["AL001"]


def test_diff_mode_names_the_file_on_stderr(tmp_path):
    root = project(tmp_path, {"hostile.py": HOSTILE["parens_2000"]}, 1)
    proc = run(["--no-cache", "-j", "1", "--diff", "."], root)
    out, err = assert_clean_run(proc)
    assert "warning: hostile.py: not analysed: brackets nested 2,001 deep" in err
    assert "+    loop = asyncio.get_running_loop()" in out


def test_stdin_is_isolated_too(tmp_path):
    proc = run(["--no-cache", "-", "--stdin-filename", "app.py", "--output-format", "concise"], tmp_path,
               stdin=HOSTILE["lambdas_5000"])
    out, _ = assert_clean_run(proc)
    assert proc.returncode == 1 and "app.py:1:1: AL001 Not analysed: " in out
    proc = run(["--no-cache", "--fix", "-", "--stdin-filename", "app.py"], tmp_path, stdin=CRASHER)
    assert proc.stdout == CRASHER  # the source comes back unchanged
    assert "Traceback" not in proc.stderr.decode()


def test_a_file_not_analysed_is_never_cached(tmp_path):
    """Linted again on the next run: with a larger budget it is analysed."""
    root = project(tmp_path, {"nested.py": asyncio_module("X = " + "-" * 60 + "1")}, 0)
    cache = ["--cache-dir", str(tmp_path / "cache"), "--output-format", "concise", "."]
    first = run(cache, root, {"ASYNCLOOP_LINT_MAX_NESTING": "50"})
    assert "nested.py:1:1: AL001" not in first.stdout.decode() and " AL001 " in first.stdout.decode()
    second = run(cache, root)
    out = second.stdout.decode()
    assert "AL001" not in out and "nested.py:3:8: AL101" in out
