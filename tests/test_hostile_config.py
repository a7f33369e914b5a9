"""Hostile configuration, through the real CLI on real files: every bad pyproject.toml, config
file or pattern is one line naming the file and the key, exit code 2, never a traceback; a
misspelt key or table gets a suggestion; the cache goes to the project root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = b"import asyncio\n\n\nasync def main():\n    pass\n\n\nasyncio.run(main())\n"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"}
    environment.update({"PYTHONPATH": str(REPO), "NO_COLOR": "1"})
    return subprocess.run([sys.executable, "-m", "asyncloop_lint", *args], cwd=cwd, capture_output=True,
                          env=environment, timeout=120)


def config_error(project: Path, *args: str) -> str:
    result = cli("--no-cache", *args, ".", cwd=project)
    err = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 2, (result.stdout, err)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("asyncloop-lint: error: "), err
    return lines[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_bytes(SCRIPT)
    return tmp_path


@pytest.mark.parametrize(
    "pyproject, expected",
    [
        pytest.param(b"[tool.asyncloop-lint]\nselect = [\"AL1\"]\n# \xff\xfe\n", "not UTF-8", id="undecodable"),
        pytest.param(b"tool = 5  # asyncloop-lint\n", "`tool` must be a table, got 5", id="tool-int"),
        pytest.param(b"tool = \"x\"  # asyncloop-lint\n", "`tool` must be a table, got 'x'", id="tool-str"),
        pytest.param(b"project = 5\n[tool.asyncloop-lint]\n", "`project` must be a table, got 5", id="project-int"),
        pytest.param(b"project = \"x\"\n[tool.asyncloop-lint]\n", "`project` must be a table", id="project-str"),
        pytest.param(b"[tool.asyncloop-lint]\nexclude = [\"build\\\\\"]\n", "`exclude`: invalid pattern 'build\\\\'",
                     id="exclude-backslash"),
        pytest.param(b"[tool.asyncloop-lint]\nper-file-ignores = { \"tests\\\\\" = [\"AL101\"] }\n",
                     "`per-file-ignores`: invalid pattern 'tests\\\\'", id="per-file-ignores-backslash"),
        pytest.param(b"[tool.asyncloop-lint]\nselct = [\"AL1\"]\n", "unknown key `selct` in [tool.asyncloop-lint]; "
                     "did you mean `select`?", id="did-you-mean"),
        pytest.param(b"[tool.asyncloop_lint]\nselect = [\"AL1\"]\n",
                     "[tool.asyncloop_lint] is not read; the table is [tool.asyncloop-lint]", id="underscore-table"),
    ],
)
def test_bad_pyproject_is_one_clear_error(project, pyproject, expected):
    (project / "pyproject.toml").write_bytes(pyproject)
    line = config_error(project)
    assert str(project / "pyproject.toml") in line
    assert expected in line


def test_config_file_holding_a_non_table_tool(project):
    (project / "lint.toml").write_bytes(b"tool = 5\n")
    line = config_error(project, "--config", "lint.toml")
    assert "lint.toml: `tool` must be a table, got 5" in line


def test_config_file_that_is_a_fifo_is_refused_without_waiting(project):
    os.mkfifo(project / "lint.toml")
    line = config_error(project, "--config", "lint.toml")
    assert "lint.toml: the config file is not a regular file (a FIFO)" in line


def test_pyproject_that_is_a_fifo_is_not_waited_on(project):
    os.mkfifo(project / "pyproject.toml")
    result = cli("--no-cache", "--output-format", "concise", ".", cwd=project)
    assert result.returncode == 1 and b"AL101" in result.stdout


def test_exclude_flag_with_a_trailing_backslash(project):
    line = config_error(project, "--extend-exclude", "build\\")
    assert "--extend-exclude: invalid pattern 'build\\\\'" in line


def test_gitignore_pattern_with_a_trailing_backslash_matches_nothing_as_in_git(project):
    (project / ".gitignore").write_bytes(b"app.py\\\nother.py\n")
    (project / "other.py").write_bytes(SCRIPT)
    result = cli("--no-cache", "--output-format", "concise", ".", cwd=project)
    out = result.stdout.decode()
    assert result.returncode == 1, result.stderr
    assert "app.py:8:1: AL101" in out  # `app.py\` ignores nothing (git agrees)
    assert "other.py" not in out  # the valid line still applies


def test_cache_goes_to_the_project_root_not_the_working_folder(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_bytes(SCRIPT)
    result = cli(".", cwd=src)
    assert result.returncode == 1, result.stderr
    assert (tmp_path / ".asyncloop_lint_cache").is_dir()
    assert not (src / ".asyncloop_lint_cache").exists()
