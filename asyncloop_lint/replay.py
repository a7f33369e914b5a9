"""The warm index: replay an unchanged run's output without importing click, libcst or rich.

The console entry point. A plain check (no ``--fix``/``--diff``, no stdin, cache on) whose
inputs are exactly as they were when the same command last ran in the same folder prints the
stored output and exits with the stored code. "Exactly as they were" means: the same
arguments, working folder, interpreter, linter version and code, and environment variables
that change the output; every linted file and every other file the findings were derived from
with the same :func:`stamp` (size, modification time, inode change time and inode number, as
git's index compares them); every folder that was walked, every ancestor folder of the named
paths and every ``pyproject.toml``/``.gitignore`` that was or could be read with the same
stamp (so added, removed and renamed files and new configuration are seen). An edit that
puts the old size and modification time back (``cp -p``, ``rsync -t``, ``tar``) still sets
the inode change time, which no user-level tool can set, or makes a new inode. A file changed
within two seconds of the recording is also checked by content hash, so an edit in the same
clock tick of a coarse file-system clock is not missed. Any mismatch, and any error, falls
back to the normal run, which records the index again.

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
INDEX_FORMAT = 3
INDEX_SUFFIX = ".idx"
# Options after which a run is not a plain, cacheable check.
_NOT_REPLAYABLE = frozenset({
    "--fix", "--diff", "--no-cache", "-o", "--output-file", "--explain", "--list-rules", "--write-runtime",
    "--stdin-filename", "-h", "--help", "-V", "--version",
})

RECORDING: Recorder | None = None


def stamp(st: os.stat_result) -> list[int]:
    """What says a file is unchanged without reading it: size, modification time, inode change
    time and inode number. ``cp -p``, ``rsync -t`` and ``tar`` restore the first two; the
    change time is then the time of the copy, and a rename brings a new inode."""
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def racy(st: os.stat_result, since_ns: int) -> bool:
    """Changed so close to ``since_ns`` that a later edit in the same tick of a coarse clock
    could keep the stamp: such a file is compared by content."""
    return max(st.st_mtime_ns, st.st_ctime_ns) >= since_ns - _RACY_NS


def _digest(data: bytes, size: int) -> str:
    """BLAKE2b from CPython's own module: importing ``hashlib`` loads OpenSSL (milliseconds)."""
    try:
        from _blake2 import blake2b
    except ImportError:  # pragma: no cover - an interpreter built without it
        from hashlib import blake2b
    return blake2b(data, digest_size=size).hexdigest()


def code_fingerprint() -> str:
    """Size and mtime of the linter's own modules: results go stale when a rule changes, even
    between releases (in a development checkout)."""
    package = os.path.dirname(os.path.abspath(__file__))
    parts = []
    for folder in (package, os.path.join(package, "rules")):
        for name in sorted(os.listdir(folder)):
            if name.endswith(".py"):
                parts.append(f"{name}:{stamp(os.stat(os.path.join(folder, name)))}")
    return _digest("|".join(parts).encode(), 8)


def _replayable(argv: list[str]) -> bool:
    if argv[:1] == ["server"]:  # the language server
        return False
    return not any(arg in _NOT_REPLAYABLE or arg.startswith(("--output-file=", "--stdin-filename=")) or arg == "-"
                   for arg in argv)


def _key(argv: list[str]) -> str:
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
    return _digest("\0".join(parts).encode("utf-8", "surrogateescape"), 12)


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
    name = INDEX_PREFIX + key + INDEX_SUFFIX
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


_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def _read(path: str) -> bytes | None:
    """The bytes of a regular file, or None: a FIFO or device is never waited on."""
    import stat as stat_module

    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return None
    try:
        if not stat_module.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)


def _hash(path: str) -> str | None:
    data = _read(path)
    return None if data is None else _digest(data, 16)


def _unchanged(path: str, recorded: list[int] | None) -> bool | None:
    """Whether ``path`` still has its recorded stamp: None when it is still missing (nothing
    more to compare), False when it appeared, disappeared or changed."""
    try:
        st = os.stat(path)
    except OSError:
        return None if recorded is None else False
    return recorded is not None and stamp(st) == recorded


