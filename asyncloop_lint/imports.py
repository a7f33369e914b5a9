"""Import placement for fixes: add imports where isort's default profile puts them, remove
unused ones without disturbing the blank lines and comments around them.

Adding follows isort's default profile without reformatting what is there:

- sections in order: ``from __future__``, standard library, third party, first party,
  relative; one blank line between sections; within a section ``import x`` lines before
  ``from x import y`` lines, each sorted by module name (``from ..`` before ``from .``);
- the import goes into an existing block of top-level imports, after the module docstring
  and ``from __future__`` imports. Blocks are the runs of import lines before the first
  definition or assignment; statements between them (``sys.path`` tweaks, ``if TYPE_CHECKING:``,
  ``try: import ...``) separate blocks and are never entered. Standard library and third
  party imports go to the first block, first party and relative ones to the last (after any
  ``sys.path`` tweak they may depend on), but never after a use of the name they bind;
- ``from m import a`` joins an existing ``from m import ...`` line;
- a comment above an import stays above that import; the new line takes only the blank
  lines in front of it.

Removing hands a removed line's leading blank lines and comments to the statement after it
(the larger of the two blank runs where they meet), so a docstring keeps its blank line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import RemoveImportsVisitor

if TYPE_CHECKING:  # pragma: no cover
    from .rule import ImportRequest

FUTURE, STDLIB, THIRD_PARTY, FIRST_PARTY, RELATIVE = range(5)
STDLIB_NAMES = frozenset(sys.stdlib_module_names) | {"__future__"}


def first_party_names(path: str | None) -> frozenset[str]:
    """Top-level names importable from the file's import root: its own top-level package and
    the modules and packages beside it (what isort finds under its default ``src_paths``)."""
    from .vendor import MODULE, import_root

    names = {MODULE}
    if path is None:
        return frozenset(names)
    root = import_root(path)
    try:
        for entry in root.iterdir():
            if entry.suffix == ".py" and entry.stem.isidentifier():
                names.add(entry.stem)
            elif entry.is_dir() and (entry / "__init__.py").is_file():
                names.add(entry.name)
    except OSError:
        pass
    top = Path(path).resolve().parent
    while (top / "__init__.py").is_file() and (top.parent / "__init__.py").is_file():
        top = top.parent
    if (top / "__init__.py").is_file():
        names.add(top.name)
    return frozenset(names)


def _section(module: str, level: int, first_party: frozenset[str]) -> int:
    if level:
        return RELATIVE
    top = module.split(".", 1)[0]
    if top == "__future__":
        return FUTURE
    if top in STDLIB_NAMES:
        return STDLIB
    if top in first_party:
        return FIRST_PARTY
    return THIRD_PARTY


def _dotted(node: cst.BaseExpression | None) -> str:
    if node is None:
        return ""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


def _import_of(statement: cst.CSTNode) -> cst.Import | cst.ImportFrom | None:
    """The (first) import of a line that holds nothing but imports (``import a; import b``)."""
    if isinstance(statement, cst.SimpleStatementLine) and statement.body:
        if all(isinstance(small, (cst.Import, cst.ImportFrom)) for small in statement.body):
            return statement.body[0]  # type: ignore[return-value]
    return None


def _sort_key(node: cst.Import | cst.ImportFrom, first_party: frozenset[str]) -> tuple[int, int, Any, str]:
    if isinstance(node, cst.Import):
        module = _dotted(node.names[0].name)
        return (_section(module, 0, first_party), 0, 0, module.lower())
    level = len(node.relative)
    module = _dotted(node.module)
    return (_section(module, level, first_party), 1, -level, module.lower())


def _is_docstring(statement: cst.CSTNode) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _is_future(statement: cst.CSTNode) -> bool:
    node = _import_of(statement)
    return isinstance(node, cst.ImportFrom) and not node.relative and _dotted(node.module) == "__future__"


def _is_interlude(statement: cst.CSTNode) -> bool:
    """Code that may sit between import blocks: calls (``sys.path.insert(...)``),
    ``if``/``try`` blocks (``if TYPE_CHECKING:``, ``try: import ujson``)."""
    if isinstance(statement, (cst.If, cst.Try)):
        return True
    return isinstance(statement, cst.SimpleStatementLine) and all(isinstance(s, cst.Expr) for s in statement.body)


def _uses_name(statement: cst.CSTNode, name: str) -> bool:
    found = []

    class Finder(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> bool:
            if node.value == name:
                found.append(node)
            return False

    statement.visit(Finder())
    return bool(found)


def _blank_prefix(lines: Sequence[cst.EmptyLine]) -> int:
    count = 0
    for line in lines:
        if line.comment is not None:
            break
        count += 1
    return count


def _blanks(n: int) -> list[cst.EmptyLine]:
    return [cst.EmptyLine() for _ in range(n)]


def _with_blank_prefix(statement: Any, n: int) -> Any:
    lines = list(statement.leading_lines)
    return statement.with_changes(leading_lines=[*_blanks(n), *lines[_blank_prefix(lines):]])


def _blank_lines_before(statement: cst.CSTNode) -> int:
    """isort's spacing after the import block: two lines before a definition, else one."""
    return 2 if isinstance(statement, (cst.FunctionDef, cst.ClassDef)) else 1


