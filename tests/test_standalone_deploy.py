"""A fixed application runs where the linter is not installed.

The seed's Lambda apps are fixed by the real CLI (``--fix --unsafe-fixes``), then run in a
fresh virtual environment that holds only what the application itself needs — the real Mangum
and Starlette, at the versions installed here — and neither asyncloop-lint nor libcst, click,
rich, pygments or pathspec. Each is driven like Lambda drives it: the task root on
``sys.path``, ``handler(event, None)`` for REST v1, HTTP API v2 and ALB events, several rounds,
``-I`` (no PYTHONPATH, no user site) and ``-W error::DeprecationWarning``.

One environment serves every case; pip installs from its cache or the configured index.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
APPS = REPO / "tests" / "runtime" / "apps"
LINTER_DEPENDENCIES = ("asyncloop_lint", "libcst", "click", "rich", "pygments", "pathspec")

PACKAGE_API = '''
"""The same application as a module of a package (``service.api``)."""
import asyncio

from mangum import Mangum
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from common import create_resource, loop_info

RESOURCE = asyncio.run(create_resource())


async def index(request):
    return JSONResponse({"query": await RESOURCE.query(), **loop_info()})


app = Starlette(routes=[Route("/", index)])
handler = Mangum(app)
'''

DRIVER = '''
"""Drive a handler the way the Lambda runtime does; print one JSON line."""
import importlib
import importlib.util
import json
import sys

task_root, module_name, common_name = sys.argv[1:4]
sys.path.insert(0, task_root)
absent = [name for name in {absent!r} if importlib.util.find_spec(name) is None]
common = importlib.import_module(common_name)

try:
    module = importlib.import_module(module_name)
except Exception as exc:
    print(json.dumps({{"import_error": f"{{type(exc).__name__}}: {{exc}}", "absent": absent}}))
    raise SystemExit(0)
calls = []
for round_no in range(3):
    for kind, make in common.EVENTS.items():
        try:
            response = module.handler(make("/"), None)
        except Exception as exc:
            calls.append({{"event": kind, "error": f"{{type(exc).__name__}}: {{exc}}"}})
        else:
            calls.append({{"event": kind, "status": response["statusCode"], "body": common.decode(response)}})
loaded = sorted(name for name in {absent!r} if name in sys.modules)
print(json.dumps({{"calls": calls, "created": len(common.CREATED), "absent": absent, "loaded": loaded}}))
'''


@pytest.fixture(scope="module")
def app_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment with the application's dependencies only."""
    venv = tmp_path_factory.mktemp("deploy") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in ("mangum", "starlette")]
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--disable-pip-version-check", *pins],
        capture_output=True, text=True, timeout=600,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    return python


def _task_roots(tmp_path: Path) -> tuple[Path, Path]:
    """Two Lambda task roots. ``flat``: the seed app at the top, the same app in a package
    ``service`` beside it, shared code (one runtime copy at the root serves both). ``package``:
    nothing but a package ``service`` (the runtime goes into it, imported relatively)."""
    flat = tmp_path / "flat"
    (flat / "service").mkdir(parents=True)
    shutil.copy(APPS / "seed_app.py", flat / "app.py")
    shutil.copy(APPS / "common.py", flat / "common.py")
    (flat / "service" / "__init__.py").write_text("")
    (flat / "service" / "api.py").write_text(textwrap.dedent(PACKAGE_API).lstrip())
    package = tmp_path / "package"
    shutil.copytree(flat / "service", package / "service")
    shutil.copy(APPS / "common.py", package / "service" / "common.py")
    api = package / "service" / "api.py"
    api.write_text(api.read_text().replace("from common import", "from .common import"))
    return flat, package


def _drive(python: Path, root: Path, module: str, common: str = "common") -> dict:
    driver = root.parent / "driver.py"
    driver.write_text(textwrap.dedent(DRIVER.format(absent=LINTER_DEPENDENCIES)).lstrip())
    done = subprocess.run(
        [str(python), "-I", "-W", "error::DeprecationWarning", str(driver), str(root), module, common],
        capture_output=True, text=True, cwd=root.parent, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_fixed_seed_apps_run_under_real_mangum_without_the_linter(app_venv: Path, tmp_path: Path) -> None:
    flat, package = _task_roots(tmp_path)
    # Unfixed, the environment's Mangum fails the way the seed describes.
    before = _drive(app_venv, flat, "app")
    assert sorted(before["absent"]) == sorted(LINTER_DEPENDENCIES)
    # (the pool is bound to the loop asyncio.run() closed: every request is a 500 or raises)
    assert not [c for c in before["calls"] if c.get("status") == 200], before

    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    fixed = subprocess.run(
        [sys.executable, "-m", "asyncloop_lint", "--isolated", "--no-cache", "--fix", "--unsafe-fixes", str(flat), str(package)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "import asyncloop_runtime as runtime\n" in (flat / "app.py").read_text()
    assert "import asyncloop_runtime as runtime\n" in (flat / "service" / "api.py").read_text()
    assert "from . import asyncloop_runtime as runtime\n" in (package / "service" / "api.py").read_text()
    vendored = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("asyncloop_runtime.py"))
    assert vendored == [str(Path("flat/asyncloop_runtime.py")), str(Path("package/service/asyncloop_runtime.py"))]
    assert fixed.stdout.count("Added ") == 2

    for root, module, common in ((flat, "app", "common"), (flat, "service.api", "common"),
                                 (package, "service.api", "service.common")):
        outcome = _drive(app_venv, root, module, common)
        assert "import_error" not in outcome, outcome
        assert sorted(outcome["absent"]) == sorted(LINTER_DEPENDENCIES)
        assert outcome["loaded"] == []
        assert [c.get("status") for c in outcome["calls"]] == [200] * 9, outcome["calls"]
        assert {c["body"]["query"] for c in outcome["calls"]} == {"ok"}
        assert len({c["body"]["loop_id"] for c in outcome["calls"]}) == 1  # one loop serves every call
        assert outcome["created"] == 1  # the loop-bound resource is made once
