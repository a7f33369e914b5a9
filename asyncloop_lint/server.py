"""The language server: ``asyncloop-lint server`` speaks LSP over stdin and stdout (pygls).

Open documents are linted with the command's engine, configuration discovery (the
``[tool.asyncloop-lint]`` of each document's project), excludes, ``noqa`` handling and rule
selection: on open and on save at once, on change after a short pause in typing. Code actions:
a quick fix per finding (unsafe ones only with the client setting ``unsafeFixes``, as
``--unsafe-fixes``), ``source.fixAll.asyncloop-lint`` (exactly what ``--fix`` writes) and
"disable for this line" (a ``# noqa`` code). Hovering a code in a ``noqa`` comment shows the
rule's summary.

Only ``asyncloop-lint server`` imports this module: pygls is the ``asyncloop-lint[lsp]`` extra.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import sys
import textwrap
import tokenize
import traceback
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from . import __version__
from .config import ConfigError, Settings, load_settings, resolve_selectors
from .diagnostic import SAFE, Diagnostic, FileResult, source_lines
from .discovery import PYTHON_SUFFIXES, Discovery
from .engine import Analysis, lint_with_analysis
from .rule import SYNTAX_ERROR_CODE, registry, rule_url
from .suppression import find_noqa

NAME = "asyncloop-lint"
SETTINGS_SECTION = "asyncloop-lint"  # workspace/configuration section; also the client settings' name
FIX_ALL_KIND = "source.fixAll.asyncloop-lint"
DEBOUNCE_SECONDS = 0.2  # pause in typing before a changed document is linted again

log = logging.getLogger("asyncloop_lint.server")


# -- client settings ----------------------------------------------------------------------


@dataclass(frozen=True)
class ClientSettings:
    """What the editor may set (initializationOptions, or the ``asyncloop-lint`` section of
    workspace/configuration): the command's ``--unsafe-fixes``, ``--select``,
    ``--extend-select`` and ``--ignore``."""

    unsafe_fixes: bool = False
    select: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()

    def selection(self) -> dict[str, list[str] | None]:
        """As :func:`~asyncloop_lint.config.load_settings` takes the command's flags."""
        return {
            "select": list(self.select) or None,
            "extend_select": list(self.extend_select) or None,
            "ignore": list(self.ignore) or None,
        }


_SETTING_KEYS = {"unsafeFixes": "unsafe_fixes", "select": "select", "extendSelect": "extend_select", "ignore": "ignore"}


def parse_client_settings(raw: object) -> tuple[ClientSettings, list[str]]:
    """Client settings from a JSON object, and a message for each value left out."""
    if raw is None:
        return ClientSettings(), []
    if not isinstance(raw, dict):
        return ClientSettings(), [f"settings must be an object, got {raw!r}"]
    values: dict[str, Any] = {}
    problems = []
    for key, value in raw.items():
        if key not in _SETTING_KEYS:
            continue  # other tools' keys share some clients' settings objects
        if value is None:
            continue
        if key == "unsafeFixes":
            if isinstance(value, bool):
                values["unsafe_fixes"] = value
            else:
                problems.append(f"setting `{key}` must be true or false, got {value!r}")
            continue
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            problems.append(f"setting `{key}` must be a list of rule codes, got {value!r}")
            continue
        try:
            resolve_selectors(value, f"setting `{key}`")
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        values[_SETTING_KEYS[key]] = tuple(value)
    return ClientSettings(**values), problems


# -- project settings ---------------------------------------------------------------------


def _config_stamps(directory: Path) -> tuple[tuple[str, int, int] | None, ...]:
    """The state of every pyproject.toml from ``directory`` up: when none changed, neither
    did the configuration that discovery finds from there."""
    stamps = []
    for candidate in (directory, *directory.parents):
        try:
            st = os.stat(candidate / "pyproject.toml")
            stamps.append((str(candidate), st.st_mtime_ns, st.st_size))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


