"""Reading and writing the user's files without being hung, fooled or turned into a thief.

- :func:`read_regular` never blocks on a FIFO or a device: it opens without waiting and
  refuses anything that is not a regular file.
- :func:`write_fixed` writes a fixed file back so that its identity survives: a symbolic link
  stays a link and its target is fixed; a file with hard links is rewritten in place, so the
  links stay shared; mode, owner and group are kept. Otherwise the write is atomic (a
  temporary file next to the real target, then a rename). A file that changed on disk since it
  was read is not written at all.

Standard library only; imported by the cache and the command, never by the warm replay.
"""

from __future__ import annotations

import errno
import os
import stat


class NotRegularFile(OSError):
    """A FIFO, socket, device or directory where a regular file was expected."""

    def __init__(self, path: str, mode: int) -> None:
        super().__init__(errno.EINVAL, f"not a regular file ({describe_mode(mode)})", path)


def describe_mode(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def read_regular(path: str | os.PathLike[str]) -> bytes:
    """The bytes of the regular file at ``path`` (symbolic links followed). Raises OSError,
    :class:`NotRegularFile` for a FIFO, socket, device or directory; never blocks on one."""
    fd = os.open(path, _READ_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(os.fspath(path), st.st_mode)
        chunks = []
        while True:
            chunk = os.read(fd, max(st.st_size + 1, 65536))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


class ChangedOnDisk(OSError):
    """The file is no longer what was linted: writing the fix would lose someone's edit."""

    def __init__(self, path: str) -> None:
        super().__init__(errno.EAGAIN, "it changed on disk while it was being fixed; not written (run again)", path)


def write_fixed(path: str, data: bytes, original: bytes | None = None) -> str:
    """Write ``data`` as the new content of the file at ``path``, keeping its identity.

    ``original``: the bytes that were fixed; when the file no longer holds them nothing is
    written (:class:`ChangedOnDisk`), and when it holds ``data`` already nothing needs to be
    (``"unchanged"``). Returns how the file was written: ``"atomic"`` or ``"in place"`` (hard links, an owner this process cannot give a new file, or a folder
    that refuses new files while the file itself is writable). Raises OSError.
    """
    target = os.path.realpath(path)  # a symbolic link: fix what it points at, keep the link
    st = os.stat(target)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFile(path, st.st_mode)
    if original is not None:
        current = read_regular(target)
        if current == data:
            return "unchanged"  # another name of this file (a hard link) was fixed already
        if current != original:
            raise ChangedOnDisk(path)
    if st.st_nlink > 1:
        _write_in_place(target, data, original)
        return "in place"
    try:
        if _write_atomic(target, data, st):
            return "atomic"
    except PermissionError:
        pass  # a read-only folder: a writable file can still be rewritten in place
    except OSError as exc:
        if exc.errno != errno.EROFS:
            raise
    _write_in_place(target, data, original)
    return "in place"


def _write_atomic(target: str, data: bytes, st: os.stat_result) -> bool:
    """A temporary file beside ``target`` with its mode, owner and group, renamed over it.
    False (nothing changed) when the owner or group cannot be reproduced."""
    import tempfile

    directory = os.path.dirname(target)
    fd, tmp = tempfile.mkstemp(prefix=".asyncloop-lint-", suffix=".tmp", dir=directory)
    try:
        try:
            made = os.fstat(fd)
            if (made.st_uid, made.st_gid) != (st.st_uid, st.st_gid) and hasattr(os, "fchown"):
                try:
                    os.fchown(fd, st.st_uid, st.st_gid)
                except PermissionError:
                    return False  # the new file would change hands: write in place instead
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
        tmp = ""
        return True
    finally:
        if tmp:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _write_in_place(target: str, data: bytes, original: bytes | None) -> None:
    """Overwrite the file's own bytes (same inode: links, owner and mode are untouched). The
    new content was checked to parse before; if the write fails half-way (a full disk), the
    original bytes are put back."""
    fd = os.open(target, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    try:
        try:
            _write_all(fd, data)
            os.ftruncate(fd, len(data))
            os.fsync(fd)
        except OSError:
            if original is not None:
                try:
                    os.lseek(fd, 0, os.SEEK_SET)
                    _write_all(fd, original)
                    os.ftruncate(fd, len(original))
                except OSError:
                    pass
            raise
    finally:
        os.close(fd)