class _Placement:
    def __init__(self, module: cst.Module, first_party: frozenset[str]) -> None:
        self.module = module
        self.first_party = first_party

    def add(self, body: list[Any], request: ImportRequest) -> list[Any]:
        level = len(request.module) - len(request.module.lstrip("."))
        bound = request.asname or (request.obj if request.obj else request.module.split(".")[0])
        start = 1 if body and _is_docstring(body[0]) else 0
        while start < len(body) and _is_future(body[start]):
            start += 1
        blocks = self._blocks(body, start, bound)
        if self._already_bound(body, blocks, request):
            return body
        merged = self._merge(body, blocks, request, level)
        if merged is not None:
            return merged
        statement = cst.parse_statement(_code(request), config=self.module.config_for_parsing)
        section = _sort_key(_import_of(statement), self.first_party)[0]  # type: ignore[arg-type]
        if not blocks:
            return self._insert_alone(body, start, statement)
        candidates = [b for b in blocks if any(self._key(body[i])[0] == section for i in b)] or blocks
        block = candidates[0] if section in (FUTURE, STDLIB, THIRD_PARTY) else candidates[-1]
        key = _sort_key(_import_of(statement), self.first_party)  # type: ignore[arg-type]
        previous_same = None
        for i in block:
            other = self._key(body[i])
            if other[0] == section and other > key:
                return self._insert_before(body, i, statement, new_section=False)
            if other[0] > section and previous_same is None:
                return self._insert_before(body, i, statement, new_section=True)
            if other[0] > section:
                break
            if other[0] == section:
                previous_same = i
        after = previous_same if previous_same is not None else block[-1]
        blank = 0 if previous_same is not None else 1
        return [*body[: after + 1], statement.with_changes(leading_lines=_blanks(blank)), *body[after + 1 :]]

    def _key(self, statement: cst.CSTNode) -> tuple[int, int, Any, str]:
        return _sort_key(_import_of(statement), self.first_party)  # type: ignore[arg-type]

    def _blocks(self, body: list[Any], start: int, bound: str) -> list[list[int]]:
        blocks: list[list[int]] = []
        current: list[int] = []
        for index in range(start, len(body)):
            statement = body[index]
            if _import_of(statement) is not None:
                current.append(index)
                continue
            if current:
                blocks.append(current)
                current = []
            if not _is_interlude(statement) or _uses_name(statement, bound):
                break
        if current:
            blocks.append(current)
        return blocks

    def _already_bound(self, body: list[Any], blocks: list[list[int]], request: ImportRequest) -> bool:
        for block in blocks:
            for node in (small for i in block for small in body[i].body):
                if isinstance(node, cst.Import) and request.obj is None:
                    for alias in node.names:
                        if _dotted(alias.name) == request.module and _asname(alias) == request.asname:
                            return True
                elif isinstance(node, cst.ImportFrom) and request.obj is not None and _from_module(node) == request.module:
                    if isinstance(node.names, cst.ImportStar):
                        return request.asname is None
                    if any(_dotted(a.name) == request.obj and _asname(a) == request.asname for a in node.names):
                        return True
        return False

    def _merge(self, body: list[Any], blocks: list[list[int]], request: ImportRequest, level: int) -> list[Any] | None:
        if request.obj is None:
            return None
        for block in blocks:
            for i in block:
                node = _import_of(body[i])
                if (
                    len(body[i].body) == 1
                    and isinstance(node, cst.ImportFrom)
                    and not isinstance(node.names, cst.ImportStar)
                    and _from_module(node) == request.module
                ):
                    names = _insert_alias(list(node.names), request)
                    line = body[i].with_changes(body=[node.with_changes(names=names)])
                    return [*body[:i], line, *body[i + 1 :]]
        return None

    def _insert_alone(self, body: list[Any], start: int, statement: Any) -> list[Any]:
        """No import block: after the docstring and ``__future__`` imports, before the code."""
        if start < len(body):
            following = body[start]
            before = _blank_prefix(following.leading_lines)
            new = statement.with_changes(leading_lines=_blanks(1 if start else 0))
            following = _with_blank_prefix(following, max(before if not start else 0, _blank_lines_before(following)))
            return [*body[:start], new, following, *body[start + 1 :]]
        return [*body, statement.with_changes(leading_lines=_blanks(1 if start else 0))]

    def _insert_before(self, body: list[Any], index: int, statement: Any, *, new_section: bool) -> list[Any]:
        """Put ``statement`` in front of ``body[index]``: it takes the blank lines in front of
        that line; the line's comments stay with it."""
        following = body[index]
        before = _blank_prefix(following.leading_lines)
        new = statement.with_changes(leading_lines=_blanks(before))
        following = _with_blank_prefix(following, 1 if new_section else 0)
        return [*body[:index], new, following, *body[index + 1 :]]


