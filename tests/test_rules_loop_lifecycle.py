"""The loop-lifecycle rules together: messages, fix spelling, and rules that must not overlap."""

from __future__ import annotations

from dataclasses import replace
from textwrap import dedent

import pytest

from asyncloop_lint.config import Settings
from asyncloop_lint.engine import lint_source
from asyncloop_lint.fixer import fix_source

LIFECYCLE = frozenset({"AL101", "AL102", "AL103", "AL104", "AL105", "AL106", "AL201", "AL202"})


def lint(source: str, codes=LIFECYCLE, path: str = "app.py", **options):
    settings = replace(Settings(codes=frozenset(codes)), **options)
    result = lint_source(dedent(source).encode(), path, settings)
    return [(d.location.row, d.code, d.message) for d in result.diagnostics]


def fix(source: str, codes=LIFECYCLE, **options) -> str:
    settings = replace(Settings(codes=frozenset(codes)), **options)
    outcome = fix_source(dedent(source).encode(), "app.py", settings, unsafe=True)
    assert outcome.error is None, outcome.error
    return outcome.source.decode()


# ---- one finding per hazard: AL102/AL105/AL106 never report the same call ---------------------
@pytest.mark.parametrize(
    "source, expected",
    [
        pytest.param("import asyncio\nLOOP = asyncio.get_event_loop()\n", [(2, "AL102")], id="import-time"),
        pytest.param(
            "import asyncio\ndef f():\n    asyncio.get_event_loop().run_until_complete(g())\n",
            [(3, "AL105")],
            id="sync-run",
        ),
        pytest.param("import asyncio\ndef f():\n    return asyncio.get_event_loop()\n", [(3, "AL106")], id="sync-get"),
        pytest.param(
            "import asyncio\ndef f():\n    return asyncio.get_event_loop()\nX = f()\n",
            [(4, "AL102")],
            id="reached-at-import",
        ),
        pytest.param(
            "import asyncio\nasync def f():\n    return asyncio.get_event_loop()\n", [(3, "AL103")], id="coroutine"
        ),
    ],
)
def test_get_event_loop_is_reported_once(source, expected):
    assert [(row, code) for row, code, _ in lint(source)] == expected


def test_import_time_chain_is_named():
    source = """
        import asyncio

        async def fetch():
            return 1

        def _load():
            return asyncio.get_event_loop().run_until_complete(fetch())

        def load():
            return _load()

        CONFIG = load()
    """
    messages = {code: message for _, code, message in lint(source)}
    assert "through `load()` → `_load()`" in messages["AL102"]
    # get_event_loop() made (and set) the loop, nothing closes it: the run is not AL101.
    assert "AL101" not in messages

    closing = source.replace("asyncio.get_event_loop().run_until_complete(fetch())", "asyncio.run(fetch())")
    messages = {code: message for _, code, message in lint(closing)}
    assert "through `load()` → `_load()`" in messages["AL101"]


def test_loop_per_invocation_names_entrypoint_and_chain():
    source = """
        import asyncio

        async def work(event):
            return event

        def _run(event):
            return asyncio.run(work(event))

        def lambda_handler(event, context):
            return _run(event)
    """
    [(row, code, message)] = lint(source, {"AL201"})
    assert (row, code) == (8, "AL201")
    assert "Lambda handler `lambda_handler()`" in message and "`lambda_handler()` → `_run()`" in message


# ---- how fixes spell the runtime ----------------------------------------------------------------
SEED = """
    import asyncio

    async def fetch():
        return 1

    X = asyncio.run(fetch())
"""


@pytest.mark.parametrize(
    "prefix, runtime_import, expected_import, expected_call",
    [
        pytest.param("", "asyncloop_lint.runtime", "from asyncloop_lint import runtime", "runtime.run(", id="default"),
        pytest.param("", "rt", "import rt", "rt.run(", id="top-level-module"),
        pytest.param("", "myapp.lib.rt", "from myapp.lib import rt", "rt.run(", id="dotted"),
        pytest.param(
            "runtime = 3\n",
            "asyncloop_lint.runtime",
            "from asyncloop_lint import runtime as asyncloop_runtime",
            "asyncloop_runtime.run(",
            id="collision",
        ),
        pytest.param(
            "runtime = 3\nasyncloop_runtime = 4\n",
            "asyncloop_lint.runtime",
            "from asyncloop_lint import runtime as asyncloop_runtime_2",
            "asyncloop_runtime_2.run(",
            id="double-collision",
        ),
        pytest.param(
            "from asyncloop_lint import runtime\n",
            "asyncloop_lint.runtime",
            "from asyncloop_lint import runtime",
            "runtime.run(",
            id="already-imported",
        ),
    ],
)
def test_runtime_import_and_name(prefix, runtime_import, expected_import, expected_call):
    fixed = fix(prefix + dedent(SEED), {"AL101"}, runtime_import=runtime_import)
    assert fixed.count(expected_import) == 1
    assert f"X = {expected_call}fetch())" in fixed


def test_parameter_named_like_the_runtime_is_not_shadowed():
    source = """
        import asyncio

        async def work():
            return 1

        def handler(event, runtime):
            return asyncio.run(work())
    """
    fixed = fix(source, {"AL201"})
    assert "return asyncloop_runtime.run(work())" in fixed
    assert "import asyncloop_runtime\n" in fixed


