"""AL000 syntax-error: reported by the engine when a file does not parse."""

from __future__ import annotations

from ..rule import SYNTAX_ERROR_CODE, SYNTAX_ERROR_NAME, Rule


class SyntaxErrorRule(Rule):
    code = SYNTAX_ERROR_CODE
    name = SYNTAX_ERROR_NAME
    summary = "The file does not parse"
    reported_by_engine = True
    what = """
Reports a file that libcst cannot parse (or decode), with the line, the column and the
parser's reason. The run goes on with the other files.

Only files that pass some selected rule's pre-filter are parsed, so a syntax error in a file
that cannot contain any finding (say, one that never mentions asyncio) is not reported:
leave that to your compiler, formatter or general-purpose linter.
"""
    why = """
A file that does not parse cannot be checked: hazards in it go unseen until it is fixed.
"""
    example = """
import asyncio

async def main(:
    await asyncio.sleep(1)

if __name__ == "__main__":
    asyncio.run(main())
"""
    use_instead = """
import asyncio

async def main():
    await asyncio.sleep(1)

if __name__ == "__main__":
    asyncio.run(main())
"""
