"""How a fix refers to the runtime module: the import to add and a name that does not collide.

``ctx.settings.runtime_import`` is the module as this file imports it (the engine resolves it
per file with :func:`asyncloop_lint.vendor.locate`): ``.asyncloop_runtime`` becomes
``from . import asyncloop_runtime as runtime``, ``asyncloop_runtime`` becomes
``import asyncloop_runtime as runtime``, a configured ``myapp.lib.rt`` ``from myapp.lib import rt``.
The fix refers to the vendored module as ``runtime`` and to any other by its last segment,
unless the module already binds that name to something else; then it uses an alias
(``asyncloop_runtime``, ``asyncloop_runtime_2``, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .rule import ImportRequest

if TYPE_CHECKING:  # pragma: no cover
    import libcst

    from .context import LintContext

ALIAS = "asyncloop_runtime"


def runtime_reference(ctx: LintContext, at: libcst.CSTNode | None = None) -> tuple[str, ImportRequest]:
    """The name to spell the runtime module with, and the import that binds it.

    ``at`` is the node where the name will be used: a local binding of the name there (a
    parameter or variable called ``runtime``) counts as a collision too.
    """
    path = ctx.settings.runtime_import
    dots = len(path) - len(path.lstrip("."))
    package, _, last = path[dots:].rpartition(".")
    package = path[:dots] + package
    for candidate in _candidates(last):
        if _usable(ctx, candidate, path, at):
            asname = None if candidate == last else candidate
            if package:
                return candidate, ImportRequest(package, last, asname)
            return candidate, ImportRequest(path, None, asname)
    raise AssertionError("unreachable")  # pragma: no cover - the alias series never ends


def _candidates(last: str):  # noqa: ANN202 - a generator of names
    yield "runtime" if last == ALIAS else last
    yield ALIAS
    n = 2
    while True:
        yield f"{ALIAS}_{n}"
        n += 1


def _usable(ctx: LintContext, name: str, path: str, at: libcst.CSTNode | None) -> bool:
    """Free everywhere it matters, or already bound to the runtime module itself."""
    if ctx.name_is_free(name) and (at is None or ctx.name_is_free(name, at)):
        return True
    return ctx.has_name_binding(name, {path}) and (at is None or ctx.binds_as_module(name, at))
