"""Find the files to lint: walk the given paths, honouring excludes and ``.gitignore``.

Patterns use gitignore syntax (through pathspec): a pattern without a slash matches a file or
directory name anywhere, one with a slash matches relative to the project root.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .config import Settings

PYTHON_SUFFIXES = (".py", ".pyi")
_PLAIN_NAME = re.compile(r"^[^*?\[\]/!\\#\s]+$")


@cache
def _spec(patterns: tuple[str, ...]):  # type: ignore[no-untyped-def]
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(patterns)


def pattern_matches(pattern: str, relpath: str) -> bool:
    return _spec((pattern,)).match_file(relpath.replace(os.sep, "/"))


@dataclass
class _Ignore:
    base: Path
    patterns: tuple[str, ...]

    def ignores(self, path: Path, is_dir: bool) -> bool:
        try:
            rel = path.relative_to(self.base).as_posix()
        except ValueError:
            return False
        return _spec(self.patterns).match_file(rel + ("/" if is_dir else ""))


def _read_gitignore(directory: Path) -> _Ignore | None:
    file = directory / ".gitignore"
    try:
        lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    patterns = tuple(line for line in lines if line.strip() and not line.lstrip().startswith("#"))
    return _Ignore(directory.resolve(), patterns) if patterns else None


def _ancestor_gitignores(directory: Path) -> list[_Ignore]:
    """``.gitignore`` files above ``directory`` up to the repository root."""
    found = []
    for parent in directory.parents:
        ignore = _read_gitignore(parent)
        if ignore:
            found.append(ignore)
        if (parent / ".git").exists():
            break
    else:
        return []  # not inside a git repository: ancestors' .gitignore files do not apply
    return found[::-1]


class Discovery:
    def __init__(self, settings: Settings, force_exclude: bool = False) -> None:
        self.settings = settings
        self.force_exclude = force_exclude
        self.root = Path(settings.project_root)
        patterns = (*settings.exclude, *settings.extend_exclude)
        # A pattern that is a plain name matches that name anywhere: a set lookup, no regex.
        self.excluded_names = frozenset(p for p in patterns if _PLAIN_NAME.match(p))
        self.excludes = _Ignore(self.root.resolve(), tuple(p for p in patterns if not _PLAIN_NAME.match(p)))
        self.walked: list[Path] = []  # every folder scanned
        self.ancestors: list[Path] = []  # the folders above the named paths

    def relpath(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def _excluded(self, absolute: Path, is_dir: bool, ignores: list[_Ignore]) -> bool:
        """Whether excludes or ``.gitignore`` files cover ``absolute`` (an absolute path)."""
        if absolute.name in self.excluded_names:
            return True
        if self.excludes.patterns and (
            self.excludes.ignores(absolute, is_dir)
            or _spec(self.excludes.patterns).match_file(absolute.name + ("/" if is_dir else ""))
        ):
            return True
        return self.settings.respect_gitignore and any(i.ignores(absolute, is_dir) for i in ignores)

    def files(self, paths: list[str]) -> tuple[list[str], list[str]]:
        """The Python files to lint (sorted, unique) and the errors for paths that are missing."""
        found: dict[str, None] = {}
        errors = []
        for raw in paths:
            path = Path(raw)
            if not path.exists():
                errors.append(f"{raw}: No such file or directory")
                continue
            root = path.resolve()
            self.ancestors += root.parents if path.is_dir() else [root.parent, *root.parent.parents]
            ancestors = []
            if self.settings.respect_gitignore:
                ancestors = _ancestor_gitignores(root if path.is_dir() else root.parent)
                # A directory named explicitly is linted even if an ancestor .gitignore covers it.
                ancestors = [i for i in ancestors if not i.ignores(root, path.is_dir())]
            if path.is_file():
                if not (self.force_exclude and self._excluded_file(root, ancestors + self._dir_ignores(root.parent))):
                    found[os.path.normpath(raw)] = None
                continue
            if self.force_exclude and self._excluded(root, True, ancestors):
                continue
            for file in self._walk(root, raw, ancestors):
                found[file] = None
        return sorted(found), errors

    def _excluded_file(self, absolute: Path, ignores: list[_Ignore]) -> bool:
        """With ``--force-exclude``, a file named explicitly is excluded when it is, or when
        one of its directories below the project root matches an exclude pattern."""
        if self._excluded(absolute, False, ignores):
            return True
        root = self.excludes.base
        if root not in absolute.parents:
            return False
        return any(self._excluded(parent, True, []) for parent in absolute.parents if root in parent.parents)

    def _dir_ignores(self, directory: Path) -> list[_Ignore]:
        ignore = _read_gitignore(directory) if self.settings.respect_gitignore else None
        return [ignore] if ignore else []

    def _walk(self, top: Path, shown: str, inherited: list[_Ignore]) -> list[str]:
        """Python files under the absolute directory ``top``, named relative to ``shown``
        (the path as the user gave it)."""
        out = []
        stack = [(top, os.path.normpath(shown), inherited)]
        while stack:
            directory, shown_dir, ignores = stack.pop()
            self.walked.append(directory)
            ignores = ignores + self._dir_ignores(directory)
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                path = directory / entry.name
                if entry.is_dir(follow_symlinks=False):
                    if not self._excluded(path, True, ignores):
                        stack.append((path, os.path.join(shown_dir, entry.name), ignores))
                elif entry.name.endswith(PYTHON_SUFFIXES) and entry.is_file():
                    if not self._excluded(path, False, ignores):
                        out.append(os.path.normpath(os.path.join(shown_dir, entry.name)))
        return out
