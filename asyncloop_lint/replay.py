"""The warm index: replay an unchanged run's output without importing click, libcst or rich.

The console entry point. A plain check (no ``--fix``/``--diff``, no stdin, cache on) whose
inputs are exactly as they were when the same command last ran in the same folder prints the
stored output and exits with the stored code. "Exactly as they were" means: the same
arguments, working folder, interpreter, linter version and code, and environment variables
that change the output; every linted file and every other file the findings were derived from
with the same size and modification time; every folder that was walked, every ancestor folder
of the named paths and every ``pyproject.toml``/``.gitignore`` that was or could be read with
the same modification time (so added, removed and renamed files and new configuration are
seen). A file modified within two seconds of the recording is also checked by content hash,
so an edit in the same clock tick that keeps the size is not missed. Any mismatch, and any
error, falls back to the normal run, which records the index again.

This module imports only the standard library, and only ``os``/``sys`` on the way to a miss.
"""

from __future__ import annotations

import os
import sys

INDEX_PREFIX = "replay-"
# Environment variables that change what a run prints.
_ENV = ("NO_COLOR", "FORCE_COLOR", "TERM", "COLORTERM", "COLUMNS", "LINES", "TERM_PROGRAM",
        "GITHUB_ACTIONS", "GITHUB_WORKSPACE", "CI", "PYTHONPATH", "PYTHONIOENCODING")
_RACY_NS = 2_000_000_000
# Options after which a run is not a plain, cacheable check.
_NOT_REPLAYABLE = frozenset({
    "--fix", "--diff", "--no-cache", "-o", "--output-file", "--explain", "--list-rules", "--write-runtime",
    "--stdin-filename", "-h", "--help", "-V", "--version",
})

RECORDING: Recorder | None = None


def code_fingerprint() -> str:
    """Size and mtime of the linter's own modules: results go stale when a rule changes, even
    between releases (in a development checkout)."""
    import hashlib

    package = os.path.dirname(os.path.abspath(__file__))
    parts = []
    for folder in (package, os.path.join(package, "rules")):
        for name in sorted(os.listdir(folder)):
            if name.endswith(".py"):
                st = os.stat(os.path.join(folder, name))
                parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.blake2b("|".join(parts).encode(), digest_size=8).hexdigest()


def _replayable(argv: list[str]) -> bool:
    if argv[:1] == ["server"]:  # the language server
        return False
    return not any(arg in _NOT_REPLAYABLE or arg.startswith(("--output-file=", "--stdin-filename=")) or arg == "-"
                   for arg in argv)


def _key(argv: list[str]) -> str:
    import hashlib

    from . import __version__

    streams = [_tty(sys.stdout), _tty(sys.stderr)]
    if streams[0]:
        try:
            streams.append(os.get_terminal_size(sys.stdout.fileno()).columns)
        except (OSError, ValueError, AttributeError):
            pass
    parts = [__version__, sys.executable, os.getcwd(), repr(argv), repr(streams),
             repr([(k, os.environ.get(k)) for k in _ENV]),
             repr(sorted((k, v) for k, v in os.environ.items() if k.startswith("ASYNCLOOP")))]
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=12).hexdigest()


def _tty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False


def _cache_dir_option(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--cache-dir" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--cache-dir="):
            return arg.split("=", 1)[1]
    return None


def _index_paths(argv: list[str], key: str) -> list[str]:
    """Where the index of this command may be: the cache folder given on the command line, or
    the default cache folder of the working folder or one of its ancestors."""
    name = INDEX_PREFIX + key + ".json"
    given = _cache_dir_option(argv)
    if given is not None:
        return [os.path.join(given, name)]
    found = []
    directory = os.getcwd()
    while True:
        found.append(os.path.join(directory, ".asyncloop_lint_cache", name))
        parent = os.path.dirname(directory)
        if parent == directory:
            return found
        directory = parent


def _hash(path: str) -> str | None:
    import hashlib

    try:
        with open(path, "rb") as handle:
            return hashlib.blake2b(handle.read(), digest_size=16).hexdigest()
    except OSError:
        return None


def _still_valid(data: dict) -> bool:
    if data.get("code") != code_fingerprint():
        return False
    for path, size, mtime, digest in data["files"]:
        try:
            st = os.stat(path)
        except OSError:
            if size != -1:
                return False
            continue
        if size == -1 or st.st_size != size or st.st_mtime_ns != mtime:
            return False
        if digest is not None and _hash(path) != digest:
            return False
    for path, existed in data["exists"]:
        if os.path.exists(path) != existed:
            return False
    for path, mtime, names in data["dirs"]:
        try:
            st = os.stat(path)
        except OSError:
            if mtime != -1:
                return False
            continue
        if mtime == -1 or st.st_mtime_ns != mtime:
            return False
        if names is not None and sorted(os.listdir(path)) != names:
            return False
    return True


