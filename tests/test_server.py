"""The language server end to end: a real LSP client (pytest-lsp) talks to
``asyncloop-lint server`` in a subprocess over stdin and stdout."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_lsp  # the test extra installs it (and pygls): missing, these tests must fail, not skip
from lsprotocol import types as lsp
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

REPO = Path(__file__).resolve().parent.parent
SEED = """import asyncio


async def fetch_prompt():
    return "text"


PROMPT_TEXT = asyncio.run(fetch_prompt())
asyncio.run(fetch_prompt())
"""
FIX_ALL = "source.fixAll.asyncloop-lint"
WAIT = 60  # seconds: a guard against a hang, never an expectation about speed


def make_client() -> LanguageClient:
    """pytest-lsp's client, which also keeps every diagnostics notification (not only the
    last per document) and accepts the server's capability registrations."""
    client = LanguageClient(converter_factory=default_converter)
    client.published = []

    def publish(client: LanguageClient, params: lsp.PublishDiagnosticsParams) -> None:
        client.diagnostics[params.uri] = params.diagnostics
        client.published.append(params)

    def register(client: LanguageClient, params: lsp.RegistrationParams) -> None:
        client.registrations = params.registrations

    register_lsp_features(client, {
        **DEFAULT_CLIENT_FEATURES,
        lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS: publish,
        lsp.CLIENT_REGISTER_CAPABILITY: register,
    })
    return client


SERVER = ClientServerConfig(
    server_command=[sys.executable, "-m", "asyncloop_lint", "server"],
    server_env={**os.environ, "PYTHONPATH": str(REPO)},
    client_factory=make_client,
)


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):
    yield
    if not lsp_client.stopped:  # one test shuts the server down itself
        await lsp_client.shutdown_session()


async def start(client: LanguageClient, root: Path, options: dict | None = None, spec: str = "visual-studio-code") -> None:
    await client.initialize_session(lsp.InitializeParams(
        capabilities=client_capabilities(spec),
        root_uri=root.as_uri(),
        workspace_folders=[lsp.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
        initialization_options=options,
    ))


async def published(client: LanguageClient, uri: str, version: int | None) -> list[lsp.Diagnostic]:
    """The diagnostics published for this version of the document (waits for them)."""
    async def find() -> list[lsp.Diagnostic]:
        while True:
            for params in client.published:
                if params.uri == uri and params.version == version:
                    return list(params.diagnostics)
            await asyncio.sleep(0.01)

    return await asyncio.wait_for(find(), WAIT)


async def eventually(predicate) -> None:  # type: ignore[no-untyped-def]
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), WAIT)


def open_document(client: LanguageClient, uri: str, text: str, version: int = 1) -> None:
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        text_document=lsp.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)
    ))


def change_document(client: LanguageClient, uri: str, version: int, text: str) -> None:
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)],
    ))


def apply_edits(text: str, edits: list[lsp.TextEdit]) -> str:
    """Apply LSP text edits (ASCII text: characters are UTF-16 units) the way an editor does."""
    lines = text.splitlines(keepends=True) + [""]

    def offset(position: lsp.Position) -> int:
        return sum(len(line) for line in lines[: position.line]) + position.character

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end):]
    return text


def edits_of(action: lsp.CodeAction, uri: str) -> list[lsp.TextEdit]:
    assert action.edit is not None, action
    if action.edit.document_changes:
        (change,) = action.edit.document_changes
        assert change.text_document.uri == uri
        return list(change.edits)
    return list(action.edit.changes[uri])


async def code_actions(client: LanguageClient, uri: str, rng: lsp.Range, only: list[str] | None = None) -> list[lsp.CodeAction]:
    result = await client.text_document_code_action_async(lsp.CodeActionParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri),
        range=rng,
        context=lsp.CodeActionContext(diagnostics=[], only=only),
    ))
    return [a for a in result or [] if isinstance(a, lsp.CodeAction)]