class ProjectSettings:
    """Settings per directory, as the command finds them, re-read when a pyproject.toml
    between the directory and the file system root changes."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Path, ClientSettings, Path], tuple[tuple, Settings, str | None]] = {}

    def clear(self) -> None:
        self._cache.clear()

    def get(self, directory: Path, client: ClientSettings, default_root: Path) -> tuple[Settings, str | None]:
        """The settings for files in ``directory`` and the configuration error, if any (then
        the defaults apply). ``default_root`` is the project root when no config is found."""
        key = (directory, client, default_root)
        stamps = _config_stamps(directory)
        cached = self._cache.get(key)
        if cached is not None and cached[0] == stamps:
            return cached[1], cached[2]
        selection = client.selection()
        error = None
        try:
            settings = load_settings(paths=[str(directory)], **selection)
        except ConfigError as exc:
            error = str(exc)
            settings = load_settings(paths=[str(directory)], isolated=True, **selection)
        if settings.config_file is None:
            settings = replace(settings, project_root=str(default_root))
        self._cache[key] = (stamps, settings, error)
        return settings, error


# -- text and positions ---------------------------------------------------------------------

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """LSP's lines (``\\n``, ``\\r\\n`` and ``\\r`` break them, nothing else), without breaks;
    a final line break is followed by an empty last line."""
    return _LINE_BREAK.split(text)


def encode_source(text: str) -> tuple[bytes, str]:
    """The bytes the file would have on disk: in the encoding its coding cookie names."""
    data = text.encode("utf-8", "replace")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:
        return data, "utf-8"  # an unknown codec: the parser reports it as AL000
    if encoding in ("utf-8", "utf-8-sig"):
        return data, "utf-8"
    try:
        return text.encode(encoding), encoding
    except (UnicodeError, LookupError):
        return data, "utf-8"


def text_edits(old: str, new: str, lines: list[str], codec: Any) -> list[lsp.TextEdit]:
    """Line-level edits that turn ``old`` into ``new``."""
    before = source_lines(old, keepends=True)
    after = source_lines(new, keepends=True)
    edits = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, before, after, autojunk=False).get_opcodes():
        if tag != "equal":
            rng = lsp.Range(_line_start(i1, before, lines, codec), _line_start(i2, before, lines, codec))
            edits.append(lsp.TextEdit(range=rng, new_text="".join(after[j1:j2])))
    return edits


def _line_start(index: int, before: list[str], lines: list[str], codec: Any) -> lsp.Position:
    if index == len(before) and before and not before[-1].endswith(("\n", "\r")):
        # Past a last line without a line break: its end, the last position there is.
        return lsp.Position(index - 1, codec.client_num_units(lines[index - 1]))
    return lsp.Position(index, 0)


def to_position(lines: list[str], row: int, column: int, codec: Any) -> lsp.Position:
    """A 1-based row and 1-based character column as an LSP position in the client's units."""
    index = row - 1
    if index >= len(lines):
        index, char = len(lines) - 1, len(lines[-1])
    else:
        index = max(index, 0)
        char = min(max(column - 1, 0), len(lines[index]))
    return lsp.Position(index, codec.client_num_units(lines[index][:char]))


def _overlaps(a: lsp.Range, b: lsp.Range) -> bool:
    def key(p: lsp.Position) -> tuple[int, int]:
        return (p.line, p.character)

    return key(a.start) <= key(b.end) and key(b.start) <= key(a.end)


def _kind_wanted(kind: str, only: list[str] | None) -> bool:
    return only is None or any(kind == o or kind.startswith(o + ".") for o in only)


def rows_without_comment_room(text: str) -> set[int]:
    """1-based rows whose end is inside a string or continued with a backslash: a comment
    appended there would change the code."""
    rows = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.end[0] > token.start[0]:
                rows.update(range(token.start[0], token.end[0]))
    except (tokenize.TokenError, SyntaxError):
        pass
    for number, line in enumerate(split_lines(text), start=1):
        if line.rstrip().endswith("\\"):
            rows.add(number)
    return rows


# -- one linted document ------------------------------------------------------------------


