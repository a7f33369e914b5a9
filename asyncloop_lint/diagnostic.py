"""Plain values that cross process and module boundaries: diagnostics, fixes, file results.

Everything here is picklable and free of libcst objects, so worker processes can return it
and the cache can store it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# A line as Python's tokenizer counts them (and libcst's positions): ended by \r\n, \r or \n
# only. ``str.splitlines`` also splits on form feeds, \x0b, \x1c-\x1e, \x85, U+2028 and
# U+2029, which would shift every later row for ``noqa``, snippets and edits.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_ENDING = re.compile(r"(?:\r\n|\r|\n)\Z")


def source_lines(text: str, keepends: bool = False) -> list[str]:
    """``text`` split into lines the way Python numbers them."""
    lines = _LINE.findall(text)
    return lines if keepends else [_ENDING.sub("", line) for line in lines]

SAFE = "safe"
UNSAFE = "unsafe"


@dataclass(frozen=True)
class Location:
    row: int  # 1-based
    column: int  # 1-based, in characters


@dataclass(frozen=True)
class Edit:
    content: str
    location: Location
    end_location: Location


@dataclass(frozen=True)
class FixInfo:
    applicability: str  # SAFE or UNSAFE
    message: str
    edits: tuple[Edit, ...] | None = None  # computed only when a reporter needs them


@dataclass(frozen=True)
class Diagnostic:
    code: str
    name: str
    message: str
    filename: str
    location: Location
    end_location: Location
    fix: FixInfo | None = None
    noqa_row: int | None = None

    @property
    def url(self) -> str:
        from .rule import rule_url

        return rule_url(self.code)

    @property
    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.filename, self.location.row, self.location.column, self.code)


@dataclass(frozen=True)
class FileResult:
    """What linting (and possibly fixing) one file produced."""

    filename: str
    diagnostics: tuple[Diagnostic, ...] = ()
    fixed_source: bytes | None = None  # set when fixing changed the file
    fixed_count: int = 0
    lines: tuple[str, ...] = field(default=(), compare=False)  # source lines, for reporters
    error: str | None = None  # the file could not be read or linted (exit code 2)
    warning: str | None = None  # e.g. a fix left out because it would not parse
    # Other files the findings were derived from (the project index): (path, size, mtime_ns);
    # a path of "*" means the whole project (not cacheable).
    depends: tuple[tuple[str, int, int], ...] = field(default=(), compare=False)
    runtime_module: str | None = None  # the fixes added an import of the runtime module ...
    runtime_file: str | None = None  # ... vendored in this project file (None: installed)
    # Why the file was not analysed (over a budget, beyond the parser, crashed its worker):
    # counted in the summary whether or not its AL001 diagnostic is shown. Never cached.
    not_analysed: str | None = None
