"""``# noqa`` comments: per line, per statement, and the file-level exemption."""

from __future__ import annotations

import re
from dataclasses import dataclass

_NOQA = re.compile(
    r"#\s*noqa(?::[\s]?(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.IGNORECASE
)
FILE_EXEMPTION = re.compile(rb"^[ \t]*#[ \t]*asyncloop-lint:[ \t]*noqa[ \t]*$", re.MULTILINE)
ALL = "ALL"
_CODE = re.compile(r"[A-Z]+[0-9]+", re.IGNORECASE)


@dataclass(frozen=True)
class NoqaComment:
    """Where a ``noqa`` comment sits on a line (offsets in characters, end exclusive)."""

    start: int
    end: int  # after the last code, or after ``noqa`` when it names none
    codes: tuple[tuple[str, int, int], ...]  # (CODE, start, end) of each code it names


def find_noqa(line: str) -> NoqaComment | None:
    """The ``noqa`` comment on ``line`` as :func:`noqa_codes` reads it, with positions."""
    found = _NOQA.search(line)
    if found is None:
        return None
    codes = ()
    if found.group("codes"):
        offset = found.start("codes")
        codes = tuple(
            (code.group().upper(), offset + code.start(), offset + code.end())
            for code in _CODE.finditer(found.group("codes"))
        )
    return NoqaComment(found.start(), found.end(), codes)


def noqa_codes(line: str) -> frozenset[str] | None:
    """Codes a ``noqa`` comment on ``line`` suppresses (``{"ALL"}`` for a bare one), or None."""
    found = _NOQA.search(line)
    if found is None:
        return None
    codes = found.group("codes")
    if not codes:
        return frozenset({ALL})
    return frozenset(code.upper() for code in re.split(r"[,\s]+", codes) if code)


def is_suppressed(code: str, rows: tuple[int, ...], lines: list[str]) -> bool:
    """Whether a ``noqa`` on any of ``rows`` (1-based) suppresses ``code``."""
    for row in rows:
        if 0 < row <= len(lines) and "noqa" in lines[row - 1].lower():
            codes = noqa_codes(lines[row - 1])
            if codes is not None and (ALL in codes or code in codes):
                return True
    return False


def file_is_exempt(source: bytes) -> bool:
    return b"asyncloop-lint" in source and FILE_EXEMPTION.search(source) is not None
