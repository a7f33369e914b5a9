#!/usr/bin/env python3
"""Benchmark asyncloop-lint against ruff, flake8-async and Fixit on pinned third-party code.

    python3 bench/run.py                      # everything; writes bench/RESULTS.md
    python3 bench/run.py --quick              # 3 runs, mixed + async + pre-commit only
    python3 bench/run.py --corpus async --tools al-cold,flake8-async --reps 7
    python3 bench/run.py --prepare            # only build the corpora and the venvs

Steps: download pinned wheels from PyPI (``pip download --no-deps``) and copy their ``*.py``
files into bench/corpus/<name>/ (plus parts of this interpreter's standard library); install
the peers at pinned versions into bench/.venv-peers and this checkout (``pip install .``)
into bench/.venv-asyncloop; then time whole processes, round-robin over the scenarios in
each repetition, and write a Markdown report. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import time
import venv
import zipfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CORPUS_DIR = BENCH / "corpus"
RESULTS_DIR = BENCH / "results"
PEERS_VENV = BENCH / ".venv-peers"
AL_VENV = BENCH / ".venv-asyncloop"

PEERS = ("ruff==0.17.6", "flake8==7.5.0", "flake8-async==26.8.1", "fixit==2.2.1")
MIXED = ("botocore==1.44.5", "pydantic==2.14.3", "jsonschema==4.26.0", "werkzeug==3.1.9",
         "flask==3.1.3", "click==8.5.1", "hypothesis==6.170.15")
ASYNC = ("starlette==1.10.0", "fastapi==0.165.0", "aiohttp==3.14.5", "anyio==4.16.0",
         "httpx==0.28.1", "redis==8.1.0", "uvicorn==0.54.0", "celery==5.7.0")
LARGE_EXTRA = ("django==5.2.19", "sqlalchemy==2.1.9", "sympy==1.14.0", "pandas==3.1.1",
               "setuptools==84.2.1", "networkx==3.6.1", "numpy==2.4.6", "scipy==1.17.1",
               "matplotlib==3.11.2", "pip==26.3", "tornado==6.6.1", "twisted==26.10.0")
# corpus -> (wheels, parts of the running interpreter's standard library; "" is all of it)
CORPORA = {
    "mixed": (MIXED, ()),
    "async": (ASYNC, ("asyncio", "test/test_asyncio")),
    "large": (MIXED + ASYNC + LARGE_EXTRA, ("",)),
}
# Directory names that some tool skips by default (ruff, flake8, asyncloop-lint): left out of
# the corpora so that every tool sees the same files.
SKIPPED_DIRS = {".bzr", ".direnv", ".eggs", ".git", ".hg", ".mypy_cache", ".nox", ".pants.d",
                ".pytest_cache", ".pytype", ".ruff_cache", ".svn", ".tox", ".venv", ".vscode",
                "CVS", "__pycache__", "__pypackages__", "_build", "buck-out", "build", "dist",
                "node_modules", "site-packages", "venv", ".ipynb_checkpoints"}
# A corpus root is a project root with no settings: no tool looks above it for configuration
# or .gitignore files (trailrunner, which Fixit walks with, stops at pyproject.toml).
ISOLATION_CONFIG = "# Written by bench/run.py: a project root with no settings.\n[tool.fixit]\nroot = true\n"
# Files for the "nothing passes the pre-filter" run contain none of these.
ASYNC_WORDS = (b"asyncio", b"uvloop", b"event_loop", b"loop", b"async", b"await", b"Executor",
               b"executor", b"policy", b"Runner", b"create_task", b"ensure_future", b"anyio", b"trio")
TARGETS_NOTE = "ratios of medians from the same run; the verdict uses wall time, CPU time is shown beside it"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------- corpora and environments


def _wheel_for(pin: str, wheels: Path) -> Path | None:
    name, version = pin.split("==")
    prefix = f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}-"
    return next((w for w in sorted(wheels.glob("*.whl")) if w.name.lower().startswith(prefix)), None)


def _skipped(parts: tuple[str, ...]) -> bool:
    return any(p in SKIPPED_DIRS or p.endswith(".egg") or p.endswith(".egg-info") for p in parts)


def build_corpus(name: str, pip: list[str]) -> dict:
    pins, stdlib_parts = CORPORA[name]
    root = CORPUS_DIR / name
    manifest_path = root / ".bench-manifest.json"
    wanted = {"pins": list(pins), "stdlib": list(stdlib_parts), "python": platform.python_version()}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if all(manifest.get(k) == v for k, v in wanted.items()):
            return manifest
    log(f"building corpus {name!r}")
    wheels = CORPUS_DIR / ".wheels"
    missing = [pin for pin in pins if _wheel_for(pin, wheels) is None]
    if missing:
        cmd = [*pip, "download", "--quiet", "--no-deps", "--only-binary=:all:", "--dest", str(wheels), *missing]
        if subprocess.run(cmd).returncode != 0:
            sys.exit(f"bench: could not download {' '.join(missing)} from PyPI (see pip's message above)")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for pin in pins:
        dest = root / pin.split("==")[0]
        with zipfile.ZipFile(_wheel_for(pin, wheels)) as wheel:  # type: ignore[arg-type]
            for member in wheel.namelist():
                parts = tuple(member.split("/"))
                if member.endswith(".py") and not _skipped(parts[:-1]):
                    target = dest.joinpath(*parts)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(wheel.read(member))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for part in stdlib_parts:
        for path in sorted((stdlib / part).rglob("*.py")):
            rel = path.relative_to(stdlib)
            if not _skipped(rel.parts[:-1]):
                target = root / "stdlib" / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
    (root / "pyproject.toml").write_text(ISOLATION_CONFIG)
    files = sorted(root.rglob("*.py"))
    manifest = {**wanted, "files": len(files), "lines": sum(p.read_bytes().count(b"\n") for p in files)}
    manifest_path.write_text(json.dumps(manifest, indent=1))
    log(f"corpus {name!r}: {manifest['files']} files, {manifest['lines']} lines")
    return manifest


def ensure_venvs(asyncloop_venv: Path | None) -> tuple[Path, Path]:
    """The peers' venv (pinned) and asyncloop-lint's (this checkout, reinstalled every run)."""
    if not (PEERS_VENV / "bin" / "python").exists():
        venv.create(PEERS_VENV, with_pip=True)
    stamp = PEERS_VENV / ".bench-pins"
    if not stamp.exists() or stamp.read_text() != "\n".join(PEERS):
        log(f"installing peers into {PEERS_VENV.relative_to(REPO)}: {' '.join(PEERS)}")
        if subprocess.run([str(PEERS_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", *PEERS]).returncode:
            log("WARNING: installing the peers failed; the peers that are missing are skipped")
        else:
            stamp.write_text("\n".join(PEERS))
    if asyncloop_venv is None:
        asyncloop_venv = AL_VENV
        if not (AL_VENV / "bin" / "python").exists():
            venv.create(AL_VENV, with_pip=True)
        log(f"installing this checkout into {AL_VENV.relative_to(REPO)} (pip install .)")
        cmd = [str(AL_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", str(REPO)]
        if subprocess.run(cmd).returncode:
            sys.exit("bench: `pip install .` of asyncloop-lint failed (see pip's message above)")
    if not (asyncloop_venv / "bin" / "asyncloop-lint").exists():
        sys.exit(f"bench: {asyncloop_venv}/bin/asyncloop-lint does not exist")
    return PEERS_VENV, asyncloop_venv


def capture(cmd: list[str], all_lines: bool = False) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        text = (out.stdout or out.stderr).strip()
        return text if all_lines else text.splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "not available"


# ---------------------------------------------------------------- scenarios


class Scenario:
    """One command to time; ``prepare`` runs once untimed, ``before``/``after`` around each run."""

    def __init__(self, key: str, label: str, cmd: list[str], ok_exits=(0, 1), prepare=False, edit: Path | None = None):
        self.key, self.label, self.cmd, self.ok_exits = key, label, cmd, ok_exits
        self.prepare, self.edit = prepare, edit
        self.runs: list[dict] = []
        self.problems: list[str] = []
        self.stopped = ""
        self.slow = False
        self.fill: dict | None = None  # the untimed-by-median run that filled the cache
        self._original: tuple[bytes, os.stat_result] | None = None

    def before(self, rep: int) -> None:
        if self.edit:
            self._original = (self.edit.read_bytes(), self.edit.stat())
            with open(self.edit, "ab") as handle:
                handle.write(f"\n# bench edit {rep} {time.time_ns()}\n".encode())

    def after(self) -> None:
        if self.edit and self._original:
            source, stat = self._original
            self.edit.write_bytes(source)
            os.utime(self.edit, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            self._original = None


def run_process(cmd: list[str], cwd: Path, tag: str, timeout: float = 0) -> dict:
    logs = RESULTS_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["NO_COLOR"] = "1"
    with open(logs / f"{tag}.out", "wb") as out, open(logs / f"{tag}.err", "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, start_new_session=True)
        timed_out = False
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG if timeout else 0)
                if pid:
                    break
                if time.perf_counter() - start > timeout and not timed_out:
                    os.killpg(proc.pid, 9)  # the tool and its workers
                    timed_out = True
                time.sleep(0.005)
        except KeyboardInterrupt:
            os.killpg(proc.pid, 9)
            os.wait4(proc.pid, 0)
            raise
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = (logs / f"{tag}.err").read_text(errors="replace")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mib": usage.ru_maxrss / 1024,
            "exit": proc.returncode, "timed_out": timed_out, "traceback": "Traceback (most recent call last)" in stderr,
            "stderr_tail": stderr.strip().splitlines()[-1][:200] if stderr.strip() else "",
            "stdout_lines": sum(1 for _ in open(logs / f"{tag}.out", "rb"))}


def scenarios_for(target: str, cwd: Path, paths: list[str], peers: Path, alvenv: Path, edit: Path | None) -> list[Scenario]:
    al = [str(alvenv / "bin" / "asyncloop-lint"), "--isolated", "--no-respect-gitignore", "-q"]
    ruff = [str(peers / "bin" / "ruff"), "check", "--select", "ASYNC,RUF006", "--isolated",
            "--no-respect-gitignore", "--output-format", "concise"]
    cache = RESULTS_DIR / "cache"
    out = [
        Scenario("al-cold", "asyncloop-lint cold (--no-cache)", [*al, "--no-cache", *paths]),
        Scenario("al-warm", "asyncloop-lint warm (cache filled, nothing changed)",
                 [*al, "--cache-dir", str(cache / f"al-warm-{target}"), *paths], prepare=True),
        Scenario("al-edit", f"asyncloop-lint warm, one file edited ({edit.relative_to(cwd) if edit else ''})",
                 [*al, "--cache-dir", str(cache / f"al-edit-{target}"), *paths], prepare=True, edit=edit),
        # The fix path without writing: --diff computes every fix pass as --fix does (the corpus
        # stays as it is, so repetitions measure the same work).
        Scenario("al-fix", "asyncloop-lint fix (--diff --unsafe-fixes, --no-cache)",
                 [*al, "--no-cache", "--diff", "--unsafe-fixes", *paths]),
        Scenario("ruff", "ruff --no-cache", [*ruff, "--no-cache", *paths]),
        Scenario("ruff-cached", "ruff cached (cache filled, nothing changed)",
                 [*ruff, "--cache-dir", str(cache / f"ruff-{target}"), *paths], prepare=True),
        Scenario("flake8-async", "flake8 + flake8-async --select ASYNC",
                 [str(peers / "bin" / "flake8"), "--isolated", "--select", "ASYNC", *paths]),
        # Fixit: default rules (fixit.rules); the corpus' pyproject.toml is a root config with
        # no rules, so it reads nothing above it. Exit 2 means some files failed to lint.
        Scenario("fixit", "fixit lint (default rules)", [str(peers / "bin" / "fixit"), "lint", *paths], ok_exits=(0, 1, 2, 3)),
    ]
    if target != "pre-commit":
        return out
    keep = {"al-cold", "al-fix", "ruff", "flake8-async", "fixit"}
    return [s for s in out if s.key in keep]


def run_target(target: str, cwd: Path, scenarios: list[Scenario], reps: int, slow: float, timeout: float) -> None:
    for s in scenarios:
        shutil.rmtree(RESULTS_DIR / "cache" / f"{s.key}-{target}", ignore_errors=True)
        if not Path(s.cmd[0]).exists():
            s.stopped = f"skipped: {Path(s.cmd[0]).name} is not installed (see the install step's message)"
            log(f"{target}: {s.key} {s.stopped}")
        elif s.prepare:
            cache = Path(s.cmd[s.cmd.index("--cache-dir") + 1])
            warm = cache.with_name(f"al-warm-{target}")
            if s.key == "al-edit" and warm.is_dir() and any(x.key == "al-warm" for x in scenarios):  # the same files were just linted: copy that cache
                shutil.copytree(warm, cache)
            else:
                s.fill = run_process(s.cmd, cwd, f"{target}-{s.key}-fill")
    for rep in range(reps):
        order = scenarios[rep % len(scenarios):] + scenarios[: rep % len(scenarios)]
        for s in order:
            if s.stopped:
                continue
            s.before(rep)
            try:
                result = run_process(s.cmd, cwd, f"{target}-{s.key}", timeout)
            finally:
                s.after()
            s.runs.append(result)
            if result["timed_out"]:
                s.stopped, s.slow = f"killed after {timeout:.0f} s (--timeout): its times are lower bounds", True
            elif result["exit"] not in s.ok_exits or result["traceback"]:
                s.problems.append(f"exit {result['exit']}: {result['stderr_tail'] or '(no stderr)'}")
            log(f"{target} rep {rep + 1}/{reps} {s.key}: {result['wall']:.2f}s wall, {result['cpu']:.2f}s cpu, "
                f"{result['rss_mib']:.0f} MiB, exit {result['exit']}, {result['stdout_lines']} output lines")
            if s.stopped:
                pass
            elif result["exit"] not in s.ok_exits:
                s.stopped = "crashed"
            elif result["wall"] > slow and rep + 1 < reps:
                s.stopped, s.slow = f"{len(s.runs)} run(s): one run takes over {slow:.0f} s", True


# ---------------------------------------------------------------- report


def med(s: Scenario, field: str) -> float | None:
    return statistics.median(r[field] for r in s.runs) if s.runs else None


def rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def table(target: str, files: int, scenarios: list[Scenario]) -> list[str]:
    base = next((med(s, "wall") for s in scenarios if s.key == "al-cold" and not any(r["timed_out"] for r in s.runs)), None)
    rows = ["| scenario | runs | wall (s) | CPU (s) | peak RSS (MiB) | files/s | wall ÷ asyncloop-lint cold |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for s in scenarios:
        if not s.runs:
            rows.append(f"| {s.label} | 0 | – | – | – | – | {s.stopped} |")
            continue
        wall, cpu = med(s, "wall"), med(s, "cpu")
        runs = f"{len(s.runs)}" + ("*" if s.slow else "") + ("!" if s.problems else "")
        ratio = f"{wall / base:.2g}×" if base else "–"  # type: ignore[operator]
        gt = ">" if any(r["timed_out"] for r in s.runs) else ""
        if gt and not base:
            rows.append(f"| {s.label} | {len(s.runs)}* | >{wall:.0f} | – | – | <{rate(files / wall)} | – |")
            continue
        rss = max(r["rss_mib"] for r in s.runs)
        if gt:  # killed: the workers were never reaped, so their CPU time and memory are unknown
            rows.append(f"| {s.label} | {runs} | >{wall:.0f} | – | – | <{rate(files / wall)} | >{ratio} |")  # type: ignore[operator]
            continue
        rows.append(f"| {s.label} | {runs} | {wall:.3f} | {cpu:.2f} | {rss:.0f} | {rate(files / wall)} | {ratio} |")  # type: ignore[operator]
        if s.fill and s.key.startswith("al-"):
            f = s.fill
            rows.append(f"| ↳ its cache fill (first run, empty cache) | 1 | {f['wall']:.3f} | {f['cpu']:.2f} | {f['rss_mib']:.0f} | {rate(files / f['wall'])} | "
                        + (f"{f['wall'] / base:.2g}× |" if base else "– |"))
    return rows


def targets(results: dict[str, list[Scenario]]) -> list[str]:
    def get(target: str, key: str, field: str = "wall") -> float | None:
        s = next((s for s in results.get(target, []) if s.key == key), None)
        return med(s, field) if s else None

    def bound(target: str, key: str) -> str:
        s = next((s for s in results.get(target, []) if s.key == key), None)
        return "≥" if s and any(r["timed_out"] for r in s.runs) else ""

    def peak(target: str) -> float | None:
        runs = [r["rss_mib"] for s in results.get(target, []) if s.key.startswith("al-") for r in [*s.runs, *([s.fill] if s.fill else [])]]
        return max(runs) if runs else None

    rows = ["| target | measured | met? |", "| --- | --- | --- |"]

    def speedup(target: str, peer: str, goal: float) -> None:
        a, p, ac, pc, b = get(target, "al-cold"), get(target, peer), get(target, "al-cold", "cpu"), get(target, peer, "cpu"), bound(target, peer)
        if a and p and ac and pc:
            verdict = "met" if p / a >= goal else "open: peer killed at the timeout" if b else "missed"
            cpu = f"CPU {pc:.2f} s / {ac:.2f} s = {pc / ac:.1f}×" if not b else "CPU unknown (killed)"
            rows.append(f"| {target}: cold ≥{goal:g}× faster than {peer} | wall {b}{p:.2f} s / {a:.2f} s = {b}{p / a:.1f}×; {cpu} | {verdict} |")

    def warm(target: str, goal: float) -> None:
        a, r, ac, rc = get(target, "al-warm"), get(target, "ruff-cached"), get(target, "al-warm", "cpu"), get(target, "ruff-cached", "cpu")
        if a and r and ac and rc:
            rows.append(f"| {target}: warm ≤{goal:g}× ruff cached | wall {a:.2f} s / {r:.2f} s = {a / r:.1f}×; CPU {ac:.2f} s / {rc:.2f} s = {ac / rc:.1f}× "
                        f"| {'met' if a / r <= goal else 'missed'} |")

    for target in results:  # a corpus measured again in a later run counts too
        goals = {"mixed": (50, 20), "async": (10, 5)}.get(target.split(" (")[0])
        if goals:
            speedup(target, "flake8-async", goals[0]), speedup(target, "fixit", goals[1])
    warm("mixed", 1.5), warm("large", 2)  # mixed: the speed issue's goal (a warm run as fast as ruff's cached one)
    for target in results:
        fix, lint = get(target, "al-fix"), get(target, "al-cold")
        if fix and lint:
            rows.append(f"| {target}: fixing ≤1.3× linting (--diff --unsafe-fixes / cold) | wall {fix:.2f} s / {lint:.2f} s = "
                        f"{fix / lint:.2f}× | {'met' if fix / lint <= 1.3 else 'missed'} |")
    speedup("pre-commit", "flake8-async", 10)  # the speed issue's goal
    none = get("pre-commit", "al-none")
    if none:
        rows.append(f"| pre-commit: 5 files, none passes the pre-filter, < 0.1 s | {none:.3f} s | {'met' if none < 0.1 else 'missed'} |")
    if (mem := peak("large")) is not None:
        rows.append(f"| large: peak memory < 200 MiB per process (asyncloop-lint, all scenarios) | {mem:.0f} MiB | {'met' if mem < 200 else 'missed'} |")
    return rows


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), platform.processor())
    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")), "0") if Path("/proc/meminfo").exists() else "0"
    return {"nproc": len(os.sched_getaffinity(0)), "cpu": model, "mem_gib": round(int(mem) / 2**20, 1),
            "os": f"{platform.system()} {platform.release()}", "python": f"{platform.python_implementation()} {platform.python_version()}"}


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def report(runs: list[dict], info: dict, versions: dict, manifests: dict, precommit: dict, results: dict) -> str:
    lines = ["# asyncloop-lint benchmark results", ""]
    for n, run in enumerate(runs, 1):
        lines.append(f"{'Run ' + str(n) + ': ' if len(runs) > 1 else ''}`{run['command']}` at {run['date']}; "
                     f"load average (1, 5, 15 min) before / after: {run['loads'][0]} / {run['loads'][1]}"
                     + (f"; asyncloop-lint {run['versions']['asyncloop-lint']}." if len(runs) > 1 else "."))
    lines += [
        "", f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['mem_gib']} GiB, {info['os']}; {info['python']}. "
        "Other jobs may share the machine: see the load averages.", "",
        "Versions: " + "; ".join(f"{k} {v}" for k, v in versions.items()), "",
        "| corpus | contents | files | lines |", "| --- | --- | ---: | ---: |",
    ]
    for name, m in manifests.items():
        contents = ", ".join(m["pins"]) + ("; stdlib " + ", ".join(p or "(all)" for p in m["stdlib"]) if m["stdlib"] else "")
        lines.append(f"| {name} | {contents} | {m['files']:,} | {m['lines']:,} |")
    if precommit:
        lines.append(f"| pre-commit | {', '.join(precommit['files'])} | 5 | {precommit['lines']:,} |")
        lines.append(f"| pre-commit, no pre-filter hit | {', '.join(precommit['none_files'])} | 5 | {precommit['none_lines']:,} |")
    lines += ["", "Medians of whole-process runs, round-robin over the scenarios in each repetition. "
              "CPU = user + sys of the process and its children; peak RSS = the largest single process. "
              "`*` fewer runs because one run is slow; `>` killed at the timeout, so a lower bound; `!` a crash or traceback (see the notes).", ""]
    for target, scenarios in results.items():
        base = target.split(" (")[0]
        files = manifests[base]["files"] if base in manifests else 5
        lines += [f"## {target}", "", *table(target, files, scenarios), ""]
    lines += ["## Targets", "", f"({TARGETS_NOTE}.)", "", *targets(results), ""]
    notes = [f"- {t} / {s.key}: {p}" for t, ss in results.items() for s in ss for p in sorted(set(s.problems))]
    notes += [f"- {t} / {s.key}: {s.stopped}" for t, ss in results.items() for s in ss if s.stopped]
    if notes:
        lines += ["## Notes", "", *notes, ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def pick_precommit(root: Path) -> dict:
    candidates = sorted(p for d in ("starlette", "fastapi") for p in (root / d).rglob("*.py"))
    hits = [p for p in candidates if b"asyncio" in p.read_bytes()][:5]
    misses = [p for p in candidates if p.stat().st_size > 2000 and not any(w in p.read_bytes() for w in ASYNC_WORDS)][:5]
    rel = lambda ps: [p.relative_to(root).as_posix() for p in ps]  # noqa: E731
    count = lambda ps: sum(p.read_bytes().count(b"\n") for p in ps)  # noqa: E731
    return {"files": rel(hits), "lines": count(hits), "none_files": rel(misses), "none_lines": count(misses)}


def pick_edit(root: Path) -> Path:
    files = sorted(root.rglob("*.py"))
    for needle in (b"asyncio.run(", b"get_event_loop", b"asyncio"):
        for path in files:
            if needle in path.read_bytes():
                return path
    return files[0]


def rebuild(raw_files: list[Path], output: Path) -> int:
    """The Markdown report from one or more raw result files (a later run's corpora get "(run N)")."""
    runs, results, manifests, precommit = [], {}, {}, {}
    for n, path in enumerate(raw_files, 1):
        raw = json.loads(path.read_text())
        raw.setdefault("command", f"({path.name})"), raw.setdefault("date", "?"), raw.setdefault("loads", ["n/a", "n/a"])
        runs.append(raw)
        manifests.update(raw.get("manifests") or {name: build_corpus(name, []) for name in raw["results"] if name in CORPORA})
        precommit = precommit or raw.get("precommit") or (pick_precommit(CORPUS_DIR / "async") if "pre-commit" in raw["results"] else {})
        for target, scenarios in raw["results"].items():
            restored = []
            for data in scenarios:
                s = Scenario(data["key"], data["label"], data["cmd"])
                s.runs, s.fill, s.problems, s.stopped = data["runs"], data.get("fill"), data["problems"], data["stopped"]
                s.slow = data.get("slow", "takes over" in s.stopped or "killed" in s.stopped)
                restored.append(s)
            results[target if target not in results else f"{target} (run {n})"] = restored
    text = report(runs, runs[-1]["machine"], runs[-1]["versions"], manifests, precommit, results)
    output.write_text(text + "\n")
    print(text)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs; mixed, async and pre-commit only")
    parser.add_argument("--corpus", help="comma-separated: mixed,async,large,pre-commit (default: all)")
    parser.add_argument("--tools", help="comma-separated scenario keys: al-cold,al-warm,al-edit,al-fix,ruff,ruff-cached,flake8-async,fixit,al-none")
    parser.add_argument("--reps", type=int, help="repetitions (default 5; 3 with --quick)")
    parser.add_argument("--slow", type=float, default=60.0, help="a scenario whose run takes longer than this many seconds runs only once (default 60)")
    parser.add_argument("--timeout", type=float, default=600.0, help="kill a run after this many seconds and report its times as lower bounds (default 600)")
    parser.add_argument("--asyncloop-venv", type=Path, help="use this venv's asyncloop-lint instead of installing the checkout into bench/.venv-asyncloop")
    parser.add_argument("--prepare", action="store_true", help="build the corpora and the venvs, then exit")
    parser.add_argument("--output", type=Path, help="the Markdown report (default: bench/RESULTS.md; bench/results/ for partial runs)")
    parser.add_argument("--report", type=Path, nargs="+", metavar="RAW", help="only rebuild the Markdown report from these bench/results/raw-*.json files")
    args = parser.parse_args(argv)
    if args.report:
        return rebuild(args.report, args.output or BENCH / "RESULTS.md")
    args.argv = argv
    args.reps = args.reps or (3 if args.quick else 5)
    targets_wanted = args.corpus.split(",") if args.corpus else ["pre-commit", "mixed", "async"] + ([] if args.quick else ["large"])
    unknown = set(targets_wanted) - {*CORPORA, "pre-commit"}
    if unknown:
        parser.error(f"unknown corpus {', '.join(sorted(unknown))}")
    tools = set(args.tools.split(",")) if args.tools else None

    # Ctrl-C or a TERM reports what was measured (also when started in the background, where
    # the shell ignores SIGINT for us).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    loads_before = loadavg()
    peers, alvenv = ensure_venvs(args.asyncloop_venv)
    pip = [str(peers / "bin" / "python"), "-m", "pip"]
    needed = {("async" if t == "pre-commit" else t) for t in targets_wanted}
    manifests = {name: build_corpus(name, pip) for name in CORPORA if name in needed}
    precommit = pick_precommit(CORPUS_DIR / "async") if "pre-commit" in targets_wanted else {}
    if args.prepare:
        return 0

    info = machine()
    al_py = str(alvenv / "bin" / "python")
    head = capture(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = " + uncommitted changes" if capture(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"]) not in ("", "not available") else ""
    versions = {
        "asyncloop-lint": capture([str(alvenv / "bin" / "asyncloop-lint"), "--version"]).split()[-1]
        + (f" (work tree at {head}{dirty}, `pip install .` into bench/.venv-asyncloop)" if alvenv == AL_VENV else f" ({alvenv})"),
        "libcst": capture([al_py, "-c", "import importlib.metadata as m; print(m.version('libcst'))"]),
        "ruff": capture([str(peers / "bin" / "ruff"), "--version"]).removeprefix("ruff "),
        "flake8": " ".join(capture([str(peers / "bin" / "flake8"), "--version", "--isolated"], all_lines=True).split()),
        "fixit": capture([str(peers / "bin" / "fixit"), "--version"]).split()[-1],
    }
    log(f"machine: {info}; versions: {versions}")

    results: dict[str, list[Scenario]] = {}
    try:
        for target in targets_wanted:
            cwd = CORPUS_DIR / ("async" if target == "pre-commit" else target)
            paths = precommit["files"] if target == "pre-commit" else ["."]
            scenarios = scenarios_for(target, cwd, paths, peers, alvenv, None if target == "pre-commit" else pick_edit(cwd))
            if target == "pre-commit":
                none = scenarios_for(target, cwd, precommit["none_files"], peers, alvenv, None)[0]
                none.key, none.label = "al-none", "asyncloop-lint cold, 5 files that none passes the pre-filter"
                scenarios.append(none)
            scenarios = [s for s in scenarios if tools is None or s.key in tools]
            log(f"== {target}: {', '.join(s.key for s in scenarios)} in {cwd.relative_to(REPO)}")
            run_target(target, cwd, scenarios, args.reps, args.slow, args.timeout)
            results[target] = scenarios
    except KeyboardInterrupt:
        log("interrupted: reporting what was measured")

    meta = {"command": "python3 bench/run.py" + "".join(f" {a}" for a in argv), "date": time.strftime("%Y-%m-%d %H:%M %Z"),
            "loads": [loads_before, loadavg()]}
    text = report([meta], info, versions, manifests, precommit, results)
    partial = args.quick or args.corpus or args.tools or args.reps < 5
    output = args.output or (RESULTS_DIR / f"RESULTS-{time.strftime('%Y%m%d-%H%M%S')}.md" if partial else BENCH / "RESULTS.md")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text + "\n")
    raw = {t: [{k: getattr(s, k) for k in ("key", "label", "cmd", "runs", "fill", "problems", "stopped", "slow")} for s in ss]
           for t, ss in results.items()}
    raw_path = RESULTS_DIR / f"raw-{time.strftime('%Y%m%d-%H%M%S')}.json"
    raw_path.write_text(json.dumps({**meta, "versions": versions, "machine": info, "manifests": manifests, "precommit": precommit, "results": raw}, indent=1))
    log(f"raw results: {raw_path.relative_to(REPO)} (`--report` rebuilds the Markdown from such files)")
    print(text)
    log(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
