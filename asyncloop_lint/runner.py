"""Run the engine over many files: read and pre-filter in this process, parse in a pool.

Only files that pass some rule's byte pre-filter are parsed. When there are many, they go to
a process pool (forked after libcst is imported, so workers start warm); a few are linted in
process. Workers return plain values; results are sorted by path, so the output is the same
either way.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator

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


def process(job: Job, settings: Settings, options: Options) -> FileResult:
    """Lint (and in fix/diff mode, fix) one file. Errors become values, never tracebacks."""
    from .engine import lint_source, result_from

    try:
        source = job.source
        fixed_source = None
        fixed_count = 0
        error = None
        analysis = None
        runtime: tuple[str | None, str | None] = (None, None)
        if options.mode in (FIX, DIFF):
            from .fixer import fix_source

            outcome = fix_source(source, job.path, settings, unsafe=options.unsafe_fixes, relpath=job.relpath)
            error, analysis = outcome.error, outcome.analysis
            if outcome.source != source:
                fixed_source, fixed_count, source = outcome.source, outcome.fixed_count, outcome.source
                runtime = (outcome.runtime_module, outcome.runtime_file)
        if analysis is not None:  # the fixer's last pass linted the final source already
            result = result_from(analysis, job.path, options.want_edits)
        else:
            result = lint_source(source, job.path, settings, want_edits=options.want_edits, relpath=job.relpath)
        return replace(
            result, fixed_source=fixed_source, fixed_count=fixed_count, warning=error,
            runtime_module=runtime[0], runtime_file=runtime[1],
        )
    except RecursionError:
        # Nested deeper than this Python can walk (3.10 keeps the default limit): a warning,
        # not an error of the run.
        return FileResult(job.path, warning="nested too deeply for this Python to analyse; not linted")
    except Exception as exc:  # noqa: BLE001 - one file's failure must not stop the run
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return FileResult(job.path, error=f"internal error while linting: {detail}")


_worker_state: tuple[Settings, Options] | None = None


def _init_worker(settings: Settings, options: Options) -> None:
    global _worker_state
    _worker_state = (settings, options)


def _work(job: Job) -> FileResult:
    assert _worker_state is not None
    return process(job, *_worker_state)


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
    """Lint jobs that passed the pre-filter: in a pool when there is enough to parse."""
    results: list[FileResult] = []
    workers = options.jobs or os.cpu_count() or 1
    big = len(pending) >= POOL_THRESHOLD or sum(len(job.source) for job in pending) >= POOL_MIN_BYTES
    if workers > 1 and len(pending) > 1 and big:
        produced: Iterable[tuple[Job, FileResult]] = _run_pool(pending, settings, options, workers)
    else:
        produced = ((job, process(job, settings, options)) for job in pending)
    with _Progress(len(pending), enabled=options.progress) as progress:
        for job, result in produced:
            results.append(result)
            if on_done:
                on_done(job, result)
            progress.advance()
    return results


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
            with open(path, "rb") as handle:
                source = handle.read()
        except OSError as exc:
            results.append(FileResult(path, error=f"cannot read file: {exc.strerror or exc}"))
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
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import libcst  # noqa: F401 - imported before forking so workers start with it loaded

    from . import context, engine, fixer  # noqa: F401

    method = "fork" if sys.platform.startswith("linux") else None
    ctx = multiprocessing.get_context(method)
    # Largest files first, so one big file does not finish last on its own.
    ordered = sorted(jobs, key=lambda j: -len(j.source))
    chunksize = max(1, min(16, len(ordered) // (workers * 8)))
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(settings, options)) as pool:
        yield from zip(ordered, pool.map(_work, ordered, chunksize=chunksize))
