"""Per-file results keyed by content, the tool's version and the effective settings.

One JSON file per (version, settings) pair under the cache directory. A file whose path,
size and mtime match is a hit without being read; otherwise its bytes are hashed and a hash
match is a hit. A corrupt, truncated or foreign cache file is ignored and rebuilt; writes go
through a temporary file and an atomic rename, so two runs at once leave a valid cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from . import __version__
from .replay import code_fingerprint
from .diagnostic import Diagnostic, Edit, FileResult, FixInfo, Location

DEFAULT_DIR = ".asyncloop_lint_cache"
FORMAT = 1


def content_hash(source: bytes) -> str:
    return hashlib.blake2b(source, digest_size=16).hexdigest()


def _loc(pair: list[int]) -> Location:
    return Location(pair[0], pair[1])


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


def _decode(item: list, filename: str) -> Diagnostic:
    code, name, message, start, end, fix, noqa_row = item
    fix_info = None
    if fix is not None:
        edits = None if fix[2] is None else tuple(Edit(c, _loc(a), _loc(b)) for c, a, b in fix[2])
        fix_info = FixInfo(fix[0], fix[1], edits)
    return Diagnostic(code, name, message, filename, _loc(start), _loc(end), fix_info, noqa_row)


def _trusted_mtime(st: os.stat_result) -> int:
    """The file's mtime, or -1 when it is too recent to tell a later edit in the same clock
    tick apart (the next run then compares content hashes instead)."""
    import time

    return st.st_mtime_ns if st.st_mtime_ns < time.time_ns() - 2_000_000_000 else -1


def _unchanged(entry: list) -> bool:
    """The other files an entry's findings were derived from are as they were."""
    for dep in entry[5] if len(entry) == 6 else ():
        try:
            path, size, mtime = dep
            st = os.stat(path)
        except (OSError, TypeError, ValueError):
            return False
        if st.st_size != size or st.st_mtime_ns != mtime:
            return False
    return True


class Cache:
    def __init__(self, directory: Path, settings_key: str) -> None:
        self.directory = directory
        key = f"{FORMAT}|{__version__}|{code_fingerprint()}|{settings_key}"
        digest = hashlib.blake2b(key.encode(), digest_size=12).hexdigest()
        self.file = directory / f"results-{digest}.json"
        self.entries: dict[str, list] = {}
        self.dirty = False
        try:
            data = json.loads(self.file.read_bytes())
            if isinstance(data, dict) and data.get("version") == __version__ and isinstance(data.get("files"), dict):
                self.entries = data["files"]
        except (OSError, ValueError, TypeError):
            self.entries = {}

    def _entry(self, path: str) -> list | None:
        entry = self.entries.get(path)
        if entry is None or (isinstance(entry, list) and len(entry) in (5, 6)):
            return entry
        del self.entries[path]  # damaged: lint the file again
        return None

    def lookup_stat(self, path: str, st: os.stat_result) -> FileResult | None:
        entry = self._entry(path)
        if entry is not None and entry[0] == st.st_size and entry[1] == st.st_mtime_ns and _unchanged(entry):
            return self._result(path, entry)
        return None

    def lookup_content(self, path: str, st: os.stat_result, digest: str) -> FileResult | None:
        entry = self._entry(path)
        if entry is not None and entry[2] == digest and _unchanged(entry):
            entry[0], entry[1] = st.st_size, _trusted_mtime(st)
            self.dirty = True
            return self._result(path, entry)
        return None

    def _result(self, path: str, entry: list) -> FileResult | None:
        try:
            diagnostics = tuple(_decode(item, path) for item in entry[3])
            return FileResult(path, diagnostics, lines=tuple(entry[4] or ()))
        except (TypeError, ValueError, IndexError, KeyError):
            self.entries.pop(path, None)  # a damaged entry: lint the file again
            return None

    def store(self, path: str, st: os.stat_result, digest: str, result: FileResult) -> None:
        if result.error or result.warning or result.not_analysed or any(dep[0] == "*" for dep in result.depends):
            return  # results that depend on the whole project, or of files not analysed, are not kept
        entry = [st.st_size, _trusted_mtime(st), digest, [_encode(d) for d in result.diagnostics],
                 list(result.lines) if result.diagnostics else None]
        if result.depends:
            entry.append([list(dep) for dep in result.depends])
        self.entries[path] = entry
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        import tempfile

        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            ignore = self.directory / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# Created by asyncloop-lint.\n*\n", encoding="utf-8")
            fd, tmp = tempfile.mkstemp(prefix=".results-", dir=self.directory)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"version": __version__, "files": self.entries}, handle, separators=(",", ":"))
            os.replace(tmp, self.file)
        except OSError:
            pass  # a cache that cannot be written only costs speed
