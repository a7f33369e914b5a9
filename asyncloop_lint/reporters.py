"""Output formats. Each reporter takes the run's results and writes to a text stream.

Machine-readable formats use ruff's names and field names, so tools that read ruff's output
read ours. rich is imported only by the ``full`` format, and only when there is something
to show.
"""

from __future__ import annotations

import functools
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
    errors: int = 0  # paths or files that could not be checked (reported on stderr)

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


def display_name(path: str) -> str:
    """A file name as text any output can hold: bytes that are not UTF-8 (which Python keeps as
    surrogate escapes) become U+FFFD, as ruff shows them. Lossy, for display only."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        pass
    try:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate that no file name produced
        return path.encode("utf-8", "replace").decode("utf-8")


def relative(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return display_name(path)
    return display_name(path if rel.startswith("..") else rel)


def concise_line(d: Diagnostic, fixable: bool = False) -> str:
    """``path:row:col: CODE [*] message``, the one-line form (also ``--quiet``'s)."""
    marker = " [*]" if fixable else ""
    return f"{relative(d.filename)}:{d.location.row}:{d.location.column}: {d.code}{marker} {d.message}\n"


@reporter("concise")
def concise(run: Run, out: TextIO) -> None:
    for d in run.diagnostics:
        out.write(concise_line(d, run.fixable(d)))
    summary(run, out)


def summary(run: Run, out: TextIO) -> None:
    diagnostics = run.diagnostics
    lines = []
    fixed = run.fixed_count
    # Files that were not analysed (AL001) are counted whether or not AL001 is shown: never
    # "All checks passed!" over a file nobody looked at.
    unanalysed = sum(1 for r in run.results if r.not_analysed)
    if fixed:
        remaining = len(diagnostics)
        lines.append(f"Found {fixed + remaining} error{'s' * (fixed + remaining != 1)} ({fixed} fixed, {remaining} remaining).")
    elif diagnostics:
        lines.append(f"Found {len(diagnostics)} error{'s' * (len(diagnostics) != 1)}.")
    elif unanalysed:
        lines.append("No errors found in the files that were analysed.")
    elif run.errors:
        # Not "All checks passed!": something named on the command line was not checked.
        lines.append(f"No findings in the files checked; {run.errors} error{'s' * (run.errors != 1)} "
                     "kept the check from being complete.")
    else:
        lines.append("All checks passed!")
    if unanalysed:
        lines.append(f"{unanalysed} file{' was' if unanalysed == 1 else 's were'} not analysed (AL001).")
    if diagnostics:
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


Segment = tuple[str, str]  # (text, rich style)


@reporter("full")
def full(run: Run, out: TextIO) -> None:
    """Each finding with its source and the range marked, then counts per code and a summary.
    The lines are built once as styled segments; rich renders them only when colour is on."""
    diagnostics = run.diagnostics
    lines: list[list[Segment]] = []
    lines_of = {r.filename: r.lines for r in run.results}
    for d in diagnostics:
        header = [(f"{relative(d.filename)}:{d.location.row}:{d.location.column}", "bold"), (": ", ""),
                  (d.code, "bold red")]
        if run.fixable(d):
            header.append((" [*]", "cyan"))
        lines.append(header + [(f" {d.message}", "")])
        lines += _source_lines(lines_of.get(d.filename, ()), d)
        if d.fix is not None:
            safety = "" if d.fix.applicability == SAFE else " (unsafe fix)"
            lines.append([("  = ", "blue"), ("help: ", "bold"), (f"{d.fix.message}{safety}", "")])
        lines.append([])
    names = registry() if diagnostics else {}
    for code, count in sorted(Counter(d.code for d in diagnostics).items()):
        info = names.get(code)
        lines.append([(f"{count:>5}", "bold"), (f"  {code}  ", ""), (info.name if info else "", "dim")])
    if run.color and lines:
        from rich.console import Console
        from rich.text import Text

        console = Console(file=out, force_terminal=True, highlight=False, soft_wrap=True)
        for line in lines:
            console.print(Text.assemble(*line))
    else:
        for line in lines:
            out.write("".join(text for text, _ in line) + "\n")
    summary(run, out)


def _source_lines(lines: tuple[str, ...], d: Diagnostic) -> list[list[Segment]]:
    first, last = d.location.row, d.end_location.row
    if not lines or first > len(lines):
        return []
    shown = list(range(first, min(last, first + 5, len(lines)) + 1))
    width = len(str(shown[-1]))
    out: list[list[Segment]] = [[(f"{' ' * width} |", "blue")]]
    for row in shown:
        line = lines[row - 1].expandtabs(1)
        out.append([(f"{row:>{width}} | ", "blue"), (line, "")])
        start = d.location.column - 1 if row == first else len(line) - len(line.lstrip())
        end = d.end_location.column - 1 if row == last else len(line)
        label = f" {d.code}" if row == shown[-1] else ""
        out.append([(f"{' ' * width} | ", "blue"), (" " * start, ""), ("^" * max(1, end - start) + label, "bold red")])
    return out


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
        "filename": display_name(os.path.abspath(d.filename)),
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
        # GitHub resolves `file=` against the repository root, whatever the step's directory.
        repo_path = repository_path(d.filename)[0]
        props = [f"title={_escape_property(f'asyncloop-lint ({d.code})')}", f"file={_escape_property(display_name(repo_path))}",
                 f"line={d.location.row}"]
        if d.location.row == d.end_location.row:
            props.append(f"col={d.location.column}")
        props.append(f"endLine={d.end_location.row}")
        if d.location.row == d.end_location.row:
            props.append(f"endColumn={d.end_location.column}")
        message = f"{path}:{d.location.row}:{d.location.column}: {d.code} {d.message}"
        out.write(f"::error {','.join(props)}::{_escape_data(message)}\n")


# --- CI formats: SARIF (GitHub code scanning), GitLab Code Quality, JUnit XML ---------------

INFORMATION_URI = "https://github.com/asyncloop-lint/asyncloop-lint"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def repository_root(path: str) -> str:
    """The root findings are reported against: the git work tree holding ``path``, else the cwd."""
    return _git_toplevel(os.path.dirname(os.path.abspath(path))) or os.getcwd()


@functools.lru_cache(maxsize=1024)
def _git_toplevel(directory: str) -> str | None:
    """The nearest directory at or above ``directory`` holding ``.git`` (a directory, or a file
    for worktrees and submodules)."""
    current = directory
    while True:
        if os.path.exists(os.path.join(current, ".git")):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def repository_path(path: str) -> tuple[str, str | None]:
    """``path`` as a POSIX path relative to its repository root, and that root.

    The root is None when the file lies outside it (then the path is absolute).
    """
    absolute = os.path.abspath(path)
    root = repository_root(absolute)
    try:
        rel = os.path.relpath(absolute, root)
    except ValueError:
        rel = ".."
    if rel == ".." or rel.startswith(".." + os.sep):
        return absolute.replace(os.sep, "/"), None
    return rel.replace(os.sep, "/"), root


def _rule_text(code: str) -> tuple[str, str, str, str]:
    """Name, one-line summary, what the rule checks, and why (the code itself when unknown)."""
    import inspect

    info = registry().get(code)
    if info is None:
        return code, code, code, ""
    what = inspect.cleandoc(getattr(info.rule, "what", "") or "") or info.summary
    why = inspect.cleandoc(getattr(info.rule, "why", "") or "")
    return info.name, info.summary, what, why


def _sarif_region(start_row: int, start_col: int, end_row: int, end_col: int) -> dict:
    return {"startLine": start_row, "startColumn": start_col, "endLine": end_row, "endColumn": end_col}


def _sarif_location(path: str) -> dict:
    from urllib.parse import quote

    rel, root = repository_path(path)
    if root is None:
        if rel.startswith("/"):
            return {"uri": "file://" + quote(os.fsencode(rel))}
        return {"uri": quote(os.fsencode(rel))}
    # A URI names the file's bytes: a name that is not UTF-8 is percent-encoded as it is.
    return {"uri": quote(os.fsencode(rel)), "uriBaseId": "%SRCROOT%"}


@reporter("sarif")
def sarif(run: Run, out: TextIO) -> None:
    """SARIF 2.1.0, one run, the subset GitHub code scanning reads."""
    from . import __version__
    from .rule import SYNTAX_ERROR_CODE, rule_url

    diagnostics = run.diagnostics
    codes = sorted({d.code for d in diagnostics})
    index = {code: i for i, code in enumerate(codes)}
    rules = []
    for code in codes:
        name, summary, what, why = _rule_text(code)
        help_text = "\n\n".join(part for part in (what, why) if part)
        rules.append({
            "id": code,
            "name": name,
            "shortDescription": {"text": summary},
            "fullDescription": {"text": what},
            "help": {"text": help_text, "markdown": f"{help_text}\n\n[{code} documentation]({rule_url(code)})"},
            "helpUri": rule_url(code),
            "defaultConfiguration": {"level": "error"},
            "properties": {"tags": ["asyncio", "syntax" if code == SYNTAX_ERROR_CODE else "event-loop"]},
        })
    lines_of = {r.filename: r.lines for r in run.results}
    results = []
    for d in diagnostics:
        artifact = _sarif_location(d.filename)
        region = _sarif_region(d.location.row, d.location.column, d.end_location.row, d.end_location.column)
        snippet = _snippet(lines_of.get(d.filename, ()), d)
        if snippet:
            region["snippet"] = {"text": snippet}
        result: dict = {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": "error",
            "message": {"text": d.message},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": artifact,
                    "region": region,
                },
            }],
        }
        if d.fix is not None and d.fix.edits:
            result["fixes"] = [{
                "description": {"text": d.fix.message},
                "artifactChanges": [{
                    "artifactLocation": artifact,
                    "replacements": [
                        {
                            "deletedRegion": _sarif_region(e.location.row, e.location.column,
                                                           e.end_location.row, e.end_location.column),
                            **({"insertedContent": {"text": e.content}} if e.content else {}),
                        }
                        for e in d.fix.edits
                    ],
                }],
                "properties": {"applicability": d.fix.applicability},
            }]
        results.append(result)
    roots = {repository_path(d.filename)[1] for d in diagnostics} - {None}
    run_object: dict = {
        "tool": {"driver": {
            "name": "asyncloop-lint",
            "version": __version__,
            "semanticVersion": __version__,
            "informationUri": INFORMATION_URI,
            "rules": rules,
        }},
        "results": results,
        "columnKind": "unicodeCodePoints",
    }
    if len(roots) == 1:
        from pathlib import Path

        run_object["originalUriBaseIds"] = {"%SRCROOT%": {"uri": Path(roots.pop()).as_uri() + "/"}}
    document = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run_object]}
    json.dump(document, out, indent=2, ensure_ascii=False)
    out.write("\n")


