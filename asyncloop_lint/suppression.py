"""``# noqa`` comments: per line, per statement, and the file-level exemption.

A ``noqa`` that names a peer linter's code for the same hazard also silences ours there, so
a finding already suppressed for ruff or flake8-async need not be suppressed twice
(:data:`PEER_ALIASES`, documented in the README):

- ``RUF006`` (ruff, asyncio-dangling-task) and ``ASYNC300`` (flake8-async,
  create-task-no-reference) silence ``AL401``;
- ``ASYNC103`` and ``ASYNC104`` (flake8-async, cancellation not re-raised) silence ``AL403``;
- ``ASYNC200`` to ``ASYNC299`` (ruff and flake8-async, blocking calls in async functions)
  silence ``AL504``.

No other code of ours is silenced by a peer code.
"""

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

# Peer codes (ruff, flake8-async) -> the codes of ours that a `noqa` naming them silences.
PEER_ALIASES: dict[str, frozenset[str]] = {
    "RUF006": frozenset({"AL401"}),
    "ASYNC300": frozenset({"AL401"}),
    "ASYNC103": frozenset({"AL403"}),
    "ASYNC104": frozenset({"AL403"}),
}
_BLOCKING_PEERS = re.compile(r"ASYNC2[0-9][0-9]")  # ASYNC200-ASYNC299: blocking calls


def peer_aliases(code: str) -> frozenset[str]:
    """Our codes that the peer linter code ``code`` stands for in a ``noqa`` (often none)."""
    found = PEER_ALIASES.get(code)
    if found is not None:
        return found
    if _BLOCKING_PEERS.fullmatch(code):
        return frozenset({"AL504"})
    return frozenset()


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
            if codes is not None and (ALL in codes or code in codes or any(code in peer_aliases(c) for c in codes)):
                return True
    return False


def file_is_exempt(source: bytes) -> bool:
    return b"asyncloop-lint" in source and FILE_EXEMPTION.search(source) is not None
