"""Output formats. Each reporter takes the run's results and writes to a text stream.

Machine-readable formats use ruff's names and field names, so tools that read ruff's output
read ours. rich is imported only by the ``full`` format, and only when there is something
to show.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from typing import Callable, TextIO

from .diagnostic import SAFE, Diagnostic, FileResult
from .rule import registry


@dataclass(frozen=True)
class Run:
    """Everything a reporter may need about one run."""

    results: list[FileResult]
    fix_mode: bool = False
    unsafe_fixes: bool = False
    color: bool = False
    show_fixes_summary: bool = True

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return sorted((d for r in self.results for d in r.diagnostics), key=lambda d: d.sort_key)

    @property
    def fixed_count(self) -> int:
        return sum(r.fixed_count for r in self.results)

    def fixable(self, diagnostic: Diagnostic) -> bool:
        fix = diagnostic.fix
        return fix is not None and (fix.applicability == SAFE or self.unsafe_fixes)


Reporter = Callable[[Run, TextIO], None]
FORMATS: dict[str, Reporter] = {}


def reporter(name: str) -> Callable[[Reporter], Reporter]:
    def register(func: Reporter) -> Reporter:
        FORMATS[name] = func
        return func

    return register


def relative(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


@reporter("concise")
def concise(run: Run, out: TextIO) -> None:
    for d in run.diagnostics:
        marker = " [*]" if run.fixable(d) else ""
        out.write(f"{relative(d.filename)}:{d.location.row}:{d.location.column}: {d.code}{marker} {d.message}\n")
    summary(run, out)


def summary(run: Run, out: TextIO) -> None:
    diagnostics = run.diagnostics
    lines = []
    fixed = run.fixed_count
    if fixed:
        remaining = len(diagnostics)
        lines.append(f"Found {fixed + remaining} error{'s' * (fixed + remaining != 1)} ({fixed} fixed, {remaining} remaining).")
    elif diagnostics:
        lines.append(f"Found {len(diagnostics)} error{'s' * (len(diagnostics) != 1)}.")
    elif not run.fix_mode:
        lines.append("All checks passed!")
    if diagnostics and run.show_fixes_summary:
        safe = sum(1 for d in diagnostics if d.fix and d.fix.applicability == SAFE)
        unsafe = sum(1 for d in diagnostics if d.fix and d.fix.applicability != SAFE)
        if safe and not run.fix_mode:
            lines.append(f"[*] {safe} fixable with the `--fix` option.")
        if unsafe and not run.unsafe_fixes:
            lines.append(f"({unsafe} hidden fix{'es' * (unsafe != 1)} can be enabled with the `--unsafe-fixes` option.)")
        elif unsafe and not run.fix_mode:
            lines.append(f"[*] {unsafe} more fixable with `--fix --unsafe-fixes`.")
    for line in lines:
        out.write(line + "\n")


@reporter("full")
def full(run: Run, out: TextIO) -> None:
    diagnostics = run.diagnostics
    if not diagnostics:
        summary(run, out)
        return
    from rich.console import Console
    from rich.text import Text

    console = Console(file=out, force_terminal=run.color, no_color=not run.color, highlight=False,
                      soft_wrap=True, width=10_000 if not run.color else None)
    lines_of = {r.filename: r.lines for r in run.results}
    for d in diagnostics:
        header = Text()
        header.append(f"{relative(d.filename)}:{d.location.row}:{d.location.column}", style="bold")
        header.append(": ")
        header.append(d.code, style="bold red")
        if run.fixable(d):
            header.append(" [*]", style="cyan")
        header.append(f" {d.message}")
        console.print(header)
        _print_source(console, lines_of.get(d.filename, ()), d)
        if d.fix is not None:
            safety = "" if d.fix.applicability == SAFE else " (unsafe fix)"
            console.print(Text.assemble(("  = ", "blue"), ("help: ", "bold"), f"{d.fix.message}{safety}"))
        console.print()
    counts = Counter(d.code for d in diagnostics)
    names = registry()
    for code, count in sorted(counts.items()):
        info = names.get(code)
        console.print(Text.assemble((f"{count:>5}", "bold"), f"  {code}  ", (info.name if info else "", "dim")))
    summary(run, out)


def _print_source(console, lines: tuple[str, ...], d: Diagnostic) -> None:  # type: ignore[no-untyped-def]
    from rich.text import Text

    first, last = d.location.row, d.end_location.row
    if not lines or first > len(lines):
        return
    shown = list(range(first, min(last, first + 5, len(lines)) + 1))
    width = len(str(shown[-1]))
    console.print(Text(f"{' ' * width} |", style="blue"))
    for row in shown:
        line = lines[row - 1].expandtabs(1)
        console.print(Text.assemble((f"{row:>{width}} | ", "blue"), line))
        start = d.location.column - 1 if row == first else len(line) - len(line.lstrip())
        end = d.end_location.column - 1 if row == last else len(line)
        carets = "^" * max(1, end - start)
        label = f" {d.code}" if row == shown[-1] else ""
        console.print(Text.assemble((f"{' ' * width} | ", "blue"), " " * start, (carets + label, "bold red")))


def as_json(d: Diagnostic) -> dict:
    fix = None
    if d.fix is not None:
        fix = {
            "applicability": d.fix.applicability,
            "message": d.fix.message,
            "edits": [
                {
                    "content": e.content,
                    "location": {"row": e.location.row, "column": e.location.column},
                    "end_location": {"row": e.end_location.row, "column": e.end_location.column},
                }
                for e in (d.fix.edits or ())
            ],
        }
    return {
        "cell": None,
        "code": d.code,
        "end_location": {"row": d.end_location.row, "column": d.end_location.column},
        "filename": os.path.abspath(d.filename),
        "fix": fix,
        "location": {"row": d.location.row, "column": d.location.column},
        "message": d.message,
        "noqa_row": d.noqa_row,
        "url": d.url,
    }


@reporter("json")
def json_array(run: Run, out: TextIO) -> None:
    json.dump([as_json(d) for d in run.diagnostics], out, indent=2, ensure_ascii=False)
    out.write("\n")


@reporter("json-lines")
def json_lines(run: Run, out: TextIO) -> None:
    for d in run.diagnostics:
        out.write(json.dumps(as_json(d), ensure_ascii=False) + "\n")


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


@reporter("github")
def github(run: Run, out: TextIO) -> None:
    for d in run.diagnostics:
        path = relative(d.filename)
        props = [f"title={_escape_property(f'asyncloop-lint ({d.code})')}", f"file={_escape_property(path)}",
                 f"line={d.location.row}"]
        if d.location.row == d.end_location.row:
            props.append(f"col={d.location.column}")
        props.append(f"endLine={d.end_location.row}")
        if d.location.row == d.end_location.row:
            props.append(f"endColumn={d.end_location.column}")
        message = f"{path}:{d.location.row}:{d.location.column}: {d.code} {d.message}"
        out.write(f"::error {','.join(props)}::{_escape_data(message)}\n")
