"""Rows as Python counts them: only \\n, \\r\\n and \\r end a line.

``str.splitlines`` also breaks on form feeds, \\x0b, \\x1c-\\x1e, \\x85, U+2028 and U+2029; a file
holding one of them in a comment or a string must not shift ``noqa``, snippets or fix edits.
"""

from __future__ import annotations

import json

import pytest

from asyncloop_lint.diagnostic import source_lines

from test_cli import cli

ODD = ["\x0c", "\x0b", "\x1c", "\x85", "\u2028", "\u2029"]


def program(odd: str, noqa: str = "") -> str:
    return (
        "import asyncio\n"
        f"# a comment holding {odd} there\n"
        f"\x0c\n"  # a form feed line, as some editors write between sections
        f"BANNER = 'text {odd} more'\n"
        "\n"
        "async def load():\n"
        "    return 1\n"
        "\n"
        f"VALUE = asyncio.run(load()){noqa}\n"
    )


@pytest.mark.parametrize("odd", ODD, ids=[f"U+{ord(c):04X}" for c in ODD])
def test_rows_noqa_and_snippets_ignore_non_python_line_breaks(tmp_path, odd):
    source = program(odd)
    assert source_lines(source)[8] == "VALUE = asyncio.run(load())"
    (tmp_path / "app.py").write_text(source, encoding="utf-8")
    run = cli("--isolated", "--no-cache", "--output-format", "json", "app.py", cwd=tmp_path)
    found = json.loads(run.stdout)
    assert [(d["code"], d["location"]["row"]) for d in found] == [("AL101", 9)]
    full = cli("--isolated", "--no-cache", "app.py", cwd=tmp_path)
    assert "9 | VALUE = asyncio.run(load())" in full.stdout.decode().replace("  ", " ")

    (tmp_path / "app.py").write_text(program(odd, "  # noqa: AL101"), encoding="utf-8")
    quiet = cli("--isolated", "--no-cache", "app.py", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr


@pytest.mark.parametrize("odd", ["\x0c", "\u2028"], ids=["FF", "U+2028"])
def test_fix_edits_and_fixed_file_keep_the_odd_characters(tmp_path, odd):
    (tmp_path / "app.py").write_text(program(odd), encoding="utf-8")
    run = cli("--isolated", "--no-cache", "--output-format", "json", "--unsafe-fixes", "app.py", cwd=tmp_path)
    (finding,) = json.loads(run.stdout)
    rows = {edit["location"]["row"] for edit in finding["fix"]["edits"]}
    assert 9 in rows and not rows & {2, 3, 4}, finding["fix"]["edits"]
    cli("--isolated", "--no-cache", "--fix", "--unsafe-fixes", "app.py", cwd=tmp_path)
    fixed = (tmp_path / "app.py").read_text(encoding="utf-8")
    assert f"holding {odd} there" in fixed and f"'text {odd} more'" in fixed
    assert "asyncio.run(load())" not in fixed
    compile(fixed, "app.py", "exec")


def test_source_lines_matches_the_tokenizer():
    assert source_lines("a\r\nb\rc\nd") == ["a", "b", "c", "d"]
    assert source_lines("a\x0cb\u2028c\n") == ["a\x0cb\u2028c"]
    assert source_lines("a\n\n", keepends=True) == ["a\n", "\n"]
    assert source_lines("") == []
