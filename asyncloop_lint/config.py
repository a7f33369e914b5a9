"""Settings: ``[tool.asyncloop-lint]`` in pyproject.toml, merged with command-line flags.

Every key and value is validated; a bad one raises :class:`ConfigError` naming the key and
the file, which the CLI turns into exit code 2.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .rule import NOT_ANALYSED_CODE, SYNTAX_ERROR_CODE, registry

SECTION = "asyncloop-lint"
TARGET_VERSIONS = ("py310", "py311", "py312", "py313", "py314")
DEFAULT_TARGET = "py310"
FIX_STRATEGIES = ("persistent", "lazy")
DEFAULT_MAX_WORKERS = 64
DEFAULT_EXCLUDE = (
    ".asyncloop_lint_cache", ".bzr", ".direnv", ".eggs", ".git", ".hg", ".ipynb_checkpoints",
    ".mypy_cache", ".nox", ".pants.d", ".pytest_cache", ".pytype", ".ruff_cache", ".svn",
    ".tox", ".venv", ".vscode", "__pypackages__", "_build", "buck-out", "build", "dist",
    "node_modules", "site-packages", "venv",
)
_CODE_SELECTOR = re.compile(r"^(ALL|AL\d{0,3})$")
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class ConfigError(Exception):
    """A bad configuration key or value; the message names both and the file."""


@dataclass(frozen=True)
class Settings:
    codes: frozenset[str]
    per_file_ignores: tuple[tuple[str, frozenset[str]], ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    respect_gitignore: bool = True
    target_version: str = DEFAULT_TARGET
    entrypoints: tuple[tuple[str, str], ...] = ()
    runtime_import: str | None = None  # None: vendored into the project (see vendor.locate)
    fix_strategy: str = "persistent"
    max_workers: int = DEFAULT_MAX_WORKERS  # AL503: the largest literal `max_workers` not reported
    project_root: str = field(default_factory=os.getcwd)
    config_file: str | None = None

    @property
    def target_tuple(self) -> tuple[int, int]:
        return (3, int(self.target_version[3:]))

    def codes_for(self, relpath: str) -> frozenset[str]:
        """The selected codes minus the ``per-file-ignores`` that match ``relpath``."""
        if not self.per_file_ignores:
            return self.codes
        from .discovery import pattern_matches

        codes = self.codes
        for pattern, ignored in self.per_file_ignores:
            if pattern_matches(pattern, relpath):
                codes = codes - ignored
        return codes

    def fingerprint(self) -> str:
        """A stable string of everything that changes lint results (the cache keys on it)."""
        return repr(
            (sorted(self.codes), self.per_file_ignores, self.target_version, self.entrypoints,
             self.runtime_import, self.fix_strategy, self.max_workers)
        )


def resolve_selectors(selectors: list[str], where: str) -> frozenset[str]:
    known = registry()
    codes: set[str] = set()
    for selector in selectors:
        if not isinstance(selector, str) or not _CODE_SELECTOR.match(selector.strip().upper()):
            raise ConfigError(f"{where}: invalid rule selector {selector!r}")
        selector = selector.strip().upper()
        matched = [c for c in known if selector == "ALL" or c.startswith(selector)]
        if not matched:
            raise ConfigError(f"{where}: unknown rule selector {selector!r}")
        codes.update(matched)
    return frozenset(codes)


def default_codes() -> frozenset[str]:
    return frozenset(code for code, info in registry().items() if info.default)


def _load_toml(path: Path, source: bytes | None = None) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10
        import tomli as tomllib
    from .files import read_regular

    try:
        text = (read_regular(path) if source is None else source).decode("utf-8")
        return tomllib.loads(text)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 (TOML files must be): byte {exc.object[exc.start]:#04x} "
                          f"at offset {exc.start}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _table(data: dict[str, Any], key: str, where: Path) -> dict[str, Any]:
    """``data[key]`` when it is a table, {} when it is missing; else a ConfigError."""
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: `{key}` must be a table, got {value!r}")
    return value


# Spellings of the section that are not it: said out loud rather than silently ignored.
_MISSPELT_SECTION = re.compile(r"^asyncloop[-_ .]?lint(er)?$|^asyncloop$", re.IGNORECASE)


def _misspelt_section(tool: dict[str, Any], where: Path) -> None:
    for name in tool:
        if name != SECTION and _MISSPELT_SECTION.match(name):
            raise ConfigError(f"{where}: [tool.{name}] is not read; the table is [tool.{SECTION}]")


def find_config(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above ``start`` that has ``[tool.asyncloop-lint]``."""
    from .files import read_regular

    directory = start if start.is_dir() else start.parent
    for candidate in (directory, *directory.parents):
        pyproject = candidate / "pyproject.toml"
        try:
            source = read_regular(pyproject)  # never waits on a FIFO
        except OSError:
            continue
        if b"asyncloop" in source.lower():
            tool = _table(_load_toml(pyproject, source), "tool", pyproject)
            _misspelt_section(tool, pyproject)
            if SECTION in tool:
                return pyproject
    return None