def _still_valid(data: dict) -> bool:
    if data.get("format") != INDEX_FORMAT or data.get("code") != code_fingerprint():
        return False
    for path, recorded, digest in data["files"]:
        same = _unchanged(path, recorded)
        if same is False or (same and digest is not None and _hash(path) != digest):
            return False
    for path, existed in data["exists"]:
        if os.path.exists(path) != existed:
            return False
    for path, recorded, names in data["dirs"]:
        same = _unchanged(path, recorded)
        if same is False or (same and names is not None and sorted(os.listdir(path)) != names):
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
    try:
        raw = _read(path)
        if raw is None:
            return None
        data = load_index(raw)
        if not isinstance(data, dict) or data.get("argv") != argv or not _still_valid(data):
            return None
        out, err, code = data["stdout"].encode("utf-8", "surrogateescape"), data["stderr"], data["exit"]
        if not isinstance(err, str) or code not in (0, 1) or isinstance(code, bool):
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
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
                files.append([path, None, None])
                continue
            if max(st.st_mtime_ns, st.st_ctime_ns) >= self.started:
                return  # changed while this run read it: what it printed may be stale already
            if racy(st, self.started):
                digest = _hash(path)
                if digest is None:
                    return
                files.append([path, stamp(st), digest])
            else:
                files.append([path, stamp(st), None])
        dirs = []
        for path in sorted(self.dirs):
            try:
                st = os.stat(path)
                dirs.append([path, stamp(st), sorted(os.listdir(path)) if racy(st, self.started) else None])
            except OSError:
                dirs.append([path, None, None])
        data = {"format": INDEX_FORMAT, "argv": self.argv, "code": code_fingerprint(), "files": files, "dirs": dirs,
                "exists": exists, "stdout": stdout, "stderr": stderr, "exit": exit_code}
        try:
            os.makedirs(self.cache_dir, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".replay-", dir=self.cache_dir)
            with os.fdopen(fd, "wb") as handle:
                handle.write(dump_index(data))
            os.replace(tmp, os.path.join(self.cache_dir, INDEX_PREFIX + self.key + INDEX_SUFFIX))
            _prune(self.cache_dir)
        except OSError:
            pass  # an index that cannot be written only costs speed


KEEP_INDEXES = 16
INDEX_MAGIC = "asyncloop-lint replay index"


# The index is NUL-separated fields (no path, argument or digest holds a NUL), then the
# output. Not JSON: importing ``json`` (and the ``re`` and ``enum`` it pulls in) was a third of
# a warm run. Anything unexpected in a file read back is a miss (ValueError).
def dump_index(data: dict) -> bytes:
    def stamp_field(recorded: list[int] | None) -> str:
        return "" if recorded is None else ",".join(map(str, recorded))

    fields = [INDEX_MAGIC, str(data["format"]), data["code"], str(data["exit"]), str(len(data["stdout"])),
              str(len(data["argv"])), *data["argv"], str(len(data["files"]))]
    for path, recorded, digest in data["files"]:
        fields += [path, stamp_field(recorded), digest or ""]
    fields.append(str(len(data["exists"])))
    for path, existed in data["exists"]:
        fields += [path, "1" if existed else "0"]
    fields.append(str(len(data["dirs"])))
    for path, recorded, names in data["dirs"]:
        fields += [path, stamp_field(recorded), "-" if names is None else str(len(names)), *(names or ())]
    if any("\0" in field for field in fields):
        raise ValueError("a NUL in an index field")
    text = "\0".join(fields) + "\0" + data["stdout"] + data["stderr"]
    return text.encode("utf-8", "surrogateescape")


def load_index(raw: bytes) -> dict:
    text = raw.decode("utf-8", "surrogateescape")
    position = 0

    def field() -> str:
        nonlocal position
        end = text.index("\0", position)
        value, position = text[position:end], end + 1
        return value

    def count() -> int:
        value = field()
        if not value.isdigit():
            raise ValueError(value)
        return int(value)

    def stamp_field() -> list[int] | None:
        value = field()
        if not value:
            return None
        numbers = [int(part) for part in value.split(",")]
        if len(numbers) != 4:
            raise ValueError(value)
        return numbers

    if field() != INDEX_MAGIC:
        raise ValueError("not an index")
    data: dict = {"format": count(), "code": field(), "exit": int(field())}
    stdout_length = count()
    data["argv"] = [field() for _ in range(count())]
    data["files"] = [[field(), stamp_field(), field() or None] for _ in range(count())]
    data["exists"] = [[field(), field() == "1"] for _ in range(count())]
    dirs = []
    for _ in range(count()):
        path, recorded, names = field(), stamp_field(), field()
        dirs.append([path, recorded, None if names == "-" else [field() for _ in range(int(names))]])
    data["dirs"] = dirs
    rest = text[position:]
    if stdout_length > len(rest):
        raise ValueError("truncated")
    data["stdout"], data["stderr"] = rest[:stdout_length], rest[stdout_length:]
    return data


def _prune(directory: str) -> None:
    """Keep the most recent indexes only: each distinct command line (pre-commit names different
    files every time) writes its own."""
    entries = []
    for name in os.listdir(directory):
        if name.startswith(INDEX_PREFIX) and name.endswith((INDEX_SUFFIX, ".json")):
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
    """The ``asyncloop-lint`` command: a replay when nothing changed, else the normal run.
    Ctrl-C exits with 130 and a one-line message, never a traceback (see ``interrupts``)."""
    try:
        _main()
    except KeyboardInterrupt:
        _interrupted()
    except BaseException as exc:
        interrupts = sys.modules.get(__package__ + ".interrupts")
        if interrupts is not None and isinstance(exc, interrupts.Interrupted):
            _interrupted()
        raise


def _interrupted() -> None:
    from .interrupts import EXIT_INTERRUPTED, message

    message(sys.stderr)
    sys.exit(EXIT_INTERRUPTED)


def _main() -> None:
    global RECORDING
    argv = sys.argv[1:]
    code = None
    try:
        code = try_replay(argv)
    except Exception:  # noqa: BLE001 - a broken index is a miss, never a failure
        code = None
    if code is not None:
        sys.exit(code)
    if argv[:1] != ["server"]:
        from . import interrupts

        interrupts.install()
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
