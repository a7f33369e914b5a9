"""The fixture harness: ordinary Python files whose expected diagnostics are trailing comments.

``fixtures/<CODE>/**/*.py`` are linted with only ``<CODE>`` selected. A line ending in
``# error: AL101`` (several codes: ``# error: AL101, AL201``) must produce exactly those
diagnostics; every other line must be silent. ``<file>.fixed`` beside a fixture is the
expected result of ``--fix --unsafe-fixes``. A first-line comment such as
``# fixture: target-version=py311 fix-strategy=lazy entrypoints=app.jobs:process max-workers=8`` sets
options for that fixture.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from .config import Settings, parse_entrypoints
from .diagnostic import source_lines
from .engine import lint_source
from .fixer import fix_source
from .rule import SYNTAX_ERROR_CODE, registry

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MARKER = re.compile(r"#\s*error:\s*(?P<codes>AL\d{3}(?:[,\s]+AL\d{3})*)[ \t]*$", re.MULTILINE)
OPTIONS = re.compile(r"^#\s*fixture:\s*(?P<options>.*)$")


@dataclass(frozen=True)
class Fixture:
    code: str
    path: Path

    @property
    def id(self) -> str:
        return f"{self.code}/{self.path.relative_to(FIXTURES / self.code).as_posix()}"

    @property
    def source(self) -> bytes:
        return self.path.read_bytes()

    @property
    def fixed_path(self) -> Path:
        return self.path.with_name(self.path.name + ".fixed")

    def expected(self) -> list[tuple[int, str]]:
        found = []
        for row, line in enumerate(source_lines(self.source.decode("utf-8", "replace")), start=1):
            marker = MARKER.search(line)
            if marker:
                found += [(row, code) for code in re.split(r"[,\s]+", marker.group("codes"))]
        return sorted(found)

    def settings(self) -> Settings:
        # AL000 and AL001 are reported only for files some rule wants to parse: select every
        # rule for them.
        info = registry().get(self.code)
        engine_reported = info is not None and info.rule is not None and info.rule.reported_by_engine
        codes = frozenset(registry()) if engine_reported else frozenset({self.code, SYNTAX_ERROR_CODE})
        settings = Settings(codes=codes, project_root=str(FIXTURES / self.code))
        first = self.source.decode("utf-8", "replace").split("\n", 1)[0]
        header = OPTIONS.match(first)
        if header:
            for item in header.group("options").split():
                key, _, value = item.partition("=")
                if key == "target-version":
                    settings = replace(settings, target_version=value)
                elif key == "fix-strategy":
                    settings = replace(settings, fix_strategy=value)
                elif key == "entrypoints":
                    settings = replace(settings, entrypoints=parse_entrypoints(value.split(","), self.id))
                elif key == "max-workers":
                    settings = replace(settings, max_workers=int(value))
                elif key == "runtime-import":
                    settings = replace(settings, runtime_import=value)
                else:
                    raise ValueError(f"{self.id}: unknown fixture option {key!r}")
        return settings

    def lint(self, source: bytes | None = None) -> list[tuple[int, str]]:
        result = lint_source(self.source if source is None else source, str(self.path), self.settings())
        return sorted((d.location.row, d.code) for d in result.diagnostics)

    def fix(self, source: bytes | None = None) -> bytes:
        outcome = fix_source(self.source if source is None else source, str(self.path), self.settings(), unsafe=True)
        assert outcome.error is None, outcome.error
        return outcome.source

    def noqa_variant(self) -> bytes:
        """The fixture with every ``# error: X`` marker turned into ``# noqa: X``."""
        text = self.source.decode("utf-8")
        return MARKER.sub(lambda m: f"# noqa: {m.group('codes')}", text).encode("utf-8")


def fixtures(code: str | None = None) -> list[Fixture]:
    found = []
    for directory in sorted(FIXTURES.iterdir()) if FIXTURES.is_dir() else []:
        if directory.is_dir() and (code is None or directory.name == code):
            found += [Fixture(directory.name, p) for p in sorted(directory.rglob("*.py"))]
    return found


def regenerate(codes: list[str]) -> list[Path]:
    """Rewrite the ``.fixed`` file of every fixture (of ``codes``, or all) that has one, from
    what the fixer produces now; returns the files that changed. Review the diff before
    committing: the ``.fixed`` files are the specification of the fixes."""
    changed = []
    for fixture in [f for code in (codes or [None]) for f in fixtures(code)]:
        if not fixture.fixed_path.is_file():
            continue
        fixed = fixture.fix()
        if fixed != fixture.fixed_path.read_bytes():
            fixture.fixed_path.write_bytes(fixed)
            changed.append(fixture.fixed_path)
    return changed


if __name__ == "__main__":
    import sys

    for path in regenerate(sys.argv[1:]):
        print(path.relative_to(FIXTURES.parent))