def _from_module(node: cst.ImportFrom) -> str:
    return "." * len(node.relative) + _dotted(node.module)


def _asname(alias: cst.ImportAlias) -> str | None:
    if alias.asname is None:
        return None
    return _dotted(alias.asname.name)  # type: ignore[arg-type]


def _code(request: ImportRequest) -> str:
    alias = f" as {request.asname}" if request.asname else ""
    if request.obj is None:
        return f"import {request.module}{alias}\n"
    return f"from {request.module} import {request.obj}{alias}\n"


def _name_key(name: str) -> tuple[int, str]:
    """isort's ``order_by_type``: CONSTANTS, then Classes, then everything else."""
    if name.isupper() and len(name) > 1:
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name.lower())


def _insert_alias(names: list[cst.ImportAlias], request: ImportRequest) -> list[cst.ImportAlias]:
    new = cst.ImportAlias(
        cst.Name(request.obj),  # type: ignore[arg-type]
        asname=cst.AsName(cst.Name(request.asname)) if request.asname else None,
    )
    position = next((i for i, a in enumerate(names) if _name_key(_dotted(a.name)) > _name_key(request.obj)), len(names))  # type: ignore[arg-type]
    separator = next((a.comma for a in names if isinstance(a.comma, cst.Comma)), cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    if position < len(names):
        return [*names[:position], new.with_changes(comma=separator), *names[position:]]
    last = names[-1]
    return [*names[:-1], last.with_changes(comma=separator), new.with_changes(comma=last.comma)]


def add_imports(module: cst.Module, requests: Iterable[ImportRequest], path: str | None) -> cst.Module:
    placement = _Placement(module, first_party_names(path))
    body = list(module.body)
    for request in requests:
        body = placement.add(body, request)
    return module.with_changes(body=body)


class _KeepLayout(RemoveImportsVisitor):
    """libcst's unused-import removal, handing a removed line's leading lines on."""

    def __init__(self, context: CodemodContext) -> None:
        super().__init__(context)
        self._carry: list[list[cst.EmptyLine]] = [[]]

    # A frame per body; compound statements get one too, so an ``elif`` never takes what a
    # line removed before its ``if`` left behind.
    _FRAMES = (cst.Module, cst.IndentedBlock, cst.BaseCompoundStatement)

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, self._FRAMES):
            self._carry.append([])
        return super().on_visit(node)

    def on_leave(self, original_node: Any, updated_node: Any) -> Any:
        result = super().on_leave(original_node, updated_node)
        if isinstance(original_node, self._FRAMES):
            self._carry.pop()
        if isinstance(original_node, cst.SimpleStatementLine) and isinstance(result, cst.SimpleStatementLine) and not result.body:
            self._carry[-1].extend(original_node.leading_lines)
        elif isinstance(result, cst.BaseStatement) and self._carry[-1] and hasattr(result, "leading_lines"):
            carried, self._carry[-1] = self._carry[-1], []
            result = result.with_changes(leading_lines=_join(carried, list(result.leading_lines)))
        return result


