"""The ``asyncloop-lint`` command.

Start-up stays light: click and the rule metadata only. libcst is imported when a file has
to be parsed, rich when there is something to render.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from . import __version__

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
# The reporters register these names; kept literal so --help needs no reporter import
# (tests/test_cli.py checks that the two agree).
OUTPUT_FORMATS = ("full", "concise", "json", "json-lines", "github", "sarif", "gitlab", "junit")


def _split_codes(values: tuple[str, ...]) -> list[str]:
    return [code.strip() for value in values for code in value.split(",") if code.strip()]


# Messages on stderr name the tool: in a pre-commit or CI log, or a Makefile's output, a bare
# "error:" does not say which of several tools is complaining (the GNU "program: message" form).
ERROR_PREFIX, WARNING_PREFIX = "asyncloop-lint: error: ", "asyncloop-lint: warning: "


def _fail(message: str) -> None:
    click.echo(ERROR_PREFIX + _printable(message), err=True)
    sys.exit(EXIT_ERROR)


def _printable(text: str) -> str:
    """``text`` with undecodable file-name bytes (surrogate escapes) shown as U+FFFD, so any
    stream can print it."""
    from .reporters import display_name

    return display_name(text)


def _is_terminal(stream) -> bool:  # type: ignore[no-untyped-def]
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _color_wanted(stream) -> bool:  # type: ignore[no-untyped-def]
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return _is_terminal(stream)


def _explain(code: str) -> None:
    from .docs import render_page
    from .rule import registry

    info = registry().get(code.strip().upper())
    if info is None or info.rule is None:
        _fail(f"unknown rule code {code!r}; `asyncloop-lint --list-rules` lists them")
    page = render_page(info.rule)  # type: ignore[union-attr]
    if _color_wanted(sys.stdout):
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(page))
    else:
        click.echo(page, nl=False)


def _list_rules() -> None:
    from .rule import explain_fix, registry

    for code, info in registry().items():
        default = "default" if info.default else "opt-in"
        click.echo(f"{code}  {info.name:<36} {default:<8} fix: {explain_fix(info.fix):<9} {info.summary}")


def _write_runtime(destination: str) -> None:
    from .vendor import VendorError, write_runtime

    try:
        path, module = write_runtime(destination)
    except VendorError as exc:
        _fail(str(exc))
    click.echo(f"Wrote {path}")
    if module:
        click.echo(f'Set `runtime-import = "{module}"` under [tool.asyncloop-lint] so fixes import it from there.')


class _LintCommand(click.Command):
    """The lint command; ``server`` as the very first argument starts the language server
    instead (``asyncloop-lint ./server`` lints a directory of that name)."""

    def main(self, args=None, prog_name=None, **extra):  # type: ignore[no-untyped-def, override]
        argv = list(sys.argv[1:] if args is None else args)
        if argv[:1] == ["server"]:
            return server_command.main(argv[1:], prog_name=f"{prog_name or 'asyncloop-lint'} server", **extra)
        return super().main(args, prog_name, **extra)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--stdio", is_flag=True, help="Talk LSP over stdin and stdout (the default; accepted for clients that pass it).")
def server_command(stdio: bool) -> None:
    """Run the language server over stdin and stdout (an editor starts it)."""
    try:
        from importlib.metadata import version

        import pygls.lsp.server  # noqa: F401 - present and importable, or the message below

        major = int(version("pygls").split(".")[0])
    except (ImportError, ValueError):
        major = 0
    if major < 2:
        _fail("the language server needs pygls 2: pip install 'asyncloop-lint[lsp]'")
    from .server import serve

    sys.exit(serve())


@click.command(cls=_LintCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--fix", is_flag=True, help="Apply safe fixes.")
@click.option("--unsafe-fixes", is_flag=True, help="Also apply (or show) unsafe fixes.")
@click.option("--diff", is_flag=True, help="Print the fixes as a unified diff and write nothing.")
@click.option("--select", multiple=True, metavar="CODES", help="Rules to enable (prefixes allowed: AL1, AL10, ALL); replaces the configured set.")
@click.option("--extend-select", multiple=True, metavar="CODES", help="Rules to enable on top of the selected set.")
@click.option("--ignore", multiple=True, metavar="CODES", help="Rules to disable.")
@click.option("--output-format", type=click.Choice(OUTPUT_FORMATS), default=None, help="Output format (default: full).")
@click.option("-o", "--output-file", type=click.Path(dir_okay=False, writable=True), help="Write the report to this file.")
@click.option("--config", "config_file", type=click.Path(), help="Read settings from this TOML file.")
@click.option("--isolated", is_flag=True, help="Ignore all configuration files.")
@click.option("--exclude", multiple=True, metavar="PATTERN", help="Exclude these gitignore-style patterns (replaces the defaults).")
@click.option("--extend-exclude", multiple=True, metavar="PATTERN", help="Exclude these patterns in addition.")
@click.option("--force-exclude", is_flag=True, help="Apply excludes even to paths named on the command line.")
@click.option("--respect-gitignore/--no-respect-gitignore", default=None, help="Honour .gitignore files (default: yes).")
@click.option("--target-version", type=click.Choice(("py310", "py311", "py312", "py313", "py314")), help="Oldest Python the fixes may target.")
@click.option("--runtime-import", metavar="MODULE", help="Module the fixes import the runtime from.")
@click.option("--fix-strategy", type=click.Choice(("persistent", "lazy")), help="How AL101 rewrites a value computed at import time.")
@click.option("--stdin-filename", metavar="PATH", help="The name of the file read from stdin (with `-`).")
@click.option("-j", "--jobs", type=click.IntRange(min=0), default=0, help="Worker processes (default: all cores).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cache.")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Where to keep the cache (default: .asyncloop_lint_cache).")
@click.option("--statistics", is_flag=True, help="Print the number of findings per rule instead of the findings.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the findings, no summary.")
@click.option("--exit-zero", is_flag=True, help="Exit with 0 even when findings remain.")
@click.option("--explain", metavar="CODE", help="Print the documentation of a rule and exit.")
@click.option("--list-rules", is_flag=True, help="List every rule and exit.")
@click.option("--write-runtime", metavar="PATH", help="Write the runtime module as one self-contained file (for vendoring) and exit.")
@click.version_option(__version__, "-V", "--version", prog_name="asyncloop-lint")
def main(paths: tuple[str, ...], **options: object) -> None:
    """Lint PATHS (default: .) for asyncio event-loop lifecycle hazards.

    `asyncloop-lint server` starts the language server instead (see `asyncloop-lint server
    --help`); to lint a path named `server`, write `./server`.
    """
    if options["explain"]:
        _explain(str(options["explain"]))
        return
    if options["list_rules"]:
        _list_rules()
        return
    if options["write_runtime"]:
        _write_runtime(str(options["write_runtime"]))
        return
    from .config import ConfigError

    try:
        code = _lint(list(paths) or ["."], options)
    except ConfigError as exc:
        _fail(str(exc))
    sys.exit(code)


def _lint(paths: list[str], options: dict) -> int:  # type: ignore[type-arg]
    from dataclasses import replace

    from .config import load_settings
    from .runner import CHECK, DIFF, FIX, Job, Options, run_files, run_jobs

    overrides = {
        "exclude": tuple(options["exclude"]) or None,
        "extend_exclude": tuple(options["extend_exclude"]) or None,
        "respect_gitignore": options["respect_gitignore"],
        "target_version": options["target_version"],
        "runtime_import": options["runtime_import"],
        "fix_strategy": options["fix_strategy"],
    }
    settings = load_settings(
        paths=[options["stdin_filename"] or "."] if paths == ["-"] else paths,
        config_file=options["config_file"],
        isolated=bool(options["isolated"]),
        select=_split_codes(options["select"]) or None,
        extend_select=_split_codes(options["extend_select"]) or None,
        ignore=_split_codes(options["ignore"]) or None,
        overrides=overrides,
    )
    from .discovery import Discovery

    discovery = Discovery(settings, force_exclude=bool(options["force_exclude"]))
    mode = DIFF if options["diff"] else FIX if options["fix"] else CHECK
    output_format = options["output_format"] or os.environ.get("ASYNCLOOP_LINT_OUTPUT_FORMAT") or "full"
    run_options = Options(
        mode=mode,
        unsafe_fixes=bool(options["unsafe_fixes"]),
        want_edits=output_format in ("json", "json-lines", "sarif"),
        jobs=int(options["jobs"]),  # type: ignore[call-overload]
        progress=output_format in ("full", "concise") and _is_terminal(sys.stderr),
    )
    errors: list[str] = []
    stdin_mode = paths == ["-"]
    if stdin_mode:
        name = options["stdin_filename"] or "-"
        source = sys.stdin.buffer.read()
        if name != "-" and options["force_exclude"] and Path(name).exists() and discovery.files([name]) == ([], []):
            if mode == FIX:
                sys.stdout.buffer.write(source)
            return EXIT_OK
        jobs = [Job(name, discovery.relpath(Path(name)), source)]
        results = run_jobs(jobs, settings, run_options)
        originals = {name: source}
    else:
        files, errors = discovery.files(paths)
        cache = None
        if mode == CHECK and not options["no_cache"]:
            from .cache import DEFAULT_DIR, Cache
            from .config import cache_root

            directory = Path(options["cache_dir"] or Path(cache_root(settings, paths)) / DEFAULT_DIR)
            cache = Cache(directory, f"{settings.fingerprint()}|edits={run_options.want_edits}")
        results, originals = run_files(files, lambda p: discovery.relpath(Path(p)), settings, run_options, cache)
        if cache is not None:
            from . import replay

            replay.note(
                cache_dir=str(cache.directory),
                files=[*files, *(dep[0] for r in results for dep in r.depends), *filter(None, [settings.config_file])],
                dirs=discovery.walked,
                ancestors=discovery.ancestors,
                # A result that depends on the whole project (is this module imported anywhere?)
                # can be replayed only when this run walked the whole project, so that the
                # index sees any change to it.
                # Nor is a run with a file that was not analysed: what happens to it next
                # time (a crash, the memory budget) need not be what happened now.
                replayable=not errors and not any(r.not_analysed for r in results) and (
                    Path(settings.project_root).resolve() in discovery.walked
                    or not any(dep[0] == "*" for r in results for dep in r.depends)
                ),
            )

    runtime_notes, blocked = _vendor_runtime(results, mode, stdin_mode, errors)
    diff_found = False
    unwritten: list[str] = []
    written = 0
    for result in results:
        if result.warning:
            click.echo(f"{WARNING_PREFIX}{_printable(result.filename)}: {result.warning}", err=True)
        if result.error:
            errors.append(f"{result.filename}: {result.error}")
        if result.fixed_source is None:
            continue
        if mode == DIFF:
            from .fixer import unified_diff

            click.echo(unified_diff(result.filename, originals[result.filename], result.fixed_source), nl=False)
            diff_found = True
        elif stdin_mode:
            continue
        elif result.filename in blocked:
            unwritten.append(result.filename)
        else:
            from .files import write_fixed
            from .interrupts import Interrupted, deferred

            done = False
            try:
                with deferred():  # Ctrl-C waits until this file is written (or not)
                    write_fixed(result.filename, result.fixed_source, originals.get(result.filename))
                    done = True
                written += 1
            except OSError as exc:
                errors.append(f"{result.filename}: cannot write the fixed file: {exc.strerror or exc}")
                unwritten.append(result.filename)
            except Interrupted:
                written += done
                if written:
                    click.echo(f"{ERROR_PREFIX}interrupted after writing {written} fixed "
                               f"file{'s' * (written != 1)}; the others are unchanged", err=True)
                raise
    if unwritten:
        # Not written, so not fixed: report what the file on disk still holds.
        again = run_jobs([Job(f, discovery.relpath(Path(f)), originals[f]) for f in unwritten],
                         settings, replace(run_options, mode=CHECK))
        by_name = {r.filename: r for r in again}
        results = [by_name.get(r.filename, r) for r in results]
    if stdin_mode and mode == FIX:
        fixed = results[0].fixed_source if results[0].fixed_source is not None else originals[results[0].filename]
        sys.stdout.buffer.write(fixed)
        sys.stdout.flush()

    for error in errors:
        click.echo(ERROR_PREFIX + _printable(error), err=True)
    report_stream = sys.stderr if (stdin_mode and mode == FIX) else sys.stdout
    if mode != DIFF:
        _report(results, output_format, options, mode, report_stream, len(errors))
    human = mode != DIFF and output_format in ("full", "concise") and not options["quiet"] and not options["output_file"]
    for note in runtime_notes:
        click.echo(note, file=report_stream if human else sys.stderr)
    remaining = sum(len(r.diagnostics) for r in results)
    if errors:
        return EXIT_ERROR
    if mode == DIFF:
        return EXIT_FINDINGS if diff_found else EXIT_OK
    if remaining and not options["exit_zero"]:
        return EXIT_FINDINGS
    return EXIT_OK


def _vendor_runtime(results, mode: str, stdin_mode: bool, errors: list[str]) -> tuple[list[str], set[str]]:  # type: ignore[no-untyped-def]
    """Write the runtime module that fixed files now import, where it is missing, before the
    files that import it. Returns what to tell the user and the files not to write."""
    from .reporters import relative

    vendored: dict[str, list[str]] = {}
    installed: set[str] = set()
    for result in results:
        if result.fixed_source is None or result.runtime_module is None:
            continue
        if result.runtime_file is None:
            installed.add(result.runtime_module)
        else:
            vendored.setdefault(result.runtime_file, []).append(result.filename)
    notes: list[str] = []
    blocked: set[str] = set()
    for module in sorted(installed):
        notes.append(
            f"The fixes import the runtime from `{module}`, which must be installed where the code runs; "
            "to ship it with your code instead, unset `runtime-import` (fixes then vendor it)."
        )
    missing = sorted(f for f in vendored if not Path(f).exists())
    if mode != "fix" or stdin_mode:
        for file in missing:
            action = "`--fix`" if not stdin_mode else f"`asyncloop-lint --write-runtime {relative(str(Path(file).parent))}{os.sep}`"
            notes.append(f"The fixes import the runtime module {relative(file)}, which does not exist yet: {action} writes it.")
        return notes, blocked
    from .vendor import ensure_runtime

    for file in missing:
        try:
            ensure_runtime(file)
        except OSError as exc:
            errors.append(f"{file}: cannot write the runtime module: {exc.strerror or exc}")
            blocked.update(vendored[file])
            continue
        notes.append(
            f"Added {relative(file)}: the runtime the fixed code imports (standard library only). "
            "Commit it and deploy it with your code; the application needs no asyncloop-lint in production."
        )
    return notes, blocked


def _report(results, output_format: str, options: dict, mode: str, stream, errors: int = 0) -> None:  # type: ignore[no-untyped-def]
    from .reporters import FORMATS, Run

    run = Run(
        results=results,
        fix_mode=mode != "check",
        unsafe_fixes=bool(options["unsafe_fixes"]),
        color=_color_wanted(stream) and not options["output_file"],
        errors=errors,
    )
    out_path = options["output_file"]
    handle = open(out_path, "w", encoding="utf-8") if out_path else stream
    try:
        if options["statistics"]:
            _statistics(run, handle)
        elif options["quiet"] and output_format in ("full", "concise"):
            from .reporters import concise_line

            for d in run.diagnostics:
                handle.write(concise_line(d))
        else:
            FORMATS[output_format](run, handle)
    finally:
        if out_path:
            handle.close()


def _statistics(run, out) -> None:  # type: ignore[no-untyped-def]
    from collections import Counter

    from .rule import registry

    counts = Counter(d.code for d in run.diagnostics)
    fixable = Counter(d.code for d in run.diagnostics if run.fixable(d))
    names = registry()
    for code, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        marker = "[*]" if fixable[code] else "   "
        out.write(f"{count:>5}\t{code}\t{marker} {names[code].name if code in names else ''}\n")
