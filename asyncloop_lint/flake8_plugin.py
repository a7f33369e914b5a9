"""flake8 plugin: ``flake8 --select AL`` reports asyncloop-lint's findings (no fixes).

flake8 hands the plugin the file's lines (and its ``ast`` tree, which goes unused); the plugin runs the same engine as the command,
with the settings of the nearest ``[tool.asyncloop-lint]`` (rule selection, entry points,
target version), and yields flake8 tuples. flake8 then applies its own ``--select``,
``--ignore``, ``--extend-ignore``, ``--per-file-ignores`` and ``# noqa`` comments on top.

Syntax errors are left to flake8 (it reports them as E999), so AL000 is never yielded.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

from . import __version__


@lru_cache(maxsize=64)
def _settings_for(directory: str) -> Any:
    from .config import ConfigError, Settings, default_codes, load_settings

    try:
        return load_settings(paths=[directory])
    except ConfigError:
        # A broken [tool.asyncloop-lint] table is the command's to report; flake8 still lints
        # with the defaults rather than crashing the whole run.
        return Settings(codes=default_codes())


class Plugin:
    """A whole-file flake8 checker over the lines of one file.

    flake8 classifies a checker by its parameters and runs whole-file checkers only when they
    take ``tree``; the plugin accepts it (flake8 builds the tree for pyflakes anyway) but parses
    the lines with libcst, like the command does.
    """

    name = "asyncloop-lint"
    version = __version__

    def __init__(self, tree: object, lines: Sequence[str], filename: str) -> None:
        self.lines = lines
        self.filename = filename

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        import os

        from .engine import lint_source
        from .rule import SYNTAX_ERROR_CODE

        source = "".join(self.lines).encode("utf-8", "surrogateescape")
        real_file = self.filename not in ("stdin", "-", "") and os.path.exists(self.filename)
        directory = os.path.dirname(os.path.abspath(self.filename)) if real_file else os.getcwd()
        settings = _settings_for(directory)
        relpath = os.path.relpath(os.path.abspath(self.filename), settings.project_root) if real_file else None
        result = lint_source(source, self.filename, settings, relpath=relpath)
        for d in result.diagnostics:
            if d.code == SYNTAX_ERROR_CODE:
                continue
            yield d.location.row, d.location.column - 1, f"{d.code} {d.message}", type(self)
