"""Run the engine over many files: read and pre-filter in this process, parse in a pool.

Only files that pass some rule's byte pre-filter are parsed. When there are many, they go to
a process pool (forked after libcst is imported, so workers start warm); a few are linted in
process. Workers return plain values; results are sorted by path, so the output is the same
either way.
"""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass, replace
from typing import Iterable

from .config import Settings
from .diagnostic import FileResult

POOL_THRESHOLD = 24  # fewer files than this to parse are linted in process

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


def process(job: Job, settings: Settings, options: Options) -> FileResult:
    """Lint (and in fix/diff mode, fix) one file. Errors become values, never tracebacks."""
    from .engine import lint_source

    try:
        source = job.source
        fixed_source = None
        fixed_count = 0
        error = None
        if options.mode in (FIX, DIFF):
            from .fixer import fix_source

            outcome = fix_source(source, job.path, settings, unsafe=options.unsafe_fixes, relpath=job.relpath)
            error = outcome.error
            if outcome.source != source:
                fixed_source, fixed_count, source = outcome.source, outcome.fixed_count, outcome.source
        result = lint_source(source, job.path, settings, want_edits=options.want_edits, relpath=job.relpath)
        return replace(result, fixed_source=fixed_source, fixed_count=fixed_count, warning=error)
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


def run_jobs(jobs: list[Job], settings: Settings, options: Options) -> list[FileResult]:
    """Results for every job, in path order."""
    results: list[FileResult] = []
    pending: list[Job] = []
    for job in jobs:
        if needs_parse(job, settings):
            pending.append(job)
        else:
            results.append(FileResult(job.path))
    workers = options.jobs or os.cpu_count() or 1
    if len(pending) >= POOL_THRESHOLD and workers > 1:
        results.extend(_run_pool(pending, settings, options, workers))
    else:
        results.extend(process(job, settings, options) for job in pending)
    results.sort(key=lambda r: r.filename)
    return results


def _run_pool(jobs: list[Job], settings: Settings, options: Options, workers: int) -> Iterable[FileResult]:
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
        return list(pool.map(_work, ordered, chunksize=chunksize))


def read_jobs(paths: list[str], relpath_of) -> tuple[list[Job], list[FileResult]]:  # type: ignore[no-untyped-def]
    jobs, failures = [], []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                source = handle.read()
        except OSError as exc:
            failures.append(FileResult(path, error=f"cannot read file: {exc.strerror or exc}"))
            continue
        jobs.append(Job(path, relpath_of(path), source))
    return jobs, failures
