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
- :meth:`ProjectIndex.blocking_chain`: whether a sync function of another module of the
  project reaches a known blocking call (AL504), and through which functions. Cost: asked
  only for functions a coroutine's call chain reaches through an import; the module is found
  with a few ``stat`` calls and parsed once with ``ast`` into a per-module summary, cached per
  process; imports are followed at most :data:`BLOCKING_DEPTH` modules deep.

Modules are found the way the interpreter would find them from the file being linted: in each
folder from the file's own up to the project root, and in ``<root>/src``. A file linted alone
(pre-commit, stdin with ``--stdin-filename``) gets the same answers.
"""

from __future__ import annotations

import ast
import os
import re

from .files import read_regular

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


BLOCKING_DEPTH = 3


class ProjectIndex:
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self._objects: dict[str, dict[str, str]] = {}
        self._imported: set[str] | None = None
        self._blocking: dict[str, dict[str, tuple[list[str], str] | None]] = {}
        self._modules: dict[tuple[str, str], str | None] = {}
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
            tree = ast.parse(read_regular(path), path)
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

    def object_kind(self, qualified: str, near: str) -> tuple[str | None, str | None]:
        """The constructor of the module-level object ``qualified`` (``pkg.mod.app``), and
        the file it was read from."""
        module, _, name = qualified.rpartition(".")
        if not module or not name:
            return None, None
        path = self.find_module(module, near)
        return (self.objects(path).get(name), path) if path is not None else (None, None)

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
                    data = read_regular(os.path.join(directory, filename))
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
                data = read_regular(path)
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


    # ---- blocking calls (AL504) --------------------------------------------------------------
    def blocking_chain(self, qualified: str, near: str, depth: int = 0) -> tuple[list[str], str] | None:
        """For function ``pkg.mod.func`` (or class ``pkg.mod.K``, its ``__init__``) of another
        module of the project: the chain of its module's sync functions that reaches a known
        blocking call (``["pkg.mod.func", "pkg.mod.helper"]``) and that call's display name."""
        module, _, name = qualified.rpartition(".")
        if not module or depth >= BLOCKING_DEPTH:
            return None
        cache_key = (module, os.path.dirname(os.path.abspath(near)))
        if cache_key not in self._modules:
            self._modules[cache_key] = self.find_module(module, near)
        path = self._modules[cache_key]
        if path is None or not os.path.abspath(path).startswith(self.root + os.sep):
            return None
        summary = self._blocking.get(path)
        if summary is None:
            self._blocking[path] = {}  # a cycle back to this module finds nothing
            summary = self._blocking[path] = _BlockingSummary(self, path, module, depth).build()
        found = summary.get(name) or summary.get(f"{name}.__init__")
        return found


class _BlockingSummary:
    """Which sync functions of one module reach a known blocking call (``ast`` only)."""

    def __init__(self, index: ProjectIndex, path: str, module: str, depth: int) -> None:
        self.index, self.path, self.depth = index, path, depth
        # How the chain names this module's functions: by the module's last component.
        self.module = module.strip(".").rsplit(".", 1)[-1] or os.path.basename(os.path.dirname(path))
        self.imports: dict[str, str] = {}
        self.functions: dict[str, ast.FunctionDef] = {}

    def build(self) -> dict[str, tuple[list[str], str] | None]:
        try:
            tree = ast.parse(read_regular(self.path), self.path)
        except (OSError, SyntaxError, ValueError):
            return {}
        _collect_imports(tree.body, self.imports)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                self.functions[node.name] = node
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef):
                        self.functions[f"{node.name}.{item.name}"] = item
        memo: dict[str, tuple[list[str], str] | None] = {}
        return {name: self._reach(name, memo, set()) for name in self.functions}

    def _reach(self, name: str, memo: dict, visiting: set[str]) -> tuple[list[str], str] | None:
        if name in memo:
            return memo[name]
        if name in visiting:
            return None
        visiting.add(name)
        function = self.functions[name]
        own = list(_own_nodes(function))  # walked once, read four times
        imports = dict(self.imports)
        _collect_imports(own, imports)
        built: dict[str, str] = {}
        found = None
        # Calls under `if <flag>:` with a parameter defaulting to False/None/0 run only for
        # callers that pass it: not counted here (a summary does not know its caller).
        guarded = _guarded_calls(function, own)
        calls = [n for n in own if isinstance(n, ast.Call) and id(n) not in guarded]
        for node in own:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                kind = _built_from(node.value, imports, built)
                if kind is not None:
                    built[node.targets[0].id] = kind
            elif isinstance(node, ast.withitem) and isinstance(node.optional_vars, ast.Name):
                kind = _built_from(node.context_expr, imports, built)
                if kind is not None:
                    built[node.optional_vars.id] = kind
        for call in calls:
            what = _blocking_call(call, imports, built)
            if what is not None:
                found = ([f"{self.module}.{name}"], what)
                break
        if found is None:
            klass = name.rsplit(".", 1)[0] if "." in name else None
            for call in calls:
                target = None
                func = call.func
                if isinstance(func, ast.Name) and func.id in self.functions and func.id not in imports:
                    target = func.id
                elif isinstance(func, ast.Name) and f"{func.id}.__init__" in self.functions:
                    target = f"{func.id}.__init__"
                elif (
                    klass and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                    and func.value.id in ("self", "cls") and f"{klass}.{func.attr}" in self.functions
                ):
                    target = f"{klass}.{func.attr}"
                if target is not None:
                    if isinstance(self.functions[target], ast.AsyncFunctionDef):
                        continue
                    step = self._reach(target, memo, visiting)
                    if step is not None:
                        found = ([f"{self.module}.{name}", *step[0]], step[1])
                        break
                    continue
                qualified = _qualify(func, imports)
                if qualified is not None and qualified not in _BLOCKING_FUNCTIONS:
                    step = self.index.blocking_chain(qualified, self.path, self.depth + 1)
                    if step is not None:
                        found = ([f"{self.module}.{name}", *step[0]], step[1])
                        break
        visiting.discard(name)
        memo[name] = found
        return found


