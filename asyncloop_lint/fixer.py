"""Apply fixes: node replacements by identity, imports once per file, re-lint until stable.

A file whose fixed text would not parse or compile, or whose fixes do not converge, is left
untouched and reported. The file's bytes conventions (encoding, BOM and line endings) come
back from libcst as they went in; :mod:`asyncloop_lint.files` writes the result.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from .diagnostic import SAFE, Edit, Location, source_lines

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Analysis
    import libcst as cst

    from .budget import Admission
    from .config import Settings
    from .rule import Fix, ImportRequest

MAX_PASSES = 10


def apply_fixes(module: cst.Module, fixes: Iterable[Fix], path: str | None = None) -> cst.Module:
    """Apply ``fixes`` to ``module``; ``path`` (the file's) tells first-party imports apart."""
    import libcst as cst

    from .imports import add_imports, remove_imports

    fixes = list(fixes)
    replacements: dict[int, Any] = {}
    for fix in fixes:
        for old, new in fix.replacements.items():
            replacements[id(old)] = new

    new_module = _replace_along_paths(module, replacements)
    if new_module is None:  # a node the walk does not reach (trivia): libcst's transformer

        class Replace(cst.CSTTransformer):
            def on_leave(self, original_node: Any, updated_node: Any) -> Any:
                new = replacements.get(id(original_node))
                if new is None:
                    return updated_node
                return new(updated_node) if callable(new) else new

        new_module = module.visit(Replace())
    adds = list(dict.fromkeys(req for fix in fixes for req in fix.add_imports))
    removes = [req for fix in fixes for req in fix.remove_imports]
    if adds:
        new_module = add_imports(new_module, adds, path)
    if removes:
        new_module = remove_imports(new_module, removes)
    return new_module


def _replace_along_paths(module: cst.Module, replacements: dict[int, Any]) -> cst.Module | None:
    """The module with ``replacements`` (id of an original node -> new node, a removal or
    flatten sentinel, or a function of the updated node) applied, rebuilding only the replaced
    nodes and their ancestors, children before parents, as libcst's transformer would (which
    rebuilds every node of the module). None when a replaced node is not on the walk's paths."""
    import libcst as cst

    from .walk import rebuild, walk

    stack: list[cst.CSTNode] = []
    affected: set[int] = set()
    order: list[cst.CSTNode] = []  # affected nodes, children before parents

    def enter(node: cst.CSTNode) -> bool:
        stack.append(node)
        if id(node) in replacements:
            affected.update(id(n) for n in stack)
        return True

    def leave(node: cst.CSTNode) -> None:
        stack.pop()
        if id(node) in affected:
            order.append(node)

    walk(module, enter, leave)
    if sum(1 for node in order if id(node) in replacements) != len(replacements):
        return None
    try:
        rebuilt = rebuild(order, replacements)
    except ValueError:  # libcst would refuse it too: let it say so
        return None
    result = rebuilt.get(id(module), module)
    return result if isinstance(result, cst.Module) else None


def edits_for(module: cst.Module, fixes: list[Fix], path: str | None = None) -> tuple[Edit, ...]:
    """The fix as line-level text edits against the original source (ruff's JSON shape)."""
    old = source_lines(module.code, keepends=True)
    new = source_lines(apply_fixes(module, fixes, path).code, keepends=True)
    edits = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            edits.append(Edit("".join(new[j1:j2]), Location(i1 + 1, 1), Location(i2 + 1, 1)))
    return tuple(edits)


@dataclass(frozen=True)
class FixOutcome:
    source: bytes  # the fixed source (unchanged when nothing applied or on error)
    fixed_count: int
    error: str | None = None
    # The last pass's analysis of ``source`` when it found nothing more to fix: what linting
    # ``source`` would give, so the caller need not parse and lint it again.
    analysis: Analysis | None = None
    runtime_module: str | None = None  # the fixes added an import of the runtime, spelled so
    runtime_file: str | None = None  # ... whose code belongs in this project file


def _imported_module(request: ImportRequest) -> str:
    """The module an import request binds, as libcst qualifies it (``.asyncloop_runtime``)."""
    if request.obj is None:
        return request.module
    return f"{request.module}{'' if request.module.endswith('.') else '.'}{request.obj}"


def _overlaps(a: tuple[Any, Any], b: tuple[Any, Any]) -> bool:
    return not (a[1] <= b[0] or b[1] <= a[0])


def _span(positions: dict, fix: Fix) -> tuple[Any, Any]:
    ranges = [positions[node] for node in fix.replacements]
    start = min((r.start.line, r.start.column) for r in ranges)
    end = max((r.end.line, r.end.column) for r in ranges)
    return start, end


def _keep_final_newline(before: bytes, after: bytes) -> bytes:
    """libcst drops the last line ending of a file whose lines end with a lone CR (classic Mac
    OS); put it back, so a fix changes nothing but what it fixes."""
    if before.endswith(b"\r") and not after.endswith((b"\r", b"\n")):
        return after + b"\r"
    return after


def fix_source(
    source: bytes,
    path: str,
    settings: Settings,
    *,
    unsafe: bool,
    relpath: str | None = None,
    admission: Admission | None = None,
) -> FixOutcome:
    """Apply fixes repeatedly until none is left (at most ``MAX_PASSES`` passes). A file that
    the budgets' pre-check refuses (``admission``, made here when not given) is left alone:
    linting it reports AL001."""
    from .engine import analyze, parse, selected_rules
    from .suppression import file_is_exempt
    from .vendor import locate

    if file_is_exempt(source):
        return FixOutcome(source, 0)
    codes = settings.codes_for(relpath if relpath is not None else path)
    if not selected_rules(codes, source):
        return FixOutcome(source, 0)
    if admission is None:
        from .budget import admit, current

        admission = admit(source, current())
    if admission.refusal:
        return FixOutcome(source, 0)
    current = source
    fixed = 0
    module = None  # the parse of ``current``, when the previous pass made it
    final = None
    runtime = locate(path, settings.runtime_import, settings.project_root)
    adds_runtime = False
    for _ in range(MAX_PASSES):
        rule_classes = selected_rules(codes, current)
        if not rule_classes:
            break
        try:
            module = module if module is not None else parse(current)
        except Exception:  # noqa: BLE001 - the linter reports AL000; nothing to fix
            break
        analysis = analyze(module, path, settings, rule_classes, current)
        chosen: list[Fix] = []
        spans: list[tuple[Any, Any]] = []
        for finding in analysis.findings:
            fix = finding.fix
            if fix is None or not fix.replacements or (fix.applicability != SAFE and not unsafe):
                continue
            span = _span(analysis.positions, fix)
            if any(_overlaps(span, other) for other in spans):
                continue  # applied in the next pass, against the updated tree
            chosen.append(fix)
            spans.append(span)
        if not chosen:
            final = analysis
            break
        new_module = apply_fixes(module, chosen, path)
        new_source = _keep_final_newline(current, new_module.bytes)
        if new_source == current:
            final = analysis
            break
        try:
            module = parse(new_source)  # checks it parses, and is the next pass's tree
            compile(new_module.code, path, "exec", dont_inherit=True)
        except Exception as exc:  # noqa: BLE001
            codes_tried = ", ".join(sorted({f.code for f in analysis.findings if f.fix in chosen}))
            return FixOutcome(
                source, 0, f"fixes for {codes_tried} would produce invalid code ({type(exc).__name__}); file left unchanged"
            )
        fixed += len(chosen)
        current = new_source
        adds_runtime = adds_runtime or any(
            _imported_module(req) == runtime.module for fix in chosen for req in fix.add_imports
        )
    else:
        return FixOutcome(source, 0, f"fixes did not converge after {MAX_PASSES} passes; file left unchanged")
    if not adds_runtime or current == source:
        return FixOutcome(current, fixed, analysis=final)
    return FixOutcome(current, fixed, analysis=final, runtime_module=runtime.module, runtime_file=runtime.file)


def unified_diff(path: str, before: bytes, after: bytes) -> str:
    def lines(data: bytes) -> list[str]:
        return source_lines(data.decode("utf-8", "replace"), keepends=True)

    from .reporters import relative

    name = relative(path)
    out = []
    for line in difflib.unified_diff(lines(before), lines(after), f"a/{name}", f"b/{name}"):
        # A last line without a line ending gets the marker diff and patch write and read.
        out.append(line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n")
    return "".join(out)
