"""The runtime as a file of the user's project: where fixes put it, and how it is written.

Fixes never make an application depend on the linter. By default the runtime module is
vendored into the project the first time a fix needs it, as ``asyncloop_runtime.py``, once
per *import root* (the folder Python imports a file from: the parent of its top-level
package, or its own folder when it is in no package), because two copies imported by one
process would run two event loops:

- when the import root has a main package (one named like ``[project] name`` in
  ``pyproject.toml``, or the only package of a folder that holds no modules, as ``src/``
  does), the runtime goes into that package: files inside it import it relatively
  (``from . import asyncloop_runtime as runtime``, ``from .. import ...``), so it ships with
  the package however that is deployed; other files there import it from the package;
- otherwise (a Lambda task root, a Django project, a folder of scripts) it goes into the
  import root itself and is imported as a top-level module
  (``import asyncloop_runtime as runtime``): that folder is what Python puts on ``sys.path``.

A copy that is already there wins over both. With ``runtime-import = "a.b.name"`` fixes
import that module instead; when its package ``a.b`` is a folder of the project (under the
project root, ``src/`` or the import root) and the module is missing, it is written there. A
module that is not in the project (``asyncloop_lint.runtime``, a package of your own
installed from an index) is imported as configured and never written.

Kept free of libcst: the CLI and the fixer's workers use it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import __version__

MODULE = "asyncloop_runtime"
DEFAULT_FILENAME = f"{MODULE}.py"
HEADER_MARK = "# Vendored from asyncloop-lint"


class VendorError(Exception):
    """The runtime cannot be written where asked; the message says why and what to do."""


def runtime_source() -> str:
    source = (Path(__file__).with_name("runtime.py")).read_text(encoding="utf-8")
    header = (
        f"{HEADER_MARK} {__version__} (module asyncloop_lint.runtime).\n"
        "# Standard library only. Regenerate with `asyncloop-lint --write-runtime PATH`.\n"
        "# asyncloop-lint: noqa\n"  # the linter's own code: not the project's to fix
    )
    return header + source


def is_vendored_runtime(path: Path) -> bool:
    from .files import read_regular

    try:  # never waits on a FIFO
        return read_regular(path).decode("utf-8", "replace").startswith(HEADER_MARK)
    except OSError:
        return False


@dataclass(frozen=True)
class RuntimeLocation:
    """How one file's fixes import the runtime, and where its code lives."""

    module: str  # as the import names it: ".asyncloop_runtime", "asyncloop_runtime", "myapp.rt"
    file: str | None  # the project file that holds it (None: installed, not ours to write)

    @property
    def vendored(self) -> bool:
        return self.file is not None


def _packages_above(directory: Path) -> list[Path]:
    """``directory`` and its parents while they are packages (``__init__.py``), innermost first."""
    found = []
    while (directory / "__init__.py").is_file():
        found.append(directory)
        if directory.parent == directory:
            break
        directory = directory.parent
    return found


def import_root(path: str) -> Path:
    """The folder Python imports ``path`` from: the parent of its top-level package, or its
    own folder when it is in no package."""
    directory = _file_path(path).parent
    packages = _packages_above(directory)
    return packages[-1].parent if packages else directory


def _file_path(path: str) -> Path:
    file = Path(path) if path not in ("", "-") else Path("-")
    return Path(os.path.abspath(file))


def locate(path: str, configured: str | None, project_root: str) -> RuntimeLocation:
    """Where the runtime is for the file at ``path`` (``configured``: ``runtime-import``)."""
    file = _file_path(path)
    packages = _packages_above(file.parent)
    if configured is None:
        root = packages[-1].parent if packages else file.parent
        main = _main_package(root, project_root)
        if main is None:
            return RuntimeLocation(MODULE, str(root / DEFAULT_FILENAME))
        target = str(root / main / DEFAULT_FILENAME)
        if packages and packages[-1].name == main:
            return RuntimeLocation("." * len(packages) + MODULE, target)
        return RuntimeLocation(f"{main}.{MODULE}", target)
    *parents, last = configured.split(".")
    root = packages[-1].parent if packages else file.parent
    for base in dict.fromkeys((Path(project_root), Path(project_root) / "src", root)):
        folder = base.joinpath(*parents)
        if parents and not all((base.joinpath(*parents[: i + 1]) / "__init__.py").is_file() for i in range(len(parents))):
            continue
        if (folder / last / "__init__.py").is_file():
            return RuntimeLocation(configured, str(folder / last / "__init__.py"))
        if (folder / f"{last}.py").is_file() or parents:
            return RuntimeLocation(configured, str(folder / f"{last}.py"))
    if not parents:
        return RuntimeLocation(configured, str(root / f"{last}.py"))
    return RuntimeLocation(configured, None)


