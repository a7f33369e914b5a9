"""Unit tests of the loop model (``asyncloop_lint.loopmodel``) and the project index
(``asyncloop_lint.project``), on real source parsed by libcst through the engine's traversal."""

from __future__ import annotations

from textwrap import dedent

import libcst as cst
import pytest

from asyncloop_lint import project
from asyncloop_lint.config import Settings
from asyncloop_lint.context import LintContext, Traversal
from asyncloop_lint.rule import Rule


class _Probe(Rule):
    """Collects the calls of a module and asks nothing: the model does the work."""

    code = "AL999"
    name = "probe"
    needs_loop_model = True

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[str, cst.Call] = {}  # the first call spelled so
        self.all: dict[str, list[cst.Call]] = {}

    def visit_Call(self, node: cst.Call, ctx: LintContext) -> None:
        label = cst.Module([]).code_for_node(node)
        self.calls.setdefault(label, node)
        self.all.setdefault(label, []).append(node)


def model(source: str, path: str = "app.py", root: str = "."):
    from libcst.metadata import MetadataWrapper, ScopeProvider

    module = cst.parse_module(dedent(source))
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    ctx = LintContext(module=module, path=path, module_name="app", settings=Settings(codes=frozenset(), project_root=root),
                      scopes=wrapper.resolve(ScopeProvider))
    probe = _Probe()
    Traversal(ctx, [probe], build_graph=True).run(module)
    return ctx.loops, probe


HELPER = """
import asyncio

def current_loop():
    try:
        return asyncio.get_event_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        return loop

def handler(event, context):
    current_loop()
    return asyncio.get_event_loop()
"""


def test_get_or_create_and_set_helper_ensures_a_current_loop():
    loops, probe = model(HELPER)
    assert loops.ensures_current("current_loop")
    assert loops.ensures_current("handler")  # through its call of the helper
    creation = probe.calls["asyncio.new_event_loop()"]
    assert loops.once_per_process(creation, "current_loop")
    getter = probe.calls["asyncio.get_event_loop()"]
    assert loops.get_or_create(getter, "current_loop")
    # In the handler, the lookup comes after the helper's call: a current loop is guaranteed
    # there, and not before it.
    _, handler_getter = probe.all["asyncio.get_event_loop()"]
    assert loops.guaranteed_before("handler", handler_getter)
    assert not loops.guaranteed_before("handler", probe.calls["current_loop()"])


def test_guarantee_is_ordered_within_the_scope():
    loops, probe = model(
        """
        import asyncio
        from mangum import Mangum

        early = asyncio.get_event_loop()
        handler = Mangum(object())
        late = asyncio.get_event_loop().time()
        """
    )
    assert not loops.guaranteed_before(None, probe.calls["asyncio.get_event_loop()"])
    assert loops.guaranteed_before(None, probe.calls["asyncio.get_event_loop().time()"])
    assert loops.builds_serving_object


@pytest.mark.parametrize(
    ("source", "origin", "current", "closed"),
    [
        ("loop = asyncio.new_event_loop()\nloop.run_until_complete(c())\n", "new", False, False),
        ("loop = asyncio.new_event_loop()\nasyncio.set_event_loop(loop)\nloop.run_until_complete(c())\n", "new", True, False),
        ("loop = asyncio.new_event_loop()\nloop.run_until_complete(c())\nloop.close()\n", "new", False, True),
        ("loop = asyncio.get_event_loop()\nloop.run_until_complete(c())\n", "get", True, False),
        ("loop = make()\nloop.run_until_complete(c())\n", "unknown", False, False),
    ],
)
def test_fate_of_the_loop_a_run_uses(source, origin, current, closed):
    loops, probe = model("import asyncio\n" + source)
    run = probe.calls["loop.run_until_complete(c())"]
    fate = loops.fate(run.func.value, None, run)
    assert (fate.origin, fate.current, fate.closed) == (origin, current, closed)


def test_unconditional_or_closed_creation_is_per_call():
    loops, probe = model(
        """
        import asyncio

        def fresh():
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            return loop

        def closing():
            loop = asyncio.get_event_loop()
            if loop.is_closed():
                loop = asyncio.new_event_loop()
                asyncio.set_event_loop(loop)
            loop.close()
        """
    )
    fresh, closing = probe.all["asyncio.new_event_loop()"]
    assert not loops.once_per_process(fresh, "fresh")
    assert not loops.once_per_process(closing, "closing")


def test_kept_at_import():
    loops, probe = model("import asyncio\nKEPT = asyncio.new_event_loop()\nGONE = asyncio.new_event_loop()\nGONE.close()\n")
    kept, gone = (loops.scope_of(None).bindings[name][0].value for name in ("KEPT", "GONE"))
    assert loops.kept_at_import(kept) and not loops.kept_at_import(gone)


def test_project_index_finds_modules_objects_and_scripts(tmp_path):
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "__init__.py").write_text("")
    (tmp_path / "src" / "pkg" / "worker.py").write_text("import celery\napp = celery.Celery('w')\nother = 1\n")
    (tmp_path / "src" / "pkg" / "tasks.py").write_text("from .worker import app\nfrom pkg import worker\n")
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "seed.py").write_text("print('seed')\n")
    (tmp_path / "tool.py").write_text("print('tool')\n")
    index = project.ProjectIndex(str(tmp_path))
    tasks = str(tmp_path / "src" / "pkg" / "tasks.py")
    worker = str(tmp_path / "src" / "pkg" / "worker.py")
    assert index.find_module("pkg.worker", tasks) == worker
    assert index.find_module(".worker", tasks) == worker
    assert index.find_module("missing.mod", tasks) is None
    assert index.object_kind("pkg.worker.app", tasks) == ("celery.Celery", worker)
    assert index.object_kind("pkg.worker.other", tasks) == (None, worker)
    assert index.is_script(str(tmp_path / "scripts" / "seed.py"))
    assert index.is_script(str(tmp_path / "tool.py"))
    assert not index.is_script(worker)  # imported by tasks.py
