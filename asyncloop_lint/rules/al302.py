"""AL302 uvloop-without-fallback."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..diagnostic import UNSAFE
from ..project import is_test_path
from ..rule import Fix, ImportRequest, Rule, cst
from .al601 import NOT_WINDOWS, POSIX_ONLY, WINDOWS, windows_test

if TYPE_CHECKING:  # pragma: no cover
    from ..context import LintContext

IMPORT_ERRORS = frozenset(
    {"builtins.ImportError", "builtins.ModuleNotFoundError", "builtins.Exception", "builtins.BaseException"}
)
TYPE_CHECKING_NAMES = frozenset({"typing.TYPE_CHECKING", "typing_extensions.TYPE_CHECKING"})


def _catches_import_error(handler: cst.ExceptHandler, ctx: LintContext) -> bool:
    kind = handler.type
    if kind is None:
        return True
    kinds = [e.value for e in kind.elements] if isinstance(kind, cst.Tuple) else [kind]
    return any(ctx.has_name(k, IMPORT_ERRORS) for k in kinds)


def _inside_uvloop_package(path: str) -> bool:
    import os

    directory = os.path.dirname(os.path.abspath(path))
    while os.path.basename(directory):
        if os.path.basename(directory) == "uvloop" and os.path.isfile(os.path.join(directory, "__init__.py")):
            return True
        directory = os.path.dirname(directory)
    return False


class UvloopWithoutFallback(Rule):
    code = "AL302"
    name = "uvloop-without-fallback"
    summary = "`import uvloop` without a fallback to asyncio"
    default = False
    fix = "sometimes"
    needles = ((b"uvloop",), (b"import",))
    candidates = r"uvloop"
    what = """
Checks for `import uvloop` (and `from uvloop import ...`) that is not in a `try` whose
`except` catches `ImportError` (or `ModuleNotFoundError`, `Exception`), not under a test that
holds only off Windows (`if sys.platform != "win32":`, `if os.name == "posix":`), and not
under `if TYPE_CHECKING:`. The modules of the uvloop package itself are not checked, nor a
module named after uvloop (`loops/uvloop.py`, `uvloop_backend.py`), nor an import inside a
class or function named after it (`GunicornUVLoopWebWorker`): that is the uvloop backend,
used only where uvloop was chosen, and the fallback belongs there. Test modules are not
checked either (they choose platforms with skip markers).
"""
    why = """
