"""The real CLI in a subprocess: exit codes, formats, config errors, bad input, --fix on disk."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SEED = b"""import asyncio


async def fetch_prompt():
    return "text"


PROMPT_TEXT = asyncio.run(fetch_prompt())
asyncio.run(fetch_prompt())
"""


def cli(*args: str, cwd: Path, stdin: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"}
    environment.update({"PYTHONPATH": str(REPO), "NO_COLOR": "1", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "asyncloop_lint", *args],
        cwd=cwd, input=stdin, capture_output=True, env=environment, timeout=120,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_bytes(SEED)
    (tmp_path / "clean.py").write_text("import asyncio\n\nasync def main():\n    await asyncio.sleep(0)\n")
    return tmp_path


def test_version_and_help(tmp_path):
    from asyncloop_lint import __version__

    result = cli("--version", cwd=tmp_path)
    assert result.returncode == 0 and __version__ in result.stdout.decode()
    assert "--output-format" in cli("--help", cwd=tmp_path).stdout.decode()


def test_findings_exit_1_with_concise_output(project):
    result = cli("--output-format", "concise", ".", cwd=project)
    out = result.stdout.decode()
    assert result.returncode == 1, result.stderr
    assert "app.py:8:15: AL101 " in out
    assert "app.py:9:1: AL101 [*] " in out
    assert "clean.py" not in out


def test_full_output_shows_source_marks_fix_and_summary(project):
    out = cli(".", cwd=project).stdout.decode()
    assert "PROMPT_TEXT = asyncio.run(fetch_prompt())" in out
    assert "^^^^^^^^^^^^^^^^^^^^^^^^^^^ AL101" in out
    assert 'help: Wrap in `if __name__ == "__main__":`' in out
    assert "Found 2 errors." in out and "[*] 1 fixable with the `--fix` option." in out
    assert "\x1b[" not in out  # no colour when stdout is not a terminal


def test_color_forced_and_no_color_wins(project):
    assert "\x1b[" in cli(".", cwd=project, env={"FORCE_COLOR": "1", "NO_COLOR": ""}).stdout.decode()


def test_clean_tree_exits_0(project):
    (project / "app.py").unlink()
    result = cli(".", cwd=project)
    assert result.returncode == 0 and "All checks passed!" in result.stdout.decode()


def test_exit_zero_and_statistics_and_quiet(project):
    assert cli("--exit-zero", ".", cwd=project).returncode == 0
    stats = cli("--statistics", ".", cwd=project).stdout.decode()
    assert stats.split() == ["2", "AL101", "[*]", "import-time-asyncio-run"]
    quiet = cli("-q", ".", cwd=project).stdout.decode().splitlines()
    assert len(quiet) == 2 and all(line.startswith("app.py:") for line in quiet)


def test_json_uses_ruff_field_names_and_edits(project):
    data = json.loads(cli("--output-format", "json", ".", cwd=project).stdout)
    assert [d["location"] for d in data] == [{"row": 8, "column": 15}, {"row": 9, "column": 1}]
    first, second = data
    assert set(first) == {"cell", "code", "end_location", "filename", "fix", "location", "message", "noqa_row", "url"}
    assert first["fix"]["applicability"] == "unsafe" and first["filename"] == str(project / "app.py")
    assert second["fix"]["applicability"] == "safe"
    assert second["fix"]["edits"] == [
        {"content": 'if __name__ == "__main__":\n    asyncio.run(fetch_prompt())\n',
         "location": {"row": 9, "column": 1}, "end_location": {"row": 10, "column": 1}}
    ]
    assert second["url"].endswith("/rules/AL101.md") and second["noqa_row"] == 9


def test_json_lines(project):
    lines = cli("--output-format", "json-lines", ".", cwd=project).stdout.decode().splitlines()
    assert [json.loads(line)["code"] for line in lines] == ["AL101", "AL101"]


def test_github_annotations(project):
    lines = cli("--output-format", "github", ".", cwd=project).stdout.decode().splitlines()
    assert lines[0].startswith("::error title=asyncloop-lint (AL101),file=app.py,line=8,col=15,endLine=8,endColumn=42::app.py:8:15: AL101 ")


def test_select_ignore_and_prefixes(project):
    assert cli("--select", "AL103", ".", cwd=project).returncode == 0
    assert cli("--ignore", "AL1", ".", cwd=project).returncode == 0
    assert cli("--select", "AL10", ".", cwd=project).returncode == 1
    bad = cli("--select", "AL9", ".", cwd=project)
    assert bad.returncode == 2 and "unknown rule selector 'AL9'" in bad.stderr.decode()


@pytest.mark.parametrize(
    "section, message",
    [
        ('selec = ["AL1"]', "unknown key `selec`"),
        ('select = "AL1"', "`select` must be a list of strings"),
        ('target-version = "py39"', "`target-version` must be one of"),
        ("respect-gitignore = 1", "`respect-gitignore` must be true or false"),
        ('entrypoints = ["nocolon"]', "entrypoint 'nocolon'"),
        ('runtime-import = "not a module"', "`runtime-import` must be a dotted module path"),
        ("max-workers = 0", "`max-workers` must be a positive integer"),
        ("max-workers = true", "`max-workers` must be a positive integer"),
        ("select = [", "invalid TOML"),
    ],
)
def test_bad_config_exits_2_naming_key_and_file(project, section, message):
    (project / "pyproject.toml").write_text(f"[tool.asyncloop-lint]\n{section}\n")
    result = cli(".", cwd=project)
    err = result.stderr.decode()
    assert result.returncode == 2
    assert message in err and "pyproject.toml" in err
    assert "Traceback" not in err


def test_config_is_found_above_and_isolated_ignores_it(project):
    (project / "pyproject.toml").write_text('[tool.asyncloop-lint]\nignore = ["AL101"]\n')
    sub = project / "pkg"
    sub.mkdir()
    (sub / "mod.py").write_bytes(SEED)
    assert cli("pkg", cwd=project).returncode == 0
    assert cli("--isolated", "pkg", cwd=project).returncode == 1
    other = project / "other.toml"
    other.write_text('[tool.asyncloop-lint]\nselect = ["AL101"]\n')
    assert cli("--config", str(other), "pkg", cwd=project).returncode == 1


def test_per_file_ignores(project):
    (project / "pyproject.toml").write_text('[tool.asyncloop-lint]\nper-file-ignores = { "app.py" = ["AL1"] }\n')
    assert cli(".", cwd=project).returncode == 0


def test_gitignore_and_excludes(project):
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    (project / ".gitignore").write_text("app.py\n")
    assert cli(".", cwd=project).returncode == 0
    assert cli("--no-respect-gitignore", ".", cwd=project).returncode == 1
    # A file named explicitly is linted unless --force-exclude says otherwise.
    assert cli("app.py", cwd=project).returncode == 1
    assert cli("--force-exclude", "app.py", cwd=project).returncode == 0
    # So is a directory named explicitly, even when an ancestor .gitignore covers it.
    (project / ".gitignore").write_text("/ignored\n")
    (project / "ignored").mkdir()
    (project / "ignored" / "mod.py").write_bytes(SEED)
    assert cli("ignored", cwd=project).returncode == 1
    assert "ignored" not in cli("--output-format", "concise", ".", cwd=project).stdout.decode()
    (project / ".gitignore").unlink()
    # --force-exclude also covers a named file whose directory is excluded (pre-commit names files).
    assert cli("--extend-exclude", "ignored", "--force-exclude", "ignored/mod.py", cwd=project).returncode == 0
    assert cli("--extend-exclude", "ignored", "ignored/mod.py", cwd=project).returncode == 1
    (project / "ignored" / "mod.py").unlink()
    assert cli("--extend-exclude", "app.py", ".", cwd=project).returncode == 0
    venv = project / ".venv"
    venv.mkdir()
    (venv / "lib.py").write_bytes(SEED)
    out = cli("--output-format", "concise", ".", cwd=project).stdout.decode()
    assert ".venv" not in out


def test_syntax_error_is_a_diagnostic_and_the_run_goes_on(project):
    (project / "broken.py").write_text("import asyncio\nx = asyncio.run(f(\n")
    result = cli("--output-format", "concise", ".", cwd=project)
    out = result.stdout.decode()
    assert result.returncode == 1
    assert "broken.py:2:18: AL000 Syntax error: '(' was never closed" in out
    assert "app.py:8:15: AL101" in out


def test_undecodable_bytes(project):
    (project / "latin.py").write_bytes(b'import asyncio\nNAME = "caf\xe9"\nloop = asyncio.new_event_loop()\n')
    out = cli("--output-format", "concise", ".", cwd=project).stdout.decode()
    assert "latin.py:2:12: AL000 Syntax error: cannot decode the file as utf-8" in out


def test_missing_path_exits_2_but_lints_the_rest(project):
    result = cli("--output-format", "concise", "app.py", "missing.py", cwd=project)
    assert result.returncode == 2
    assert "missing.py: No such file or directory" in result.stderr.decode()
    assert "app.py:8:15: AL101" in result.stdout.decode()


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs /proc")
def test_unreadable_file_is_reported(project):
    # Root can read mode-000 files; /proc/self/mem opens but cannot be read from offset 0.
    (project / "unreadable.py").symlink_to("/proc/self/mem")
    result = cli("--output-format", "concise", ".", cwd=project)
    err = result.stderr.decode()
    assert result.returncode == 2
    assert "unreadable.py: cannot read file" in err and "Traceback" not in err
    assert "app.py:8:15: AL101" in result.stdout.decode()


def test_fix_writes_guard_and_diff_writes_nothing(project):
    before = (project / "app.py").read_bytes()
    diff = cli("--diff", ".", cwd=project)
    assert diff.returncode == 1
    assert '+if __name__ == "__main__":' in diff.stdout.decode()
    assert (project / "app.py").read_bytes() == before
    fixed = cli("--fix", "--output-format", "concise", ".", cwd=project)
    assert fixed.returncode == 1  # the value case has no safe fix
    assert b'if __name__ == "__main__":\n    asyncio.run(fetch_prompt())\n' in (project / "app.py").read_bytes()
    assert "Found 2 errors (1 fixed, 1 remaining)." in fixed.stdout.decode()
    assert cli("--diff", ".", cwd=project).returncode == 0


def test_fix_keeps_crlf_bom_and_mode(tmp_path):
    crlf = b"import asyncio\r\n\r\nasync def main():\r\n    await asyncio.sleep(0)\r\n\r\nasyncio.run(main())\r\n"
    (tmp_path / "crlf.py").write_bytes(crlf)
    (tmp_path / "bom.py").write_bytes(b"\xef\xbb\xbf" + crlf.replace(b"\r\n", b"\n"))
    os.chmod(tmp_path / "bom.py", 0o755)
    result = cli("--fix", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert (tmp_path / "crlf.py").read_bytes().endswith(b'if __name__ == "__main__":\r\n    asyncio.run(main())\r\n')
    bom = (tmp_path / "bom.py").read_bytes()
    assert bom.startswith(b"\xef\xbb\xbfimport asyncio\n") and b"\r" not in bom
    assert stat.S_IMODE(os.stat(tmp_path / "bom.py").st_mode) == 0o755
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".asyncloop-lint-")]


def test_fix_keeps_declared_encoding(tmp_path):
    source = "# -*- coding: latin-1 -*-\nimport asyncio\nNAME = 'café'\n\nasync def main():\n    pass\n\nasyncio.run(main())\n"
    (tmp_path / "latin.py").write_bytes(source.encode("latin-1"))
    assert cli("--fix", ".", cwd=tmp_path).returncode == 0
    data = (tmp_path / "latin.py").read_bytes()
    assert "NAME = 'café'".encode("latin-1") in data and b'if __name__ == "__main__":' in data


def test_stdin(project):
    result = cli("-", "--stdin-filename", "app.py", "--output-format", "concise", cwd=project, stdin=SEED)
    assert result.returncode == 1 and "app.py:8:15: AL101" in result.stdout.decode()
    fixed = cli("-", "--fix", "--stdin-filename", "app.py", cwd=project, stdin=SEED)
    assert fixed.stdout.startswith(b"import asyncio") and b'if __name__ == "__main__":' in fixed.stdout
    assert b"Found" in fixed.stderr


def test_noqa_and_file_exemption(project):
    source = SEED.replace(b"fetch_prompt())\n", b"fetch_prompt())  # noqa: AL101\n", 1)
    (project / "app.py").write_bytes(source)
    out = cli("--output-format", "concise", ".", cwd=project).stdout.decode()
    assert "app.py:8" not in out and "app.py:9:1" in out
    (project / "app.py").write_bytes(b"# asyncloop-lint: noqa\n" + SEED)
    assert cli(".", cwd=project).returncode == 0


def test_explain_and_list_rules(tmp_path):
    page = cli("--explain", "AL101", cwd=tmp_path).stdout.decode()
    assert page.startswith("# AL101 `import-time-asyncio-run`")
    for section in ("## What it does", "## Why is this bad?", "## Example", "## Use instead", "## Fix safety", "## References"):
        assert section in page
    assert cli("--explain", "AL999", cwd=tmp_path).returncode == 2
    listing = cli("--list-rules", cwd=tmp_path).stdout.decode()
    assert "AL101  import-time-asyncio-run" in listing


def test_parallel_and_serial_output_identical(tmp_path):
    for i in range(40):
        (tmp_path / f"mod{i:02}.py").write_bytes(SEED if i % 3 else b"import asyncio\n")
    serial = cli("--output-format", "json", "-j", "1", ".", cwd=tmp_path)
    parallel = cli("--output-format", "json", "-j", "2", ".", cwd=tmp_path)
    assert serial.returncode == parallel.returncode == 1
    assert serial.stdout == parallel.stdout and len(json.loads(serial.stdout)) == 2 * 26


def test_write_runtime_vendors_a_standalone_module(tmp_path):
    package = tmp_path / "myapp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    result = cli("--write-runtime", str(package), cwd=tmp_path)
    assert result.returncode == 0
    assert 'runtime-import = "myapp.asyncloop_runtime"' in result.stdout.decode()
    # A clean interpreter (-I: no site-packages, no PYTHONPATH) imports and uses it.
    code = (
        "import sys, asyncio; sys.path.insert(0, '.'); from myapp import asyncloop_runtime as rt\n"
        "async def f(): return id(asyncio.get_running_loop())\n"
        "assert rt.run(f()) == rt.run(f())\n"
        "assert not {'libcst', 'click', 'rich', 'asyncloop_lint'} & set(sys.modules)\n"
        "rt.shutdown(); print('ok')\n"
    )
    run = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, timeout=60)
    assert run.stdout.decode().strip() == "ok", run.stderr.decode()


def test_version_imports_neither_libcst_nor_rich(tmp_path):
    code = (
        "import sys\nfrom asyncloop_lint.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('libcst', 'rich') if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert run.stdout.decode().strip().endswith("[]"), run.stdout + run.stderr


def test_files_without_candidates_are_never_parsed(tmp_path):
    (tmp_path / "plain.py").write_text("def f(:\n")  # would be AL000 if it were parsed
    code = (
        "import sys\nfrom asyncloop_lint.cli import main\n"
        "try:\n    main(['--output-format', 'concise', '.'])\nexcept SystemExit as e:\n    code = e.code\n"
        "print(code, 'libcst' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert run.stdout.decode().splitlines()[-1] == "0 False", run.stdout + run.stderr


def test_github_paths_are_relative_to_the_repository_root(project):
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    sub = project / "service"
    sub.mkdir()
    (sub / "handler.py").write_bytes(SEED)
    # Run from a subdirectory, as a workflow step with `working-directory: service` does.
    line = cli("--output-format", "github", "handler.py", cwd=sub).stdout.decode().splitlines()[0]
    assert ",file=service/handler.py," in line and "::handler.py:8:15: AL101 " in line


def test_cli_output_formats_match_the_reporter_registry():
    from asyncloop_lint.cli import OUTPUT_FORMATS
    from asyncloop_lint.reporters import FORMATS

    assert set(OUTPUT_FORMATS) == set(FORMATS)


def test_max_workers_setting_reaches_al503(tmp_path):
    from asyncloop_lint.config import load_settings
    from asyncloop_lint.engine import lint_source

    (tmp_path / "pyproject.toml").write_text('[tool.asyncloop-lint]\nselect = ["AL503"]\nmax-workers = 8\n')
    settings = load_settings(paths=[str(tmp_path)])
    assert settings.max_workers == 8
    assert "8" in settings.fingerprint()
    source = b"from concurrent.futures import ThreadPoolExecutor\nA = ThreadPoolExecutor(8)\nB = ThreadPoolExecutor(9)\n"
    rows = [d.location.row for d in lint_source(source, str(tmp_path / "m.py"), settings).diagnostics]
    assert rows == [3]


def test_diff_of_a_file_without_a_final_newline_applies_with_patch(tmp_path):
    """The last line of a file with no line ending gets diff's marker, so `patch` takes it."""
    import shutil

    source = (
        'import asyncio\n\n\nasync def run():\n    pass\n\nif __name__ == "__main__":\n'
        "    loop = asyncio.get_event_loop()\n    loop.run_until_complete(run())"
    )
    (tmp_path / "prog.py").write_text(source)
    run = cli("--isolated", "--no-cache", "--diff", "--unsafe-fixes", "prog.py", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    assert run.stdout.count(b"\\ No newline at end of file\n") == 2, run.stdout
    if shutil.which("patch") is None:
        pytest.skip("no patch program")
    applied = subprocess.run(["patch", "-p1"], input=run.stdout, cwd=tmp_path, capture_output=True)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert (tmp_path / "prog.py").read_text().endswith("    asyncio.run(run())")