def cache_root(settings: Settings, paths: list[str]) -> str:
    """Where the cache folder goes: the folder of the configuration in use, else of the
    nearest pyproject.toml at or above the first path (like ruff's ``.ruff_cache``), else
    the working folder."""
    if settings.config_file is not None:
        return settings.project_root
    start = Path(paths[0] if paths and paths[0] != "-" else ".").absolute()
    directory = start if start.is_dir() else start.parent
    for candidate in (directory, *directory.parents):
        if (candidate / "pyproject.toml").is_file():
            return str(candidate)
    return settings.project_root


def _requires_python_target(data: dict[str, Any], where: Path) -> str | None:
    spec = _table(data, "project", where).get("requires-python")
    if isinstance(spec, str):
        found = re.search(r">=?\s*3\.(\d+)", spec)
        if found:
            minor = max(10, min(14, int(found.group(1))))
            return f"py3{minor}"
    return None


def _expect(where: str, key: str, value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: `{key}` must be {what}, got {value!r}")
    return value


def _string_list(where: str, key: str, value: Any) -> list[str]:
    _expect(where, key, value, list, "a list of strings")
    for item in value:
        _expect(where, key, item, str, "a list of strings")
    return value


def parse_section(data: dict[str, Any], where: str) -> dict[str, Any]:
    """Validate a ``[tool.asyncloop-lint]`` table into keyword arguments for :class:`Settings`
    (plus the raw selector lists, resolved later against CLI flags)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("select", "ignore", "extend-select"):
            out[key] = _string_list(where, key, value)
            resolve_selectors(value, f"{where}: `{key}`")
        elif key == "per-file-ignores":
            _expect(where, key, value, dict, "a table of glob = [codes]")
            check_patterns(list(value), f"{where}: `{key}`")
            out[key] = tuple(
                (pattern, resolve_selectors(_string_list(where, f"{key}.{pattern}", codes), f"{where}: `{key}`"))
                for pattern, codes in value.items()
            )
        elif key in ("exclude", "extend-exclude"):
            out[key.replace("-", "_")] = tuple(check_patterns(_string_list(where, key, value), f"{where}: `{key}`"))
        elif key == "respect-gitignore":
            out["respect_gitignore"] = _expect(where, key, value, bool, "true or false")
        elif key == "target-version":
            if value not in TARGET_VERSIONS:
                raise ConfigError(f"{where}: `{key}` must be one of {', '.join(TARGET_VERSIONS)}, got {value!r}")
            out["target_version"] = value
        elif key == "entrypoints":
            out["entrypoints"] = parse_entrypoints(_string_list(where, key, value), f"{where}: `{key}`")
        elif key == "runtime-import":
            if not isinstance(value, str) or not _DOTTED.match(value):
                raise ConfigError(f"{where}: `{key}` must be a dotted module path, got {value!r}")
            out["runtime_import"] = value
        elif key == "fix-strategy":
            if value not in FIX_STRATEGIES:
                raise ConfigError(f"{where}: `{key}` must be one of {', '.join(FIX_STRATEGIES)}, got {value!r}")
            out["fix_strategy"] = value
        elif key == "max-workers":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{where}: `{key}` must be a positive integer, got {value!r}")
            out["max_workers"] = value
        else:
            import difflib

            close = difflib.get_close_matches(str(key), KEYS, n=1, cutoff=0.6)
            hint = f"; did you mean `{close[0]}`?" if close else f" (known keys: {', '.join(KEYS)})"
            raise ConfigError(f"{where}: unknown key `{key}` in [tool.{SECTION}]{hint}")
    return out


KEYS = ("select", "extend-select", "ignore", "per-file-ignores", "exclude", "extend-exclude", "respect-gitignore",
        "target-version", "entrypoints", "runtime-import", "fix-strategy", "max-workers")


def check_patterns(patterns: list[str], where: str) -> list[str]:
    """Raise a ConfigError for a pattern gitignore syntax cannot hold (a trailing ``\\``)."""
    from .discovery import invalid_pattern

    for pattern in patterns:
        problem = invalid_pattern(pattern)
        if problem is not None:
            raise ConfigError(f"{where}: invalid pattern {pattern!r}: {problem}")
    return patterns


def parse_entrypoints(values: list[str], where: str) -> tuple[tuple[str, str], ...]:
    parsed = []
    for value in values:
        module, sep, func = value.partition(":")
        if not sep or not _DOTTED.match(module) or not _DOTTED.match(func):
            raise ConfigError(f"{where}: entrypoint {value!r} must look like 'package.module:function'")
        parsed.append((module, func))
    return tuple(parsed)


def load_settings(
    *,
    paths: list[str],
    config_file: str | None = None,
    isolated: bool = False,
    select: list[str] | None = None,
    extend_select: list[str] | None = None,
    ignore: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Find and read the configuration, then apply command-line flags (which win)."""
    path: Path | None = None
    data: dict[str, Any] = {}
    if config_file is not None:
        path = Path(config_file)
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            raise ConfigError(f"{config_file}: config file not found ({exc.strerror or exc})") from None
        if not stat.S_ISREG(mode):
            from .files import describe_mode

            raise ConfigError(f"{config_file}: the config file is not a regular file ({describe_mode(mode)})")
    elif not isolated:
        start = Path(paths[0]) if paths and paths[0] != "-" else Path.cwd()
        path = find_config(start.resolve() if start.exists() else Path.cwd())
    project_root = str(path.parent.resolve()) if path else os.getcwd()
    section: dict[str, Any] = {}
    target = None
    if path is not None:
        data = _load_toml(path)
        tool = _table(data, "tool", path)
        _misspelt_section(tool, path)
        section = tool.get(SECTION, {}) if path.name == "pyproject.toml" else tool.get(SECTION, data)
        _expect(str(path), f"tool.{SECTION}", section, dict, "a table")
        target = _requires_python_target(data, path)
    where = str(path) if path else "command line"
    parsed = parse_section(section, where)

    base = resolve_selectors(select, "--select") if select else (
        resolve_selectors(parsed["select"], where) if "select" in parsed else default_codes()
    )
    extend = resolve_selectors(parsed.get("extend-select", []), where)
    if extend_select:
        extend |= resolve_selectors(extend_select, "--extend-select")
    ignored = resolve_selectors(parsed.get("ignore", []), where)
    if ignore:
        ignored |= resolve_selectors(ignore, "--ignore")
    # Like ruff's syntax errors: AL000 and AL001 (a file not analysed) are reported whatever
    # the selection, unless ignored.
    codes = ((base | extend) - ignored) | ({SYNTAX_ERROR_CODE, NOT_ANALYSED_CODE} - ignored)

    kwargs = {k: v for k, v in parsed.items() if k not in ("select", "ignore", "extend-select", "per-file-ignores")}
    if "per-file-ignores" in parsed:
        kwargs["per_file_ignores"] = parsed["per-file-ignores"]
    kwargs.setdefault("target_version", target or DEFAULT_TARGET)
    settings = Settings(codes=frozenset(codes), project_root=project_root,
                        config_file=str(path) if path else None, **kwargs)
    if overrides:
        for key in ("exclude", "extend_exclude"):
            check_patterns(list(overrides.get(key) or ()), f"--{key.replace('_', '-')}")
        settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    return settings
