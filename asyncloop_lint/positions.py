"""Positions (libcst ``CodeRange``) of the nodes findings point at, without generating the
whole module's code.

libcst's PositionProvider generates the code of the entire module to learn where every node
is: on a large file with one finding that was a good part of the run, and the fix path paid it
on every pass. Here only the statements that hold findings are generated: CPython's parser
(``ast``, in C) says on which line each statement starts, and libcst's own position-tracking
code generator runs on that statement alone, started at that line with the indentation of the
blocks around it, so the positions it records are the ones the whole-module run would record.
Each statement's generated text is compared with the file's lines before it is trusted; a
mismatch, a node outside the generated statements or anything unexpected falls back to
libcst's PositionProvider for the whole module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider
from libcst.metadata.position_provider import PositionProvidingCodegenState

from .diagnostic import source_lines


class _Recorder:
    """What ``PositionProvidingCodegenState`` writes into (its ``provider._computed``)."""

    def __init__(self) -> None:
        self._computed: dict[cst.CSTNode, CodeRange] = {}


class Positions(Mapping):
    """node -> CodeRange for the statements that hold ``anchors``; any other node is looked up
    in libcst's PositionProvider for the whole module, computed on first need."""

    def __init__(self, module: cst.Module, text: str, anchors: Iterable[cst.CSTNode | None]) -> None:
        self.module = module
        self._computed: dict[cst.CSTNode, CodeRange] = {}
        self._full: Mapping[cst.CSTNode, CodeRange] | None = None
        try:
            self._compute(text, [a for a in anchors if a is not None])
        except Exception:  # noqa: BLE001 - anything unexpected: the whole-module provider decides
            self._computed.clear()
            self._whole()

    # ---- Mapping ------------------------------------------------------------------------------
    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        found = self._computed.get(node)
        if found is not None:
            return found
        return self._whole()[node]

    def __contains__(self, node: object) -> bool:
        return node in self._computed or node in self._whole()

    def __iter__(self) -> Iterator[cst.CSTNode]:
        return iter(self._whole())

    def __len__(self) -> int:
        return len(self._whole())

    @property
    def used_whole_module(self) -> bool:
        return self._full is not None

    def _whole(self) -> Mapping[cst.CSTNode, CodeRange]:
        if self._full is None:
            self._full = MetadataWrapper(self.module, unsafe_skip_copy=True).resolve(PositionProvider)
        return self._full

    # ---- the statements -----------------------------------------------------------------------
    def _compute(self, text: str, anchors: list[cst.CSTNode]) -> None:
        wanted = {id(node) for node in anchors}
        paths = _statement_paths(self.module, wanted)
        if not paths:
            return
        tree = ast.parse(text)
        lines = source_lines(text, keepends=True)
        for path in paths:
            self._generate(path, tree, lines)

    def _generate(self, path: list[tuple[cst.CSTNode, Any]], tree: ast.Module, lines: list[str]) -> None:
        """``path``: (statement, the block holding it) from the module down to the statement
        to generate; the ast statement list is followed along it."""
        module = self.module
        statements: list[ast.stmt] = tree.body
        indents: list[str] = []
        node: Any = None
        for depth, (statement, block) in enumerate(path):
            if depth:
                parent = path[depth - 1][0]
                statements = _ast_block(node, parent, block)
                if isinstance(parent, cst.Match):  # the cases are indented under `match`
                    indents.append(module.default_indent if parent.indent is None else parent.indent)
                if isinstance(block, cst.IndentedBlock):
                    indents.append(module.default_indent if block.indent is None else block.indent)
            node = statements[_ast_index(block, statement)]
        statement = path[-1][0]
        first = node.decorator_list[0] if getattr(node, "decorator_list", None) else node
        leading = len(statement.leading_lines)
        if isinstance(statement, (cst.FunctionDef, cst.ClassDef)) and statement.decorators:
            leading += len(statement.decorators[0].leading_lines)
        start = first.lineno - leading
        recorder = _Recorder()
        state = PositionProvidingCodegenState(
            default_indent=module.default_indent, default_newline=module.default_newline, provider=recorder
        )
        state.line, state.column, state.indent_tokens = start, 0, list(indents)
        statement._codegen(state)
        generated = "".join(state.tokens)
        if generated != "".join(lines[start - 1 : state.line - 1]) + (lines[state.line - 1][: state.column] if state.column else ""):
            raise ValueError("the generated statement is not the file's text there")
        self._computed.update(recorder._computed)


