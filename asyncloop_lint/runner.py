"""Run the engine over many files: read and pre-filter in this process, parse in a pool.

Only files that pass some rule's byte pre-filter are parsed. When there are many, they go to
worker processes (forked after libcst is imported, so workers start warm); a few are linted
in process. Workers return plain values; results are sorted by path, so the output is the
same either way.

One file never takes the run down (:mod:`asyncloop_lint.budget`, :mod:`asyncloop_lint.workers`):
a file over the size budget is not read; before libcst sees a file, CPython's parser and the
nesting budget check it; in process, files that check could not vouch for (CPython does not
parse them) and big files run in a worker all the same, where a crash or the memory budget
costs that file only. Every such file is reported as not analysed (AL001).
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator

from .budget import IN_PROCESS_MAX_BYTES, Admission, Limits, admit, limits, memory_refusal, on_deep_stack, recursion_refusal, too_big
from .cache import Cache, content_hash
from .config import Settings
from .diagnostic import FileResult

POOL_THRESHOLD = 24  # this many files to parse go to the pool ...
POOL_MIN_BYTES = 128 * 1024  # ... and so do fewer when their bytes make the pool pay off

CHECK, FIX, DIFF = "check", "fix", "diff"


@dataclass(frozen=True)
class Job:
    path: str
    relpath: str
    source: bytes


@dataclass(frozen=True)
class Options:
    mode: str = CHECK
    unsafe_fixes: bool = False
    want_edits: bool = False
    jobs: int = 0  # 0: all cores
    progress: bool = False
    budget: Limits | None = None  # None: from the environment (see budget.limits)


def process(job: Job, settings: Settings, options: Options, admission: Admission | None = None) -> FileResult:
    """Lint (and in fix/diff mode, fix) one file. Errors become values, never tracebacks: a
    file over a budget, or that the analysis cannot take, is a not-analysed result (AL001)."""
    from .engine import not_analysed

    codes = settings.codes_for(job.relpath)
    warn = options.mode == DIFF  # --diff shows no diagnostics: name the file on stderr
    budget = options.budget or Limits()
    try:
        if admission is None:
            admission = admit(job.source, budget)
        if admission.refusal:
            return not_analysed(job.path, admission.refusal, codes, job.source, admission.row, admission.column, warn=warn)
        if admission.deep:
            return on_deep_stack(_process, job, settings, options, admission)
        try:
            return _process(job, settings, options, admission)
        except RecursionError:
            # Deeper than the default stack takes (libcst's tree can be deeper than CPython's).
            return on_deep_stack(_process, job, settings, options, admission)
    except RecursionError:
        return not_analysed(job.path, recursion_refusal(), codes, job.source, warn=warn)
    except MemoryError as exc:
        return not_analysed(job.path, memory_refusal(budget, str(exc)), codes, job.source, warn=warn)
    except Exception as exc:  # noqa: BLE001 - one file's failure must not stop the run
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return FileResult(job.path, error=f"internal error while linting: {detail}")


def _process(job: Job, settings: Settings, options: Options, admission: Admission) -> FileResult:
    from .engine import lint_source, result_from

    source = job.source
    fixed_source = None
    fixed_count = 0
    error = None
    analysis = None
    runtime: tuple[str | None, str | None] = (None, None)
    if options.mode in (FIX, DIFF):
        from .fixer import fix_source

        outcome = fix_source(
            source, job.path, settings, unsafe=options.unsafe_fixes, relpath=job.relpath, admission=admission
        )
        error, analysis = outcome.error, outcome.analysis
        if outcome.source != source:
            fixed_source, fixed_count, source = outcome.source, outcome.fixed_count, outcome.source
            runtime = (outcome.runtime_module, outcome.runtime_file)
    if analysis is not None:  # the fixer's last pass linted the final source already
        result = result_from(analysis, job.path, options.want_edits)
    else:
        result = lint_source(
            source, job.path, settings, want_edits=options.want_edits, relpath=job.relpath,
            admission=admission if source is job.source else None,
        )
        if result.not_analysed and options.mode == DIFF:
            result = replace(result, warning=result.warning or f"not analysed: {result.not_analysed}")
    return replace(
        result, fixed_source=fixed_source, fixed_count=fixed_count, warning=error or result.warning,
        runtime_module=runtime[0], runtime_file=runtime[1],
    )


def with_budget(options: Options) -> Options:
    """``options`` with the budgets resolved from the environment; a bad value is a
    configuration error (exit code 2) naming the variable."""
    if options.budget is not None:
        return options
    from .budget import BudgetError
    from .config import ConfigError

    try:
        return replace(options, budget=limits())
    except BudgetError as exc:
        raise ConfigError(str(exc)) from None


def _worker_job(job: Job, settings: Settings, options: Options) -> FileResult:
    return process(job, settings, options)


def needs_parse(job: Job, settings: Settings) -> bool:
    from .engine import selected_rules
    from .suppression import file_is_exempt

    if file_is_exempt(job.source):
        return False
    return bool(selected_rules(settings.codes_for(job.relpath), job.source))


def run_jobs(
    jobs: list[Job],
    settings: Settings,
    options: Options,
) -> list[FileResult]:
    """Results for every job (pre-filtered here), in path order."""
    options = with_budget(options)
    results: list[FileResult] = []
    pending: list[Job] = []
    for job in jobs:
        if needs_parse(job, settings):
            pending.append(job)
        else:
            results.append(FileResult(job.path))
    results += lint_parsed(pending, settings, options)
    results.sort(key=lambda r: r.filename)
    return results


def lint_parsed(
    pending: list[Job],
    settings: Settings,
    options: Options,
    on_done: Callable[[Job, FileResult], None] | None = None,
) -> list[FileResult]:
    """Lint jobs that passed the pre-filter: in worker processes when there is enough to
    parse, else in process, except for the files that must run isolated (see the module)."""
    options = with_budget(options)
    results: list[FileResult] = []
    workers = options.jobs or os.cpu_count() or 1
    big = len(pending) >= POOL_THRESHOLD or sum(len(job.source) for job in pending) >= POOL_MIN_BYTES
    if workers > 1 and len(pending) > 1 and big:
        produced: Iterable[tuple[Job, FileResult]] = _run_pool(pending, settings, options, workers)
    else:
        produced = _run_here(pending, settings, options, workers)
    with _Progress(len(pending), enabled=options.progress) as progress:
        for job, result in produced:
            results.append(result)
            if on_done:
                on_done(job, result)
            progress.advance()
    return results


def _run_here(pending: list[Job], settings: Settings, options: Options, workers: int) -> Iterator[tuple[Job, FileResult]]:
    """In process, but a file whose pre-check cannot vouch for it (CPython does not parse it,
    so its nesting is unknown) or that is big runs in a worker: a crash or the memory budget
    must cost that file only, and an in-process crash cannot be caught."""
    assert options.budget is not None
    isolated = []
    for job in pending:
        admission = None
        if len(job.source) <= IN_PROCESS_MAX_BYTES:
            admission = admit(job.source, options.budget)
            if admission.refusal or admission.verified:
                yield job, process(job, settings, options, admission)
                continue
        isolated.append(job)
    if isolated:
        yield from _run_pool(isolated, settings, options, min(workers, len(isolated)))


class _Progress:
    """A progress bar on stderr (rich), shown only once a run has taken about a second."""

    DELAY = 1.0

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled, self.done, self.bar = total, enabled, 0, None
        self.started = time.monotonic()

    def __enter__(self) -> _Progress:
        return self

    def advance(self) -> None:
        self.done += 1
        if not self.enabled:
            return
        if self.bar is None and time.monotonic() - self.started > self.DELAY:
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(file=sys.stderr), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("Linting", total=self.total, completed=self.done)
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def run_files(
    paths: list[str],
    relpath_of: Callable[[str], str],
    settings: Settings,
    options: Options,
    cache: Cache | None = None,
) -> tuple[list[FileResult], dict[str, bytes]]:
    """Lint files from disk, through the cache when given one. Returns the results in path
    order and the original bytes of every file that was read (for ``--diff``)."""
    options = with_budget(options)
    assert options.budget is not None
    max_bytes = options.budget.max_file_bytes
    results: list[FileResult] = []
    jobs: list[Job] = []
    stats: dict[str, tuple[os.stat_result, str]] = {}
    for path in paths:
        try:
            st = os.stat(path)
            if cache is not None:
                hit = cache.lookup_stat(path, st)
                if hit is not None:
                    results.append(hit)
                    continue
            oversized = too_big(st.st_size, options.budget)
            if oversized is None:
                with open(path, "rb") as handle:
                    source = handle.read(max_bytes + 1)  # never more than the budget
                oversized = too_big(len(source), options.budget)
        except OSError as exc:
            results.append(FileResult(path, error=f"cannot read file: {exc.strerror or exc}"))
            continue
        if oversized:
            # Not read (or not past the budget), so reported whatever it contains.
            from .engine import not_analysed

            codes = settings.codes_for(relpath_of(path))
            results.append(not_analysed(path, oversized, codes, warn=options.mode == DIFF))
            continue
        if cache is not None:
            digest = content_hash(source)
            hit = cache.lookup_content(path, st, digest)
            if hit is not None:
                results.append(hit)
                continue
            stats[path] = (st, digest)
        job = Job(path, relpath_of(path), source)
        if not needs_parse(job, settings):
            # Nothing to parse (and so nothing to fix): done here, and its bytes need not be kept.
            results.append(FileResult(path))
            if cache is not None:
                cache.store(path, st, digest, results[-1])
            continue
        jobs.append(job)

    store = None
    if cache is not None:
        def store(job: Job, result: FileResult) -> None:
            st, digest = stats[job.path]
            cache.store(job.path, st, digest, result)

    results.extend(lint_parsed(jobs, settings, options, store))
    if cache is not None:
        cache.save()
    results.sort(key=lambda r: r.filename)
    return results, {job.path: job.source for job in jobs}


def _run_pool(jobs: list[Job], settings: Settings, options: Options, workers: int) -> Iterator[tuple[Job, FileResult]]:
    import libcst  # noqa: F401 - imported before forking so workers start with it loaded

    from . import context, engine, fixer  # noqa: F401
    from .engine import not_analysed
    from .workers import Pool

    assert options.budget is not None

    def on_death(job: Job, reason: str) -> FileResult:
        return not_analysed(job.path, reason, settings.codes_for(job.relpath), job.source, warn=options.mode == DIFF)

    # Largest files first, so one big file does not finish last on its own.
    ordered = sorted(jobs, key=lambda j: -len(j.source))
    pool = Pool(max(1, workers), _worker_job, (settings, options), on_death, options.budget.memory_bytes)
    yield from pool.run(ordered)
