"""Rule pages, rendered from each rule's own metadata (``rules/<CODE>.md`` and ``--explain``).

Regenerate the pages with ``python -m asyncloop_lint.docs``; a test fails when they drift.
"""

from __future__ import annotations

import sys
from pathlib import Path
from textwrap import dedent

from .rule import Rule, explain_fix, registry


def _block(text: str) -> str:
    return dedent(text).strip("\n")


def render_page(rule: type[Rule]) -> str:
    status = "default" if rule.default else "opt-in (enable with `--select` or `extend-select`)"
    parts = [
        f"# {rule.code} `{rule.name}`",
        "",
        f"Enabled: {status}. Fix: {explain_fix(rule.fix)}.",
        "",
        "## What it does",
        "",
        _block(rule.what),
        "",
        "## Why is this bad?",
        "",
        _block(rule.why),
        "",
        "## Example",
        "",
        "```python",
        _block(rule.example),
        "```",
        "",
        "## Use instead",
        "",
        "```python",
        _block(rule.use_instead),
        "```",
        "",
        "## Fix safety",
        "",
        _block(rule.fix_safety),
    ]
    if rule.options:
        parts += ["", "## Options", "", _block(rule.options)]
    if rule.references:
        parts += ["", "## References", ""] + [f"- <{url}>" for url in rule.references]
    return "\n".join(parts) + "\n"


def rules_table(link_prefix: str = "") -> str:
    lines = ["| Code | Name | Default | Fix | Summary |", "| --- | --- | --- | --- | --- |"]
    for code, info in registry().items():
        lines.append(
            f"| [{code}]({link_prefix}{code}.md) | `{info.name}` | {'yes' if info.default else 'no'} | {explain_fix(info.fix)} | {info.summary} |"
        )
    return "\n".join(lines) + "\n"


def render_index() -> str:
    header = "# Rules\n\nGenerated from the rules' own metadata by `python -m asyncloop_lint.docs`.\n\n"
    return header + rules_table()


README_START, README_END = "<!-- rules-table:start -->\n", "<!-- rules-table:end -->"


def render_readme(readme: str) -> str:
    """``readme`` with the rule table between its markers regenerated."""
    start = readme.index(README_START) + len(README_START)
    end = readme.index(README_END)
    return readme[:start] + rules_table("rules/") + readme[end:]


def expected_pages() -> dict[str, str]:
    pages = {"README.md": render_index()}
    for code, info in registry().items():
        assert info.rule is not None
        pages[f"{code}.md"] = render_page(info.rule)
    return pages


def write_pages(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in expected_pages().items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    for stale in directory.glob("AL*.md"):
        if stale.name not in expected_pages():
            stale.unlink()
            written.append(stale)
    readme = directory.parent / "README.md"
    if readme.exists():
        text = readme.read_text(encoding="utf-8")
        if render_readme(text) != text:
            readme.write_text(render_readme(text), encoding="utf-8")
            written.append(readme)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "rules"
    for path in write_pages(target):
        print(f"updated {path}")
