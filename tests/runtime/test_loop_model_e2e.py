"""End to end: what the loop model claims, checked by running the programs.

Each app is written to a temporary folder, linted by the real CLI in a subprocess, and driven
in a fresh interpreter under the real Mangum and Starlette with Lambda-style events
(``-W error::DeprecationWarning:app``: a deprecated loop lookup in the app fails too), on every
installed CPython (CI runs ``tests/runtime`` on each). Learned on the way: on 3.12 and 3.13
Mangum 0.22's own constructor warns "There is no current event loop" when none is set (its
``get_event_loop()`` fallback catches only ``RuntimeError``, which is what 3.14 raises), so the
warning filter is scoped to the app's module. The patterns the
linter must stay silent on answer every invocation on the loop their startup ran on; their
hazardous twins fail, and the linter reports them. The fixes are run as programs as well.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runtime_test_support import subprocess_env as _env


def _write(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")

STARTUP = '''
import asyncio

from mangum import Mangum
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

POOL = {}


async def startup():
    """Like opening a connection pool: it belongs to the loop it was opened on."""
    POOL["loop"] = asyncio.get_running_loop()


async def home(request):
    if POOL.get("loop") is not asyncio.get_running_loop():
        raise RuntimeError("pool attached to a different loop")
    return JSONResponse({"loop": id(asyncio.get_running_loop())})


app = Starlette(routes=[Route("/", home)])
'''

APPS = {
    # Pattern 1: the lifespan-once workaround, after the adapter made sure a loop is current.
    "serving_loop": STARTUP + '''
import os

handler = Mangum(app, lifespan="off")

if "AWS_EXECUTION_ENV" in os.environ:
    loop = asyncio.get_event_loop()
    loop.run_until_complete(startup())
''',
    # Pattern 2: a get-or-create-and-set helper, called at import and on every invocation.
    "helper": STARTUP + '''
import os


def current_loop():
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    try:
        return asyncio.get_event_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        return loop


adapter = Mangum(app, lifespan="off")


def handler(event, context):
    current_loop()
    return adapter(event, context)


if "AWS_EXECUTION_ENV" in os.environ:
    current_loop().run_until_complete(startup())
''',
    # Twin: startup on a loop that is then closed (it stays current, closed).
    "closed_loop": STARTUP + '''
startup_loop = asyncio.new_event_loop()
asyncio.set_event_loop(startup_loop)
startup_loop.run_until_complete(startup())
startup_loop.close()

handler = Mangum(app, lifespan="off")
''',
    # Twin: startup on a new loop that is never set as current.
    "side_loop": STARTUP + '''
handler = Mangum(app, lifespan="off")

side_loop = asyncio.new_event_loop()
side_loop.run_until_complete(startup())
''',
}

DRIVE = '''
import json
import os
import sys

os.environ["AWS_EXECUTION_ENV"] = "AWS_Lambda_python3.12"
sys.path.insert(0, sys.argv[1])
event = {
    "resource": "/", "path": "/", "httpMethod": "GET", "headers": {"host": "example.com"},
    "multiValueHeaders": {}, "queryStringParameters": None,
    "multiValueQueryStringParameters": None, "requestContext": {}, "body": None,
    "isBase64Encoded": False,
}
import app

results = []
for _ in range(3):
    try:
        response = app.handler(event, None)
        results.append([response["statusCode"], json.loads(response["body"])["loop"]])
    except Exception as exc:
        results.append([type(exc).__name__, str(exc)])
print(json.dumps(results))
'''


def _run(directory: Path, script: str) -> subprocess.CompletedProcess[str]:
    driver = directory.parent / f"drive_{directory.name}.py"
    driver.write_text(textwrap.dedent(script).lstrip(), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning:app", str(driver), str(directory)],
        capture_output=True, text=True, env=_env(), cwd=directory.parent, timeout=120,
    )


def _lint(directory: Path, *extra: str) -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-m", "asyncloop_lint", "--isolated", "--no-cache", "--output-format", "json", *extra, str(directory)],
        capture_output=True, text=True, env=_env(), cwd=directory, timeout=120,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", ["serving_loop", "helper"])
def test_correct_patterns_serve_every_invocation_on_one_loop_and_are_not_reported(tmp_path, name):
    app = tmp_path / name
    _write(app, {"app.py": APPS[name]})
    run = _run(app, DRIVE)
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads(run.stdout)
    assert [status for status, _ in results] == [200, 200, 200], results
    assert len({loop for _, loop in results}) == 1
    assert _lint(app) == []


@pytest.mark.parametrize(
    ("name", "failure"), [("closed_loop", "Event loop is closed"), ("side_loop", "different loop")]
)
def test_hazardous_twins_fail_and_are_reported(tmp_path, name, failure):
    app = tmp_path / name
    _write(app, {"app.py": APPS[name]})
    run = _run(app, DRIVE)
    assert failure in run.stdout + run.stderr, run.stdout + run.stderr
    codes = [d["code"] for d in _lint(app)]
    # The closed twin also closes its loop without shutting it down (AL602).
    assert [c for c in codes if c != "AL602"] == ["AL101"], codes
    assert codes.count("AL602") == (name == "closed_loop"), codes


STATE_APP = '''
import asyncio

STATE = {}


async def init():
    STATE["ready"] = True


asyncio.run(init())


def handler(event, context):
    return {"statusCode": 200, "ready": STATE["ready"]}
'''

DRIVE_STATE = '''
import json
import sys

sys.path.insert(0, sys.argv[1])
import app

print(json.dumps([app.handler({}, None)["ready"] for _ in range(2)]))
'''


@pytest.mark.parametrize("unsafe", [False, True])
def test_import_time_startup_fix_keeps_startup_running_on_import(tmp_path, unsafe):
    """A module Lambda imports: the fix must not hide ``init()`` behind a ``__main__`` guard."""
    app = tmp_path / "state"
    _write(app, {"app.py": STATE_APP})
    flags = ["--fix", "--unsafe-fixes"] if unsafe else ["--fix"]
    result = subprocess.run(
        [sys.executable, "-m", "asyncloop_lint", "--isolated", *flags, str(app)],
        capture_output=True, text=True, env=_env(), cwd=app, timeout=120,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    source = (app / "app.py").read_text()
    assert "__main__" not in source
    if unsafe:
        assert "runtime.run(init())" in source
    run = _run(app, DRIVE_STATE)
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.stdout) == [True, True]


CELERY_APP = '''
import asyncio

from celery import Celery, Task

app = Celery("jobs", broker="memory://")
LOOPS = []


class AsyncTask(Task):
    def __call__(self, *args, **kwargs):
        return asyncio.get_event_loop().run_until_complete(self.run_async(*args, **kwargs))

    async def run_async(self, *args, **kwargs):
        LOOPS.append(id(asyncio.get_running_loop()))
        return self.run(*args, **kwargs)


@app.task(base=AsyncTask)
def add(x, y):
    return x + y
'''

DRIVE_CELERY = '''
import json
import sys

sys.path.insert(0, sys.argv[1])
import app

results = [app.add(i, 1) for i in range(3)]
print(json.dumps({"results": results, "loops": len(set(app.LOOPS))}))
'''


def test_celery_task_call_fix_runs_every_task_on_one_loop(tmp_path):
    pytest.importorskip("celery")
    project = tmp_path / "worker"
    _write(project, {"app.py": CELERY_APP})
    found = _lint(project)
    assert [d["code"] for d in found] == ["AL105"]
    assert "`AsyncTask.__call__()`, called on every invocation" in found[0]["message"]
    result = subprocess.run(
        [sys.executable, "-m", "asyncloop_lint", "--isolated", "--fix", "--unsafe-fixes", str(project)],
        capture_output=True, text=True, env=_env(), cwd=project, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    source = (project / "app.py").read_text()
    assert "return runtime.run(self.run_async(*args, **kwargs))" in source
    assert "asyncio.run(" not in source
    run = _run(project, DRIVE_CELERY)
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.stdout) == {"results": [1, 2, 3], "loops": 1}
    assert _lint(project) == []
