"""The loop model's shutdown facts (runs, shutdown steps, exclusive branches) that AL602 asks."""

from __future__ import annotations

from textwrap import dedent

import pytest

from asyncloop_lint.config import Settings
from asyncloop_lint.engine import analyze, parse
from asyncloop_lint.loopmodel import exclusive
from asyncloop_lint.rules.al602 import LoopCloseWithoutShutdown

A, B = 1, 2  # stand-ins for the ids of two `if`/`try` statements

EXCLUSIVE = [
    ("if-body vs else", ((A, "body"),), ((A, "else"),), True),
    ("try-body vs except", ((A, "body"),), ((A, "except0"),), True),
    ("two excepts", ((A, "except0"),), ((A, "except1"),), True),
    ("same branch", ((A, "body"),), ((A, "body"), (B, "else")), False),
    ("before the if", (), ((A, "body"),), False),
    ("different statements", ((A, "body"),), ((B, "else"),), False),
]


@pytest.mark.parametrize("first, second, expected", [c[1:] for c in EXCLUSIVE], ids=[c[0] for c in EXCLUSIVE])
def test_exclusive(first, second, expected):
    assert exclusive(first, second) is expected
    assert exclusive(second, first) is expected


def _model(source: str):
    module = parse(dedent(source).encode())
    facts = {}

    class Probe(LoopCloseWithoutShutdown):
        def finish(self, ctx):
            facts["loops"] = ctx.loops

    analyze(module, "probe.py", Settings(codes=frozenset({"AL602"})), [Probe])
    return facts["loops"]


def test_shutdown_steps_on_the_path_to_the_close():
    loops = _model(
        """
        import asyncio

        async def finalize(loop):
            await loop.shutdown_default_executor()

        def serve(fast):
            loop = asyncio.new_event_loop()
            loop.run_until_complete(asyncio.sleep(0))
            if fast:
                loop.run_until_complete(loop.shutdown_asyncgens())
            else:
                loop.close()
            loop.run_until_complete(finalize(loop))
            loop.close()
        """
    )
    scope = loops.scope_of("serve")
    assert [e.name for e in scope.runs] == ["loop", "loop", "loop"]
    assert [method for method, _ in scope.shutdowns] == ["shutdown_asyncgens"]
    in_else, last = scope.closes
    assert loops.shut_down_before("serve", in_else) == set()  # the step is on the other branch
    assert loops.shut_down_before("serve", last) == {"shutdown_asyncgens", "shutdown_default_executor"}

