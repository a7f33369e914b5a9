"""Lint one source: pre-filter, parse once, one traversal for all rules, then suppression.

Cost is paid only where it can pay off: a file that can match no selected rule is never
parsed; positions are computed only for files that have findings; fix edits only when a
reporter asks for them.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Iterator

from .budget import DEEP_RECURSION_LIMIT
from .diagnostic import Diagnostic, FileResult, FixInfo, Location, source_lines
from .rule import NOT_ANALYSED_CODE, NOT_ANALYSED_NAME, SYNTAX_ERROR_CODE, SYNTAX_ERROR_NAME, Rule, registry  # noqa: F401
from .suppression import file_is_exempt, is_suppressed

if TYPE_CHECKING:  # pragma: no cover
    import libcst as cst

    from .budget import Admission
    from .config import Settings
    from .context import Finding


def selected_rules(codes: frozenset[str], source: bytes) -> list[type[Rule]]:
    """The selected rules whose byte pre-filter passes on ``source``."""
    rules = []
    for code, info in registry().items():
        if info.rule is not None and code in codes and info.rule.could_match(source):
            rules.append(info.rule)
    return rules


def module_name_for(path: str, project_root: str) -> str | None:
    """Dotted module name of ``path`` relative to the project root (``src/`` stripped)."""
    try:
        rel = Path(path).resolve().relative_to(project_root)
    except (ValueError, OSError):
        rel = PurePath(path)
    parts = list(rel.with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    if parts and parts[0] == "src":
        parts.pop(0)
    return ".".join(parts) if parts and all(p.isidentifier() for p in parts) else None


def per_file_settings(settings: Settings, path: str) -> Settings:
    """``settings`` with ``runtime_import`` as this file imports the runtime (relative inside
    a package when it is vendored), which is what the rules spell and recognise."""
    from dataclasses import replace

    from .vendor import locate

    return replace(settings, runtime_import=locate(path, settings.runtime_import, settings.project_root).module)


@dataclass
class Analysis:
    """A parsed file and what the rules found in it (libcst objects: stays in-process)."""

    module: cst.Module
    findings: list[Finding]  # unsuppressed, sorted by position
    positions: dict  # node -> CodeRange, for nodes of findings
    lines: list[str]
    depends: tuple[tuple[str, int, int], ...] = ()


def _syntax_error(path: str, source: bytes, exc: Exception) -> Diagnostic:
    import libcst as cst

    if isinstance(exc, cst.ParserSyntaxError):
        row, col, reason = exc.editor_line, exc.editor_column, exc.message
        # CPython's compiler pinpoints the error better than libcst's parser; prefer it.
        try:
            compile(source, path, "exec", dont_inherit=True)
        except SyntaxError as native:
            if native.lineno:
                row, col, reason = native.lineno, native.offset or 1, native.msg
        except (ValueError, UnicodeError):
            pass
    elif isinstance(exc, UnicodeDecodeError):
        row = source.count(b"\n", 0, exc.start) + 1
        col = exc.start - (source.rfind(b"\n", 0, exc.start) + 1) + 1
        reason = f"cannot decode the file as {exc.encoding}: {exc.reason}"
    else:
        row, col, reason = 1, 1, f"{type(exc).__name__}: {exc}"
    loc = Location(row, col)
    return Diagnostic(SYNTAX_ERROR_CODE, SYNTAX_ERROR_NAME, f"Syntax error: {reason}", path, loc, loc)


def not_analysed(
    path: str,
    reason: str,
    codes: frozenset[str],
    source: bytes | None = None,
    row: int = 1,
    column: int = 1,
    *,
    warn: bool = False,
) -> FileResult:
    """The result of a file that was not analysed: an AL001 diagnostic at ``row``/``column``
    (unless AL001 is not selected for the file, or a line's ``noqa`` covers it), and the reason
    kept on the result so that the summary counts it, whatever the selection. ``warn`` also
    names it on standard error (for runs that show no diagnostics, such as ``--diff``)."""
    message = f"Not analysed: {reason}"
    lines: tuple[str, ...] = ()
    if source is not None:
        # Only the lines up to a little past the reported one (a reporter shows a few).
        head = source[: _offset_of_line(source, row + 5)]
        if len(head) <= 1024 * 1024:
            lines = tuple(head.decode("utf-8", "replace").splitlines())
    diagnostics: tuple[Diagnostic, ...] = ()
    selected = NOT_ANALYSED_CODE in codes
    if selected and not is_suppressed(NOT_ANALYSED_CODE, (row,), list(lines)):
        loc = Location(row, column)
        diagnostics = (Diagnostic(NOT_ANALYSED_CODE, NOT_ANALYSED_NAME, message, path, loc, loc, noqa_row=row),)
    return FileResult(
        path, diagnostics, lines=lines if diagnostics else (), not_analysed=reason,
        warning=f"not analysed: {reason}" if warn or not selected else None,
    )


def _offset_of_line(source: bytes, row: int) -> int:
    """The offset where line ``row`` (1-based) ends, or the end of ``source``."""
    offset = 0
    for _ in range(row):
        found = source.find(b"\n", offset)
        if found < 0:
            return len(source)
        offset = found + 1
    return offset


def parse(source: bytes) -> cst.Module:
    import libcst as cst

    return cst.parse_module(source)


def analyze(
    module: cst.Module,
    path: str,
    settings: Settings,
    rule_classes: list[type[Rule]],
    source: bytes | None = None,
) -> Analysis:
    """Run ``rule_classes`` over a parsed module in one traversal and filter ``noqa``.

    libcst's tree walk recurses once per nesting level; a generated module can nest thousands
    deep (a long concatenated string literal: one level per line). Such a file is analysed
    again on a thread with a large stack and a higher recursion limit instead of failing
    (:func:`asyncloop_lint.budget.on_deep_stack`: on every supported Python, and without
    overflowing the C stack where calls go through C)."""
    try:
        return _analyze(module, path, settings, rule_classes, source)
    except RecursionError:
        if sys.getrecursionlimit() >= DEEP_RECURSION_LIMIT:
            raise  # already on the deep stack
        from .budget import on_deep_stack

        return on_deep_stack(_analyze, module, path, settings, rule_classes, source)



def _analyze(
    module: cst.Module,
    path: str,
    settings: Settings,
    rule_classes: list[type[Rule]],
    source: bytes | None = None,
) -> Analysis:
    from libcst.metadata import MetadataWrapper

    from .context import LintContext, Traversal
    from .positions import Positions

    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    # Qualified names come from our binding pass (asyncloop_lint.bindings); libcst's
    # ScopeProvider runs only if a rule asks for a Scope object.
    settings = per_file_settings(settings, path)
    ctx = LintContext(
        module=module,
        path=path,
        module_name=module_name_for(path, settings.project_root),
        settings=settings,
        wrapper=wrapper,
        source=source,
    )
    rules = [cls() for cls in rule_classes]
    Traversal(ctx, rules, build_graph=any(getattr(r, "needs_call_graph", False) for r in rules)).run(module)
    for rule in rules:
        rule.finish(ctx)
    depends = _dependencies(ctx.dependencies)
    if not ctx.findings:
        return Analysis(module, [], {}, [], depends)
    positions = Positions(module, ctx.text, _anchors(ctx.findings))
    lines = source_lines(ctx.text)
    kept = []
    for finding in ctx.findings:
        start = positions[finding.node].start
        rows = (start.line,)
        if finding.statement is not None and finding.statement in positions:
            rows += (positions[finding.statement].start.line,)
        if not is_suppressed(finding.code, rows, lines):
            kept.append(finding)
    kept.sort(key=lambda f: (positions[f.node].start.line, positions[f.node].start.column, f.code))
    return Analysis(module, kept, positions, lines, depends)


def _anchors(findings: list) -> Iterator[cst.CSTNode | None]:
    """The nodes whose positions findings and their fixes need."""
    for finding in findings:
        yield finding.node
        yield finding.statement
        if finding.fix is not None:
            yield from finding.fix.replacements


def _dependencies(paths: set[str]) -> tuple[tuple[str, int, int], ...]:
    """(path, size, mtime_ns) of each file the findings depend on, for the cache to check."""
    found = []
    for path in sorted(paths):
        try:
            st = os.stat(path) if path != "*" else None
        except OSError:
            continue
        found.append((path, st.st_size, st.st_mtime_ns) if st is not None else ("*", 0, 0))
    return tuple(found)


def to_diagnostic(analysis: Analysis, finding: Finding, path: str, want_edits: bool) -> Diagnostic:
    rng = analysis.positions[finding.node]
    fix = None
    if finding.fix is not None:
        edits = None
        if want_edits:
            from .fixer import edits_for

            edits = edits_for(analysis.module, [finding.fix], path)
        fix = FixInfo(finding.fix.applicability, finding.fix.message, edits)
    return Diagnostic(
        finding.code,
        finding.name,
        finding.message,
        path,
        Location(rng.start.line, rng.start.column + 1),
        Location(rng.end.line, rng.end.column + 1),
        fix,
        noqa_row=rng.start.line,
    )


def lint_source(
    source: bytes,
    path: str,
    settings: Settings,
    *,
    want_edits: bool = False,
    relpath: str | None = None,
    admission: Admission | None = None,
) -> FileResult:
    """Lint one file's bytes. Never raises for bad input: a parse failure is an AL000, a file
    over a budget or beyond the parser an AL001."""
    return lint_with_analysis(source, path, settings, want_edits=want_edits, relpath=relpath, admission=admission)[0]


def lint_with_analysis(
    source: bytes,
    path: str,
    settings: Settings,
    *,
    want_edits: bool = False,
    relpath: str | None = None,
    admission: Admission | None = None,
) -> tuple[FileResult, Analysis | None]:
    """:func:`lint_source`, also handing back the analysis (None when the file was not parsed)
    for in-process callers that compute fixes on demand (the language server).

    ``admission`` is the pre-check's verdict on ``source`` when the caller made it already."""
    if file_is_exempt(source):
        return FileResult(path), None
    codes = settings.codes_for(relpath if relpath is not None else path)
    rule_classes = selected_rules(codes, source)
    if not rule_classes:
        return FileResult(path), None
    if admission is None:
        from .budget import admit, current

        admission = admit(source, current())
    if admission.refusal:
        return not_analysed(path, admission.refusal, codes, source, admission.row, admission.column), None
    try:
        module = parse(source)
    except Exception as exc:  # noqa: BLE001 - every parser failure is a diagnostic
        if admission.verified:
            # CPython parses the file: the failure is libcst's limit, not a syntax error.
            return not_analysed(path, _parser_refusal(exc), codes, source), None
        if SYNTAX_ERROR_CODE not in codes:
            return FileResult(path), None
        lines = tuple(source_lines(source.decode("utf-8", "replace")))
        return FileResult(path, (_syntax_error(path, source, exc),), lines=lines), None
    analysis = analyze(module, path, settings, rule_classes, source)
    return result_from(analysis, path, want_edits), analysis


def _parser_refusal(exc: Exception) -> str:
    import libcst as cst

    if isinstance(exc, cst.ParserSyntaxError):
        detail = exc.message
    else:
        detail = f"{type(exc).__name__}: {exc}"
    return f"CPython parses this file but libcst, the parser this linter uses, does not ({detail.splitlines()[0]})"


def result_from(analysis: Analysis, path: str, want_edits: bool) -> FileResult:
    """The file's result from its analysis (also the fixer's last pass: no second lint)."""
    diagnostics = tuple(to_diagnostic(analysis, f, path, want_edits) for f in analysis.findings)
    return FileResult(path, diagnostics, lines=tuple(analysis.lines) if diagnostics else (), depends=analysis.depends)