@dataclass
class Linted:
    """The last lint of an open document, kept for code actions until it changes."""

    uri: str
    version: int | None
    text: str
    lines: list[str]
    source: bytes
    encoding: str
    path: str
    relpath: str
    settings: Settings
    result: FileResult
    analysis: Analysis | None
    diagnostics: list[lsp.Diagnostic]  # parallel to result.diagnostics
    _computed: dict[Any, Any] = field(default_factory=dict)

    def finding(self, index: int) -> Any:
        """The engine's finding behind ``result.diagnostics[index]`` (the same order)."""
        if self.analysis is None or self.result.diagnostics[index].code == SYNTAX_ERROR_CODE:
            return None
        return self.analysis.findings[index]

    def quick_fix(self, index: int, codec: Any) -> list[lsp.TextEdit] | None:
        """The edits of one finding's fix, or None when it has none or it would not compile."""
        key = ("fix", index)
        if key not in self._computed:
            self._computed[key] = _guarded(self._quick_fix, index, codec)
        return self._computed[key]

    def _quick_fix(self, index: int, codec: Any) -> list[lsp.TextEdit] | None:
        from .fixer import apply_fixes

        finding = self.finding(index)
        if finding is None or finding.fix is None or not finding.fix.replacements:
            return None
        assert self.analysis is not None
        new_module = apply_fixes(self.analysis.module, [finding.fix])
        try:
            compile(new_module.code, self.path, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            log.warning("%s: the fix for %s would not compile (%s); not offered", self.path, finding.code, exc)
            return None
        return text_edits(self.text, new_module.code, self.lines, codec)

    def fix_all(self, codec: Any) -> list[lsp.TextEdit] | None:
        """What ``--fix`` would write, as edits; None when it changes nothing."""
        if "fix_all" not in self._computed:
            self._computed["fix_all"] = _guarded(self._fix_all, codec)
        return self._computed["fix_all"]

    def _fix_all(self, codec: Any) -> list[lsp.TextEdit] | None:
        from .fixer import fix_source

        outcome = fix_source(self.source, self.path, self.settings, unsafe=False, relpath=self.relpath)
        if outcome.error:
            log.warning("%s: %s", self.path, outcome.error)
            return None
        if outcome.source == self.source:
            return None
        return text_edits(self.text, outcome.source.decode(self.encoding), self.lines, codec)

    def noqa_edit(self, index: int, codec: Any) -> lsp.TextEdit | None:
        """Add the finding's code to the ``noqa`` comment of its line (or a new one)."""
        finding = self.finding(index)
        if finding is None or self.analysis is None:
            return None
        positions = self.analysis.positions
        rows = [positions[finding.node].start.line]
        if finding.statement is not None and finding.statement in positions:
            rows.append(positions[finding.statement].start.line)
        if "no_room" not in self._computed:
            self._computed["no_room"] = rows_without_comment_room(self.text)
        code = finding.code
        for row in rows:
            if row in self._computed["no_room"] or row > len(self.lines):
                continue
            line = self.lines[row - 1]
            noqa = find_noqa(line)
            if noqa is not None and not noqa.codes:
                return None  # a bare noqa already silences the line
            if noqa is not None:
                start = end = noqa.end
                new_text = f", {code}"
            else:
                start, end = len(line.rstrip()), len(line)
                new_text = f"  # noqa: {code}"
            rng = lsp.Range(
                lsp.Position(row - 1, codec.client_num_units(line[:start])),
                lsp.Position(row - 1, codec.client_num_units(line[:end])),
            )
            return lsp.TextEdit(range=rng, new_text=new_text)
        return None


def _guarded(compute: Any, *args: Any) -> Any:
    """``compute(*args)``, or None (logged) when a rule's fix fails: no action, no crash."""
    try:
        return compute(*args)
    except Exception:  # noqa: BLE001
        log.error("computing a fix failed:\n%s", traceback.format_exc())
        return None


def to_lsp_diagnostic(d: Diagnostic, lines: list[str], codec: Any) -> lsp.Diagnostic:
    start = to_position(lines, d.location.row, d.location.column, codec)
    end = to_position(lines, d.end_location.row, d.end_location.column, codec)
    syntax_error = d.code == SYNTAX_ERROR_CODE
    if syntax_error and start == end and start.line < len(lines):
        # A point is hard to see in an editor: mark the rest of the line.
        end = lsp.Position(start.line, codec.client_num_units(lines[start.line]))
    return lsp.Diagnostic(
        range=lsp.Range(start, end),
        message=d.message,
        severity=lsp.DiagnosticSeverity.Error if syntax_error else lsp.DiagnosticSeverity.Warning,
        code=d.code,
        code_description=lsp.CodeDescription(href=rule_url(d.code)),
        source=NAME,
        data={"fix": d.fix.applicability if d.fix else None},
    )


# -- the server ---------------------------------------------------------------------------


class AsyncloopLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(NAME, __version__, text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental)
        self.init_settings = ClientSettings()
        self.client_settings = ClientSettings()
        self.projects = ProjectSettings()
        self.linted: dict[str, Linted] = {}
        self.pending: dict[str, asyncio.TimerHandle] = {}
        self.shown: set[str] = set()
        self.shutdown_requested = False

    # messages to the user

    def tell(self, message: str, kind: lsp.MessageType = lsp.MessageType.Warning) -> None:
        """Show and log ``message`` once (until the configuration changes), not on every lint."""
        if message in self.shown:
            return
        self.shown.add(message)
        self.window_log_message(lsp.LogMessageParams(type=kind, message=f"{NAME}: {message}"))
        self.window_show_message(lsp.ShowMessageParams(type=kind, message=f"{NAME}: {message}"))

    def apply_client_settings(self, raw: object) -> None:
        settings, problems = parse_client_settings(raw)
        for problem in problems:
            self.tell(problem)
        self.client_settings = settings

    # linting

    def _default_root(self, directory: Path) -> Path:
        """The project root of a file outside any configured project: its workspace folder."""
        for folder in self.workspace.folders.values():
            root = to_fs_path(folder.uri)
            if root and (directory == Path(root) or Path(root) in directory.parents):
                return Path(root)
        root_path = self.workspace.root_path
        if root_path and (directory == Path(root_path) or Path(root_path) in directory.parents):
            return Path(root_path)
        return directory

    def _location(self, uri: str) -> tuple[str, Path | None]:
        """The document's path (or its URI when it has none) and an existing directory whose
        configuration applies (None: the defaults)."""
        fs_path = to_fs_path(uri)
        if fs_path:
            directory = Path(fs_path).parent
            while not directory.exists() and directory != directory.parent:
                directory = directory.parent
            return fs_path, directory
        root = next((to_fs_path(f.uri) for f in self.workspace.folders.values()), None) or self.workspace.root_path
        return uri, Path(root) if root else None

    def lint(self, uri: str) -> Linted | None:
        doc = self.workspace.get_text_document(uri)
        path, directory = self._location(uri)
        is_python = doc.language_id == "python" or path.endswith(PYTHON_SUFFIXES)
        if not is_python:
            return None
        if directory is not None:
            settings, error = self.projects.get(directory, self.client_settings, self._default_root(directory))
            if error:
                self.tell(f"{error}; linting with the default settings", lsp.MessageType.Error)
        else:
            settings = load_settings(paths=[os.getcwd()], isolated=True, **self.client_settings.selection())
        discovery = Discovery(settings, force_exclude=True)
        text = doc.source
        lines = split_lines(text)
        if directory is not None and os.path.isfile(path) and not discovery.files([path])[0]:
            message = f"{path}: excluded by the configuration (exclude, extend-exclude or .gitignore): not linted"
            if message not in self.shown:
                self.shown.add(message)
                self.window_log_message(lsp.LogMessageParams(type=lsp.MessageType.Info, message=f"{NAME}: {message}"))
            result, analysis = FileResult(path), None
            source, encoding, relpath = b"", "utf-8", path
        else:
            source, encoding = encode_source(text)
            relpath = discovery.relpath(Path(path)) if directory is not None else path
            result, analysis = lint_with_analysis(source, path, settings, relpath=relpath)
        codec = doc.position_codec
        diagnostics = [to_lsp_diagnostic(d, lines, codec) for d in result.diagnostics]
        return Linted(uri, doc.version, text, lines, source, encoding, path, relpath, settings, result, analysis, diagnostics)

    def lint_and_publish(self, uri: str) -> Linted | None:
        handle = self.pending.pop(uri, None)
        if handle is not None:
            handle.cancel()
        if uri not in self.workspace.text_documents:
            return None
        try:
            linted = self.lint(uri)
        except Exception as exc:  # noqa: BLE001 - an engine bug must not take the server down
            detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
            log.error("internal error while linting %s:\n%s", uri, traceback.format_exc())
            self.tell(f"internal error while linting {uri}: {detail}", lsp.MessageType.Error)
            return None
        if linted is None:
            return None
        self.linted[uri] = linted
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=uri, diagnostics=linted.diagnostics, version=linted.version)
        )
        return linted

    def schedule(self, uri: str) -> None:
        handle = self.pending.pop(uri, None)
        if handle is not None:
            handle.cancel()
        self.pending[uri] = asyncio.get_running_loop().call_later(DEBOUNCE_SECONDS, self.lint_and_publish, uri)

    def current(self, uri: str) -> Linted | None:
        """The lint of the document as it is now (linted first when it changed since)."""
        if uri not in self.workspace.text_documents:
            return None
        linted = self.linted.get(uri)
        if uri in self.pending or linted is None or linted.version != self.workspace.get_text_document(uri).version:
            linted = self.lint_and_publish(uri)
        return linted

    def relint_all(self) -> None:
        for uri in list(self.workspace.text_documents):
            self.lint_and_publish(uri)

    def forget(self, uri: str) -> None:
        handle = self.pending.pop(uri, None)
        if handle is not None:
            handle.cancel()
        if self.linted.pop(uri, None) is not None:
            self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    # client capabilities

    def _capability(self, *path: str) -> Any:
        value: Any = self.client_capabilities
        for name in path:
            value = getattr(value, name, None)
            if value is None:
                return None
        return value

    def workspace_edit(self, linted: Linted, edits: list[lsp.TextEdit]) -> lsp.WorkspaceEdit:
        if self._capability("workspace", "workspace_edit", "document_changes"):
            identifier = lsp.OptionalVersionedTextDocumentIdentifier(uri=linted.uri, version=linted.version)
            return lsp.WorkspaceEdit(document_changes=[lsp.TextDocumentEdit(text_document=identifier, edits=edits)])
        return lsp.WorkspaceEdit(changes={linted.uri: edits})

    def resolves_edits(self) -> bool:
        properties = self._capability("text_document", "code_action", "resolve_support", "properties") or []
        return "edit" in properties