def _snippet(lines: tuple[str, ...], d: Diagnostic) -> str:
    """The reported source text (what a SARIF region's ``snippet`` holds)."""
    first, last = d.location.row, d.end_location.row
    if not lines or not 0 < first <= last <= len(lines):
        return ""
    if first == last:
        return lines[first - 1][d.location.column - 1 : d.end_location.column - 1]
    chunk = [lines[first - 1][d.location.column - 1 :], *lines[first : last - 1], lines[last - 1][: d.end_location.column - 1]]
    return "\n".join(chunk)


def gitlab_fingerprints(run: Run) -> list[tuple[Diagnostic, str, str]]:
    """(diagnostic, repository-relative path, fingerprint) for every finding.

    The fingerprint hashes the code, the path, the stripped text of the reported line and the
    occurrence of that triple in the file, not the line number: it survives unrelated edits
    above the finding and stays distinct for repeated identical lines.
    """
    import hashlib

    lines_of = {r.filename: r.lines for r in run.results}
    seen: Counter[tuple[str, str, str]] = Counter()
    rows = []
    for d in run.diagnostics:
        path = display_name(repository_path(d.filename)[0])
        lines = lines_of.get(d.filename, ())
        text = lines[d.location.row - 1].strip() if 0 < d.location.row <= len(lines) else ""
        key = (d.code, path, text)
        occurrence = seen[key]
        seen[key] += 1
        digest = hashlib.sha256("\0".join((*key, str(occurrence))).encode("utf-8", "surrogatepass"))
        rows.append((d, path, digest.hexdigest()[:32]))
    return rows