def cli_fix(source: str, cwd: Path, *flags: str) -> str:
    run = subprocess.run(
        [sys.executable, "-m", "asyncloop_lint", "--fix", *flags, "-", "--stdin-filename", "app.py"],
        input=source.encode(), capture_output=True, cwd=cwd, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"},
    )
    return run.stdout.decode()


# The cursor inside `asyncio.run(...)` of `PROMPT_TEXT = asyncio.run(fetch_prompt())`.
PROMPT_CALL = lsp.Range(start=lsp.Position(line=7, character=20), end=lsp.Position(line=7, character=20))


def line_range(line: int) -> lsp.Range:
    return lsp.Range(start=lsp.Position(line=line, character=0), end=lsp.Position(line=line, character=0))


@pytest.mark.asyncio
async def test_diagnostics_on_open_with_ranges_then_updated_on_change(client, tmp_path):
    # An unsaved buffer: the file on disk is clean, the editor's text has the hazard.
    (tmp_path / "app.py").write_text("")
    uri = (tmp_path / "app.py").as_uri()
    await start(client, tmp_path)
    open_document(client, uri, SEED)
    diagnostics = await published(client, uri, 1)

    assert [(d.code, d.range) for d in diagnostics] == [
        ("AL101", lsp.Range(start=lsp.Position(line=7, character=14), end=lsp.Position(line=7, character=41))),
        ("AL101", lsp.Range(start=lsp.Position(line=8, character=0), end=lsp.Position(line=8, character=27))),
    ]
    first = diagnostics[0]
    assert first.severity == lsp.DiagnosticSeverity.Warning and first.source == "asyncloop-lint"
    assert first.code_description.href.endswith("/rules/AL101.md")
    assert "asyncio.run" in first.message

    # An incremental edit: delete the last line.
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[lsp.TextDocumentContentChangePartial(
            range=lsp.Range(start=lsp.Position(line=8, character=0), end=lsp.Position(line=9, character=0)), text=""
        )],
    ))
    assert [d.range.start.line for d in await published(client, uri, 2)] == [7]

    # Rapid edits: the diagnostics of the last version arrive, and match its text.
    for version, text in [(3, SEED), (4, SEED.replace("PROMPT_TEXT = asyncio.run(fetch_prompt())\n", "")), (5, "x = 1\n")]:
        change_document(client, uri, version, text)
    assert await published(client, uri, 5) == []

    client.text_document_did_close(lsp.DidCloseTextDocumentParams(text_document=lsp.TextDocumentIdentifier(uri=uri)))
    assert await published(client, uri, None) == []


@pytest.mark.asyncio
async def test_quick_fix_and_fix_all_give_the_cli_fix_output(client, tmp_path):
    uri = (tmp_path / "app.py").as_uri()
    (tmp_path / "app.py").write_text(SEED)
    expected = cli_fix(SEED, tmp_path)
    assert expected != SEED
    await start(client, tmp_path)
    open_document(client, uri, SEED)
    await published(client, uri, 1)

    actions = await code_actions(client, uri, line_range(8))
    titles = [a.title for a in actions]
    (fix,) = [a for a in actions if a.title.endswith("(safe fix)")]
    assert fix.kind == lsp.CodeActionKind.QuickFix and fix.is_preferred and fix.diagnostics[0].code == "AL101"
    assert apply_edits(SEED, edits_of(fix, uri)) == expected
    assert "Disable AL101 for this line" in titles

    # Unsafe fixes are not offered unless the client allows them.
    quick_fixes = await code_actions(client, uri, PROMPT_CALL, only=[lsp.CodeActionKind.QuickFix])
    assert [a.title for a in quick_fixes] == ["Disable AL101 for this line"]

    (fix_all,) = await code_actions(client, uri, line_range(0), only=[FIX_ALL])
    assert fix_all.kind == FIX_ALL
    assert apply_edits(SEED, edits_of(fix_all, uri)) == expected

    # Without `only` (the light bulb), the client resolves the fix-all edit when chosen.
    (lazy,) = [a for a in await code_actions(client, uri, line_range(0)) if a.kind == FIX_ALL]
    assert lazy.edit is None
    resolved = await client.code_action_resolve_async(lazy)
    assert apply_edits(SEED, edits_of(resolved, uri)) == expected