def _statement_paths(module: cst.Module, wanted: set[int]) -> list[list[tuple[cst.CSTNode, Any]]]:
    """For each innermost statement that holds a wanted node (a line, or a compound statement
    when the node is in its header or one-line suite), the (statement, block) pairs from the
    module down to it. One walk; trivia is not visited."""
    from .walk import walk

    blocks: list[Any] = [module]
    chain: list[tuple[cst.CSTNode, Any]] = []
    found: dict[int, list[tuple[cst.CSTNode, Any]]] = {}
    elifs: set[int] = set()  # an `elif` is part of its `if`, as in CPython's tree

    def is_statement(node: cst.CSTNode, kind: type) -> bool:
        if kind is cst.If:
            if isinstance(node.orelse, cst.If):  # type: ignore[attr-defined]
                elifs.add(id(node.orelse))  # type: ignore[attr-defined]
            return id(node) not in elifs
        return kind is cst.SimpleStatementLine or isinstance(node, cst.BaseCompoundStatement)

    def enter(node: cst.CSTNode) -> bool:
        kind = type(node)
        if kind is cst.IndentedBlock:
            blocks.append(node)
        elif is_statement(node, kind):
            chain.append((node, blocks[-1]))
        if id(node) in wanted and chain:
            found.setdefault(id(chain[-1][0]), list(chain))
        return True

    def leave(node: cst.CSTNode) -> None:
        kind = type(node)
        if kind is cst.IndentedBlock:
            blocks.pop()
        elif kind is cst.SimpleStatementLine or (isinstance(node, cst.BaseCompoundStatement) and id(node) not in elifs):
            chain.pop()

    walk(module, enter, leave)
    return list(found.values())


def _ast_block(node: ast.AST, statement: cst.CSTNode, block: Any) -> list[ast.stmt]:
    """The ast statement list that corresponds to ``block`` of the libcst ``statement``."""
    if isinstance(statement, cst.Match):
        for case, ast_case in zip(statement.cases, node.cases):  # type: ignore[attr-defined]
            if case.body is block:
                return ast_case.body
        raise ValueError("case not found")
    if getattr(statement, "body", None) is block:
        return node.body  # type: ignore[attr-defined, no-any-return]
    for handler, ast_handler in zip(getattr(statement, "handlers", ()), getattr(node, "handlers", ())):
        if handler.body is block:
            return ast_handler.body  # type: ignore[no-any-return]
    final = getattr(statement, "finalbody", None)
    if final is not None and final.body is block:
        return node.finalbody  # type: ignore[attr-defined, no-any-return]
    orelse, ast_node = getattr(statement, "orelse", None), node
    while orelse is not None:
        if isinstance(orelse, cst.If):
            ast_node = ast_node.orelse[0]  # type: ignore[attr-defined]
            if orelse.body is block:
                return ast_node.body  # type: ignore[attr-defined, no-any-return]
            orelse = orelse.orelse
        else:
            if orelse.body is block:
                return ast_node.orelse  # type: ignore[attr-defined, no-any-return]
            orelse = None
    raise ValueError("block not found")


def _ast_index(block: Any, statement: cst.CSTNode) -> int:
    """Where ``statement`` of ``block`` is in the ast list: a line of n small statements is n."""
    index = 0
    for item in block.body:
        if item is statement:
            return index
        index += len(item.body) if isinstance(item, cst.SimpleStatementLine) else 1
    raise ValueError("statement not found")
