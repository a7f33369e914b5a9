"""``# noqa`` comments: per line, per statement, and the file-level exemption."""

from __future__ import annotations

import re

_NOQA = re.compile(
    r"#\s*noqa(?::[\s]?(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.IGNORECASE
)
FILE_EXEMPTION = re.compile(rb"^[ \t]*#[ \t]*asyncloop-lint:[ \t]*noqa[ \t]*$", re.MULTILINE)
ALL = "ALL"


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