def create_server() -> AsyncloopLanguageServer:
    ls = AsyncloopLanguageServer()

    @ls.feature(lsp.INITIALIZE)
    def initialize(ls: AsyncloopLanguageServer, params: lsp.InitializeParams) -> None:
        ls.init_settings, problems = parse_client_settings(params.initialization_options)
        ls.client_settings = ls.init_settings
        for problem in problems:
            ls.tell(problem)

    @ls.feature(lsp.INITIALIZED)
    async def initialized(ls: AsyncloopLanguageServer, params: lsp.InitializedParams) -> None:
        if ls._capability("workspace", "did_change_watched_files", "dynamic_registration"):
            watcher = lsp.FileSystemWatcher(glob_pattern="**/pyproject.toml")
            registration = lsp.Registration(
                id=f"{NAME}-pyproject",
                method=lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                register_options=lsp.DidChangeWatchedFilesRegistrationOptions(watchers=[watcher]),
            )
            try:
                await ls.client_register_capability_async(lsp.RegistrationParams(registrations=[registration]))
            except Exception as exc:  # noqa: BLE001 - the stamps on pyproject.toml still notice changes
                log.warning("could not watch pyproject.toml files: %s", exc)
        before = ls.client_settings
        await pull_configuration(ls)
        if ls.client_settings != before:
            ls.relint_all()

    async def pull_configuration(ls: AsyncloopLanguageServer) -> None:
        """Update the client settings from workspace/configuration, when the client has it."""
        if not ls._capability("workspace", "configuration"):
            return
        try:
            answer = await ls.workspace_configuration_async(
                lsp.ConfigurationParams(items=[lsp.ConfigurationItem(section=SETTINGS_SECTION)])
            )
        except Exception as exc:  # noqa: BLE001 - keep the initialization options
            log.warning("workspace/configuration failed: %s", exc)
            return
        pulled = answer[0] if answer else None
        if isinstance(pulled, dict):
            ls.apply_client_settings({**_raw(ls.init_settings), **pulled})

    @ls.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: AsyncloopLanguageServer, params: lsp.DidChangeConfigurationParams) -> None:
        ls.shown.clear()
        pushed = params.settings.get(SETTINGS_SECTION) if isinstance(params.settings, dict) else None
        if isinstance(pushed, dict):
            ls.apply_client_settings({**_raw(ls.init_settings), **pushed})
        else:
            await pull_configuration(ls)
        ls.projects.clear()
        ls.relint_all()

    @ls.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: AsyncloopLanguageServer, params: lsp.DidChangeWatchedFilesParams) -> None:
        ls.shown.clear()
        ls.projects.clear()
        ls.relint_all()

    @ls.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: AsyncloopLanguageServer, params: lsp.DidOpenTextDocumentParams) -> None:
        ls.lint_and_publish(params.text_document.uri)

    @ls.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: AsyncloopLanguageServer, params: lsp.DidChangeTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri)

    @ls.feature(lsp.TEXT_DOCUMENT_DID_SAVE, lsp.SaveOptions(include_text=False))
    def did_save(ls: AsyncloopLanguageServer, params: lsp.DidSaveTextDocumentParams) -> None:
        uri = params.text_document.uri
        if (to_fs_path(uri) or "").endswith("pyproject.toml"):
            did_change_watched_files(ls, lsp.DidChangeWatchedFilesParams(changes=[]))
        else:
            ls.lint_and_publish(uri)

    @ls.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: AsyncloopLanguageServer, params: lsp.DidCloseTextDocumentParams) -> None:
        ls.forget(params.text_document.uri)

    @ls.feature(
        lsp.TEXT_DOCUMENT_CODE_ACTION,
        lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix, FIX_ALL_KIND], resolve_provider=True),
    )
    def code_action(ls: AsyncloopLanguageServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction] | None:
        uri = params.text_document.uri
        linted = ls.current(uri)
        if linted is None:
            return None
        codec = ls.workspace.get_text_document(uri).position_codec
        only = params.context.only
        actions: list[lsp.CodeAction] = []
        if _kind_wanted(lsp.CodeActionKind.QuickFix, only):
            for index, (d, shown) in enumerate(zip(linted.result.diagnostics, linted.diagnostics)):
                if not _overlaps(shown.range, params.range):
                    continue
                if d.fix is not None and (d.fix.applicability == SAFE or ls.client_settings.unsafe_fixes):
                    edits = linted.quick_fix(index, codec)
                    if edits:
                        safety = "safe" if d.fix.applicability == SAFE else "unsafe"
                        actions.append(lsp.CodeAction(
                            title=f"{d.code}: {d.fix.message} ({safety} fix)",
                            kind=lsp.CodeActionKind.QuickFix,
                            diagnostics=[shown],
                            edit=ls.workspace_edit(linted, edits),
                            is_preferred=d.fix.applicability == SAFE,
                        ))
                noqa = linted.noqa_edit(index, codec)
                if noqa is not None:
                    actions.append(lsp.CodeAction(
                        title=f"Disable {d.code} for this line",
                        kind=lsp.CodeActionKind.QuickFix,
                        diagnostics=[shown],
                        edit=ls.workspace_edit(linted, [noqa]),
                    ))
        safe_fixes = any(d.fix is not None and d.fix.applicability == SAFE for d in linted.result.diagnostics)
        if safe_fixes and _kind_wanted(FIX_ALL_KIND, only):
            action = lsp.CodeAction(title=f"{NAME}: fix all safe fixes", kind=FIX_ALL_KIND)
            if only is None and ls.resolves_edits():
                # Shown in a menu, maybe never chosen: computed when it is (codeAction/resolve).
                action.data = {"uri": uri, "version": linted.version}
                actions.append(action)
            else:
                edits = linted.fix_all(codec)
                if edits:
                    action.edit = ls.workspace_edit(linted, edits)
                    actions.append(action)
        return actions

    @ls.feature(lsp.CODE_ACTION_RESOLVE)
    def resolve_code_action(ls: AsyncloopLanguageServer, action: lsp.CodeAction) -> lsp.CodeAction:
        data = action.data if isinstance(action.data, dict) else {}
        uri = data.get("uri")
        if action.kind != FIX_ALL_KIND or not isinstance(uri, str):
            return action
        linted = ls.current(uri)
        if linted is None or linted.version != data.get("version"):
            return action  # the document changed: no edit, the client asks again
        edits = linted.fix_all(ls.workspace.get_text_document(uri).position_codec)
        if edits:
            action.edit = ls.workspace_edit(linted, edits)
        return action

    @ls.feature(lsp.TEXT_DOCUMENT_HOVER)
    def hover(ls: AsyncloopLanguageServer, params: lsp.HoverParams) -> lsp.Hover | None:
        if params.text_document.uri not in ls.workspace.text_documents:
            return None
        doc = ls.workspace.get_text_document(params.text_document.uri)
        lines = split_lines(doc.source)
        if params.position.line >= len(lines):
            return None
        line = lines[params.position.line]
        noqa = find_noqa(line)
        if noqa is None:
            return None
        char = doc.position_codec.position_from_client_units(lines, params.position).character
        for code, start, end in noqa.codes:
            info = registry().get(code)
            if start <= char <= end and info is not None:
                codec = doc.position_codec
                rng = lsp.Range(
                    lsp.Position(params.position.line, codec.client_num_units(line[:start])),
                    lsp.Position(params.position.line, codec.client_num_units(line[:end])),
                )
                return lsp.Hover(contents=_rule_markup(ls, code), range=rng)
        return None

    @ls.feature(lsp.SHUTDOWN)
    def shutdown(ls: AsyncloopLanguageServer, params: None) -> None:
        ls.shutdown_requested = True
        for handle in ls.pending.values():
            handle.cancel()
        ls.pending.clear()

    return ls