def try_replay(argv: list[str]) -> int | None:
    """Print the stored output of this command and return its exit code, or None (a miss)."""
    if not _replayable(argv):
        return None
    key = _key(argv)
    for path in _index_paths(argv, key):
        if os.path.isfile(path):
            break
    else:
        return None
    import json

    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read())
        if data.get("argv") != argv or not _still_valid(data):
            return None
        out, err, code = data["stdout"].encode("utf-8", "surrogateescape"), data["stderr"], int(data["exit"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    sys.stdout.buffer.write(out)
    sys.stdout.flush()
    if err:
        sys.stderr.buffer.write(err.encode("utf-8", "surrogateescape"))
        sys.stderr.flush()
    return code


class _Tee:
    """A text stream that writes through and keeps a copy."""

    def __init__(self, stream: object) -> None:
        self._stream = stream
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return self._stream.write(text)  # type: ignore[attr-defined, no-any-return]

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)

    @property
    def buffer(self) -> object:
        return _BufferTee(self._stream.buffer, self.parts)  # type: ignore[attr-defined]


class _BufferTee:
    def __init__(self, buffer: object, parts: list[str]) -> None:
        self._buffer = buffer
        self._parts = parts

    def write(self, data: bytes) -> int:
        self._parts.append(data.decode("utf-8", "surrogateescape"))
        return self._buffer.write(data)  # type: ignore[attr-defined, no-any-return]

    def __getattr__(self, name: str) -> object:
        return getattr(self._buffer, name)


class Recorder:
    """Collects, during a normal run, what the index of that run needs (see :func:`note`)."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.key = _key(argv)
        import time

        self.started = time.time_ns()
        self.cache_dir: str | None = None
        self.files: set[str] = set()
        self.dirs: set[str] = set()
        # Folders above the named paths: only whether configuration and ignore files (and a
        # repository root) exist there matters, not their other entries (think of /tmp).
        self.ancestors: set[str] = set()
        self.replayable = True

    def save(self, stdout: str, stderr: str, exit_code: int) -> None:
        if not self.replayable or self.cache_dir is None:
            return
        import json
        import tempfile

        try:  # first: creating it changes its parent folder, which may be one of ``dirs``
            os.makedirs(self.cache_dir, exist_ok=True)
        except OSError:
            return
        # Configuration and ignore files that were (or, once created, would be) read.
        for directory in self.dirs:
            for name in ("pyproject.toml", ".gitignore"):
                candidate = os.path.join(directory, name)
                if os.path.isfile(candidate):
                    self.files.add(candidate)
        exists = []
        for directory in sorted(self.ancestors):
            for name in ("pyproject.toml", ".gitignore", ".git"):
                candidate = os.path.join(directory, name)
                if os.path.isfile(candidate) and name != ".git":
                    self.files.add(candidate)
                else:
                    exists.append([candidate, os.path.exists(candidate)])

        files = []
        for path in sorted(self.files):
            try:
                st = os.stat(path)
            except OSError:
                files.append([path, -1, -1, None])
                continue
            racy = st.st_mtime_ns >= self.started - _RACY_NS
            files.append([path, st.st_size, st.st_mtime_ns, _hash(path) if racy else None])
        dirs = []
        for path in sorted(self.dirs):
            try:
                st = os.stat(path)
            except OSError:
                dirs.append([path, -1, None])
                continue
            racy = st.st_mtime_ns >= self.started - _RACY_NS
            dirs.append([path, st.st_mtime_ns, sorted(os.listdir(path)) if racy else None])
        data = {"argv": self.argv, "code": code_fingerprint(), "files": files, "dirs": dirs, "exists": exists,
                "stdout": stdout, "stderr": stderr, "exit": exit_code}
        try:
            os.makedirs(self.cache_dir, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".replay-", dir=self.cache_dir)
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as handle:
                json.dump(data, handle, separators=(",", ":"))
            os.replace(tmp, os.path.join(self.cache_dir, INDEX_PREFIX + self.key + ".json"))
            _prune(self.cache_dir)
        except OSError:
            pass  # an index that cannot be written only costs speed


KEEP_INDEXES = 16


def _prune(directory: str) -> None:
    """Keep the most recent indexes only: each distinct command line (pre-commit names different
    files every time) writes its own."""
    entries = []
    for name in os.listdir(directory):
        if name.startswith(INDEX_PREFIX) and name.endswith(".json"):
            path = os.path.join(directory, name)
            try:
                entries.append((os.stat(path).st_mtime_ns, path))
            except OSError:
                continue
    for _, path in sorted(entries, reverse=True)[KEEP_INDEXES:]:
        try:
            os.unlink(path)
        except OSError:
            pass


def note(
    *, cache_dir: str | None = None, files: object = (), dirs: object = (), ancestors: object = (),
    replayable: bool = True,
) -> None:
    """Called by the normal run with what its output depends on (no-op unless recording)."""
    recorder = RECORDING
    if recorder is None:
        return
    if cache_dir is not None:
        recorder.cache_dir = os.path.abspath(cache_dir)
    recorder.files.update(os.path.abspath(str(f)) for f in files)  # type: ignore[attr-defined]
    recorder.dirs.update(os.path.abspath(str(d)) for d in dirs)  # type: ignore[attr-defined]
    recorder.ancestors.update(os.path.abspath(str(d)) for d in ancestors)  # type: ignore[attr-defined]
    recorder.replayable = recorder.replayable and replayable


def main() -> None:
    """The ``asyncloop-lint`` command: a replay when nothing changed, else the normal run."""
    global RECORDING
    argv = sys.argv[1:]
    code = None
    try:
        code = try_replay(argv)
    except Exception:  # noqa: BLE001 - a broken index is a miss, never a failure
        code = None
    if code is not None:
        sys.exit(code)
    from .cli import main as cli_main

    if not _replayable(argv):
        cli_main(prog_name="asyncloop-lint")
        return
    RECORDING = Recorder(argv)
    out, err = _Tee(sys.stdout), _Tee(sys.stderr)
    stderr_tty = _tty(sys.stderr)
    sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
    try:
        cli_main(args=argv, prog_name="asyncloop-lint")
    except SystemExit as exc:
        sys.stdout, sys.stderr = out._stream, err._stream  # type: ignore[assignment]
        exit_code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        if exit_code in (0, 1) and not (stderr_tty and err.parts):
            RECORDING.save("".join(out.parts), "".join(err.parts), exit_code)
        raise
    finally:
        sys.stdout, sys.stderr = out._stream, err._stream  # type: ignore[assignment]
        RECORDING = None
