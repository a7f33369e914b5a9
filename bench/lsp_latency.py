"""Re-lint latency of the language server on a real file (CPython's asyncio/base_events.py).

    python bench/lsp_latency.py [FILE] [--rounds N]

Starts ``python -m asyncloop_lint server`` from this work tree as an editor would and opens
FILE (default: this interpreter's ``asyncio/base_events.py``, about 2,000 lines). Each round
edits the document (a changed comment at its end) and saves it; a save lints at once, so the
time from sending the edit and the save to receiving the diagnostics for that version is the
re-lint as the editor sees it: the pause after typing (``DEBOUNCE_SECONDS``) comes on top when
the user only types. Also times the engine in process on the same text, without the protocol
(wall and CPU time: on a shared machine the CPU time shows what the lint costs by itself).
Needs the ``lsp`` extra (pygls).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

REPO = Path(__file__).resolve().parent.parent


def default_file() -> Path:
    import asyncio.base_events

    return Path(asyncio.base_events.__file__)


async def measure_server(path: Path, rounds: int) -> tuple[list[float], float, int]:
    client = LanguageClient("lsp-latency", "1")
    arrived: dict[int, float] = {}
    counts: dict[int, int] = {}
    published = asyncio.Event()  # no polling: the client must not compete with the server for CPU

    @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def publish(params: lsp.PublishDiagnosticsParams) -> None:
        if params.version is not None:
            arrived[params.version] = time.perf_counter()
            counts[params.version] = len(params.diagnostics)
            published.set()

    async def until_published(version: int) -> None:
        while version not in arrived:
            published.clear()
            await published.wait()

    started = time.perf_counter()
    await client.start_io(sys.executable, "-m", "asyncloop_lint", "server", env={**os.environ, "PYTHONPATH": str(REPO)})
    await client.initialize_async(lsp.InitializeParams(capabilities=lsp.ClientCapabilities(), process_id=os.getpid()))
    client.initialized(lsp.InitializedParams())
    ready = time.perf_counter() - started
    uri = path.as_uri()
    text = path.read_text(encoding="utf-8")
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        text_document=lsp.TextDocumentItem(uri=uri, language_id="python", version=0, text=text)
    ))
    await until_published(0)
    lines = text.count("\n")
    latencies = []
    for version in range(1, rounds + 1):
        sent = time.perf_counter()
        client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[lsp.TextDocumentContentChangePartial(
                range=lsp.Range(start=lsp.Position(line=lines, character=0), end=lsp.Position(line=lines + 1, character=0)),
                text=f"# edit {version}\n",
            )],
        ))
        client.text_document_did_save(lsp.DidSaveTextDocumentParams(text_document=lsp.TextDocumentIdentifier(uri=uri)))
        await until_published(version)
        latencies.append(arrived[version] - sent)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return latencies, ready, counts[rounds]


def measure_engine(path: Path, rounds: int) -> tuple[list[float], list[float]]:
    sys.path.insert(0, str(REPO))
    from asyncloop_lint.config import default_codes, Settings
    from asyncloop_lint.engine import lint_with_analysis

    source = path.read_bytes()
    settings = Settings(codes=default_codes())
    lint_with_analysis(source, str(path), settings)
    wall, cpu = [], []
    for _ in range(rounds):
        started, started_cpu = time.perf_counter(), time.process_time()
        lint_with_analysis(source, str(path), settings)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    path = (args.file or default_file()).resolve()
    lines = len(path.read_text(encoding="utf-8").splitlines())
    latencies, ready, findings = asyncio.run(measure_server(path, args.rounds))
    engine, engine_cpu = measure_engine(path, args.rounds)

    def ms(values: list[float]) -> str:
        return f"median {statistics.median(values) * 1000:.0f} ms (min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f})"

    print(f"file: {path} ({lines} lines, {findings} findings)")
    print(f"server start to initialized: {ready * 1000:.0f} ms")
    print(f"re-lint, edit + save -> diagnostics, {args.rounds} rounds: {ms(latencies)}")
    print(f"engine alone (lint_with_analysis in process), {args.rounds} rounds: wall {ms(engine)}")
    print(f"  the same, CPU time of this process (less sensitive to other load): {ms(engine_cpu)}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