def _raw(settings: ClientSettings) -> dict[str, Any]:
    """Client settings back in the client's shape (the base that pulled settings update)."""
    return {key: getattr(settings, attr) for key, attr in _SETTING_KEYS.items() if getattr(settings, attr)}


def _rule_markup(ls: AsyncloopLanguageServer, code: str) -> lsp.MarkupContent:
    from .rule import explain_fix

    info = registry()[code]
    formats = ls._capability("text_document", "hover", "content_format") or [lsp.MarkupKind.Markdown]
    what = textwrap.dedent(info.rule.what).strip() if info.rule is not None else ""
    if lsp.MarkupKind.Markdown in formats:
        text = (
            f"**{code}** `{info.name}`: {info.summary}\n\n{what}\n\n"
            f"Fix: {explain_fix(info.fix)}. [Rule page]({rule_url(code)})"
        )
        return lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text)
    text = f"{code} {info.name}: {info.summary}\n\n{what}\n\nFix: {explain_fix(info.fix)}. {rule_url(code)}"
    return lsp.MarkupContent(kind=lsp.MarkupKind.PlainText, value=text)


def _warm_up() -> None:
    """Import libcst, the engine, the rules and the fixer once, before the first document."""
    from .config import default_codes
    from .fixer import fix_source

    sample = b"import asyncio\n\n\nasync def main():\n    pass\n\n\nasyncio.run(main())\n"
    settings = Settings(codes=default_codes())
    lint_with_analysis(sample, "warm_up.py", settings)
    fix_source(sample, "warm_up.py", settings, unsafe=False)


def serve() -> int:
    """Run the server on stdin and stdout until the client says exit (or goes away)."""
    _warm_up()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the protocol stream
    server = create_server()
    server.start_io(stdin, stdout)
    return 0 if server.shutdown_requested else 1
