"""The project index: what a file's rules need to know about the other modules of its project.

Built lazily, and only for the questions a file actually asks, so a run whose files never
ask costs nothing:

- :meth:`ProjectIndex.object_kind`: what a module-level object imported from another module
  of the project is (``from worker.celery_app import app`` → ``celery.Celery``), so entry
  points defined through it (``@app.task``) are recognised across modules. Cost: a few
  ``stat`` calls to find the module and one ``ast`` parse of it, cached per process.
- :meth:`ProjectIndex.is_imported`: whether any module of the project imports a module (a
  script is a module that nothing imports). Cost: one pass over the project's ``.py`` files
  with a regular expression (no parsing), once per process and project root.

Modules are found the way the interpreter would find them from the file being linted: in each
folder from the file's own up to the project root, and in ``<root>/src``. A file linted alone
(pre-commit, stdin with ``--stdin-filename``) gets the same answers.
"""

from __future__ import annotations

import ast
import os
import re

# Constructors whose module-level instances define entry points or serve requests.
KNOWN_CONSTRUCTORS = frozenset(
    {
        "celery.Celery", "celery.app.Celery", "celery.app.base.Celery",
        "flask.Flask", "flask.Blueprint", "quart.Quart", "quart.Blueprint",
        "fastapi.FastAPI", "fastapi.APIRouter", "fastapi.routing.APIRouter",
        "mangum.Mangum", "mangum.adapter.Mangum",
    }
)
SCRIPT_FOLDERS = frozenset({"scripts", "script", "bin"})
_SKIP_DIRS = frozenset({"node_modules", "__pycache__", "site-packages", "build", "dist"})
_MAX_FILES = 20_000
_IMPORT = re.compile(
    rb"^[ \t]*(?:from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^#\r\n]*)|import[ \t]+([^#\r\n]+))",
    re.MULTILINE,
)


class ProjectIndex:
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self._objects: dict[str, dict[str, str]] = {}
        self._imported: set[str] | None = None
        self._containing: dict[tuple, bool] = {}

    # ---- finding modules --------------------------------------------------------------------
    def _bases(self, near: str) -> list[str]:
        bases = []
        directory = os.path.dirname(os.path.abspath(near))
        while True:
            bases.append(directory)
            if directory == self.root or not directory.startswith(self.root + os.sep):
                break
            directory = os.path.dirname(directory)
        bases.append(os.path.join(self.root, "src"))
        return bases

    def find_module(self, dotted: str, near: str) -> str | None:
        """The file of module ``dotted`` (``.x.y`` relative to ``near``'s package)."""
        dots = len(dotted) - len(dotted.lstrip("."))
        parts = [p for p in dotted[dots:].split(".") if p]
        if dots:
            base = os.path.dirname(os.path.abspath(near))
            for _ in range(dots - 1):
                base = os.path.dirname(base)
            bases = [base]
        else:
            bases = self._bases(near)
        for base in bases:
            path = os.path.join(base, *parts)
            for candidate in (path + ".py", os.path.join(path, "__init__.py")):
                if parts and os.path.isfile(candidate):
                    return candidate
        return None

    # ---- module-level objects ---------------------------------------------------------------
    def objects(self, path: str) -> dict[str, str]:
        """Module-level ``NAME = Constructor(...)`` of a known constructor: name -> qualified."""
        found = self._objects.get(path)
        if found is not None:
            return found
        found = {}
        try:
            with open(path, "rb") as handle:
                tree = ast.parse(handle.read(), path)
        except (OSError, SyntaxError, ValueError):
            tree = None
        if tree is not None:
            imports: dict[str, str] = {}
            for node in tree.body:
                if isinstance(node, ast.Import):
                    for alias in node.names:
                        imports[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    for alias in node.names:
                        imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                elif isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Call):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    qualified = _qualify(node.value.func, imports)
                    if qualified in KNOWN_CONSTRUCTORS:
                        for target in targets:
                            if isinstance(target, ast.Name):
                                found[target.id] = qualified
        self._objects[path] = found
        return found

    def object_kind(self, qualified: str, near: str) -> str | None:
        """The constructor of the module-level object ``qualified`` (``pkg.mod.app``)."""
        module, _, name = qualified.rpartition(".")
        if not module or not name:
            return None
        path = self.find_module(module, near)
        return self.objects(path).get(name) if path is not None else None

    # ---- scripts ------------------------------------------------------------------------------
    def imported_names(self) -> set[str]:
        """Every dotted component any import statement of the project mentions."""
        if self._imported is not None:
            return self._imported
        names: set[str] = set()
        seen = 0
        for directory, dirs, files in os.walk(self.root):
            if "pyvenv.cfg" in files:
                dirs[:] = []
                continue
            dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS]
            for filename in files:
                if not filename.endswith(".py"):
                    continue
                seen += 1
                if seen > _MAX_FILES:
                    break
                try:
                    with open(os.path.join(directory, filename), "rb") as handle:
                        data = handle.read()
                except OSError:
                    continue
                if b"import" not in data:
                    continue
                for match in _IMPORT.finditer(data):
                    for group in match.groups():
                        if group:
                            names.update(p.decode("ascii", "replace") for p in re.findall(rb"\w+", group))
        self._imported = names
        return names

    def module_contains(self, dotted: str, near: str, *needles: bytes) -> bool:
        """The project module ``dotted`` (imported by the file ``near``) contains every one of
        ``needles``: a text check of one file, cached per process."""
        path = self.find_module(dotted, near)
        if path is None:
            return False
        key = (path, *needles)
        known = self._containing.get(key)
        if known is None:
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
            except OSError:
                data = b""
            known = self._containing[key] = all(needle in data for needle in needles)
        return known

    def is_script(self, path: str) -> bool:
        """A module run as a program: in a scripts folder, or one no module of the project
        imports (by its module name, or as a package by its folder's name)."""
        parts = os.path.abspath(path).split(os.sep)
        if SCRIPT_FOLDERS.intersection(parts[:-1]):
            return True
        stem = parts[-1].removesuffix(".py")
        if stem == "__init__":
            return False
        return stem not in self.imported_names()


def _qualify(func: ast.expr, imports: dict[str, str]) -> str | None:
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name) or func.id not in imports:
        return None
    return ".".join([imports[func.id], *reversed(parts)])


_INDEXES: dict[str, ProjectIndex] = {}


def index_for(root: str) -> ProjectIndex:
    """The (per-process) index of the project rooted at ``root``."""
    index = _INDEXES.get(root)
    if index is None:
        index = _INDEXES[root] = ProjectIndex(root)
    return index


_TEST_FOLDERS = frozenset({"tests", "test", "testing"})


def is_test_path(path: str, root: str | None = None) -> bool:
    """A test module (``test_*.py``, ``*_test.py``, ``conftest.py``, or a file in a ``tests``
    folder below ``root``): code that runs under a test runner, never in production."""
    if root is not None:
        absolute = os.path.abspath(path)
        if absolute.startswith(os.path.abspath(root) + os.sep):
            path = os.path.relpath(absolute, root)
    parts = path.replace("\\", "/").split("/")
    name = parts[-1]
    if name == "conftest.py" or name.startswith("test_") or name.endswith("_test.py"):
        return True
    return bool(_TEST_FOLDERS.intersection(parts[:-1]))
