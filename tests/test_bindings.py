"""The binding pass (``asyncloop_lint.bindings``) against libcst's ScopeProvider, which it
replaces on the lint path: the same qualified names for every call target of the fixtures and
of the standard library's asyncio package, so the two never drift; and Python's scoping rules,
case by case."""

from __future__ import annotations

import asyncio
from pathlib import Path
from textwrap import dedent

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, QualifiedName, QualifiedNameSource, ScopeProvider

from asyncloop_lint.bindings import BindingIndex
from asyncloop_lint.testing import FIXTURES

# libcst names an attribute of a literal (``" ".join``) ``builtins.None``: an artifact, not a
# name anything could import; the binding pass gives nothing there.
_LITERAL_ARTIFACT = {QualifiedName("builtins.None", QualifiedNameSource.BUILTIN)}


def _call_targets(module: cst.Module) -> list[cst.BaseExpression]:
    found = []

    class Calls(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            if isinstance(node.func, (cst.Name, cst.Attribute)):
                found.append(node.func)

    module.visit(Calls())
    return found


def _disagreements(path: Path) -> list[str]:
    try:
        module = cst.parse_module(path.read_bytes())
    except cst.ParserSyntaxError:
        return []
    scopes = MetadataWrapper(module, unsafe_skip_copy=True).resolve(ScopeProvider)
    bindings = BindingIndex(module)
    out = []
    for target in _call_targets(module):
        scope = scopes.get(target)
        expected = set(scope.get_qualified_names_for(target)) if scope is not None else set()
        got = bindings.qualified_names(target)
        if got != expected and expected != _LITERAL_ARTIFACT:
            out.append(f"{path.name}: {module.code_for_node(target)}: {sorted(expected)} != {sorted(got)}")
    return out


FILES = sorted(p for p in FIXTURES.rglob("*.py") if p.parent.name not in ("AL000", "AL001")) + sorted(
    Path(asyncio.__file__).parent.glob("*.py")
)


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_binding_pass_agrees_with_scope_provider_on_call_targets(path):
    assert _disagreements(path) == []


def names(source: str, target: str) -> set[str]:
    module = cst.parse_module(dedent(source))
    bindings = BindingIndex(module)
    for call in _call_targets(module):
        if module.code_for_node(call) == target:
            return {f"{q.source.name}:{q.name}" for q in bindings.qualified_names(call)}
    raise AssertionError(f"no call of {target}")


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        ("import asyncio as aio\naio.run(x)\n", "aio.run", {"IMPORT:asyncio.run"}),
        ("from asyncio import run\nrun(x)\n", "run", {"IMPORT:asyncio.run"}),
        ("import a.b.c\na.b.c.d()\n", "a.b.c.d", {"IMPORT:a.b.c.d"}),
        ("from . import worker\nworker.go()\n", "worker.go", {"IMPORT:.worker.go"}),
        ("from ..pkg import app\napp.task()\n", "app.task", {"IMPORT:..pkg.app.task"}),
        ("from m import *\nthing()\n", "thing", set()),
        ("def run():\n    pass\nrun()\n", "run", {"LOCAL:run"}),
        ("len(x)\n", "len", {"BUILTIN:builtins.len"}),
        # A name assigned anywhere in a function is local to all of it.
        ("import asyncio\ndef f():\n    asyncio.run(x)\n    asyncio = None\n", "asyncio.run", {"LOCAL:f.<locals>.asyncio.run"}),
        # ... unless declared global.
        ("import asyncio\ndef f():\n    global asyncio\n    asyncio.run(x)\n    asyncio = None\n", "asyncio.run",
         {"IMPORT:asyncio.run", "LOCAL:asyncio.run"}),
        # Class bodies do not enclose their methods.
        ("import asyncio\nclass K:\n    asyncio = None\n    def m(self):\n        asyncio.run(x)\n", "asyncio.run",
         {"IMPORT:asyncio.run"}),
        # A function-local import.
        ("def f():\n    import asyncio\n    asyncio.run(x)\n", "asyncio.run", {"IMPORT:asyncio.run"}),
        # nonlocal reaches the enclosing function's binding.
        ("def f():\n    import asyncio\n    def g():\n        nonlocal asyncio\n        asyncio.run(x)\n", "asyncio.run",
         {"IMPORT:asyncio.run"}),
        # Comprehension variables and walrus targets.
        ("[v.close() for v in loops]\n", "v.close", {"LOCAL:<comprehension>.v.close"}),
        ("if (loop := make()):\n    loop.close()\n", "loop.close", {"LOCAL:loop.close"}),
        ("import asyncio\nasyncio.get_event_loop().run_until_complete(c)\n", "asyncio.get_event_loop().run_until_complete",
         {"IMPORT:asyncio.get_event_loop.run_until_complete"}),
    ],
)
def test_scoping_rules(source, target, expected):
    assert names(source, target) == expected


def test_bound_values_and_references():
    module = cst.parse_module("import asyncio\nloop = asyncio.new_event_loop()\nloop.run_forever()\nloop.close()\n")
    bindings = BindingIndex(module)
    (binding,) = bindings.module_scope.bindings["loop"]
    assert module.code_for_node(binding.value) == "asyncio.new_event_loop()"
    assert len(binding.references) == 2
