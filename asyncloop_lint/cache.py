"""Per-file results keyed by content, the tool's version and the effective settings.

One JSON file per (version, settings) pair under the cache directory. A file whose path and
stamp (size, modification time, inode change time, inode: :func:`replay.stamp`) match is a
hit without being read; otherwise its bytes are hashed and a hash match is a hit. An edit that
restores the size and modification time (``cp -p``, ``rsync -t``, ``tar``) is still seen, and
a file changed within two seconds of its recording is always compared by content. A corrupt,
truncated, foreign or hand-edited cache file or entry is ignored (and the file linted again);
a FIFO in its place is not waited on. Writes go through a temporary file and an atomic rename,
so two runs at once leave a valid cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from . import __version__
from .diagnostic import SAFE, UNSAFE, Diagnostic, Edit, FileResult, FixInfo, Location
from .replay import code_fingerprint, racy, stamp

DEFAULT_DIR = ".asyncloop_lint_cache"
FORMAT = 2


def content_hash(source: bytes) -> str:
    return hashlib.blake2b(source, digest_size=16).hexdigest()


def _int(value: object, least: int = 1) -> int:
    if type(value) is not int or value < least:
        raise ValueError(f"not an integer >= {least}: {value!r}")
    return value


def _str(value: object) -> str:
    if type(value) is not str:
        raise ValueError(f"not a string: {value!r}")
    return value


def _loc(pair: object) -> Location:
    if not isinstance(pair, list) or len(pair) != 2:
        raise ValueError(f"not a location: {pair!r}")
    return Location(_int(pair[0]), _int(pair[1]))


def _encode(d: Diagnostic) -> list:
    fix = None
    if d.fix is not None:
        edits = None if d.fix.edits is None else [
            [e.content, [e.location.row, e.location.column], [e.end_location.row, e.end_location.column]]
            for e in d.fix.edits
        ]
        fix = [d.fix.applicability, d.fix.message, edits]
    return [d.code, d.name, d.message, [d.location.row, d.location.column],
            [d.end_location.row, d.end_location.column], fix, d.noqa_row]


def _decode(item: object, filename: str) -> Diagnostic:
    """A stored diagnostic, every field checked: a hand-edited entry raises ValueError (and the
    file is linted again) instead of reaching a reporter."""
    if not isinstance(item, list) or len(item) != 7:
        raise ValueError(f"not a diagnostic: {item!r}")
    code, name, message, start, end, fix, noqa_row = item
    fix_info = None
    if fix is not None:
        if not isinstance(fix, list) or len(fix) != 3 or fix[0] not in (SAFE, UNSAFE):
            raise ValueError(f"not a fix: {fix!r}")
        edits = None
        if fix[2] is not None:
            if not isinstance(fix[2], list) or not all(isinstance(e, list) and len(e) == 3 for e in fix[2]):
                raise ValueError(f"not a list of edits: {fix[2]!r}")
            edits = tuple(Edit(_str(c), _loc(a), _loc(b)) for c, a, b in fix[2])
        fix_info = FixInfo(fix[0], _str(fix[1]), edits)
    return Diagnostic(_str(code), _str(name), _str(message), filename, _loc(start), _loc(end), fix_info,
                      None if noqa_row is None else _int(noqa_row))


def _trusted_stamp(st: os.stat_result) -> list[int] | None:
    """The file's stamp, or None when it changed too recently to tell a later edit in the same
    clock tick apart (the next run then compares content hashes instead)."""
    import time

    return None if racy(st, time.time_ns()) else stamp(st)


def _unchanged(entry: list) -> bool:
    """The other files an entry's findings were derived from are as they were."""
    for dep in entry[4] if len(entry) == 5 else ():
        try:
            path, recorded, digest = dep
            if stamp(os.stat(path)) != recorded:
                return False
            if digest is not None and _file_hash(path) != digest:
                return False
        except (OSError, TypeError, ValueError):
            return False
    return True


def _file_hash(path: str) -> str:
    from .files import read_regular

    return content_hash(read_regular(path))


def _read_json(path: Path) -> object:
    """The JSON in the regular file at ``path``, or None (missing, damaged, a FIFO)."""
    from .files import read_regular

    try:
        return json.loads(read_regular(path))
    except (OSError, ValueError):
        return None


class Cache:
    def __init__(self, directory: Path, settings_key: str) -> None:
        self.directory = directory
        key = f"{FORMAT}|{__version__}|{code_fingerprint()}|{settings_key}"
        digest = hashlib.blake2b(key.encode(), digest_size=12).hexdigest()
        self.file = directory / f"results-{digest}.json"
        self.entries: dict[str, list] = {}
        self.dirty = False
        data = _read_json(self.file)
        if isinstance(data, dict) and data.get("version") == __version__ and isinstance(data.get("files"), dict):
            self.entries = data["files"]

    def _entry(self, path: str) -> list | None:
        """[stamp or None, digest, diagnostics, lines, (dependencies)]."""
        entry = self.entries.get(path)
        if entry is None or (isinstance(entry, list) and len(entry) in (4, 5)):
            return entry
        del self.entries[path]  # damaged: lint the file again
        return None

    def lookup_stat(self, path: str, st: os.stat_result) -> FileResult | None:
        entry = self._entry(path)
        if entry is not None and entry[0] is not None and entry[0] == stamp(st) and _unchanged(entry):
            return self._result(path, entry)
        return None

    def lookup_content(self, path: str, st: os.stat_result, digest: str) -> FileResult | None:
        entry = self._entry(path)
        if entry is not None and entry[1] == digest and _unchanged(entry):
            result = self._result(path, entry)
            if result is not None:
                entry[0] = _trusted_stamp(st)
                self.dirty = True
            return result
        return None

    def _result(self, path: str, entry: list) -> FileResult | None:
        try:
            diagnostics = tuple(_decode(item, path) for item in entry[2])
            lines = tuple(_str(line) for line in entry[3] or ())
            if diagnostics and not lines:
                raise ValueError("findings without the source lines they point at")
            return FileResult(path, diagnostics, lines=lines)
        except (TypeError, ValueError, IndexError, KeyError):
            self.entries.pop(path, None)  # a damaged entry: lint the file again
            self.dirty = True
            return None

    def store(self, path: str, st: os.stat_result, digest: str, result: FileResult) -> None:
        if result.error or result.warning or result.not_analysed or any(dep[0] == "*" for dep in result.depends):
            return  # results that depend on the whole project, or of files not analysed, are not kept
        deps = []
        for dep_path, size, mtime in result.depends:
            try:
                dep_st = os.stat(dep_path)
            except OSError:
                return
            if (dep_st.st_size, dep_st.st_mtime_ns) != (size, mtime):
                return  # changed since it was read: not kept
            try:
                digest_now = None if _trusted_stamp(dep_st) is not None else _file_hash(dep_path)
            except OSError:
                return
            deps.append([dep_path, stamp(dep_st), digest_now])
        entry = [_trusted_stamp(st), digest, [_encode(d) for d in result.diagnostics],
                 list(result.lines) if result.diagnostics else None]
        if deps:
            entry.append(deps)
        self.entries[path] = entry
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        import tempfile

        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            try:  # O_EXCL: never through a symbolic link, never into a FIFO
                fd = os.open(self.directory / ".gitignore", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write("# Created by asyncloop-lint.\n*\n")
            fd, tmp = tempfile.mkstemp(prefix=".results-", dir=self.directory)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"version": __version__, "files": self.entries}, handle, separators=(",", ":"))
            os.replace(tmp, self.file)
        except OSError:
            pass  # a cache that cannot be written only costs speed
