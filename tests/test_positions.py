"""Positions from the statements alone equal libcst's whole-module PositionProvider.

``asyncloop_lint.positions`` generates only the statements that hold findings, started at the
line CPython's parser gives; every node it places must be where the whole-module provider puts
it, and anything it cannot place falls back to that provider.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from asyncloop_lint.positions import Positions
from asyncloop_lint.walk import iter_nodes

REPO = Path(__file__).resolve().parent.parent
ANCHORS = (cst.Call, cst.Name, cst.SimpleStatementLine, cst.BaseCompoundStatement)


def whole(module: cst.Module):
    return MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)


def test_every_node_of_fixtures_and_asyncio_is_placed_as_libcst_places_it():
    files = [p for p in sorted((REPO / "fixtures").rglob("*.py")) if "AL001" not in p.parts]
    files += sorted(Path(asyncio.__file__).parent.glob("*.py"))
    placed = 0
    for path in files:
        text = path.read_bytes().decode("utf-8", "replace")
        try:
            module = cst.parse_module(text)
        except cst.ParserSyntaxError:
            continue
        positions = Positions(module, text, [n for n in iter_nodes(module) if isinstance(n, ANCHORS)])
        assert not positions.used_whole_module, path
        full = whole(module)
        for node, found in positions._computed.items():
            assert found == full[node], (path, type(node).__name__)
        placed += len(positions._computed)
    assert placed > 100_000


SHAPES = """\
import asyncio  # a comment

@decorator(
    arg,
)
# between
@other
async def f(a,
            b):
    '''Doc.'''

    if a:
        x = [asyncio.get_event_loop() for _ in b]
    elif b:  # elif
        y = (
            asyncio.run(g())
        )
    else:
        pass; z = 1
    try:
        await asyncio.sleep(0)
    except (OSError,
            ValueError):
        raise
    finally:
        w = 2
    match a:
        case [1, *rest]:
            v = asyncio.new_event_loop()
        case _:
            pass
    with open(a) as h, open(b) as k: q = asyncio.get_running_loop()
    return x


class K:
\tdef m(self):
\t\treturn asyncio.get_event_loop()
"""


def test_nested_blocks_elif_match_decorators_and_tabs():
    module = cst.parse_module(SHAPES)
    calls = [n for n in iter_nodes(module) if isinstance(n, cst.Call)]
    positions = Positions(module, SHAPES, calls)
    assert not positions.used_whole_module
    full = whole(module)
    assert all(positions[c] == full[c] for c in calls)
    assert set(calls) <= set(positions._computed)


def test_what_it_cannot_place_comes_from_the_whole_module():
    text = "import asyncio\nasyncio.run(main())"  # no final newline: the statement's text differs
    module = cst.parse_module(text)
    (call,) = [n for n in iter_nodes(module) if isinstance(n, cst.Call) and type(n.func) is cst.Attribute]
    positions = Positions(module, text, [call])
    assert positions.used_whole_module
    assert positions[call] == whole(module)[call]
    other = module.body[0]
    assert positions[other] == whole(module)[other]
