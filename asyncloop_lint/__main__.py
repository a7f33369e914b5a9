"""``python -m asyncloop_lint``: the same as the ``asyncloop-lint`` command.

``-m`` puts the working folder first on ``sys.path``, so a linted tree's own ``click.py`` or
``tomllib.py`` would be imported instead of the real ones (and run). That entry goes before
anything else is imported, unless this package itself was found there (a source checkout).
A tree's own ``asyncloop_lint/`` package is imported before this file runs, which no code here
can prevent: use the console script, or ``python -P -m asyncloop_lint`` (Python 3.11+).
"""

import os
import sys


def _drop_working_folder() -> None:
    if getattr(sys.flags, "safe_path", False) or not sys.path:
        return
    first = sys.path[0]
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        is_cwd = first in ("", ".") or os.path.samefile(first, os.getcwd())
        holds_this_package = os.path.samefile(first or ".", here)
    except OSError:
        return
    if is_cwd and not holds_this_package:
        del sys.path[0]


_drop_working_folder()

from .replay import main  # noqa: E402 - after the sys.path repair above

if __name__ == "__main__":
    main()
