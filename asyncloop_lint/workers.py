"""Worker processes that a crashing file cannot take down with the run.

Each worker handles one file at a time, so when a worker dies (a crash in native code, an
abort when its memory budget refuses an allocation) the parent knows which file it was on.
A dead worker is replaced and the file is tried once more in a fresh worker (a worker can
also die of something else, such as the system's out-of-memory killer); a file that kills a
second worker is reported as not analysed (AL001), with the signal and the last line the
worker wrote to standard error. The other files are linted, and fixed, as if nothing happened.

Workers ignore SIGINT (the parent handles Ctrl-C and stops them), start with the memory budget
(``RLIMIT_AS``, where the platform has it) and write their standard error to a file that the
parent reads only when the worker dies.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

ATTEMPTS = 2  # a file is tried in at most this many workers


def signal_name(exitcode: int | None) -> str:
    if exitcode is None:
        return "no exit status"
    if exitcode < 0:
        try:
            return signal.Signals(-exitcode).name
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit status {exitcode}"


def limit_memory(budget: int) -> None:
    """Cap this process's address space at what it uses now plus ``budget`` bytes."""
    try:
        import resource
    except ImportError:  # Windows: no budget
        return
    try:
        with open("/proc/self/statm", "rb") as handle:
            in_use = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        in_use = 0
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = in_use + budget
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        if soft == resource.RLIM_INFINITY or soft > limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError, AttributeError):
        pass  # not enforced here (macOS): no budget


def _worker_main(conn: Any, stderr_path: str, handler: Callable[..., Any], args: tuple, memory: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        fd = os.open(stderr_path, os.O_WRONLY | os.O_TRUNC)
        os.dup2(fd, 2)
        os.close(fd)
    except OSError:
        pass
    limit_memory(memory)
    while True:
        try:
            item = conn.recv()
        except (EOFError, OSError):
            return
        if item is None:
            return
        try:
            os.ftruncate(2, 0)  # what a crash leaves there is about this file
            os.lseek(2, 0, os.SEEK_SET)
        except OSError:
            pass
        try:
            conn.send(handler(item, *args))
        except (EOFError, OSError):
            return
        # A result that cannot be pickled (a bug) kills this worker like a crash would.


@dataclass
class _Worker:
    process: Any
    conn: Any
    stderr_path: str
    job: Any = None  # the job in flight


@dataclass
class Pool:
    """``run(jobs)`` yields ``(job, result)`` as workers finish them (in no set order).

    ``handler(job, *args)`` runs in the workers; ``on_death(job, reason)`` makes the result of
    a job whose workers died ``ATTEMPTS`` times."""

    workers: int
    handler: Callable[..., Any]
    args: tuple
    on_death: Callable[[Any, str], Any]
    memory: int
    _idle: list[_Worker] = field(default_factory=list)
    _busy: list[_Worker] = field(default_factory=list)

    def run(self, jobs: list[Any]) -> Iterator[tuple[Any, Any]]:
        import multiprocessing
        from multiprocessing.connection import wait

        method = "fork" if sys.platform.startswith("linux") else None
        self._ctx = multiprocessing.get_context(method)
        queue: deque[Any] = deque(jobs)
        attempts: dict[int, int] = {}
        try:
            while queue or self._busy:
                while queue and len(self._busy) < self.workers:
                    worker = self._idle.pop() if self._idle else self._start()
                    job = queue.popleft()
                    try:
                        worker.conn.send(job)
                    except (OSError, ValueError):  # it died before it got the job
                        queue.appendleft(job)
                        self._discard(worker)
                        continue
                    worker.job = job
                    self._busy.append(worker)
                ready = wait([w.conn for w in self._busy] + [w.process.sentinel for w in self._busy])
                for worker in list(self._busy):
                    if worker.conn not in ready and worker.process.sentinel not in ready:
                        continue
                    job = worker.job
                    try:
                        if worker.conn.poll():
                            result = worker.conn.recv()
                            worker.job = None
                            self._busy.remove(worker)
                            self._idle.append(worker)
                            yield job, result
                            continue
                        if worker.process.sentinel not in ready:
                            continue
                    except Exception:  # noqa: BLE001 - EOF, or a message cut short: it died
                        pass
                    # The worker died with the job in flight.
                    worker.process.join()
                    reason = self._death_reason(worker)
                    self._busy.remove(worker)
                    self._discard(worker)
                    attempts[id(job)] = attempts.get(id(job), 0) + 1
                    if attempts[id(job)] < ATTEMPTS:
                        queue.append(job)
                    else:
                        yield job, self.on_death(job, reason)
        finally:
            self.close()

    def _start(self) -> _Worker:
        fd, stderr_path = tempfile.mkstemp(prefix="asyncloop-lint-worker-", suffix=".log")
        os.close(fd)
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_worker_main, args=(child, stderr_path, self.handler, self.args, self.memory), daemon=True
        )
        process.start()
        child.close()
        return _Worker(process, parent, stderr_path)

    def _death_reason(self, worker: _Worker) -> str:
        """Why the worker died: its signal and the first line it wrote for this file (Rust's
        "memory allocation of N bytes failed", "thread ... has overflowed its stack")."""
        from .budget import size_text

        detail = ""
        try:
            with open(worker.stderr_path, "rb") as handle:
                lines = handle.read(4096).decode("utf-8", "replace").splitlines()
            detail = next((line.strip() for line in lines if line.strip()), "")[:200]
        except OSError:
            pass
        how = f"died ({signal_name(worker.process.exitcode)}), in {ATTEMPTS} attempts"
        if detail.startswith("memory allocation of"):
            return f"ran out of memory (the budget is {size_text(self.memory)} per worker process): the worker process {how}; it said: {detail}"
        reason = f"the worker process analysing it {how}"
        return f"{reason}; it said: {detail}" if detail else reason

    def _discard(self, worker: _Worker) -> None:
        try:
            worker.conn.close()
        except OSError:
            pass
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join()
        try:
            os.unlink(worker.stderr_path)
        except OSError:
            pass

    def close(self) -> None:
        for worker in self._idle:
            try:
                worker.conn.send(None)
            except (OSError, ValueError):
                pass
        for worker in self._idle + self._busy:
            if worker in self._busy:
                worker.process.kill()
            worker.process.join(timeout=5)
            self._discard(worker)
        self._idle, self._busy = [], []