def _join(carried: list[cst.EmptyLine], own: list[cst.EmptyLine]) -> list[cst.EmptyLine]:
    """Carried lines then own lines, the blank runs where they meet merged into the larger."""
    tail = 0
    while tail < len(carried) and carried[len(carried) - 1 - tail].comment is None:
        tail += 1
    head = _blank_prefix(own)
    return [*carried[: len(carried) - tail], *_blanks(max(tail, head)), *own[head:]]


def remove_imports(module: cst.Module, requests: Iterable[ImportRequest]) -> cst.Module:
    """Remove the requested imports that nothing reads any more, keeping the layout.

    The binding pass finds the import statements whose names are unread; libcst's remover
    (its comma and comment handling) then runs on each such line alone, and the result is put
    back in place. Running the remover on the whole module resolved its scopes and rebuilt
    every node: seconds on a large module."""
    targets = _unused_import_statements(module, list(requests))
    if not targets:
        return module
    new = module
    for statement, line_requests in targets:
        path = _path_to_line(new, statement)
        if path is None:  # on a one-line suite (`if x: import a`): the whole-module remover
            return remove_imports_whole(module, [r for _, rs in targets for r in rs])
        *ancestors, line = path
        mini = remove_imports_whole(cst.Module(body=[line]), line_requests, top=False)
        new = _splice(ancestors, line, mini.body[0] if mini.body else None)
    return _no_new_blank_top(module, new)


def remove_imports_whole(module: cst.Module, requests: Iterable[ImportRequest], top: bool = True) -> cst.Module:
    """libcst's unused-import remover over the whole module (with the layout kept)."""
    context = CodemodContext()
    for req in requests:
        RemoveImportsVisitor.remove_unused_import(context, req.module, req.obj, req.asname)
    new = _KeepLayout(context).transform_module(module)
    return _no_new_blank_top(module, new) if top else new


def _exported(module: cst.Module) -> set[str]:
    """The names a module-level ``__all__`` lists (libcst's remover keeps those)."""
    names: set[str] = set()
    for line in module.body:
        if not isinstance(line, cst.SimpleStatementLine):
            continue
        for small in line.body:
            targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else (
                [small.target] if isinstance(small, (cst.AugAssign, cst.AnnAssign)) else [])
            value = getattr(small, "value", None)
            if any(isinstance(t, cst.Name) and t.value == "__all__" for t in targets) and isinstance(
                value, (cst.List, cst.Tuple, cst.Set)
            ):
                for element in value.elements:
                    if isinstance(element.value, cst.SimpleString):
                        names.add(element.value.evaluated_value if isinstance(element.value.evaluated_value, str) else "")
    return names


