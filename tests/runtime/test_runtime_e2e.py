"""End-to-end: real Mangum + Starlette/FastAPI apps, each in a fresh interpreter.

Every scenario imports an app from ``apps/`` in a subprocess started with
``-W error::DeprecationWarning`` and calls ``handler(event, None)`` with REST v1,
HTTP API v2 and ALB events, several rounds.
"""

from __future__ import annotations

import sys

import pytest

from runtime_test_support import drive, subprocess_env

pytest.importorskip("mangum")
pytest.importorskip("starlette")

EVENT_KINDS = {"rest_v1", "http_v2", "alb"}


def _mangum_version() -> tuple[int, ...]:
    from importlib.metadata import version

    return tuple(int(p) for p in version("mangum").split(".")[:2])


pytestmark = pytest.mark.skipif(_mangum_version() < (0, 21), reason="needs mangum>=0.21")


def invocations(records):
    found = [r for r in records if r["phase"] == "invoke"]
    assert {r["event"] for r in found} == EVENT_KINDS
    return found


def end(records):
    (last,) = [r for r in records if r["phase"] == "end"]
    return last


# ------------------------------------------------------------------ the seed app


def test_seed_app_serves_500_because_its_resource_is_bound_to_the_dead_loop():
    # asyncio.run() at import leaves the thread "set" with no loop; Mangum 0.21+'s
    # constructor probe gets RuntimeError, creates and sets a new loop, and every
    # request runs there: the pool created under asyncio.run() belongs to a closed loop.
    records, stderr = drive("seed_app", "--rounds", "2")
    calls = invocations(records)
    assert len(calls) == 6
    assert all(r["status"] == 500 and r["body"] == "Internal Server Error" for r in calls)
    assert stderr.count("RuntimeError: Pool is attached to a different event loop") == 6
    assert end(records)["created"] == 1


def test_seed_app_after_a_stray_asyncio_run_has_no_current_event_loop():
    # After the first round a stray asyncio.run() clears the current loop again: the
    # next invocations fail inside Mangum with the error of the seed report.
    records, _ = drive("seed_app", "--rounds", "2", "--stray-run")
    calls = invocations(records)
    assert all(r["status"] == 500 for r in calls if r["round"] == 0)
    later = [r for r in calls if r["round"] == 1]
    assert len(later) == 3
    for r in later:
        assert r["error"] == "RuntimeError"
        assert r["message"] == "There is no current event loop in thread 'MainThread'."
        assert "mangum/protocols/lifespan.py" in r["tb"]  # lifespan="auto" looks the loop up first


def test_seed_late_app_fails_like_the_seed_traceback():
    # Mangum(app, lifespan="off") first, then module-level asyncio.run(): the request
    # fails in mangum/protocols/http.py at `loop = asyncio.get_event_loop()`.
    # (Warnings not turned into errors here: see the next test for 3.12+.)
    records, _ = drive("seed_late_app", "--rounds", "2", werror=False)
    calls = invocations(records)
    assert len(calls) == 6
    for r in calls:
        assert r["error"] == "RuntimeError"
        assert r["message"] == "There is no current event loop in thread 'MainThread'."
        assert "mangum/protocols/http.py" in r["tb"]
        assert "loop = asyncio.get_event_loop()" in r["tb"]


def test_seed_late_app_under_deprecation_errors():
    # Building Mangum at import in a fresh interpreter makes its get_event_loop() probe
    # create a loop implicitly: 3.12+ warns (an error under -W error), 3.10/3.11 do not.
    records, _ = drive("seed_late_app", "--rounds", "1")
    if sys.version_info >= (3, 12):
        (record,) = records
        assert record == {
            "phase": "import",
            "error": "DeprecationWarning",
            "message": "There is no current event loop",
        }
    else:
        calls = invocations(records)
        assert all(r["message"] == "There is no current event loop in thread 'MainThread'." for r in calls)


# ----------------------------------------------------------------- the fixed app


def assert_one_loop_all_ok(records, loop_type):
    calls = invocations(records)
    assert len(calls) >= 6
    for r in calls:
        assert r.get("status") == 200, r
        assert r["body"]["query"] == "ok"
        assert r["body"]["created"] == 1
        assert r["body"]["loop_type"] == loop_type
    assert len({r["body"]["loop_id"] for r in calls}) == 1
    assert end(records)["created"] == 1


def test_fixed_app_asyncio_loop():
    records, _ = drive("fixed_app", "--rounds", "3", env=subprocess_env(ASYNCLOOP_NO_UVLOOP="1"))
    assert_one_loop_all_ok(records, "asyncio.unix_events._UnixSelectorEventLoop")


def test_fixed_app_uvloop_factory():
    pytest.importorskip("uvloop")
    records, _ = drive("fixed_app", "--rounds", "2", "--uvloop", env=subprocess_env(ASYNCLOOP_NO_UVLOOP="1"))
    assert_one_loop_all_ok(records, "uvloop.Loop")


def test_fixed_app_uvloop_is_the_default_when_installed():
    pytest.importorskip("uvloop")
    records, _ = drive("fixed_app", "--rounds", "2")
    assert_one_loop_all_ok(records, "uvloop.Loop")


def test_fixed_app_survives_stray_asyncio_run_between_invocations():
    records, _ = drive("fixed_app", "--rounds", "3", "--stray-run", env=subprocess_env(ASYNCLOOP_NO_UVLOOP="1"))
    assert_one_loop_all_ok(records, "asyncio.unix_events._UnixSelectorEventLoop")


def test_fixed_fastapi_app():
    pytest.importorskip("fastapi")
    records, _ = drive("fixed_fastapi_app", "--rounds", "2", "--stray-run", env=subprocess_env(ASYNCLOOP_NO_UVLOOP="1"))
    assert_one_loop_all_ok(records, "asyncio.unix_events._UnixSelectorEventLoop")


# ------------------------------------------------------------------------ lifespan


def test_lifespan_once_runs_startup_once_and_replays_state():
    records, _ = drive("lifespan_app", "--rounds", "3", "--shutdown", env=subprocess_env(ASYNCLOOP_NO_UVLOOP="1"))
    calls = invocations(records)
    assert len(calls) == 9
    for r in calls:
        assert r["status"] == 200
        assert r["body"]["token"] == "startup-1"
        assert r["body"]["startups"] == 1
    assert len({r["body"]["loop_id"] for r in calls}) == 1
    last = end(records)
    assert (last["startups"], last["shutdowns"], last["shutdowns_after"]) == (1, 0, 1)


def test_plain_mangum_runs_lifespan_on_every_invocation():
    records, _ = drive("lifespan_app", "--rounds", "2", env=subprocess_env(MODE="plain", ASYNCLOOP_NO_UVLOOP="1"))
    calls = invocations(records)
    assert [r["body"]["startups"] for r in calls] == list(range(1, 7))
    assert [r["body"]["token"] for r in calls] == [f"startup-{n}" for n in range(1, 7)]
    last = end(records)
    assert (last["startups"], last["shutdowns"]) == (6, 6)