def test_every_rule_fixes_together_and_converges():
    source = """
        import asyncio

        import httpx

        CLIENT = httpx.AsyncClient()

        async def load():
            return 1

        loop = asyncio.get_event_loop()
        SETTINGS = loop.run_until_complete(load())
        VALUE = asyncio.run(load())

        async def fetch(url):
            return (await CLIENT.get(url)).status_code

        def handler(event, context):
            return asyncio.run(fetch(event["url"]))
    """
    fixed = fix(source)
    assert fixed.count("import asyncloop_runtime as runtime") == 1
    assert "import asyncio" not in fixed
    assert "SETTINGS = runtime.run(load())" in fixed
    assert "VALUE = runtime.run(load())" in fixed
    assert "return runtime.run(fetch(event[\"url\"]))" in fixed
    assert "return (await (await CLIENT.get()).get(url)).status_code" in fixed
    assert lint(fixed, LIFECYCLE - {"AL202"}) == []
    compile(fixed, "app.py", "exec")


def test_lazy_strategy_falls_back_to_the_persistent_loop_when_used_in_sync_code():
    source = """
        import asyncio

        async def fetch():
            return "x"

        A = asyncio.run(fetch())
        B = asyncio.run(fetch())

        async def route():
            return A

        def sync_view():
            return B
    """
    fixed = fix(source, {"AL101"}, fix_strategy="lazy")
    assert "A = runtime.once(fetch)" in fixed
    assert "return await A.get()" in fixed
    assert "B = runtime.run(fetch())" in fixed
    assert "return B" in fixed


def test_safe_fixes_only_wrap_bare_statements_of_scripts(tmp_path):
    settings = Settings(codes=frozenset({"AL101"}), project_root=str(tmp_path))
    source = b"import asyncio\n\nasync def main():\n    pass\n\nX = asyncio.run(main())\nasyncio.run(main())\n"
    script = tmp_path / "seed_db.py"
    outcome = fix_source(source, str(script), settings, unsafe=False)
    text = outcome.source.decode()
    assert "X = asyncio.run(main())" in text
    assert 'if __name__ == "__main__":\n    asyncio.run(main())' in text

    # The same module, once another module of the project imports it, is no script: a guard
    # would stop the run on import. No safe fix; the unsafe one keeps it running at import.
    (tmp_path / "app.py").write_text("from seed_db import X\n")
    from asyncloop_lint import project

    project._INDEXES.clear()
    assert fix_source(source, str(script), settings, unsafe=False).source == source
    fixed = fix_source(source, str(script), settings, unsafe=True).source.decode()
    assert "__main__" not in fixed
    assert "\nruntime.run(main())\n" in fixed

    # A module that builds a serving object is imported by a server: never a guard.
    served = source + b"from mangum import Mangum\nhandler = Mangum(object())\n"
    other = tmp_path / "scripts" / "serve.py"
    assert fix_source(served, str(other), settings, unsafe=False).source == served


def test_django_view_registered_in_urls_is_an_entrypoint(tmp_path):
    (tmp_path / "urls.py").write_text(
        "from django.urls import path\nfrom .views import report, other\n"
        "urlpatterns = [path('r/', report)]\n"
    )
    views = tmp_path / "views.py"
    source = (
        "import asyncio\n\nasync def build():\n    return 1\n\n"
        "def report(request):\n    return asyncio.run(build())\n\n"
        "def helper(request):\n    return asyncio.run(build())\n"
    )
    views.write_text(source)
    found = lint(source, {"AL201"}, path=str(views), project_root=str(tmp_path))
    assert [(row, code) for row, code, _ in found] == [(7, "AL201")]
    assert "Django view `report()`" in found[0][2]


def test_main_module_and_guard_are_not_import_time(tmp_path):
    source = """
        import asyncio
        import aiohttp

        async def main():
            pass

        SESSION = aiohttp.ClientSession()
        loop = asyncio.get_event_loop()
        loop.run_until_complete(main())
    """
    assert lint(source, {"AL101", "AL102", "AL202"}, path=str(tmp_path / "__main__.py")) == []


def test_get_event_loop_fix_leaves_code_that_runs_after_the_coroutine(tmp_path):
    """AL103's safe fix rewrites only code that runs inside the coroutine: the fixed program
    still works when a lambda or generator made there is used after it returned."""
    import subprocess
    import sys

    source = dedent(
        """\
        import asyncio


        async def make():
            here = asyncio.get_event_loop()
            getter = lambda: asyncio.get_event_loop()
            pending = (asyncio.get_event_loop() for _ in range(1))
            return here, getter, pending


        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        here, getter, pending = loop.run_until_complete(make())
        assert here is loop and getter() is loop and next(pending) is loop
        print("ok")
        """
    )
    fixed = fix(source, codes=frozenset({"AL103"}))
    assert fixed.count("get_running_loop()") == 1 and fixed.count("get_event_loop()") == 2
    (tmp_path / "prog.py").write_text(fixed)
    run = subprocess.run([sys.executable, "-W", "ignore", str(tmp_path / "prog.py")], capture_output=True, text=True, timeout=60)
    assert run.stdout == "ok\n", run.stderr
