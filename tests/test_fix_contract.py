"""The fix contract, checked over every fixture with every rule selected: what
``--fix --unsafe-fixes`` writes is never reported by any rule that did not already report it
(a fix never introduces a hazard), and safe fixes alone never move code behind a guard in a
module that something imports."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from asyncloop_lint.engine import lint_source
from asyncloop_lint.fixer import fix_source
from asyncloop_lint.rule import SYNTAX_ERROR_CODE, registry
from asyncloop_lint.testing import fixtures

PARSEABLE = [f for f in fixtures() if f.code != SYNTAX_ERROR_CODE]
ALL_CODES = frozenset(registry())


def _codes(source: bytes, path: str, settings) -> Counter:
    return Counter(d.code for d in lint_source(source, path, settings).diagnostics)


@pytest.mark.parametrize("fixture", PARSEABLE, ids=[f.id for f in PARSEABLE])
def test_fixes_introduce_no_finding(fixture):
    settings = replace(fixture.settings(), codes=ALL_CODES)
    path = str(fixture.path)
    before = _codes(fixture.source, path, settings)
    outcome = fix_source(fixture.source, path, settings, unsafe=True)
    assert outcome.error is None, outcome.error
    introduced = _codes(outcome.source, path, settings) - before
    assert not introduced, f"the fixes introduced {dict(introduced)}"


def test_contract_test_sees_an_introduced_hazard(tmp_path):
    """The check above can fail: rewriting a Celery task base's loop lookup to
    ``asyncio.run()`` (what a careless fix would do) is reported as a loop per task."""
    settings = replace(PARSEABLE[0].settings(), codes=ALL_CODES, project_root=str(tmp_path))
    before = (
        b"import asyncio\nfrom celery import Task\n\n\nclass T(Task):\n"
        b"    def __call__(self, *args):\n"
        b"        return asyncio.get_event_loop().run_until_complete(self.go(*args))\n"
    )
    careless = before.replace(b"asyncio.get_event_loop().run_until_complete(", b"asyncio.run(")
    introduced = _codes(careless, str(tmp_path / "t.py"), settings) - _codes(before, str(tmp_path / "t.py"), settings)
    assert introduced == Counter({"AL201": 1})


def test_path_rebuild_equals_libcsts_transformer_on_every_fixture_fix(monkeypatch):
    """``fixer`` rebuilds only the replaced nodes and their ancestors; libcst's transformer
    (which rebuilds the whole module) must give the same code for every fixture's fixes."""
    import libcst as cst

    import asyncloop_lint.fixer as fixer
    from asyncloop_lint.testing import fixtures

    path_rebuild = fixer._replace_along_paths
    compared = []

    def both(module, replacements):
        ours = path_rebuild(module, replacements)

        class Replace(cst.CSTTransformer):
            def on_leave(self, original, updated):
                new = replacements.get(id(original))
                if new is None:
                    return updated
                return new(updated) if callable(new) else new

        assert ours is not None, "fell back to the transformer"
        assert ours.code == module.visit(Replace()).code
        compared.append(1)
        return ours

    monkeypatch.setattr(fixer, "_replace_along_paths", both)
    for fixture in fixtures():
        if fixture.fixed_path.exists():
            fixture.fix()
    assert len(compared) >= 30
