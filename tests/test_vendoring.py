"""The real CLI in a subprocess: fixes vendor the runtime into the project, say so once, and
``--write-runtime`` never writes where the user did not mean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SEED = '''"""Prompts, loaded once at import time."""

import asyncio


async def fetch_prompt():
    return "text"


PROMPT_TEXT = asyncio.run(fetch_prompt())
'''
UNSAFE_ONLY = "import asyncio\n\n\nasync def notify():\n    pass\n\n\nasync def main():\n    asyncio.create_task(notify())\n"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"}
    environment.update({"PYTHONPATH": str(REPO), "NO_COLOR": "1"})
    return subprocess.run([sys.executable, "-m", "asyncloop_lint", "--no-cache", *args],
                          cwd=cwd, capture_output=True, text=True, env=environment, timeout=120)


@pytest.fixture
def src_layout(tmp_path: Path) -> Path:
    """``src/shop/api/app.py`` in a package ``shop``, with a pyproject that configures nothing."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "shop"\n')
    api = tmp_path / "src" / "shop" / "api"
    api.mkdir(parents=True)
    (api.parent / "__init__.py").write_text("")
    (api / "__init__.py").write_text("")
    (api / "app.py").write_text(SEED)
    return tmp_path


def test_fix_vendors_the_runtime_into_the_top_level_package_once(src_layout: Path) -> None:
    first = cli("--fix", "--unsafe-fixes", ".", cwd=src_layout)
    assert first.returncode == 0, first.stdout + first.stderr
    vendored = src_layout / "src" / "shop" / "asyncloop_runtime.py"
    app = (src_layout / "src" / "shop" / "api" / "app.py").read_text()
    assert "from .. import asyncloop_runtime as runtime\n" in app
    assert "PROMPT_TEXT = runtime.run(fetch_prompt())" in app
    assert app.startswith('"""Prompts, loaded once at import time."""\n\nfrom .. import')
    assert vendored.read_text().startswith("# Vendored from asyncloop-lint")
    lines = first.stdout.splitlines()
    assert "Found 1 error (1 fixed, 0 remaining)." in lines
    added = [line for line in lines if line.startswith("Added ")]
    assert added == [
        f"Added {Path('src/shop/asyncloop_runtime.py')}: the runtime the fixed code imports (standard library only). "
        "Commit it and deploy it with your code; the application needs no asyncloop-lint in production."
    ]
    # The vendored module is the linter's own code: exempt from its rules.
    check = cli(".", cwd=src_layout)
    assert check.returncode == 0 and "All checks passed!" in check.stdout
    # A second file fixed later reuses it and the note is not repeated.
    (src_layout / "src" / "shop" / "worker.py").write_text(SEED)
    second = cli("--fix", "--unsafe-fixes", ".", cwd=src_layout)
    assert second.returncode == 0
    assert "from . import asyncloop_runtime as runtime" in (src_layout / "src" / "shop" / "worker.py").read_text()
    assert "Added" not in second.stdout and "Found 1 error (1 fixed, 0 remaining)." in second.stdout


def test_diff_and_stdin_write_no_runtime_but_say_where_it_goes(src_layout: Path) -> None:
    diff = cli("--diff", "--unsafe-fixes", ".", cwd=src_layout)
    assert diff.returncode == 1
    assert "+from .. import asyncloop_runtime as runtime" in diff.stdout
    assert f"{Path('src/shop/asyncloop_runtime.py')}, which does not exist yet: `--fix` writes it." in diff.stderr
    app = src_layout / "src" / "shop" / "api" / "app.py"
    stdin = subprocess.run(
        [sys.executable, "-m", "asyncloop_lint", "--fix", "--unsafe-fixes", "-", "--stdin-filename", str(app)],
        cwd=src_layout, input=SEED, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"},
    )
    assert "from .. import asyncloop_runtime as runtime" in stdin.stdout
    assert f"--write-runtime {Path('src/shop')}{os.sep}" in stdin.stderr
    assert not (src_layout / "src" / "shop" / "asyncloop_runtime.py").exists()
    assert app.read_text() == SEED