@pytest.mark.asyncio
async def test_unsafe_fixes_when_the_client_allows_them(client, tmp_path):
    uri = (tmp_path / "app.py").as_uri()
    await start(client, tmp_path, options={"unsafeFixes": True})
    open_document(client, uri, SEED)
    await published(client, uri, 1)

    (unsafe,) = [a for a in await code_actions(client, uri, PROMPT_CALL) if a.title.endswith("(unsafe fix)")]
    assert not unsafe.is_preferred
    text = apply_edits(SEED, edits_of(unsafe, uri))
    change_document(client, uri, 2, text)
    remaining = await published(client, uri, 2)
    # What is left is the safe one; applying it too gives `--fix --unsafe-fixes`.
    (safe_line,) = [d.range.start.line for d in remaining if d.data["fix"] == "safe"]
    (safe,) = [a for a in await code_actions(client, uri, line_range(safe_line)) if a.title.endswith("(safe fix)")]
    assert apply_edits(text, edits_of(safe, uri)) == cli_fix(SEED, tmp_path, "--unsafe-fixes")


@pytest.mark.asyncio
async def test_disable_for_this_line_adds_or_extends_noqa(client, tmp_path):
    uri = (tmp_path / "app.py").as_uri()
    text = SEED.replace("asyncio.run(fetch_prompt())\n", "asyncio.run(fetch_prompt())  # noqa: E501\n", 1)
    text = text.replace("\nasyncio.run(fetch_prompt())\n", "\nasyncio.run(fetch_prompt())   \n")
    await start(client, tmp_path)
    open_document(client, uri, text)
    assert len(await published(client, uri, 1)) == 2

    for line in (7, 8):
        rng = PROMPT_CALL if line == 7 else line_range(line)
        (disable,) = [a for a in await code_actions(client, uri, rng) if a.title == "Disable AL101 for this line"]
        text = apply_edits(text, edits_of(disable, uri))
        change_document(client, uri, line - 5, text)
        await published(client, uri, line - 5)
    assert "PROMPT_TEXT = asyncio.run(fetch_prompt())  # noqa: E501, AL101\n" in text
    assert text.endswith("\nasyncio.run(fetch_prompt())  # noqa: AL101\n")
    assert await published(client, uri, 3) == []


@pytest.mark.asyncio
async def test_syntax_error_is_al000_and_the_server_keeps_serving(client, tmp_path):
    uri = (tmp_path / "broken.py").as_uri()
    await start(client, tmp_path)
    open_document(client, uri, "import asyncio\n\nasyncio.run(main(\n")
    (error,) = await published(client, uri, 1)
    assert error.code == "AL000" and error.severity == lsp.DiagnosticSeverity.Error
    assert error.range.start.line == 2

    change_document(client, uri, 2, "import asyncio\n\nasyncio.run(main())\n")
    (finding,) = await published(client, uri, 2)
    assert finding.code == "AL101"
    # Undecodable text in an encoding cookie is a diagnostic too, not a crash.
    change_document(client, uri, 3, "# -*- coding: no-such-codec -*-\nimport asyncio\nasyncio.run(main())\n")
    assert [d.code for d in await published(client, uri, 3)] == ["AL000"]