def _guarded_calls(function: ast.FunctionDef, own: list[ast.AST]) -> set[int]:
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    defaults = dict(zip([a.arg for a in positional[len(positional) - len(args.defaults):]], args.defaults))
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
    flags = {
        name for name, value in defaults.items()
        if isinstance(value, ast.Constant) and value.value in (False, None, 0) and not isinstance(value.value, str)
    }
    guarded: set[int] = set()
    if not flags:
        return guarded
    for node in own:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id in flags:
            for statement in node.body:
                guarded.update(id(n) for n in ast.walk(statement) if isinstance(n, ast.Call))
    return guarded


def _own_nodes(function: ast.AST):  # noqa: ANN202 - a generator of nodes
    """The nodes of a function body that run when it is called (not nested defs, lambdas)."""
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _collect_imports(nodes: list, imports: dict[str, str]) -> None:
    """Name -> qualified name; relative imports keep their dots (resolved from the file)."""
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                imports[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            for alias in node.names:
                imports[alias.asname or alias.name] = f"{base}.{alias.name}" if base.strip(".") else f"{base}{alias.name}"


def _blocking_call(call: ast.Call, imports: dict[str, str], built: dict[str, str]) -> str | None:
    from .blocking import METHODS, display, lock_call_is_nonblocking

    qualified = _qualify(call.func, imports)
    if qualified is None and isinstance(call.func, ast.Name) and call.func.id in ("open", "input"):
        qualified = f"builtins.{call.func.id}"
    if qualified in _BLOCKING_FUNCTIONS:
        return display(qualified)
    func = call.func
    if isinstance(func, ast.Attribute):
        kind = _built_from(func.value, imports, built)
        if kind is not None and func.attr in METHODS[kind][0]:
            if func.attr == "acquire" and lock_call_is_nonblocking(
                [(None, ast.unparse(a)) for a in call.args] + [(k.arg, ast.unparse(k.value)) for k in call.keywords]
            ):
                return None
            short = "Future" if kind == "concurrent.futures.Future" else kind.replace("pathlib.", "")
            return f"{short}.{func.attr}"
    return None


def _built_from(expr: ast.expr, imports: dict[str, str], built: dict[str, str]) -> str | None:
    from .blocking import EXECUTORS, FUTURE_CLASSES, FUTURE_MAKERS, METHODS, PATH_CLASSES, PATH_DERIVERS

    if isinstance(expr, ast.Name):
        return built.get(expr.id)
    if isinstance(expr, ast.Call):
        qualified = _qualify(expr.func, imports)
        if qualified in METHODS and qualified not in FUTURE_CLASSES:
            return qualified
        if qualified in FUTURE_MAKERS:
            return "concurrent.futures.Future"
        func = expr.func
        if isinstance(func, ast.Attribute):
            if func.attr == "submit" and isinstance(func.value, ast.Call) and _qualify(func.value.func, imports) in EXECUTORS:
                return "concurrent.futures.Future"
            if func.attr in PATH_DERIVERS and _built_from(func.value, imports, built) in PATH_CLASSES:
                return _built_from(func.value, imports, built)
        return None
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Div):
        inner = _built_from(expr.left, imports, built)
        return inner if inner in PATH_CLASSES else None
    if isinstance(expr, ast.Attribute) and expr.attr == "parent":
        inner = _built_from(expr.value, imports, built)
        return inner if inner in PATH_CLASSES else None
    return None


def _blocking_functions() -> frozenset[str]:
    from .blocking import FUNCTIONS

    return frozenset(FUNCTIONS)


_BLOCKING_FUNCTIONS = _blocking_functions()


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
