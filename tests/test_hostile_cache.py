"""The caches against hostile input, through the real command in a subprocess: an edit that
keeps size and modification time (``cp -p``, ``tar``) is never answered from the per-file
cache or the warm replay index; a FIFO where a cache file should be is not waited on; a
hand-edited entry is linted again instead of crashing a reporter."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from test_replay import PROBE  # prints "EXIT <code> <click imported> <libcst imported>"

REPO = Path(__file__).resolve().parent.parent
BAD = b"import asyncio\n\nasync def main():\n    pass\n\nVALUE = asyncio.run(main())\n"
# The same size, no finding: only the content tells them apart.
GOOD = b"import asyncio\n\nasync def main():\n    pass\n\nVALUE = asyncio.sum(main())\n"
ARGS = ("--output-format", "concise", ".")


def run(cwd: Path, *args: str) -> tuple[str, int, bool]:
    """The console command's output, exit code and whether it parsed anything (libcst loaded)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    *output, last = proc.stdout.splitlines()
    _, code, _, libcst = last.split()
    return "\n".join(output), int(code), libcst == "True"


def cache_dir(tree: Path) -> Path:
    return tree / ".asyncloop_lint_cache"


def drop_replay_indexes(tree: Path) -> None:
    for index in cache_dir(tree).glob("replay-*.idx"):
        index.unlink()


@pytest.mark.parametrize("through", ["replay index", "per-file cache"])
def test_an_edit_that_keeps_size_and_mtime_is_seen(tmp_path, through):
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("copied.py", "untarred.py"):
        (tree / name).write_bytes(BAD)
    old = (time.time_ns() // 10**9 - 3600) * 10**9  # whole seconds, as tar keeps them
    for name in ("copied.py", "untarred.py"):
        os.utime(tree / name, ns=(old, old))
    # The recorded stamps must be older than the two-second window in which files are compared
    # by content anyway: otherwise this would not tell a stamp check from a content check.
    time.sleep(2.1)
    cold, code, _ = run(tree, *ARGS)
    assert code == 1 and cold.count("AL101") == 2
    warm, code, parsed = run(tree, *ARGS)
    assert (warm, code) == (cold, 1) and not parsed  # served from the caches

    # `cp -p`: new bytes, old size and modification time.
    source = tmp_path / "good.py"
    source.write_bytes(GOOD)
    os.utime(source, ns=(old, old))
    subprocess.run(["cp", "-p", str(source), str(tree / "copied.py")], check=True)
    # `tar x`: the same, from an archive.
    with tarfile.open(tmp_path / "good.tar", "w") as archive:
        archive.add(source, arcname="untarred.py")
    with tarfile.open(tmp_path / "good.tar") as archive:
        archive.extractall(tree)
    for name in ("copied.py", "untarred.py"):
        st = (tree / name).stat()
        assert (st.st_size, st.st_mtime_ns, (tree / name).read_bytes()) == (len(BAD), old, GOOD)

    if through == "per-file cache":
        drop_replay_indexes(tree)
    out, code, _ = run(tree, *ARGS)
    assert code == 0 and "AL101" not in out, out


def test_fifos_at_the_cache_paths_are_not_waited_on(tmp_path):
    (tmp_path / "app.py").write_bytes(BAD)
    cold, code, _ = run(tmp_path, *ARGS)
    assert code == 1
    for path in [*cache_dir(tmp_path).glob("results-*.json"), *cache_dir(tmp_path).glob("replay-*.idx")]:
        path.unlink()
        os.mkfifo(path)
    out, code, _ = run(tmp_path, *ARGS)  # a hang would time out
    assert (out, code) == (cold, 1)


@pytest.mark.parametrize("damage", [
    pytest.param(lambda d: d.__setitem__(3, ["x", 1]), id="string-row"),
    pytest.param(lambda d: d.__setitem__(3, [0, 1]), id="row-zero"),
    pytest.param(lambda d: d.__setitem__(2, 5), id="message-not-a-string"),
    pytest.param(lambda d: d.__setitem__(5, ["whatever", "m", None]), id="bad-applicability"),
    pytest.param(lambda d: d.__setitem__(6, "1"), id="string-noqa-row"),
    pytest.param(lambda d: d.append("extra"), id="extra-field"),
])
def test_a_hand_edited_cache_entry_is_linted_again(tmp_path, damage):
    (tmp_path / "app.py").write_bytes(BAD)
    cold, code, _ = run(tmp_path, *ARGS)
    assert code == 1
    drop_replay_indexes(tmp_path)
    [results] = cache_dir(tmp_path).glob("results-*.json")
    data = json.loads(results.read_bytes())
    diagnostics = data["files"]["app.py"][2]
    damage(diagnostics[0])
    results.write_text(json.dumps(data))
    out, code, parsed = run(tmp_path, *ARGS)
    assert (out, code, parsed) == (cold, 1, True)


def test_a_hand_edited_replay_index_is_a_miss(tmp_path):
    (tmp_path / "app.py").write_bytes(BAD)
    cold, _, _ = run(tmp_path, *ARGS)
    [index] = cache_dir(tmp_path).glob("replay-*.idx")
    from asyncloop_lint.replay import dump_index, load_index

    data = load_index(index.read_bytes())
    data["exit"] = 7
    index.write_bytes(dump_index(data))
    assert run(tmp_path, *ARGS)[:2] == (cold, 1)
    shutil.rmtree(cache_dir(tmp_path))