def _unused_import_statements(
    module: cst.Module, requests: list[ImportRequest]
) -> list[tuple[cst.CSTNode, list[ImportRequest]]]:
    """(import statement, the requests it answers) for imports whose bound name nothing reads.
    A name the binding pass sees read is kept: at worst an import stays that libcst's remover
    would have dropped, never the other way round."""
    from .bindings import BindingIndex

    imports = BindingIndex(module).imports
    exported = _exported(module) if any(b.scope.kind == "module" for b in imports) else set()
    found: dict[int, tuple[cst.CSTNode, list[ImportRequest]]] = {}
    for request in dict.fromkeys(requests):
        if request.obj is None:
            name = request.asname or request.module.split(".", 1)[0]
            imported = request.module if request.asname else name
        else:
            name, imported = request.asname or request.obj, f"{request.module}.{request.obj}"
        for binding in imports:
            if binding.name != name or binding.imported != imported or binding.references or binding.statement is None:
                continue
            if binding.scope.kind == "module" and name in exported:
                continue
            found.setdefault(id(binding.statement), (binding.statement, []))[1].append(request)
    return list(found.values())


_HOLDS_STATEMENTS = frozenset({
    "Module", "IndentedBlock", "If", "Else", "For", "While", "With", "Try", "TryStar", "ExceptHandler",
    "ExceptStarHandler", "Finally", "FunctionDef", "ClassDef", "Match", "MatchCase",
})


def _path_to_line(module: cst.Module, statement: cst.CSTNode) -> list[cst.CSTNode] | None:
    """The nodes from the module down to the line that holds ``statement``; None when it sits
    on a one-line suite or is not found."""
    from .walk import walk

    stack: list[cst.CSTNode] = []
    found: list[list[cst.CSTNode] | None] = [None]

    def enter(node: cst.CSTNode) -> bool:
        kind = type(node).__name__
        stack.append(node)
        if kind == "SimpleStatementLine":
            if any(small is statement for small in node.body):  # type: ignore[attr-defined]
                found[0] = list(stack)
            return False
        return kind in _HOLDS_STATEMENTS and found[0] is None

    walk(module, enter, lambda node: stack.pop())
    return found[0]


def _splice(ancestors: list[cst.CSTNode], old: cst.CSTNode, new: cst.CSTNode | None) -> cst.Module:
    """Put ``new`` where ``old`` was (None: drop it, handing its leading lines to the next
    statement of the same body, as the whole-module remover does), rebuilding its ancestors."""
    from .walk import rebuild

    replacements: dict[int, Any] = {id(old): cst.RemovalSentinel.REMOVE if new is None else new}
    order = [old]
    if new is None:
        body = list(getattr(ancestors[-1], "body", ()))
        index = next((i for i, item in enumerate(body) if item is old), None)
        following = body[index + 1] if index is not None and index + 1 < len(body) else None
        if following is not None and hasattr(following, "leading_lines"):
            replacements[id(following)] = following.with_changes(
                leading_lines=_join(list(old.leading_lines), list(following.leading_lines))  # type: ignore[attr-defined]
            )
            order.append(following)
    return rebuild([*order, *reversed(ancestors)], replacements)[id(ancestors[0])]  # type: ignore[no-any-return]


def _no_new_blank_top(old: cst.Module, new: cst.Module) -> cst.Module:
    """Removing the first line leaves the next statement's blank lines at the top of the
    file; drop them unless the file started that way."""
    if not new.body or (old.body and old.body[0].leading_lines):
        return new
    first = new.body[0]
    lines = list(first.leading_lines)
    while lines and lines[0].comment is None:
        lines.pop(0)
    if len(lines) == len(first.leading_lines):
        return new
    return new.with_changes(body=[first.with_changes(leading_lines=lines), *new.body[1:]])