@reporter("gitlab")
def gitlab(run: Run, out: TextIO) -> None:
    """GitLab Code Quality report (a JSON array of Code Climate issues)."""
    from .rule import SYNTAX_ERROR_CODE

    issues = []
    for d, path, fingerprint in gitlab_fingerprints(run):
        lines = {"begin": d.location.row}
        if d.end_location.row > d.location.row:
            lines["end"] = d.end_location.row
        issues.append({
            "type": "issue",
            "check_name": d.code,
            "description": f"{d.code}: {d.message}",
            "categories": ["Bug Risk"],
            "fingerprint": fingerprint,
            "severity": "critical" if d.code == SYNTAX_ERROR_CODE else "major",
            "location": {"path": path, "lines": lines},
        })
    json.dump(issues, out, indent=2, ensure_ascii=False)
    out.write("\n")


@reporter("junit")
def junit(run: Run, out: TextIO) -> None:
    """JUnit XML: a test suite per file with findings, a failing test case per finding."""
    from xml.sax.saxutils import escape, quoteattr

    by_file: dict[str, list[Diagnostic]] = {}
    for d in run.diagnostics:
        by_file.setdefault(relative(d.filename), []).append(d)
    total = sum(len(ds) for ds in by_file.values())
    lines = ['<?xml version="1.0" encoding="UTF-8"?>']
    if not by_file:
        lines += [
            '<testsuites name="asyncloop-lint" tests="1" failures="0" errors="0" skipped="0">',
            '  <testsuite name="asyncloop-lint" tests="1" failures="0" errors="0" skipped="0">',
            '    <testcase name="asyncloop-lint" classname="asyncloop-lint"/>',
            "  </testsuite>",
            "</testsuites>",
        ]
    else:
        lines.append(f'<testsuites name="asyncloop-lint" tests="{total}" failures="{total}" errors="0" skipped="0">')
        for path, ds in by_file.items():
            lines.append(f'  <testsuite name={quoteattr(path)} tests="{len(ds)}" failures="{len(ds)}" errors="0" skipped="0">')
            classname = path.removesuffix(".pyi").removesuffix(".py").replace("/", ".").replace(os.sep, ".")
            for d in ds:
                where = f"{path}:{d.location.row}:{d.location.column}"
                lines.append(f'    <testcase name={quoteattr(f"{d.code} {where}")} classname={quoteattr(classname)} '
                             f'file={quoteattr(path)} line="{d.location.row}">')
                lines.append(f'      <failure message={quoteattr(_xml_text(f"{d.code} {d.message}"))} type={quoteattr(d.code)}>'
                             f"{escape(_xml_text(f'{where}: {d.code} {d.message}'))}</failure>")
                lines.append("    </testcase>")
            lines.append("  </testsuite>")
        lines.append("</testsuites>")
    out.write("\n".join(lines) + "\n")


def _xml_text(value: str) -> str:
    """Drop the characters XML 1.0 cannot hold at all (control characters other than tab/newline)."""
    return "".join(ch for ch in value if ch in "\t\n\r" or ord(ch) >= 0x20)
