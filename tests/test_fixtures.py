"""Derived from every fixture: diagnostics, noqa, fixes, idempotence, compile, round-trip."""

from __future__ import annotations

import libcst as cst
import pytest

from asyncloop_lint.budget import on_deep_stack
from asyncloop_lint.rule import SYNTAX_ERROR_CODE, registry
from asyncloop_lint.testing import FIXTURES, fixtures

ALL = fixtures()
PARSEABLE = [f for f in ALL if f.code != SYNTAX_ERROR_CODE]


def ids(items):
    return [f.id for f in items]


@pytest.mark.parametrize("fixture", ALL, ids=ids(ALL))
def test_diagnostics_match_markers(fixture):
    assert fixture.lint() == fixture.expected()


@pytest.mark.parametrize("fixture", PARSEABLE, ids=ids(PARSEABLE))
def test_noqa_variant_is_silent(fixture):
    assert fixture.lint(fixture.noqa_variant()) == []


@pytest.mark.parametrize("fixture", PARSEABLE, ids=ids(PARSEABLE))
def test_fix_gives_expected_output(fixture):
    fixed = fixture.fix()
    if fixture.fixed_path.exists():
        assert fixed.decode() == fixture.fixed_path.read_text(encoding="utf-8")
    else:
        assert fixed == fixture.source, f"fixes apply: add {fixture.fixed_path.name}"


@pytest.mark.parametrize("fixture", PARSEABLE, ids=ids(PARSEABLE))
def test_fix_is_idempotent_and_compiles(fixture):
    fixed = fixture.fix()
    assert fixture.fix(fixed) == fixed
    compile(fixture.source, str(fixture.path), "exec")
    compile(fixed, str(fixture.fixed_path), "exec")


@pytest.mark.parametrize("fixture", ALL, ids=ids(ALL))
def test_libcst_round_trips(fixture):
    if fixture.code == SYNTAX_ERROR_CODE:
        pytest.skip("does not parse by design")
    # On a deep stack, as the linter parses deep files (fixtures/AL001 nests 1,000 deep).
    assert on_deep_stack(lambda: cst.parse_module(fixture.source).bytes) == fixture.source


@pytest.mark.parametrize("code", list(registry()))
def test_every_rule_has_positive_and_negative_fixtures(code):
    mine = fixtures(code)
    assert mine, f"no fixtures in {FIXTURES / code}"
    assert any(f.expected() for f in mine), f"{code}: no positive fixture"
    if code != SYNTAX_ERROR_CODE:
        assert any(not f.expected() for f in mine), f"{code}: no fixture file without findings (look-alike negatives)"


def test_fixed_files_belong_to_fixtures():
    for fixed in FIXTURES.rglob("*.fixed"):
        assert fixed.with_name(fixed.name[: -len(".fixed")]).exists(), fixed