def _main_package(root: Path, project_root: str) -> str | None:
    """The package of ``root`` that holds the runtime, or None for ``root`` itself."""
    if (root / DEFAULT_FILENAME).is_file():
        return None
    try:
        with os.scandir(root) as scan:  # file types come with the listing: no stat per entry
            entries = sorted((e.name, e.is_dir()) for e in scan)
    except OSError:
        return None
    packages = [name for name, is_dir in entries if is_dir and name.isidentifier() and (root / name / "__init__.py").is_file()]
    for name in packages:
        if is_vendored_runtime(root / name / DEFAULT_FILENAME):
            return name
    wanted = _project_name(project_root)
    if wanted in packages:
        return wanted
    modules = [n for n, is_dir in entries if not is_dir and n.endswith(".py") and n not in ("setup.py", "conftest.py", "noxfile.py")]
    if len(packages) == 1 and not modules:
        return packages[0]
    return None


def _project_name(project_root: str) -> str | None:
    """``[project] name`` of the project's pyproject.toml, spelled as an import name."""
    from .files import read_regular

    try:
        text = read_regular(Path(project_root) / "pyproject.toml").decode("utf-8")  # never waits on a FIFO
    except (OSError, UnicodeError):
        return None
    import re

    found = re.search(r'(?ms)^\[project\][^\[]*?^name\s*=\s*["\']([^"\']+)["\']', text)
    return found.group(1).lower().replace("-", "_").replace(".", "_") if found else None


def ensure_runtime(file: str) -> bool:
    """Write the runtime to ``file`` unless something is there already; True if written."""
    target = Path(file)
    if target.exists():
        return False
    _write_new(target, runtime_source())
    return True


def _write_new(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` through a temporary file, so no half-written module is left."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=".asyncloop-runtime-", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def module_name_for(path: Path) -> str | None:
    """The dotted import path of ``path``, walking up through packages (``__init__.py``)."""
    path = path.resolve()
    parts = [path.stem]
    directory = path.parent
    while (directory / "__init__.py").is_file():
        parts.append(directory.name)
        directory = directory.parent
    name = ".".join(reversed(parts))
    return name if all(p.isidentifier() for p in parts) else None


def write_runtime(destination: str) -> tuple[Path, str | None]:
    """``--write-runtime``: an existing folder gets ``asyncloop_runtime.py``; a path ending with
    a separator is a folder, created when missing; anything else must be a ``.py`` file in an
    existing folder. An existing file is replaced only when it is a vendored runtime."""
    ends_with_separator = destination.endswith(("/", os.sep)) or (os.altsep is not None and destination.endswith(os.altsep))
    target = Path(destination)
    if target.is_dir():
        target = target / DEFAULT_FILENAME
    elif ends_with_separator:
        if target.exists():
            raise VendorError(f"{destination} is a file, not a folder")
        try:
            target.mkdir(parents=True)
        except OSError as exc:
            raise VendorError(f"cannot create the folder {destination}: {exc.strerror or exc}") from None
        target = target / DEFAULT_FILENAME
    elif target.exists():
        pass  # a file: replaced below only when it is a vendored runtime
    elif target.suffix != ".py":
        raise VendorError(
            f"{destination} does not exist; end it with `{os.sep}` to create that folder, "
            f"or name a `.py` file in an existing folder"
        )
    elif not target.parent.is_dir():
        raise VendorError(f"the folder {target.parent} does not exist (end the path with `{os.sep}` to create a folder)")
    if target.exists() and not is_vendored_runtime(target):
        raise VendorError(f"{target} exists and is not a vendored asyncloop runtime; not overwriting it")
    if not target.stem.isidentifier():
        raise VendorError(f"{target.name} cannot be imported: the module name must be a Python identifier")
    try:
        _write_new(target, runtime_source())
    except OSError as exc:
        raise VendorError(f"cannot write the runtime to {target}: {exc.strerror or exc}") from None
    return target, module_name_for(target)
