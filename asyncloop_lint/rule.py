"""The rule base class, the registry that discovers rules, and the fix recipe.

A rule declares everything about itself once: code, name, message, the prose of its page,
examples, fix safety, and the byte substrings without which it cannot fire. The registry,
the pre-filter, the rule pages in ``rules/`` and ``--explain`` are all derived from that.

This module must stay cheap to import: the CLI reads rule metadata (for ``--select`` and the
pre-filter) without paying for libcst. ``cst`` and ``m`` below are lazy handles to libcst and
its matchers; rules use them inside methods only.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from .diagnostic import SAFE, UNSAFE

if TYPE_CHECKING:  # pragma: no cover
    import libcst
    import libcst.matchers

    from .context import LintContext

DOCS_BASE_URL = "https://github.com/asyncloop-lint/asyncloop-lint/blob/main/rules/"


def rule_url(code: str) -> str:
    return f"{DOCS_BASE_URL}{code}.md"


class _LazyModule:
    """Imports the named module on first attribute access."""

    def __init__(self, name: str) -> None:
        self.__dict__["_name"] = name

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self.__dict__["_name"])
        self.__dict__.update(module.__dict__)
        return getattr(module, attr)


cst: libcst = _LazyModule("libcst")  # type: ignore[assignment]
m: libcst.matchers = _LazyModule("libcst.matchers")  # type: ignore[assignment]


@dataclass(frozen=True)
class ImportRequest:
    """An import a fix needs: ``from module import obj as asname`` or ``import module``."""

    module: str
    obj: str | None = None
    asname: str | None = None


@dataclass
class Fix:
    """A fix as a recipe over the parsed tree: node replacements plus imports to add/remove.

    ``replacements`` maps an original node to its new node (or ``cst.RemovalSentinel.REMOVE``
    or a ``cst.FlattenSentinel``); the fixer applies them by identity and then runs libcst's
    import helpers once per file.
    """

    message: str
    applicability: str
    replacements: dict[Any, Any]
    add_imports: tuple[ImportRequest, ...] = ()
    remove_imports: tuple[ImportRequest, ...] = ()

    def __post_init__(self) -> None:
        assert self.applicability in (SAFE, UNSAFE)


class Rule:
    """Base class of every rule. Subclasses set the metadata and define ``visit_<Node>`` methods.

    Hooks, all optional, receive the node and the shared :class:`LintContext`:
    ``visit_<NodeType>(node, ctx)``, ``leave_<NodeType>(node, ctx)`` and ``finish(ctx)`` (after
    the traversal, when the module-wide call graph is complete).
    """

    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]  # one line, for tables and SARIF
    what: ClassVar[str]
    why: ClassVar[str]
    example: ClassVar[str]
    use_instead: ClassVar[str]
    fix_safety: ClassVar[str] = "No automatic fix."
    fix: ClassVar[str | None] = None  # None, SAFE, UNSAFE or "sometimes"
    options: ClassVar[str] = ""
    references: ClassVar[tuple[str, ...]] = ()
    default: ClassVar[bool] = True
    # Pre-filter: every group must have at least one of its substrings in the file's bytes.
    needles: ClassVar[tuple[tuple[bytes, ...], ...]] = ()
    # Candidates: the names (a regex alternation, matched as whole words) of the calls or
    # attributes the rule reacts to. Checked with the needles, on the bytes, before parsing.
    candidates: ClassVar[str | None] = None
    # The Python version from which the hazard exists (a deprecation, a removal): code under a
    # version gate that runs only on older Pythons is not reported. Code that runs on no
    # targeted Python (``target-version``) is never reported, whatever the rule.
    applies_from: ClassVar[tuple[int, int] | None] = None
    # Asks the loop model (``ctx.loops``): see :mod:`asyncloop_lint.loopmodel`.
    needs_loop_model: ClassVar[bool] = False
    # Reported by the engine itself (AL000, AL001), never a reason to parse a file.
    reported_by_engine: ClassVar[bool] = False

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}

    def finish(self, ctx: LintContext) -> None:  # pragma: no cover - default no-op
        pass

    @classmethod
    def could_match(cls, source: bytes) -> bool:
        if cls.reported_by_engine:
            return False
        if not all(any(needle in source for needle in group) for group in cls.needles):
            return False
        return cls.candidates is None or _candidate_pattern(cls.candidates).search(source) is not None


@cache
def _candidate_pattern(alternation: str) -> re.Pattern[bytes]:
    return re.compile(rb"\b(?:" + alternation.encode() + rb")\b")


SYNTAX_ERROR_CODE = "AL000"
SYNTAX_ERROR_NAME = "syntax-error"
# A file that was not analysed (over a budget, beyond what the parser can take, or it crashed
# the process analysing it): reported by the engine and the runner, like AL000.
NOT_ANALYSED_CODE = "AL001"
NOT_ANALYSED_NAME = "not-analysed"


@dataclass(frozen=True)
class RuleInfo:
    """Light metadata of every code, including the engine's own AL000 and AL001."""

    code: str
    name: str
    summary: str
    default: bool
    fix: str | None
    rule: type[Rule] | None = field(default=None, compare=False)


@cache
def registry() -> dict[str, RuleInfo]:
    """Every known code, sorted, discovered from the modules of ``asyncloop_lint.rules``."""
    from . import rules as rules_pkg

    found: dict[str, RuleInfo] = {}
    for info in pkgutil.iter_modules(rules_pkg.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{rules_pkg.__name__}.{info.name}")
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Rule) and obj.__dict__.get("code"):
                if obj.code in found:
                    raise RuntimeError(f"duplicate rule code {obj.code}")
                found[obj.code] = RuleInfo(
                    obj.code, obj.name, obj.summary, obj.default, obj.fix, obj
                )
    return dict(sorted(found.items()))


def is_call_statement(statement: Any, call: Any) -> bool:
    """``statement`` is a line that holds only the expression ``call`` (``f(x)`` on its own)."""
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and statement.body[0].value is call
    )


def describe_chain(chain: list[str]) -> str:
    """``load()`` → ``fetch()``: a call chain of same-module functions, for messages."""
    return " → ".join(
        f"`{name.replace('.<locals>', '').removesuffix('.__init__')}()`" for name in chain
    )


def explain_fix(fix: str | None) -> str:
    return {None: "none", SAFE: "safe", UNSAFE: "unsafe", "sometimes": "sometimes"}[fix]