@pytest.mark.asyncio
async def test_positions_are_in_the_clients_units(client, tmp_path):
    uri = (tmp_path / "app.py").as_uri()
    await start(client, tmp_path)  # VS Code: UTF-16
    open_document(client, uri, 'import asyncio\r\ns = "\U0001f600"; asyncio.run(main())\r\n')
    (finding,) = await published(client, uri, 1)
    # 9 code points before the call, the emoji is two UTF-16 units; CRLF line breaks.
    assert finding.range == lsp.Range(start=lsp.Position(line=1, character=10), end=lsp.Position(line=1, character=29))
    (disable,) = [a for a in await code_actions(client, uri, finding.range) if a.title.startswith("Disable")]
    assert edits_of(disable, uri)[0].range.start == lsp.Position(line=1, character=29)


@pytest.mark.asyncio
async def test_hover_on_a_noqa_code_shows_the_rule_summary(client, tmp_path):
    uri = (tmp_path / "app.py").as_uri()
    text = "import asyncio\nasyncio.run(main())  # noqa: E501, AL101\n"
    await start(client, tmp_path)
    open_document(client, uri, text)
    assert await published(client, uri, 1) == []

    column = text.splitlines()[1].index("AL101") + 2
    hover = await client.text_document_hover_async(lsp.HoverParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(line=1, character=column)
    ))
    assert hover.contents.kind == lsp.MarkupKind.Markdown
    assert "**AL101** `import-time-asyncio-run`: A loop runner executes at import time" in hover.contents.value
    assert hover.range.start.character == column - 2
    for position in (lsp.Position(line=1, character=column - 8), lsp.Position(line=0, character=3)):  # E501; no noqa
        assert await client.text_document_hover_async(lsp.HoverParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri), position=position
        )) is None


@pytest.mark.asyncio
async def test_project_configuration_is_discovered_and_reloaded(client, tmp_path):
    project = tmp_path / "service"
    (project / "generated").mkdir(parents=True)
    pyproject = project / "pyproject.toml"
    pyproject.write_text('[tool.asyncloop-lint]\nignore = ["AL101"]\nextend-exclude = ["generated"]\n')
    (project / "generated" / "stub.py").write_text(SEED)
    app, stub = (project / "app.py").as_uri(), (project / "generated" / "stub.py").as_uri()
    await start(client, tmp_path)
    open_document(client, app, SEED)
    assert await published(client, app, 1) == []  # AL101 ignored
    (tmp_path / "other.py").write_text(SEED)  # outside the project: its settings do not apply
    open_document(client, (tmp_path / "other.py").as_uri(), SEED)
    assert len(await published(client, (tmp_path / "other.py").as_uri(), 1)) == 2

    # The server asked to be told about pyproject.toml changes; the client tells it.
    await eventually(lambda: getattr(client, "registrations", None))
    assert [r.method for r in client.registrations] == ["workspace/didChangeWatchedFiles"]
    pyproject.write_text('[tool.asyncloop-lint]\nselect = ["AL1"]\nextend-exclude = ["generated"]\n')
    client.published.clear()
    client.workspace_did_change_watched_files(lsp.DidChangeWatchedFilesParams(
        changes=[lsp.FileEvent(uri=pyproject.as_uri(), type=lsp.FileChangeType.Changed)]
    ))
    assert len(await published(client, app, 1)) == 2
    open_document(client, stub, SEED)
    assert await published(client, stub, 1) == []  # excluded, as with --force-exclude
    assert any("stub.py: excluded by the configuration" in m.message for m in client.log_messages)

    # A bad configuration: an error message naming the key, and the defaults meanwhile.
    pyproject.write_text('[tool.asyncloop-lint]\nselekt = ["AL1"]\n')
    client.published.clear()
    change_document(client, app, 2, SEED)
    assert len(await published(client, app, 2)) == 2
    (message,) = client.messages
    assert message.type == lsp.MessageType.Error and "unknown key `selekt`" in message.message

    # Saving pyproject.toml in the editor re-lints the open documents too.
    pyproject.write_text('[tool.asyncloop-lint]\nignore = ["AL1"]\n')
    client.published.clear()
    client.text_document_did_save(lsp.DidSaveTextDocumentParams(text_document=lsp.TextDocumentIdentifier(uri=pyproject.as_uri())))
    assert await published(client, app, 2) == []


