"""A read-only walk over a libcst tree, in source order, without rebuilding nodes.

libcst's own ``node.visit(visitor)`` rebuilds every node (``_visit_and_replace_children``),
even for a visitor that changes nothing, and it visits whitespace, commas and parentheses
too: on real files that machinery was most of the lint time. The lint path only reads the
tree, and no rule looks at trivia, so :func:`walk` follows the fields that hold code, in the
order libcst visits them, and calls ``enter``/``leave`` for every such node; :func:`rebuild`
edits a tree along the same fields, making new nodes only for the changed ones and their
ancestors.

``CHILD_FIELDS`` is libcst's visiting order (from each node's
``_visit_and_replace_children``) with the trivia fields left out; ``tests/test_walk.py``
derives it again from the installed libcst and checks that the walk meets the same nodes in
the same order as libcst's visitor, on the fixtures and the standard library's asyncio.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

import libcst as cst

# Node type -> the fields that hold code, in visiting order. A type not listed holds none
# (names, literals, operators, whitespace) unless it is new to this table: see _fields_of.
CHILD_FIELDS: dict[str, tuple[str, ...]] = {
    'AnnAssign': ('target', 'annotation', 'value'),
    'Annotation': ('annotation',),
    'Arg': ('keyword', 'value'),
    'AsName': ('name',),
    'Assert': ('test', 'msg'),
    'Assign': ('targets', 'value'),
    'AssignTarget': ('target',),
    'Attribute': ('value', 'attr'),
    'AugAssign': ('target', 'value'),
    'Await': ('expression',),
    'BinaryOperation': ('left', 'right'),
    'BooleanOperation': ('left', 'right'),
    'Call': ('func', 'args'),
    'ClassDef': ('decorators', 'name', 'type_parameters', 'bases', 'keywords', 'body'),
    'CompFor': ('target', 'iter', 'ifs', 'inner_for_in'),
    'CompIf': ('test',),
    'Comparison': ('left', 'comparisons'),
    'ComparisonTarget': ('comparator',),
    'ConcatenatedString': ('left', 'right'),
    'Decorator': ('decorator',),
    'Del': ('target',),
    'Dict': ('elements',),
    'DictComp': ('key', 'value', 'for_in'),
    'DictElement': ('key', 'value'),
    'Element': ('value',),
    'Else': ('body',),
    'ExceptHandler': ('type', 'name', 'body'),
    'ExceptStarHandler': ('type', 'name', 'body'),
    'Expr': ('value',),
    'Finally': ('body',),
    'For': ('target', 'iter', 'body', 'orelse'),
    'FormattedString': ('parts',),
    'FormattedStringExpression': ('expression', 'format_spec'),
    'From': ('item',),
    'FunctionDef': ('decorators', 'name', 'type_parameters', 'params', 'returns', 'body'),
    'GeneratorExp': ('elt', 'for_in'),
    'Global': ('names',),
    'If': ('test', 'body', 'orelse'),
    'IfExp': ('body', 'test', 'orelse'),
    'Import': ('names',),
    'ImportAlias': ('name', 'asname'),
    'ImportFrom': ('module', 'names'),
    'IndentedBlock': ('body',),
    'Index': ('value',),
    'Lambda': ('params', 'body'),
    'LazyImport': ('names',),
    'LazyImportFrom': ('module', 'names'),
    'List': ('elements',),
    'ListComp': ('elt', 'for_in'),
    'Match': ('subject', 'cases'),
    'MatchAs': ('pattern', 'name'),
    'MatchCase': ('pattern', 'guard', 'body'),
    'MatchClass': ('cls', 'patterns', 'kwds'),
    'MatchKeywordElement': ('key', 'pattern'),
    'MatchList': ('patterns',),
    'MatchMapping': ('elements', 'rest'),
    'MatchMappingElement': ('key', 'pattern'),
    'MatchOr': ('patterns',),
    'MatchOrElement': ('pattern',),
    'MatchSequenceElement': ('value',),
    'MatchSingleton': ('value',),
    'MatchStar': ('name',),
    'MatchTuple': ('patterns',),
    'MatchValue': ('value',),
    'Module': ('body',),
    'NameItem': ('name',),
    'NamedExpr': ('target', 'value'),
    'Nonlocal': ('names',),
    'Param': ('name', 'annotation', 'default'),
    'ParamSpec': ('name',),
    'Parameters': ('posonly_params', 'params', 'star_arg', 'kwonly_params', 'star_kwarg'),
    'Raise': ('exc', 'cause'),
    'Return': ('value',),
    'Set': ('elements',),
    'SetComp': ('elt', 'for_in'),
    'SimpleStatementLine': ('body',),
    'SimpleStatementSuite': ('body',),
    'Slice': ('lower', 'upper', 'step'),
    'StarredDictComp': ('value', 'for_in'),
    'StarredDictElement': ('value',),
    'StarredElement': ('value',),
    'Subscript': ('value', 'slice'),
    'SubscriptElement': ('slice',),
    'TemplatedString': ('parts',),
    'TemplatedStringExpression': ('expression', 'format_spec'),
    'Try': ('body', 'handlers', 'orelse', 'finalbody'),
    'TryStar': ('body', 'handlers', 'orelse', 'finalbody'),
    'Tuple': ('elements',),
    'TypeAlias': ('name', 'type_parameters', 'value'),
    'TypeParam': ('param', 'default'),
    'TypeParameters': ('params',),
    'TypeVar': ('name', 'bound'),
    'TypeVarTuple': ('name',),
    'UnaryOperation': ('expression',),
    'While': ('test', 'body', 'orelse'),
    'With': ('items', 'body'),
    'WithItem': ('item', 'asname'),
    'Yield': ('value',),
}

# Fields of trivia: whitespace, punctuation, comments, operators.
TRIVIA_PREFIXES = (
    "whitespace", "lpar", "rpar", "comma", "semicolon", "leading_lines", "lines_after", "header", "footer",
    "trailing", "indent", "newline", "first_line", "empty_lines", "last_line",
)
TRIVIA_FIELDS = frozenset({
    "equal", "colon", "arrow", "dot", "lbracket", "rbracket", "lbrace", "rbrace", "operator", "asynchronous",
    "keyword_whitespace", "relative", "first_colon", "second_colon", "comment", "leading_whitespace", "start",
    "end", "conversion", "posonly_ind", "star_tok", "lbrack", "rbrack", "separator",
})

_BY_TYPE: dict[type, tuple[str, ...]] = {}


def _fields_of(kind: type) -> tuple[str, ...]:
    names = CHILD_FIELDS.get(kind.__name__)
    if names is None:
        # A node type this table does not know (a newer libcst): every non-trivia field, in
        # declaration order, so nothing it holds is missed.
        names = tuple(
            f.name for f in fields(kind) if not (f.name.startswith(TRIVIA_PREFIXES) or f.name in TRIVIA_FIELDS)
        )
    _BY_TYPE[kind] = names
    return names


# type -> whether it is a libcst node (``isinstance`` against the ABC is slow per value).
_IS_NODE: dict[type, bool] = {}


def _is_node(kind: type) -> bool:
    flag = _IS_NODE[kind] = issubclass(kind, cst.CSTNode)
    return flag


_LEAVE = object()


def walk(root: cst.CSTNode, enter: Callable[[Any], Any], leave: Callable[[Any], Any]) -> None:
    """Call ``enter(node)`` on ``root`` and every node below it that holds code, then
    ``leave(node)`` after its children; ``enter`` returning False skips the children.
    Iterative: nesting depth costs no Python recursion."""
    by_type = _BY_TYPE
    is_node = _IS_NODE
    stack: list[Any] = [root]
    pop = stack.pop
    push = stack.append
    while stack:
        node = pop()
        if node is _LEAVE:
            leave(pop())
            continue
        push(node)
        push(_LEAVE)
        if enter(node) is False:
            continue
        kind = type(node)
        names = by_type.get(kind)
        if names is None:
            names = _fields_of(kind)
        mark = len(stack)
        for name in names:
            value = getattr(node, name)
            kind = type(value)
            if kind is tuple or kind is list:
                for item in value:
                    flag = is_node.get(type(item))
                    if flag is None:
                        flag = _is_node(type(item))
                    if flag:
                        push(item)
            else:
                flag = is_node.get(kind)
                if flag is None:
                    flag = _is_node(kind)
                if flag:
                    push(value)
        if len(stack) - mark > 1:
            stack[mark:] = stack[:mark - 1:-1]


def rebuild(order: list[cst.CSTNode], replacements: dict[int, Any]) -> dict[int, Any]:
    """Apply ``replacements`` (id of a node -> its new node, ``RemovalSentinel.REMOVE``, a
    ``FlattenSentinel`` in a sequence, or a function of the updated node) the way libcst's
    transformer would, rebuilding only the nodes in ``order``: the replaced nodes and their
    ancestors, each listed after its children. Returns id -> rebuilt node for ``order``;
    ValueError for a flatten sentinel where a single node belongs."""
    remove, flatten = cst.RemovalSentinel, cst.FlattenSentinel
    rebuilt: dict[int, Any] = {}
    for node in order:
        changes: dict[str, Any] = {}
        for name in CHILD_FIELDS.get(type(node).__name__, ()):
            value = getattr(node, name)
            if isinstance(value, (tuple, list)):
                if not any(id(item) in rebuilt for item in value):
                    continue
                items: list[Any] = []
                for item in value:
                    new = rebuilt.get(id(item), item)
                    if isinstance(new, remove):
                        continue
                    if isinstance(new, flatten):
                        items.extend(new.nodes)
                    else:
                        items.append(new)
                changes[name] = items
            elif id(value) in rebuilt:
                new = rebuilt[id(value)]
                if isinstance(new, flatten):
                    raise ValueError(f"a FlattenSentinel in {type(node).__name__}.{name}")
                changes[name] = None if isinstance(new, remove) else new
        updated = node.with_changes(**changes) if changes else node
        replacement = replacements.get(id(node))
        if replacement is not None:
            updated = replacement(updated) if callable(replacement) else replacement
        rebuilt[id(node)] = updated
    return rebuilt


def iter_nodes(root: cst.CSTNode) -> list[cst.CSTNode]:
    """Every node under ``root`` (itself included) that holds code, in source order."""
    found: list[cst.CSTNode] = []
    walk(root, found.append, _ignore)
    return found


def _ignore(node: Any) -> None:
    return None
