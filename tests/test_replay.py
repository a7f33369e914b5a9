"""The warm index (``asyncloop_lint.replay``): an unchanged run is replayed without importing
click or libcst, and a run whose inputs changed in any way is never replayed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BAD = "import asyncio\n\nasync def main():\n    pass\n\nVALUE = asyncio.run(main())\n"
PROBE = """
import sys
from asyncloop_lint.replay import main
sys.argv = ["asyncloop-lint", *sys.argv[1:]]
try:
    main()
except SystemExit as exit:
    code = exit.code
print("EXIT", code, "click" in sys.modules, "libcst" in sys.modules)
"""


def run(cwd: Path, *args: str) -> tuple[str, int, bool]:
    """Output, exit code, and whether the run was replayed (neither click nor libcst loaded)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120)
    *output, last = proc.stdout.splitlines()
    _, code, click, libcst = last.split()
    return "\n".join(output), int(code), click == "False" and libcst == "False"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "bad.py").write_text(BAD)
    (tmp_path / "pkg" / "plain.py").write_text("x = 1\n")
    return tmp_path


ARGS = ("--output-format", "concise", ".")


def test_unchanged_run_is_replayed_with_the_same_output_and_exit_code(tree):
    cold, code, replayed = run(tree, *ARGS)
    assert code == 1 and "AL101" in cold and not replayed
    warm, code, replayed = run(tree, *ARGS)
    assert (warm, code, replayed) == (cold, 1, True)


def test_an_edit_in_the_same_tick_with_the_same_size_is_seen(tree):
    target = tree / "pkg" / "bad.py"
    run(tree, *ARGS)
    st = target.stat()
    # Same size, and the modification time put back: only the content differs.
    target.write_text(BAD.replace("asyncio.run(main())", "asyncio.sum(main())"))
    assert target.stat().st_size == st.st_size
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    out, code, replayed = run(tree, *ARGS)
    assert not replayed and code == 0 and "AL101" not in out


@pytest.mark.parametrize("change", ["add", "remove", "config", "gitignore", "options"])
def test_changed_inputs_are_never_replayed(tree, change):
    cold, _, _ = run(tree, *ARGS)
    args = ARGS
    if change == "add":
        (tree / "pkg" / "new.py").write_text(BAD)
    elif change == "remove":
        (tree / "pkg" / "bad.py").unlink()
    elif change == "config":
        (tree / "pyproject.toml").write_text('[tool.asyncloop-lint]\nignore = ["AL101"]\n')
    elif change == "gitignore":
        (tree / ".git").mkdir()
        (tree / ".gitignore").write_text("pkg/bad.py\n")
    else:
        args = ("--output-format", "concise", "--select", "AL102", ".")
    out, code, replayed = run(tree, *args)
    assert not replayed
    if change == "add":
        assert out.count("AL101") == cold.count("AL101") + 1
    else:
        assert "AL101" not in out and code == 0
    # ...and the run after that is replayed again, with the new result.
    again, code2, replayed = run(tree, *args)
    assert (again, code2, replayed) == (out, code, True)


def test_fix_runs_are_never_replayed(tree):
    run(tree, *ARGS)
    out, code, replayed = run(tree, "--fix", "--unsafe-fixes", ".")
    assert not replayed
    assert "runtime.run(main())" in (tree / "pkg" / "bad.py").read_text()


def test_script_results_replay_only_while_the_project_is_unchanged(tmp_path):
    """Whether a module is a script depends on every other module (does one import it?):
    such a run is replayed when it linted the whole project, and a new importer is seen."""
    (tmp_path / "seed.py").write_text("import asyncio\n\nasync def main():\n    pass\n\nasyncio.run(main())\n")
    cold, code, _ = run(tmp_path, *ARGS)
    assert "top level of a script" in cold
    assert run(tmp_path, *ARGS) == (cold, code, True)
    (tmp_path / "app.py").write_text("import seed\n")
    out, _, replayed = run(tmp_path, *ARGS)
    assert not replayed and "top level of a script" not in out and "AL101" in out


def test_indexes_are_pruned_to_the_most_recent(tree):
    """Every distinct command line writes an index; only the newest few are kept."""
    from asyncloop_lint.replay import KEEP_INDEXES

    for i in range(KEEP_INDEXES + 3):  # a different command line each time
        run(tree, "--output-format", "concise", "--extend-exclude", f"nothing{i}", ".")
    indexes = list((tree / ".asyncloop_lint_cache").glob("replay-*.idx"))
    assert len(indexes) == KEEP_INDEXES


def test_index_round_trips_and_damage_is_a_miss():
    from asyncloop_lint.replay import dump_index, load_index

    data = {
        "format": 3, "code": "ab12", "exit": 1, "argv": ["--select", "AL1", "odd\nname\udcff.py"],
        "files": [["/p/a.py", [10, 2, 3, 4], None], ["/p/b\tc.py", [1, 2, 3, 4], "ff00"], ["/p/gone.py", None, None]],
        "exists": [["/p/pyproject.toml", False], ["/.git", True]],
        "dirs": [["/p", [1, 2, 3, 4], None], ["/q", [5, 6, 7, 8], ["a.py", "b"]], ["/r", None, None]],
        "stdout": "app.py:1:1: AL101 x\n\0binary-ish\udcfe\n", "stderr": "warn\n",
    }
    raw = dump_index(data)
    assert load_index(raw) == data
    for cut in range(0, len(raw) - len("warn\n") - 40, 7):  # truncated anywhere in the fields
        with pytest.raises(ValueError):
            load_index(raw[:cut])
    flipped = raw.replace(b"10,2,3,4", b"10,2,x,4")
    with pytest.raises(ValueError):
        load_index(flipped)
    with pytest.raises(ValueError):
        dump_index({**data, "argv": ["a\0b"]})
