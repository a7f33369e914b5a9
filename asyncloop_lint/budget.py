"""Resource budgets: what keeps one hostile file from costing the run, the machine or the truth.

libcst's parser is native code that recurses once per nesting level on the thread's stack, and
its cost grows with the square of the nesting: 2,000 nested brackets crash the process, a
5,000-term chain takes minutes, a 20 MB file wants gigabytes. So before libcst sees a file:

- its size is checked against a budget (a bigger file is not even read);
- CPython's own parser reads it (``compile(..., PyCF_ONLY_AST)``, about a tenth of libcst's
  parse) and the depth of CPython's tree is checked against a nesting budget. A file CPython
  refuses for its own limits (more than 200 nested brackets, parser stack overflow) is not
  analysed either; a file CPython accepts is "verified", so a later libcst failure on it is
  libcst's limit, never a syntax error of the file.

A file within budget that is still deep runs on a thread with a large stack and a raised
recursion limit (:func:`on_deep_stack`), on every supported Python. What budgets cannot
catch (a crash in native code, an allocation that the memory budget refuses) is contained
by running the file in a worker process (:mod:`asyncloop_lint.workers`).

A file that is not analysed becomes an ``AL001`` diagnostic that says why. The budgets can be
changed with environment variables (see :func:`limits`).
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from functools import cache
from typing import Any, Callable, TypeVar

T = TypeVar("T")

MiB = 1024 * 1024
DEFAULT_MAX_FILE_BYTES = 10 * MiB
DEFAULT_MAX_NESTING = 1_000
DEFAULT_MEMORY_BYTES = 4096 * MiB
CPYTHON_MAX_BRACKETS = 200  # CPython's tokenizer refuses deeper bracket nesting (MAXLEVEL)
# Above this depth of CPython's tree, the work runs on a thread with a large stack.
DEEP_NESTING = 100
# Files bigger than this are linted in a worker process (under the memory budget) even when
# the run is otherwise in-process (``-j 1``, a few files).
IN_PROCESS_MAX_BYTES = 1 * MiB
DEEP_STACK_BYTES = 512 * MiB
DEEP_RECURSION_LIMIT = 100_000

ENV_MAX_FILE_SIZE = "ASYNCLOOP_LINT_MAX_FILE_SIZE"
ENV_MAX_NESTING = "ASYNCLOOP_LINT_MAX_NESTING"
ENV_MEMORY = "ASYNCLOOP_LINT_MEMORY_BUDGET"


class BudgetError(ValueError):
    """A budget variable that does not hold a size or a count."""


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_nesting: int = DEFAULT_MAX_NESTING
    memory_bytes: int = DEFAULT_MEMORY_BYTES  # per worker process, on top of what it starts with


_SIZE = re.compile(r"\s*(\d+)\s*([kmg]i?b?|b)?\s*", re.IGNORECASE)


def _parse_size(name: str, value: str) -> int:
    match = _SIZE.fullmatch(value)
    if not match:
        raise BudgetError(f"{name}={value!r}: expected a size such as 10485760, 10M or 512K")
    unit = (match.group(2) or "b").lower()[:1]
    return int(match.group(1)) * {"b": 1, "k": 1024, "m": MiB, "g": 1024 * MiB}[unit]


def limits(environ: dict[str, str] | None = None) -> Limits:
    """The budgets in force: the defaults, or ``ASYNCLOOP_LINT_MAX_FILE_SIZE`` (bytes, or with
    K/M/G), ``ASYNCLOOP_LINT_MAX_NESTING`` (levels) and ``ASYNCLOOP_LINT_MEMORY_BUDGET``."""
    from dataclasses import replace

    env = os.environ if environ is None else environ
    found = Limits()
    if env.get(ENV_MAX_FILE_SIZE):
        found = replace(found, max_file_bytes=_parse_size(ENV_MAX_FILE_SIZE, env[ENV_MAX_FILE_SIZE]))
    if env.get(ENV_MAX_NESTING):
        value = env[ENV_MAX_NESTING].strip()
        if not value.isdigit() or int(value) < 1:
            raise BudgetError(f"{ENV_MAX_NESTING}={env[ENV_MAX_NESTING]!r}: expected a whole number of levels, at least 1")
        found = replace(found, max_nesting=int(value))
    if env.get(ENV_MEMORY):
        found = replace(found, memory_bytes=_parse_size(ENV_MEMORY, env[ENV_MEMORY]))
    return found


def current() -> Limits:
    """:func:`limits`, or the defaults when a variable is bad: for callers with no command line
    to report it to (the language server, the flake8 plugin; the command reports it, exit 2)."""
    try:
        return limits()
    except BudgetError:
        return Limits()


def size_text(size: int) -> str:
    """``20.1 MiB``, ``512 KiB``: sizes in messages, with the unit the budget is set in."""
    if size >= MiB:
        value, unit = size / MiB, "MiB"
    elif size >= 1024:
        value, unit = size / 1024, "KiB"
    else:
        return f"{size:,} bytes"
    return f"{value:,.1f} {unit}".replace(".0 ", " ")


def too_big(size: int, budget: Limits) -> str | None:
    if size <= budget.max_file_bytes:
        return None
    return f"the file is {size_text(size)}, over the {size_text(budget.max_file_bytes)} size budget"


@dataclass(frozen=True)
class Admission:
    """Whether a file may be handed to libcst, and what the pre-check learnt about it."""

    refusal: str | None = None  # why the file is not analysed (None: go ahead)
    row: int = 1
    column: int = 1
    depth: int = 0  # depth of CPython's tree (0: not measured, CPython did not parse it)
    verified: bool = False  # CPython's parser accepts the file

    @property
    def deep(self) -> bool:
        return self.depth > DEEP_NESTING


def admit(source: bytes, budget: Limits) -> Admission:
    """The pre-check before libcst: size, then CPython's parser and the depth of its tree."""
    refusal = too_big(len(source), budget)
    if refusal:
        return Admission(refusal)
    import ast
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes and the like are not ours to report
            tree = compile(source, "<file>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as exc:
        if "too many nested parentheses" in str(exc.msg):
            depth = bracket_depth(source)
            return Admission(
                f"brackets nested {depth:,} deep; CPython refuses more than {CPYTHON_MAX_BRACKETS}",
                exc.lineno or 1, exc.offset or 1,
            )
        # A syntax error, or syntax newer than this Python: libcst decides (and reports AL000).
        return Admission()
    except (MemoryError, RecursionError) as exc:
        detail = str(exc) or "parser stack overflow"
        return Admission(f"nested too deeply for CPython {_python()}'s parser ({type(exc).__name__}: {detail})")
    except Exception:  # noqa: BLE001 - e.g. null bytes (ValueError): libcst decides
        return Admission()
    depth, row, column = tree_depth(tree, budget.max_nesting)
    if depth > budget.max_nesting:
        return Admission(
            f"nested {depth:,} levels deep, over the nesting budget of {budget.max_nesting:,}",
            row, column, depth, verified=True,
        )
    return Admission(depth=depth, verified=True)


def tree_depth(tree: Any, budget: int) -> tuple[int, int, int]:
    """Depth of a CPython ``ast`` tree, level by level (no recursion), and the position of the
    first node found past ``budget`` levels (1, 1 when none is)."""
    import ast

    AST = ast.AST
    frontier = [tree]
    depth = 0
    row = column = 1
    located = False
    while frontier:
        depth += 1
        if depth > budget and not located:
            for node in frontier:
                if hasattr(node, "lineno"):
                    row, column, located = node.lineno, node.col_offset + 1, True
                    break
        following: list[Any] = []
        add, extend = following.append, following.extend
        for node in frontier:
            for name in node._fields:
                value = getattr(node, name, None)
                if isinstance(value, list):
                    extend([item for item in value if isinstance(item, AST)])
                elif isinstance(value, AST):
                    add(value)
        frontier = following
    return depth, row, column


_BRACKETS = re.compile(
    rb"""\#[^\r\n]*"""
    rb"""|[rRbBuUfF]{0,2}(?:\"\"\"(?:\\.|[^\\])*?\"\"\"|'''(?:\\.|[^\\])*?'''|"(?:\\.|[^"\\\r\n])*"|'(?:\\.|[^'\\\r\n])*')"""
    rb"""|([(\[{])|([)\]}])""",
    re.DOTALL,
)


def bracket_depth(source: bytes) -> int:
    """The deepest bracket nesting outside strings and comments (for messages: only files that
    CPython already refused for their nesting are scanned)."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(source):
        if match.group(1):
            depth += 1
            deepest = max(deepest, depth)
        elif match.group(2):
            depth = max(0, depth - 1)
    return deepest


def on_deep_stack(func: Callable[..., T], *args: Any) -> T:
    """``func(*args)`` on a thread with a large stack and a raised recursion limit, so that
    nesting within budget is analysed on every supported Python instead of overflowing."""
    import threading

    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = func(*args)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, DEEP_RECURSION_LIMIT))
    try:
        size = threading.stack_size()
        try:
            threading.stack_size(DEEP_STACK_BYTES)
            thread = threading.Thread(target=target, name="asyncloop-lint-deep", daemon=True)
            thread.start()
        except (RuntimeError, ValueError, MemoryError) as exc:  # no thread that big: no memory
            raise MemoryError(f"cannot start a thread with a {size_text(DEEP_STACK_BYTES)} stack: {exc}") from None
        finally:
            threading.stack_size(size)
        thread.join()
    finally:
        sys.setrecursionlimit(limit)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@cache
def _python() -> str:
    return "%d.%d" % sys.version_info[:2]


def recursion_refusal() -> str:
    return f"nested too deeply for Python {_python()} to analyse (RecursionError)"


def memory_refusal(budget: Limits, detail: str = "") -> str:
    extra = f": {detail}" if detail else ""
    return f"ran out of memory (the budget is {size_text(budget.memory_bytes)} per worker process){extra}"