def test_machine_readable_output_stays_parseable(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(SEED)
    result = cli("--isolated", "--fix", "--unsafe-fixes", "--output-format", "json", ".", cwd=tmp_path)
    assert json.loads(result.stdout) == []
    assert "Added asyncloop_runtime.py" in result.stderr
    assert "import asyncloop_runtime as runtime" in (tmp_path / "app.py").read_text()


def test_configured_module_in_the_project_is_written_there(src_layout: Path) -> None:
    (src_layout / "pyproject.toml").write_text('[tool.asyncloop-lint]\nruntime-import = "shop.rt"\n')
    result = cli("--fix", "--unsafe-fixes", ".", cwd=src_layout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "from shop import rt" in (src_layout / "src" / "shop" / "api" / "app.py").read_text()
    assert (src_layout / "src" / "shop" / "rt.py").read_text().startswith("# Vendored from asyncloop-lint")
    assert f"Added {Path('src/shop/rt.py')}" in result.stdout


def test_configured_installed_module_is_imported_and_the_need_is_said(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(SEED)
    result = cli("--isolated", "--runtime-import", "asyncloop_lint.runtime", "--fix", "--unsafe-fixes", ".", cwd=tmp_path)
    assert result.returncode == 0
    assert "from asyncloop_lint import runtime" in (tmp_path / "app.py").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.py"]
    assert "The fixes import the runtime from `asyncloop_lint.runtime`, which must be installed" in result.stdout


def test_fix_counts_what_it_held_back(tmp_path: Path) -> None:
    (tmp_path / "tasks.py").write_text(UNSAFE_ONLY)
    held = cli("--isolated", "--fix", "--output-format", "concise", ".", cwd=tmp_path)
    assert held.returncode == 1
    assert "Found 1 error." in held.stdout
    assert "(1 hidden fix can be enabled with the `--unsafe-fixes` option.)" in held.stdout
    assert (tmp_path / "tasks.py").read_text() == UNSAFE_ONLY
    applied = cli("--isolated", "--fix", "--unsafe-fixes", "--output-format", "concise", ".", cwd=tmp_path)
    assert applied.returncode == 0
    assert "Found 1 error (1 fixed, 0 remaining)." in applied.stdout
    assert "Added asyncloop_runtime.py" in applied.stdout
    clean = cli("--isolated", "--fix", ".", cwd=tmp_path)
    assert clean.stdout == "All checks passed!\n"


# ---- --write-runtime ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argument, message",
    [
        pytest.param("src/newpkg", "src/newpkg does not exist; end it with `/` to create that folder", id="missing-folder"),
        pytest.param("src/newpkg/rt.py", "the folder src/newpkg does not exist", id="file-in-missing-folder"),
        pytest.param("notes.txt", "notes.txt exists and is not a vendored asyncloop runtime", id="foreign-file"),
        pytest.param("my-rt.py", "my-rt.py cannot be imported", id="not-an-identifier"),
    ],
)
def test_write_runtime_refuses_with_a_clear_error(tmp_path: Path, argument: str, message: str) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "notes.txt").write_text("mine\n")
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    result = cli("--write-runtime", argument.replace("/", os.sep), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("asyncloop-lint: error: ") and message.replace("/", os.sep) in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


def test_write_runtime_creates_a_folder_named_with_a_trailing_separator(tmp_path: Path) -> None:
    result = cli("--write-runtime", f"src{os.sep}newpkg{os.sep}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = tmp_path / "src" / "newpkg" / "asyncloop_runtime.py"
    assert written.read_text().startswith("# Vendored from asyncloop-lint")
    assert sorted(p.name for p in (tmp_path / "src").iterdir()) == ["newpkg"]
    assert f"Wrote {Path('src/newpkg/asyncloop_runtime.py')}" in result.stdout
    # Written again over its own earlier copy: fine.
    again = cli("--write-runtime", str(Path("src/newpkg/asyncloop_runtime.py")), cwd=tmp_path)
    assert again.returncode == 0, again.stderr


# ---- where the runtime goes: layouts -> (module as imported, file) -----------------------------

LAYOUTS = [
    pytest.param({"app.py", "common.py"}, "app.py", None, ("asyncloop_runtime", "asyncloop_runtime.py"), id="lambda-task-root"),
    pytest.param(
        {"app.py", "service/__init__.py", "service/api.py"}, "service/api.py", None,
        ("asyncloop_runtime", "asyncloop_runtime.py"), id="package-beside-modules-shares-the-root-copy",
    ),
    pytest.param(
        {"src/shop/__init__.py", "src/shop/api/__init__.py", "src/shop/api/app.py"}, "src/shop/api/app.py", None,
        ("..asyncloop_runtime", "src/shop/asyncloop_runtime.py"), id="src-layout-in-package",
    ),
    pytest.param(
        {"manage.py", "mysite/__init__.py", "shop/__init__.py", "shop/views.py"}, "shop/views.py", None,
        ("asyncloop_runtime", "asyncloop_runtime.py"), id="django-project-one-copy-for-all-apps",
    ),
    pytest.param(
        {"pyproject.toml", "worker/__init__.py", "worker/tasks.py", "tests/__init__.py", "tests/test_tasks.py"},
        "tests/test_tasks.py", None, ("worker.asyncloop_runtime", "worker/asyncloop_runtime.py"),
        id="project-name-picks-the-main-package",
    ),
    pytest.param(
        {"pyproject.toml", "worker/__init__.py", "worker/tasks.py", "tests/__init__.py"},
        "worker/tasks.py", None, (".asyncloop_runtime", "worker/asyncloop_runtime.py"), id="main-package-relative",
    ),
    pytest.param(
        {"src/asyncloop_runtime.py", "src/shop/__init__.py", "src/shop/app.py"}, "src/shop/app.py", None,
        ("asyncloop_runtime", "src/asyncloop_runtime.py"), id="existing-root-copy-wins",
    ),
    pytest.param(
        {"app.py", "svc/__init__.py", "svc/asyncloop_runtime.py"}, "app.py", None,
        ("svc.asyncloop_runtime", "svc/asyncloop_runtime.py"), id="existing-package-copy-wins",
    ),
    pytest.param(
        {"src/shop/__init__.py", "src/shop/app.py"}, "src/shop/app.py", "shop.rt", ("shop.rt", "src/shop/rt.py"),
        id="configured-in-project",
    ),
    pytest.param({"app.py"}, "app.py", "asyncloop_lint.runtime", ("asyncloop_lint.runtime", None), id="configured-installed"),
]


@pytest.mark.parametrize("files, target, configured, expected", LAYOUTS)
def test_runtime_location_follows_the_layout(tmp_path: Path, files, target, configured, expected) -> None:
    from asyncloop_lint.vendor import HEADER_MARK, locate

    for name in files:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = {"pyproject.toml": '[project]\nname = "worker"\n'}.get(name, "")
        path.write_text(f"{HEADER_MARK} (test)\n" if name.endswith("asyncloop_runtime.py") else text)
    location = locate(str(tmp_path / target), configured, str(tmp_path))
    module, file = expected
    assert (location.module, location.file) == (module, str(tmp_path / file) if file else None)
