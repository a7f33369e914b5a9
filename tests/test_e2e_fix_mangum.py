"""End to end: the seed's broken Lambda apps, fixed by the real CLI, work under the real Mangum.

Each application is copied to a temporary directory, rewritten by
``python -m asyncloop_lint --fix --unsafe-fixes <dir>`` in a subprocess, then driven in a fresh
interpreter (``-W error::DeprecationWarning``) that calls its handler repeatedly. The unfixed
copy must fail the way the seed describes; the fixed copy must answer every call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

RESOURCE = '''
"""A loop-bound resource, like a connection pool: it remembers the loop it was made on."""
import asyncio

CREATED = []


class PromptService:
    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        CREATED.append(self)

    async def get_prompt(self, id: int) -> str:
        if asyncio.get_running_loop() is not self.loop:
            raise RuntimeError("PromptService is attached to a different event loop")
        await asyncio.sleep(0)
        return f"prompt {id}"
'''

SEED_APP = '''
import asyncio

from fastapi import FastAPI
from mangum import Mangum

from prompt_service import PromptService


async def fetch_prompt() -> PromptService:
    service = PromptService()
    await service.get_prompt(id=2)
    return service


PROMPT_SERVICE = asyncio.run(fetch_prompt())

app = FastAPI()


@app.get("/summarize")
async def summarize() -> dict:
    return {"prompt": await PROMPT_SERVICE.get_prompt(id=2), "loop": id(asyncio.get_running_loop())}


handler = Mangum(app, lifespan="off")
'''

HANDLER_APP = '''
import asyncio

import httpx

from transport import LoopBoundTransport

CLIENT = httpx.AsyncClient(transport=LoopBoundTransport(), base_url="https://api.example.com")


async def fetch(path: str) -> dict:
    response = await CLIENT.get(path)
    return {"statusCode": response.status_code, "client": id(CLIENT), "body": response.text}


def handler(event, context):
    return asyncio.run(fetch(event["path"]))
'''

TRANSPORT = '''
"""An httpx transport that, like a real connection pool, binds to the loop of its first request."""
import asyncio

import httpx

TRANSPORTS = []


class LoopBoundTransport(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.loop = None
        TRANSPORTS.append(self)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        loop = asyncio.get_running_loop()
        if self.loop is None:
            self.loop = loop
        elif self.loop is not loop or self.loop.is_closed():
            raise RuntimeError("Event loop is closed: connection pool bound to another loop")
        return httpx.Response(200, text="pong")
'''

DRIVE_MANGUM = '''
import json
import sys

sys.path.insert(0, sys.argv[1])
event = {
    "resource": "/summarize",
    "path": "/summarize",
    "httpMethod": "GET",
    "headers": {"host": "example.com"},
    "multiValueHeaders": {},
    "queryStringParameters": None,
    "multiValueQueryStringParameters": None,
    "requestContext": {},
    "body": None,
    "isBase64Encoded": False,
}
import app
import prompt_service

results = []
for _ in range(3):
    response = app.handler(event, None)
    results.append([response["statusCode"], json.loads(response["body"])])
print(json.dumps({"results": results, "created": len(prompt_service.CREATED)}))
'''

DRIVE_HANDLER = '''
import json
import sys

sys.path.insert(0, sys.argv[1])
import app
import transport

results = [app.handler({"path": "/ping"}, None) for _ in range(3)]
print(json.dumps({"results": results, "transports": len(transport.TRANSPORTS)}))
'''


def _write(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("PYTHONASYNCIODEBUG", None)
    return env


def _fix(directory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asyncloop_lint", "--isolated", "--fix", "--unsafe-fixes", *extra, str(directory)],
        capture_output=True, text=True, env=_env(), cwd=directory, timeout=120,
    )


def _drive(directory: Path, script: str) -> subprocess.CompletedProcess[str]:
    driver = directory.parent / f"drive_{directory.name}.py"
    driver.write_text(textwrap.dedent(script).lstrip(), encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", str(driver), str(directory)],
        capture_output=True, text=True, env=_env(), cwd=directory.parent, timeout=120,
    )


def _outcome(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture()
def seed_app(tmp_path: Path) -> Path:
    app = tmp_path / "seed"
    _write(app, {"app.py": SEED_APP, "prompt_service.py": RESOURCE})
    return app


@pytest.fixture()
def handler_app(tmp_path: Path) -> Path:
    app = tmp_path / "handler"
    _write(app, {"app.py": HANDLER_APP, "transport.py": TRANSPORT})
    return app


def test_unfixed_seed_app_fails_under_mangum(seed_app: Path) -> None:
    result = _drive(seed_app, DRIVE_MANGUM)
    assert result.returncode != 0
    assert "There is no current event loop" in result.stderr or "different event loop" in result.stderr


def test_fixed_seed_app_answers_every_invocation(seed_app: Path) -> None:
    fixed = _fix(seed_app)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    source = (seed_app / "app.py").read_text()
    assert "PROMPT_SERVICE = runtime.run(fetch_prompt())" in source
    assert source.count("import asyncloop_runtime as runtime") == 1
    assert (seed_app / "asyncloop_runtime.py").is_file()  # vendored beside app.py
    assert "import asyncio" in source  # still used by the route
    outcome = _outcome(_drive(seed_app, DRIVE_MANGUM))
    statuses = [status for status, _ in outcome["results"]]
    assert statuses == [200, 200, 200]
    assert {body["prompt"] for _, body in outcome["results"]} == {"prompt 2"}
    assert len({body["loop"] for _, body in outcome["results"]}) == 1  # one loop serves every call
    assert outcome["created"] == 1
    # Fixing again changes nothing and the linter has nothing left to say about AL101.
    again = _fix(seed_app)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (seed_app / "app.py").read_text() == source


def test_fixed_seed_app_with_lazy_strategy_answers_every_invocation(seed_app: Path) -> None:
    fixed = _fix(seed_app, "--fix-strategy", "lazy")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    source = (seed_app / "app.py").read_text()
    assert "PROMPT_SERVICE = runtime.once(fetch_prompt)" in source
    assert "await (await PROMPT_SERVICE.get()).get_prompt(id=2)" in source
    outcome = _outcome(_drive(seed_app, DRIVE_MANGUM))
    assert [status for status, _ in outcome["results"]] == [200, 200, 200]
    assert outcome["created"] == 1


def test_unfixed_handler_loses_its_client_after_the_first_invocation(handler_app: Path) -> None:
    result = _drive(handler_app, DRIVE_HANDLER)
    assert result.returncode != 0
    assert "Event loop is closed" in result.stderr or "bound to another loop" in result.stderr


def test_fixed_handler_keeps_its_client_across_invocations(handler_app: Path) -> None:
    fixed = _fix(handler_app)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    source = (handler_app / "app.py").read_text()
    assert "return runtime.run(fetch(event[\"path\"]))" in source
    assert "@runtime.once\nasync def CLIENT():" in source
    outcome = _outcome(_drive(handler_app, DRIVE_HANDLER))
    assert [r["statusCode"] for r in outcome["results"]] == [200, 200, 200]
    assert len({r["client"] for r in outcome["results"]}) == 1  # the same client every time
    assert outcome["transports"] == 1
