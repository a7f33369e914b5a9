"""Hostile file systems, through the real CLI in a subprocess: symbolic link loops, unreadable
folders, FIFOs, file names that are not UTF-8, one file named three ways; and ``--fix`` keeping
a file's identity (symbolic links, hard links, owner, mode, read-only folders, CR line endings)."""

from __future__ import annotations

import ctypes
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# A script with one safe fix (AL101: wrap in a __main__ guard) and one finding.
SCRIPT = b"import asyncio\n\n\nasync def main():\n    pass\n\n\nasyncio.run(main())\n"
FIXED = b'import asyncio\n\n\nasync def main():\n    pass\n\n\nif __name__ == "__main__":\n    asyncio.run(main())\n'
FORMATS = ("full", "concise", "json", "json-lines", "github", "sarif", "gitlab", "junit")


def _drop_file_capabilities() -> None:
    """In the child, as root: give up bypassing file permissions (CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH, CAP_FOWNER), so chmod 000 means what it says, as for any user."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2, 3):
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def cli(*args: str, cwd: Path, env: dict | None = None, unprivileged: bool = False) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"}
    environment.update({"PYTHONPATH": str(REPO), "NO_COLOR": "1", **(env or {})})
    extra = {}
    if unprivileged and os.geteuid() == 0:
        if not sys.platform.startswith("linux"):
            pytest.skip("dropping root's file capabilities needs Linux")
        extra["preexec_fn"] = _drop_file_capabilities
    return subprocess.run([sys.executable, "-m", "asyncloop_lint", *args], cwd=cwd, capture_output=True,
                          env=environment, timeout=120, **extra)


def text(result: subprocess.CompletedProcess) -> tuple[str, str]:
    return result.stdout.decode("utf-8", "replace"), result.stderr.decode("utf-8", "replace")


# --- discovery ---------------------------------------------------------------------------


def test_symbolic_link_loop_is_an_error_not_a_traceback(tmp_path):
    (tmp_path / "good.py").write_bytes(SCRIPT)
    os.symlink("b.py", tmp_path / "a.py")
    os.symlink("a.py", tmp_path / "b.py")
    for args in ((".",), ("a.py", "good.py")):
        result = cli("--no-cache", "--output-format", "concise", *args, cwd=tmp_path)
        out, err = text(result)
        assert result.returncode == 2, err
        assert "Traceback" not in err
        assert "asyncloop-lint: error: a.py: Too many levels of symbolic links" in err
        assert "good.py:8:1: AL101" in out  # the rest is still linted
        assert "All checks passed!" not in out


def test_unreadable_folder_is_an_error(tmp_path):
    (tmp_path / "ok.py").write_bytes(b"x = 1\n")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "hidden.py").write_bytes(SCRIPT)
    secret.chmod(0)
    try:
        result = cli("--no-cache", ".", cwd=tmp_path, unprivileged=True)
    finally:
        secret.chmod(0o755)
    out, err = text(result)
    assert result.returncode == 2, (out, err)
    assert "asyncloop-lint: error: secret: cannot list the folder: Permission denied" in err
    assert "All checks passed!" not in out
    assert "1 error kept the check from being complete" in out


def test_fifo_named_on_the_command_line_is_an_error_and_never_waited_on(tmp_path):
    os.mkfifo(tmp_path / "pipe.py")
    (tmp_path / "ok.py").write_bytes(b"x = 1\n")
    result = cli("--no-cache", "pipe.py", "ok.py", cwd=tmp_path)
    out, err = text(result)
    assert result.returncode == 2
    assert "asyncloop-lint: error: pipe.py: not a regular file or a directory (a FIFO)" in err
    # Found while walking, a FIFO is not a Python file: skipped, as ruff does.
    walked = cli("--no-cache", ".", cwd=tmp_path)
    assert walked.returncode == 0 and "All checks passed!" in text(walked)[0]


@pytest.mark.parametrize("output_format", FORMATS)
def test_file_name_that_is_not_utf8_prints_in_every_format(tmp_path, output_format):
    name = b"caf\xe9.py"
    try:
        with open(os.path.join(os.fsencode(tmp_path), name), "wb") as handle:
            handle.write(SCRIPT)
    except OSError as exc:  # a file system that insists on UTF-8 names
        pytest.skip(f"cannot create a non-UTF-8 file name here: {exc}")
    # PYTHONIOENCODING=utf-8 makes stdout strict, as a UTF-8 locale does.
    result = cli("--no-cache", "--output-format", output_format, ".", cwd=tmp_path, env={"PYTHONIOENCODING": "utf-8"})
    out, err = text(result)
    assert result.returncode == 1, err
    assert "Traceback" not in err
    result.stdout.decode("utf-8")  # valid UTF-8 throughout
    if output_format == "sarif":
        assert "caf%E9.py" in out  # a URI names the bytes
    else:
        assert "caf\ufffd.py" in out
    if output_format in ("json", "sarif", "gitlab"):
        json.loads(out)


def test_same_file_named_three_ways_is_linted_once(tmp_path):
    project = tmp_path / "d"
    project.mkdir()
    (project / "a.py").write_bytes(SCRIPT)
    os.symlink("a.py", project / "link.py")
    result = cli("--no-cache", "--output-format", "concise", "a.py", str(project / "a.py"), "../d/a.py", cwd=project)
    out, _ = text(result)
    assert out.count("AL101") == 1 and "a.py:8:1: AL101" in out
    # Walking, a symbolic link to a file that is linted anyway is the same file.
    walked = text(cli("--no-cache", "--output-format", "concise", ".", "a.py", cwd=project))[0]
    assert walked.count("AL101") == 1 and "link.py" not in walked


def test_missing_path_does_not_say_all_checks_passed(tmp_path):
    (tmp_path / "ok.py").write_bytes(b"x = 1\n")
    result = cli("--no-cache", "ok.py", "missing.py", cwd=tmp_path)
    out, err = text(result)
    assert result.returncode == 2
    assert err.startswith("asyncloop-lint: error: missing.py: No such file or directory")
    assert "All checks passed!" not in out


# --- --fix keeps the file's identity ----------------------------------------------------


def test_fix_through_a_symbolic_link_fixes_the_target_and_keeps_the_link(tmp_path):
    (tmp_path / "real.py").write_bytes(SCRIPT)
    os.symlink("real.py", tmp_path / "link.py")
    result = cli("--no-cache", "--fix", "link.py", cwd=tmp_path)
    assert result.returncode == 0, text(result)
    assert (tmp_path / "link.py").is_symlink() and os.readlink(tmp_path / "link.py") == "real.py"
    assert (tmp_path / "real.py").read_bytes() == FIXED
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".asyncloop-lint-")] == []


def test_fix_keeps_hard_links_shared(tmp_path):
    (tmp_path / "a.py").write_bytes(SCRIPT)
    os.link(tmp_path / "a.py", tmp_path / "b.py")
    inode = (tmp_path / "a.py").stat().st_ino
    result = cli("--no-cache", "--fix", "a.py", cwd=tmp_path)
    assert result.returncode == 0, text(result)
    assert (tmp_path / "a.py").stat().st_ino == inode == (tmp_path / "b.py").stat().st_ino
    assert (tmp_path / "a.py").stat().st_nlink == 2
    assert (tmp_path / "b.py").read_bytes() == FIXED


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a file away needs root")
def test_fix_as_root_keeps_owner_group_and_mode(tmp_path):
    target = tmp_path / "app.py"
    target.write_bytes(SCRIPT)
    os.chown(target, 4321, 4322)
    target.chmod(0o640)
    result = cli("--no-cache", "--fix", "app.py", cwd=tmp_path)
    assert result.returncode == 0, text(result)
    st = target.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (4321, 4322, 0o640)
    assert target.read_bytes() == FIXED


def test_fix_in_a_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    writable, locked = folder / "writable.py", folder / "locked.py"
    writable.write_bytes(SCRIPT)
    locked.write_bytes(SCRIPT)
    locked.chmod(0o444)
    folder.chmod(0o555)
    try:
        result = cli("--no-cache", "--fix", "--output-format", "concise", ".", cwd=folder, unprivileged=True)
    finally:
        folder.chmod(0o755)
    out, err = text(result)
    # The writable file is rewritten in place; the read-only one cannot be, and says so.
    assert writable.read_bytes() == FIXED
    assert locked.read_bytes() == SCRIPT
    assert result.returncode == 2
    assert "asyncloop-lint: error: locked.py: cannot write the fixed file: Permission denied" in err
    assert "locked.py:8:1: AL101" in out  # still there, so still reported
    assert "(1 fixed, 1 remaining)" in out


def test_fix_keeps_the_last_line_ending_of_a_cr_only_file(tmp_path):
    (tmp_path / "mac.py").write_bytes(SCRIPT.replace(b"\n", b"\r"))
    result = cli("--no-cache", "--fix", "mac.py", cwd=tmp_path)
    assert result.returncode == 0, text(result)
    assert (tmp_path / "mac.py").read_bytes() == FIXED.replace(b"\n", b"\r")


def test_fix_does_not_write_over_an_edit_made_meanwhile(tmp_path):
    """The writer refuses a file that no longer holds what was fixed (the real writer, on a real
    file; the CLI cannot be paused between reading and writing)."""
    from asyncloop_lint.files import ChangedOnDisk, write_fixed

    target = tmp_path / "app.py"
    target.write_bytes(b"x = 2\n")
    with pytest.raises(ChangedOnDisk):
        write_fixed(str(target), FIXED, original=SCRIPT)
    assert target.read_bytes() == b"x = 2\n"


def test_fifos_among_the_files_around_are_never_waited_on(tmp_path):
    """FIFOs where the linter reads configuration, ignore files and the project's other
    modules (for cross-module findings and the vendored runtime): each is skipped."""
    for name in ("pyproject.toml", ".gitignore", "helper.py", "urls.py", "asyncloop_runtime.py"):
        os.mkfifo(tmp_path / name)
    (tmp_path / "app.py").write_bytes(b"import helper\n" + SCRIPT)
    result = cli("--no-cache", "--output-format", "concise", ".", cwd=tmp_path)
    assert result.returncode == 1 and b"app.py:9:1: AL101" in result.stdout, text(result)
    result = cli("--no-cache", "--fix", "--unsafe-fixes", "app.py", cwd=tmp_path)
    assert result.returncode == 0, text(result)
    assert b'if __name__ == "__main__":' in (tmp_path / "app.py").read_bytes()


def test_fix_with_both_names_of_a_hard_link_in_the_run(tmp_path):
    (tmp_path / "a.py").write_bytes(SCRIPT)
    os.link(tmp_path / "a.py", tmp_path / "b.py")
    result = cli("--no-cache", "--fix", ".", cwd=tmp_path)
    assert result.returncode == 0, text(result)
    assert (tmp_path / "a.py").read_bytes() == FIXED and (tmp_path / "a.py").stat().st_nlink == 2
