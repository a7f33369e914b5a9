"""Engine, suppression and fixer behaviour that fixtures cannot express."""

from __future__ import annotations

import io
from textwrap import dedent

import pytest

from asyncloop_lint import engine, fixer
from asyncloop_lint.config import Settings
from asyncloop_lint.diagnostic import SAFE
from asyncloop_lint.engine import lint_source
from asyncloop_lint.reporters import Run, github
from asyncloop_lint.rule import Fix, Rule, cst
from asyncloop_lint.suppression import noqa_codes

AL101 = Settings(codes=frozenset({"AL101", "AL000"}))


def codes_at(source: str, settings: Settings = AL101) -> list[tuple[int, str]]:
    result = lint_source(dedent(source).encode(), "mod.py", settings)
    return [(d.location.row, d.code) for d in result.diagnostics]


MULTILINE = '''\
import asyncio

async def f():
    return 1

VALUE = (  {comment}
    asyncio.run(f())
)
'''


def test_noqa_on_the_first_line_of_a_multiline_statement():
    assert codes_at(MULTILINE.format(comment="")) == [(7, "AL101")]
    assert codes_at(MULTILINE.format(comment="# noqa: AL101")) == []
    assert codes_at(MULTILINE.format(comment="# noqa")) == []
    assert codes_at(MULTILINE.format(comment="# noqa: AL103")) == [(7, "AL101")]


@pytest.mark.parametrize(
    "comment, expected",
    [
        ("# noqa", {"ALL"}),
        ("# noqa: AL101", {"AL101"}),
        ("# NOQA:AL101,AL201", {"AL101", "AL201"}),
        ("# noqa: AL101 AL201", {"AL101", "AL201"}),
        ("# something else", None),
    ],
)
def test_noqa_comment_forms(comment, expected):
    assert noqa_codes(f"x = 1  {comment}") == (frozenset(expected) if expected else None)


def test_file_exemption_must_be_its_own_line():
    source = "import asyncio\nasync def f(): pass\nX = asyncio.run(f())\n"
    assert codes_at("# asyncloop-lint: noqa\n" + source) == []
    assert codes_at("x = 1  # asyncloop-lint: noqa\n" + source) == [(4, "AL101")]


def test_github_annotation_omits_columns_for_multiline_ranges():
    source = "import asyncio\nasync def f(): pass\nX = asyncio.run(\n    f()\n)\n"
    result = lint_source(source.encode(), "mod.py", AL101)
    out = io.StringIO()
    github(Run(results=[result]), out)
    line = out.getvalue().splitlines()[0]
    assert "line=3,endLine=5::" in line and "col=" not in line and "endColumn=" not in line


class _BreaksCode(Rule):
    """Test double: a 'fix' whose result parses but does not compile (`await` at module level)."""

    code, name = "AL101", "test-breaks-code"
    summary = what = why = example = use_instead = "test"
    needles = ((b"asyncio",),)

    def visit_Call(self, node, ctx):  # type: ignore[no-untyped-def]
        if ctx.has_name(node.func, {"asyncio.run"}):
            fix = Fix("break it", SAFE, {node: cst.Await(expression=cst.Name("x"))})
            ctx.report(self, node, "test", fix)


class _NeverConverges(Rule):
    """Test double: a fix that always changes the number it finds."""

    code, name = "AL101", "test-never-converges"
    summary = what = why = example = use_instead = "test"
    needles = ((b"asyncio",),)

    def visit_Integer(self, node, ctx):  # type: ignore[no-untyped-def]
        ctx.report(self, node, "test", Fix("bump", SAFE, {node: cst.Integer(str(int(node.value) + 1))}))


@pytest.fixture
def only(monkeypatch):
    def install(rule: type[Rule]) -> None:
        monkeypatch.setattr(engine, "selected_rules", lambda codes, source: [rule])

    return install


def test_fix_that_would_not_compile_leaves_the_file_untouched(only):
    only(_BreaksCode)
    source = b"import asyncio\n\nasync def f():\n    pass\n\nasyncio.run(f())\n"
    outcome = fixer.fix_source(source, "mod.py", AL101, unsafe=True)
    assert outcome.source == source and outcome.fixed_count == 0
    assert "would produce invalid code" in outcome.error


def test_fix_that_never_converges_leaves_the_file_untouched(only):
    only(_NeverConverges)
    source = b"import asyncio\nX = 1\n"
    outcome = fixer.fix_source(source, "mod.py", AL101, unsafe=True)
    assert outcome.source == source and "did not converge" in outcome.error


def test_fix_path_parses_once_per_pass_and_does_not_lint_again(monkeypatch):
    """One fix applied: pass 1 parses and lints; its fixed tree (parsed once, to check it) is
    pass 2's tree, and pass 2's analysis is the file's result: two parses, two analyses."""
    from asyncloop_lint import engine, runner
    from asyncloop_lint.config import Settings

    counts = {"parse": 0, "analyze": 0}
    real_parse, real_analyze = engine.parse, engine.analyze

    def parse(source):
        counts["parse"] += 1
        return real_parse(source)

    def analyze(*args, **kwargs):
        counts["analyze"] += 1
        return real_analyze(*args, **kwargs)

    monkeypatch.setattr(engine, "parse", parse)
    monkeypatch.setattr(engine, "analyze", analyze)
    source = (
        b"import asyncio\n\n\nasync def main():\n    loop = asyncio.get_event_loop()\n    return loop\n\n\n"
        b"def sync_lookup():\n    return asyncio.get_event_loop()  # not AL103: keeps the file a candidate\n"
    )
    settings = Settings(codes=frozenset({"AL103"}))
    options = runner.Options(mode=runner.FIX)
    result = runner.process(runner.Job("app.py", "app.py", source), settings, options)
    assert result.fixed_count == 1 and b"get_running_loop" in result.fixed_source
    assert result.diagnostics == ()
    assert counts == {"parse": 2, "analyze": 2}


def test_deeply_nested_module_is_linted(tmp_path):
    """A generated module nesting thousands deep (one level per line of a concatenated string
    literal) is analysed, not an internal error: the binding pass walks without recursion and
    libcst's walk gets a higher recursion limit (3.11+)."""
    import subprocess
    import sys

    lines = "".join(f"    'line {i}\\n'\n" for i in range(1500))
    source = f"import asyncio\n\nasync def main():\n    asyncio.get_event_loop()\n\nTEXT = (\n{lines})\n"
    (tmp_path / "generated.py").write_text(source)
    proc = subprocess.run(
        [sys.executable, "-m", "asyncloop_lint", "--isolated", "--no-cache", "--output-format", "concise",
         str(tmp_path / "generated.py")],
        capture_output=True, text=True, timeout=300,
    )
    if sys.version_info >= (3, 11):
        assert proc.returncode == 1 and "AL103" in proc.stdout, proc.stdout + proc.stderr
    else:
        assert proc.returncode == 0 and "nested too deeply" in proc.stderr, proc.stdout + proc.stderr
    assert "internal error" not in proc.stdout + proc.stderr