@pytest.mark.asyncio
async def test_client_settings_change_relints_open_documents(client, tmp_path):
    uri = (tmp_path / "app.py").as_uri()
    await start(client, tmp_path)
    open_document(client, uri, SEED)
    assert len(await published(client, uri, 1)) == 2

    client.set_configuration({"ignore": ["AL101"]}, section="asyncloop-lint")
    client.published.clear()
    client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(settings=None))
    assert await published(client, uri, 1) == []

    # A bad value is reported and left out; the rest applies.
    client.set_configuration({"ignore": ["AL9"], "unsafeFixes": True}, section="asyncloop-lint")
    client.published.clear()
    client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(settings=None))
    assert len(await published(client, uri, 1)) == 2
    assert any("unknown rule selector 'AL9'" in m.message for m in client.messages)
    assert [a for a in await code_actions(client, uri, PROMPT_CALL) if a.title.endswith("(unsafe fix)")]


@pytest.mark.asyncio
async def test_documents_outside_any_project_and_untitled_buffers(client, tmp_path):
    await start(client, tmp_path / "workspace", spec="neovim")
    elsewhere = (tmp_path / "elsewhere" / "script.py").as_uri()  # not on disk, no workspace
    untitled = "untitled:Untitled-1"
    open_document(client, elsewhere, SEED)
    open_document(client, untitled, SEED)
    assert len(await published(client, elsewhere, 1)) == 2
    assert len(await published(client, untitled, 1)) == 2
    # Neovim sends `changes` (no documentChanges support declared in older releases is fine too).
    (fix,) = [a for a in await code_actions(client, untitled, line_range(8)) if a.title.endswith("(safe fix)")]
    assert apply_edits(SEED, edits_of(fix, untitled)) == cli_fix(SEED, tmp_path)
    # Not Python: left alone.
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        text_document=lsp.TextDocumentItem(uri=(tmp_path / "notes.txt").as_uri(), language_id="plaintext", version=1, text=SEED)
    ))
    change_document(client, untitled, 2, "x = 1\n")
    assert await published(client, untitled, 2) == []
    assert (tmp_path / "notes.txt").as_uri() not in client.diagnostics


@pytest.mark.asyncio
async def test_shutdown_and_exit_are_clean(client, tmp_path):
    await start(client, tmp_path)
    uri = (tmp_path / "app.py").as_uri()
    open_document(client, uri, SEED)
    await published(client, uri, 1)
    change_document(client, uri, 2, SEED)  # a lint still pending at shutdown
    await client.shutdown_session()
    assert client._server.returncode == 0
    assert not [m for m in client.log_messages if m.type == lsp.MessageType.Error]


def test_server_without_pygls_is_a_one_line_error():
    code = (
        "import sys\nsys.modules['pygls'] = None\nsys.modules['pygls.lsp.server'] = None\n"
        "from asyncloop_lint.cli import main\nmain(['server'])\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 2
    assert run.stderr.decode().splitlines() == [
        "asyncloop-lint: error: the language server needs pygls 2: pip install 'asyncloop-lint[lsp]'"
    ]


def test_lint_runs_never_import_the_language_server(tmp_path):
    (tmp_path / "server").mkdir()
    (tmp_path / "server" / "app.py").write_text(SEED)
    code = (
        "import sys\nfrom asyncloop_lint.cli import main\n"
        "try:\n    main(['--output-format', 'concise', './server'])\nexcept SystemExit as e:\n    code = e.code\n"
        "print(code, sorted(m for m in ('pygls', 'lsprotocol', 'asyncloop_lint.server') if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"})
    out = run.stdout.decode()
    assert re.search(r"server/app\.py:8:15: AL101 ", out), out + run.stderr.decode()
    assert out.splitlines()[-1] == "1 []"
