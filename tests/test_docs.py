"""Rule pages are generated from rule metadata; their examples behave as they claim."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from asyncloop_lint.config import Settings
from asyncloop_lint.docs import expected_pages
from asyncloop_lint.engine import lint_source
from asyncloop_lint.rule import SYNTAX_ERROR_CODE, registry

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"
RULES = [info.rule for info in registry().values()]


@pytest.mark.parametrize("name", sorted(expected_pages()))
def test_rule_pages_are_up_to_date(name):
    page = RULES_DIR / name
    assert page.exists(), f"missing {page}: run `python -m asyncloop_lint.docs`"
    assert page.read_text(encoding="utf-8") == expected_pages()[name], "run `python -m asyncloop_lint.docs`"


def test_readme_rule_table_is_up_to_date():
    from asyncloop_lint.docs import render_readme

    readme = (RULES_DIR.parent / "README.md").read_text(encoding="utf-8")
    assert render_readme(readme) == readme, "run `python -m asyncloop_lint.docs`"


def test_no_stale_pages():
    assert {p.name for p in RULES_DIR.glob("*.md")} == set(expected_pages())


def _codes(rule, source: str) -> set[str]:
    codes = frozenset(registry()) if rule.reported_by_engine else frozenset({rule.code, SYNTAX_ERROR_CODE})
    settings = Settings(codes=codes)
    result = lint_source(dedent(source).encode(), "example.py", settings)
    return {d.code for d in result.diagnostics}


@pytest.mark.parametrize("rule", RULES, ids=[r.code for r in RULES])
def test_example_triggers_and_use_instead_does_not(rule):
    if rule.reported_by_engine:
        assert _codes(rule, rule.example) == {rule.code}
    else:
        assert rule.code in _codes(rule, rule.example)
    assert _codes(rule, rule.use_instead) == set()


@pytest.mark.parametrize("rule", RULES, ids=[r.code for r in RULES])
def test_metadata_is_complete(rule):
    assert rule.code.startswith("AL") and len(rule.code) == 5
    assert rule.name == rule.name.lower() and " " not in rule.name
    for field in ("summary", "what", "why", "example", "use_instead", "fix_safety"):
        assert getattr(rule, field).strip(), f"{rule.code}: empty {field}"
    if not rule.reported_by_engine:
        assert rule.needles, f"{rule.code}: declare the byte pre-filter"