uvloop publishes no Windows wheels and does not build there, so the import raises
`ModuleNotFoundError` on Windows (and anywhere it was not installed, such as a slim image or
a developer's machine) and the whole program fails to start, although asyncio's own loop
would serve it. uvloop is an optimisation; the program should run without it.
"""
    example = """
import asyncio

import uvloop

async def main() -> None:
    await asyncio.sleep(0)

if __name__ == "__main__":
    asyncio.run(main(), loop_factory=uvloop.new_event_loop)
"""
    use_instead = """
import asyncio

from asyncloop_lint import runtime

async def main() -> None:
    await asyncio.sleep(0)

if __name__ == "__main__":
    asyncio.run(main(), loop_factory=runtime.default_loop_factory())
"""
    fix_safety = """
When the module-level `import uvloop` is used only as `uvloop.new_event_loop` (passed as a
loop factory or called) or as `uvloop.run(coro)` (for targets py312 and later), the fix uses
the runtime's `default_loop_factory()` instead — uvloop's factory when uvloop imports, asyncio's
otherwise — rewrites `uvloop.run(coro)` to `asyncio.run(coro, loop_factory=...)` and removes
the import. It is unsafe: where uvloop is missing the program now runs on asyncio's loop
instead of failing, setting `ASYNCLOOP_NO_UVLOOP=1` turns uvloop off, and the module now
imports the runtime. Other uses (`uvloop.install()`, `uvloop.Loop`, `from uvloop import ...`)
get no fix.
"""
    references = (
        "https://github.com/MagicStack/uvloop#installation",
        "https://pypi.org/project/uvloop/#files",
    )

    def __init__(self) -> None:
        super().__init__()
        self.safe_depth = 0
        self.safe_blocks: set[int] = set()
        self.imports: list[tuple[cst.CSTNode, cst.CSTNode | None, bool]] = []  # (node, statement, module level)
        self.inside_import = 0
        self.names: list[cst.Name] = []  # every load of a name bound to the uvloop module
        self.uses: dict[int, tuple[str, cst.CSTNode]] = {}  # id(Name) -> (use, node to replace)

    # ---- guarded regions ------------------------------------------------------------------
    def visit_Try(self, node: cst.Try, ctx: LintContext) -> None:
        if any(_catches_import_error(h, ctx) for h in node.handlers):
            self.safe_blocks.add(id(node.body))

    def visit_If(self, node: cst.If, ctx: LintContext) -> None:
        platform = windows_test(node.test, ctx)
        if platform in (NOT_WINDOWS, POSIX_ONLY) or ctx.has_name(node.test, TYPE_CHECKING_NAMES):
            self.safe_blocks.add(id(node.body))
        elif platform == WINDOWS and node.orelse is not None:
            self.safe_blocks.add(id(node.orelse))

    def _enter(self, node: cst.CSTNode, ctx: LintContext) -> None:
        if id(node) in self.safe_blocks:
            self.safe_depth += 1

    def _leave(self, node: cst.CSTNode, ctx: LintContext) -> None:
        if id(node) in self.safe_blocks:
            self.safe_depth -= 1

    visit_IndentedBlock = visit_SimpleStatementSuite = visit_Else = _enter
    leave_IndentedBlock = leave_SimpleStatementSuite = leave_Else = _leave

    # ---- imports and uses -----------------------------------------------------------------
    def _in_uvloop_backend(self, ctx: LintContext) -> bool:
        """Inside a class or function named after uvloop (`GunicornUVLoopWebWorker`): code that
        runs only where uvloop was chosen."""
        return any(f.key and "uvloop" in f.key.lower() for f in ctx.frames if f.kind in ("class", "function"))

    def visit_Import(self, node: cst.Import, ctx: LintContext) -> None:
        self.inside_import += 1
        if self.safe_depth or self._in_uvloop_backend(ctx):
            return
        for alias in node.names:
            if ctx.module.code_for_node(alias.name).split(".")[0] == "uvloop":
                self.imports.append((node, ctx.statement, ctx.frames[-1].kind == "module"))
                return

    def leave_Import(self, node: cst.Import, ctx: LintContext) -> None:
        self.inside_import -= 1

    def visit_ImportFrom(self, node: cst.ImportFrom, ctx: LintContext) -> None:
        self.inside_import += 1
        if self.safe_depth or node.relative or node.module is None or self._in_uvloop_backend(ctx):
            return
        if ctx.module.code_for_node(node.module).split(".")[0] == "uvloop":
            self.imports.append((node, ctx.statement, False))

    leave_ImportFrom = leave_Import  # type: ignore[assignment]

    def visit_Name(self, node: cst.Name, ctx: LintContext) -> None:
        if not self.inside_import and node.value == "uvloop" and ctx.full_names(node) == {"uvloop"}:
            self.names.append(node)

    def visit_Attribute(self, node: cst.Attribute, ctx: LintContext) -> None:
        value = node.value
        if isinstance(value, cst.Name) and value.value == "uvloop" and node.attr.value == "new_event_loop":
            self.uses.setdefault(id(value), ("factory", node))  # a call was seen first

    def visit_Call(self, node: cst.Call, ctx: LintContext) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or not isinstance(func.value, cst.Name) or func.value.value != "uvloop":
            return
        if func.attr.value == "new_event_loop" and not node.args:
            self.uses[id(func.value)] = ("new_loop", node)
        elif func.attr.value == "run":
            self.uses[id(func.value)] = ("run", node)

    def finish(self, ctx: LintContext) -> None:
        if is_test_path(ctx.path, ctx.settings.project_root):
            return  # tests pick their platforms with skip markers and `importorskip`
        if _inside_uvloop_package(ctx.path) or "uvloop" in ctx.path.replace("\\", "/").rsplit("/", 1)[-1]:
            # uvloop's own modules, and a module named after uvloop (`loops/uvloop.py`): the
            # uvloop backend, imported only where uvloop was chosen; the fallback is there.
            return
        fix = self._fix(ctx) if len(self.imports) == 1 else None
        for node, statement, _ in self.imports:
            shown = " ".join(ctx.module.code_for_node(node).split()).replace("( ", "(").replace(" )", ")")
            ctx.report(
                self,
                node,
                f"`{shown}` has no fallback: uvloop does not install on Windows, so there (and "
                "wherever it is missing) the import raises `ModuleNotFoundError` and the program "
                "does not start; catch `ImportError` and fall back to asyncio's loop",
                fix,
                statement=statement,
            )

    def _fix(self, ctx: LintContext) -> Fix | None:
        from ..runtimefix import runtime_reference

        node, statement, module_level = self.imports[0]
        if not module_level or not isinstance(node, cst.Import) or len(node.names) != 1:
            return None
        alias = node.names[0]
        if alias.asname is not None or ctx.module.code_for_node(alias.name) != "uvloop":
            return None
        if not self.names or any(id(name) not in self.uses for name in self.names):
            return None
        target = ctx.settings.target_tuple
        runs = [use for use in self.uses.values() if use[0] == "run"]
        if runs and (target < (3, 12) or not self._asyncio_spelling(ctx)):
            return None
        runtime_name, runtime_import = runtime_reference(ctx)
        factory = cst.parse_expression(f"{runtime_name}.default_loop_factory()")
        replacements: dict[Any, Any] = {}
        for kind, use in self.uses.values():
            if kind == "factory":
                replacements[use] = factory
            elif kind == "new_loop":
                replacements[use] = cst.Call(func=factory)
            else:
                call: cst.Call = use  # type: ignore[assignment]
                positional = [a for a in call.args if a.keyword is None]
                if len(positional) != 1 or positional[0].star or any(
                    a.keyword is not None and a.keyword.value not in ("debug",) for a in call.args
                ):
                    return None
                replacements[use] = call.with_changes(
                    func=cst.parse_expression("asyncio.run"),
                    args=[
                        *[a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in call.args],
                        cst.Arg(factory, keyword=cst.Name("loop_factory"), equal=cst.AssignEqual(
                            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
                        )),
                    ],
                )
        imports = [runtime_import]
        if runs and ctx.name_is_free("asyncio"):
            imports.append(ImportRequest("asyncio"))
        return Fix(
            "Use the runtime's `default_loop_factory()`, which falls back to asyncio without uvloop",
            UNSAFE,
            replacements,
            add_imports=tuple(imports),
            remove_imports=(ImportRequest("uvloop"),),
        )

    @staticmethod
    def _asyncio_spelling(ctx: LintContext) -> bool:
        return ctx.has_name_binding("asyncio", {"asyncio"}) or ctx.name_is_free("asyncio")
