"""Find the files to lint: walk the given paths, honouring excludes and ``.gitignore``.

Patterns use gitignore syntax (through pathspec): a pattern without a slash matches a file or
directory name anywhere, one with a slash matches relative to the project root.

A file is linted once, however it is named (``a.py``, ``$PWD/a.py``, a symbolic link to it).
Symbolic links to directories are not followed while walking (name them to lint them);
dangling links are skipped (editors leave them as lock files). A path named on the command
line that is missing, unreadable, a link loop or not a regular file, and a folder that cannot
be listed, are errors (exit code 2), never a silent pass.
"""

from __future__ import annotations

import errno
import os
import re
import stat
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


def invalid_pattern(pattern: str) -> str | None:
    """Why pathspec cannot compile ``pattern`` (a trailing ``\\``, say), or None when it can."""
    try:
        _spec((pattern,))
    except Exception as exc:  # noqa: BLE001 - pathspec raises its own error types (and ValueError)
        return str(exc) or type(exc).__name__
    return None


def _git_patterns(lines: list[str]) -> tuple[str, ...]:
    """A ``.gitignore``'s patterns, minus those git accepts but never matches (``foo\\``)."""
    patterns = tuple(line for line in lines if line.strip() and not line.lstrip().startswith("#"))
    try:
        _spec(patterns)
    except Exception:  # noqa: BLE001 - drop the lines pathspec rejects, as git ignores them
        patterns = tuple(p for p in patterns if invalid_pattern(p) is None)
    return patterns


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
    from .files import read_regular

    try:
        lines = read_regular(directory / ".gitignore").decode("utf-8", "replace").splitlines()
    except OSError:  # none, unreadable, or a FIFO (never wait on one)
        return None
    patterns = _git_patterns(lines)
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
        """The Python files to lint (sorted, each file once) and the errors for paths that
        cannot be linted (missing, unreadable, link loops, FIFOs, folders that cannot be listed)."""
        self.errors: list[str] = []
        self._found: dict[str, tuple[str, bool]] = {}  # real path -> (name shown, named directly)
        for raw in paths:
            try:
                st = os.stat(raw)
            except OSError as exc:
                self.errors.append(f"{raw}: {_reason(exc, raw)}")
                continue
            path = Path(raw)
            is_dir = stat.S_ISDIR(st.st_mode)
            if not is_dir and not stat.S_ISREG(st.st_mode):
                from .files import describe_mode

                self.errors.append(f"{raw}: not a regular file or a directory ({describe_mode(st.st_mode)})")
                continue
            root = path.resolve()
            self.ancestors += root.parents if is_dir else [root.parent, *root.parent.parents]
            ancestors = []
            if self.settings.respect_gitignore:
                ancestors = _ancestor_gitignores(root if is_dir else root.parent)
                # A directory named explicitly is linted even if an ancestor .gitignore covers it.
                ancestors = [i for i in ancestors if not i.ignores(root, is_dir)]
            if not is_dir:
                if not (self.force_exclude and self._excluded_file(root, ancestors + self._dir_ignores(root.parent))):
                    self._add(os.path.normpath(raw), str(root), direct=True)
                continue
            if self.force_exclude and self._excluded(root, True, ancestors):
                continue
            self._walk(root, raw, ancestors)
        return sorted(shown for shown, _ in self._found.values()), self.errors

    def _add(self, shown: str, real: str, direct: bool) -> None:
        """Record a file under its real path: the first name wins, except that a name that is
        the file itself wins over a symbolic link to it."""
        if real not in self._found or (direct and not self._found[real][1]):
            self._found[real] = (shown, direct)

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

    def _walk(self, top: Path, shown: str, inherited: list[_Ignore]) -> None:
        """Add the Python files under the absolute, resolved directory ``top``, named relative
        to ``shown`` (the path as the user gave it)."""
        stack = [(top, os.path.normpath(shown), inherited)]
        while stack:
            directory, shown_dir, ignores = stack.pop()
            self.walked.append(directory)
            ignores = ignores + self._dir_ignores(directory)
            try:
                with os.scandir(directory) as scan:
                    entries = sorted(scan, key=lambda e: e.name)
            except OSError as exc:
                self.errors.append(f"{os.path.normpath(shown_dir)}: cannot list the folder: {exc.strerror or exc}")
                continue
            for entry in entries:
                path = directory / entry.name
                if entry.is_dir(follow_symlinks=False):
                    if not self._excluded(path, True, ignores):
                        stack.append((path, os.path.join(shown_dir, entry.name), ignores))
                    continue
                if not entry.name.endswith(PYTHON_SUFFIXES):
                    continue
                try:
                    is_file = entry.is_file()
                except OSError as exc:  # a symbolic link loop
                    if not self._excluded(path, False, ignores):
                        self.errors.append(f"{os.path.normpath(os.path.join(shown_dir, entry.name))}: {_reason(exc, str(path))}")
                    continue
                if is_file and not self._excluded(path, False, ignores):
                    link = entry.is_symlink()
                    self._add(os.path.normpath(os.path.join(shown_dir, entry.name)),
                              os.path.realpath(path) if link else str(path), direct=not link)


def _reason(exc: OSError, path: str) -> str:
    """What is wrong with a path ``os.stat`` refused, in the words a user expects."""
    if exc.errno == errno.ENOENT and os.path.islink(path):
        return "broken symbolic link (its target does not exist)"
    return exc.strerror or str(exc)
