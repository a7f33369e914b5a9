"""AL001 not-analysed: reported by the engine and the runner when a file was not analysed."""

from __future__ import annotations

from ..rule import NOT_ANALYSED_CODE, NOT_ANALYSED_NAME, Rule


class NotAnalysedRule(Rule):
    code = NOT_ANALYSED_CODE
    name = NOT_ANALYSED_NAME
    summary = "The file was not analysed: over a budget, beyond the parser, or it crashed"
    reported_by_engine = True
    what = """
Reports a file that was not analysed, and why, instead of passing it over in silence or
taking the run down with it. The run goes on with the other files, and `--fix` still fixes
them. The reasons:

- **size**: the file is over the size budget (10 MiB). It is not read at all, so it is
  reported whatever it contains.
- **nesting**: CPython's tree of the file is nested deeper than the nesting budget (1,000
  levels), or CPython itself refuses the nesting (more than 200 nested brackets, or its
  parser's own limits). libcst, the parser this linter uses, recurses once per level in
  native code and slows down with the square of the depth; deeper files can crash it.
- **the parser**: CPython parses the file but libcst does not (for instance 5,000 implicitly
  concatenated strings, or syntax newer than libcst). The file is valid Python, so this is not
  reported as `AL000`.
- **resources**: the analysis ran out of memory (the budget is 4 GiB per worker process),
  recursed deeper than this Python can go, or the worker process analysing the file died (a
  crash in native code); a file whose worker dies is retried once in a new worker.

Like `AL000`, it is reported only for files that some selected rule wants to parse (except
for the size budget, checked before the file is read), and it is selected unless ignored.
When it is ignored (`--ignore AL001`, `per-file-ignores`), a file that was not analysed is
still named on standard error and counted in the summary; only the exit code changes.

The budgets are set with environment variables: `ASYNCLOOP_LINT_MAX_FILE_SIZE` (bytes, or a
size such as `20M`), `ASYNCLOOP_LINT_MAX_NESTING` (levels) and `ASYNCLOOP_LINT_MEMORY_BUDGET`
(a size, per worker process).
"""
    why = """
A file that was not analysed may hide every hazard the rules look for. Saying so, with the
reason, is the difference between "no findings" and "not looked at".
"""
    example = """
import asyncio

# Generated: 201 nested brackets, one more than CPython accepts.
TABLE = (
    [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
    [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
    [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
    [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
    [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
    ]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
    ]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
    ]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
    ]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
    ]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
)

if __name__ == "__main__":
    asyncio.run(main())
"""
    use_instead = """
import asyncio

# Generated flat, or loaded from a data file at run time.
TABLE = [[]]

if __name__ == "__main__":
    asyncio.run(main())
"""
    fix_safety = """
No automatic fix. Generated code that trips a budget is best generated flatter (or excluded
with `exclude` when there is nothing to check in it); raise a budget with the environment
variables above when the file is worth the time and memory.
"""
