"""Where fixes put the imports they add, and what removing one leaves behind.

Paired tables, input -> expected, on real libcst modules. Files live in a temporary project
(``helpers.py`` beside them is first party, as isort would find it in its ``src_paths``).
"""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import libcst as cst
import textwrap

import pytest

from asyncloop_lint.imports import add_imports, remove_imports
from asyncloop_lint.rule import ImportRequest

ASYNCIO = ImportRequest("asyncio")
RELATIVE_RUNTIME = ImportRequest(".", "asyncloop_runtime", "runtime")
TOP_RUNTIME = ImportRequest("asyncloop_runtime", None, "runtime")
MANGUM = ImportRequest("mangum", "Mangum")


def _src(text: str) -> str:
    return dedent(text).lstrip("\n")


ADD_CASES = [
    pytest.param("X = 1\n", [ASYNCIO], "import asyncio\n\nX = 1\n", id="no-imports"),
    pytest.param(
        '"""Doc."""\n\n\ndef f():\n    pass\n',
        [ASYNCIO],
        '"""Doc."""\n\nimport asyncio\n\n\ndef f():\n    pass\n',
        id="no-imports-after-docstring-two-lines-before-def",
    ),
    pytest.param('"""Doc."""\n', [ASYNCIO], '"""Doc."""\n\nimport asyncio\n', id="only-a-docstring"),
    pytest.param(
        '"""Doc."""\nfrom __future__ import annotations\n\nX = 1\n',
        [ASYNCIO],
        '"""Doc."""\nfrom __future__ import annotations\n\nimport asyncio\n\nX = 1\n',
        id="after-future",
    ),
    pytest.param(
        _src('''
            """Doc."""
            from __future__ import annotations

            import os

            X = 1
        '''),
        [ASYNCIO],
        _src('''
            """Doc."""
            from __future__ import annotations

            import asyncio
            import os

            X = 1
        '''),
        id="sorted-into-stdlib",
    ),
    pytest.param(
        "import os\n\nfrom mangum import Mangum\n\nfrom .settings import Settings\n\nX = 1\n",
        [RELATIVE_RUNTIME],
        "import os\n\nfrom mangum import Mangum\n\nfrom . import asyncloop_runtime as runtime\nfrom .settings import Settings\n\nX = 1\n",
        id="relative-group-not-after-it",
    ),
    pytest.param(
        "import os\n\nfrom mangum import Mangum\n\nX = 1\n",
        [RELATIVE_RUNTIME],
        "import os\n\nfrom mangum import Mangum\n\nfrom . import asyncloop_runtime as runtime\n\nX = 1\n",
        id="new-relative-group-last",
    ),
    pytest.param(
        "import os\n\nfrom mangum import Mangum\n\nfrom .settings import Settings\n\nX = 1\n",
        [TOP_RUNTIME],
        "import os\n\nfrom mangum import Mangum\n\nimport asyncloop_runtime as runtime\n\nfrom .settings import Settings\n\nX = 1\n",
        id="first-party-between-third-party-and-relative",
    ),
    pytest.param(
        "import os\n\nimport helpers\n\nX = 1\n",
        [MANGUM],
        "import os\n\nfrom mangum import Mangum\n\nimport helpers\n\nX = 1\n",
        id="new-third-party-group-before-first-party",
    ),
    pytest.param(
        '"""Doc."""\n\n# The web framework.\nfrom mangum import Mangum\n\nX = 1\n',
        [ASYNCIO],
        '"""Doc."""\n\nimport asyncio\n\n# The web framework.\nfrom mangum import Mangum\n\nX = 1\n',
        id="comment-stays-with-what-it-describes",
    ),
    pytest.param(
        "import os\nimport sys\n\nfrom mangum import Mangum\n",
        [ASYNCIO, ImportRequest("json")],
        "import asyncio\nimport json\nimport os\nimport sys\n\nfrom mangum import Mangum\n",
        id="two-in-order",
    ),
    pytest.param(
        "from os import path\n",
        [ImportRequest("json")],
        "import json\nfrom os import path\n",
        id="plain-import-before-from-import",
    ),
    pytest.param(
        "from asyncio import get_event_loop\n",
        [ImportRequest("asyncio", "get_running_loop")],
        "from asyncio import get_event_loop, get_running_loop\n",
        id="joins-from-import",
    ),
    pytest.param(
        "from asyncio import (\n    Queue,\n    sleep,\n)\n",
        [ImportRequest("asyncio", "gather")],
        "from asyncio import (\n    Queue,\n    gather,\n    sleep,\n)\n",
        id="joins-parenthesized-from-import",
    ),
    pytest.param("import asyncio\n", [ASYNCIO], "import asyncio\n", id="already-there"),
    pytest.param("import os; import asyncio\n", [ASYNCIO], "import os; import asyncio\n", id="already-there-on-a-shared-line"),
    pytest.param(
        "import os; import sys\n\nimport helpers\n",
        [TOP_RUNTIME],
        "import os; import sys\n\nimport asyncloop_runtime as runtime\nimport helpers\n",
        id="line-of-several-imports-is-part-of-the-block",
    ),
    pytest.param(
        _src('''
            from typing import TYPE_CHECKING

            if TYPE_CHECKING:
                import asyncio

            X = 1
        '''),
        [ASYNCIO],
        _src('''
            import asyncio
            from typing import TYPE_CHECKING

            if TYPE_CHECKING:
                import asyncio

            X = 1
        '''),
        id="type-checking-import-binds-nothing-at-run-time",
    ),
    pytest.param(
        _src('''
            from typing import TYPE_CHECKING

            if TYPE_CHECKING:
                from mangum import Mangum

            X = 1
        '''),
        [RELATIVE_RUNTIME],
        _src('''
            from typing import TYPE_CHECKING

            from . import asyncloop_runtime as runtime

            if TYPE_CHECKING:
                from mangum import Mangum

            X = 1
        '''),
        id="never-inside-type-checking",
    ),
    pytest.param(
        _src('''
            import os
            import sys

            sys.path.insert(0, os.path.dirname(__file__))

            import helpers

            X = 1
        '''),
        [ASYNCIO, TOP_RUNTIME],
        _src('''
            import asyncio
            import os
            import sys

            sys.path.insert(0, os.path.dirname(__file__))

            import asyncloop_runtime as runtime
            import helpers

            X = 1
        '''),
        id="sys-path-tweak-stdlib-before-first-party-after",
    ),
    pytest.param(
        _src('''
            import sys

            sys.path.insert(0, "lib")
            runtime.configure()
            import helpers
        '''),
        [TOP_RUNTIME],
        _src('''
            import sys

            import asyncloop_runtime as runtime

            sys.path.insert(0, "lib")
            runtime.configure()
            import helpers
        '''),
        id="never-after-a-use-of-the-name",
    ),
    pytest.param(
        "try:\n    import ujson as json\nexcept ImportError:\n    import json\n\nX = 1\n",
        [ASYNCIO],
        "import asyncio\n\ntry:\n    import ujson as json\nexcept ImportError:\n    import json\n\nX = 1\n",
        id="only-a-try-import",
    ),
]


@pytest.mark.parametrize("source, requests, expected", ADD_CASES)
def test_added_imports_go_where_isort_puts_them(tmp_path: Path, source: str, requests, expected: str) -> None:
    (tmp_path / "helpers.py").write_text("")
    path = tmp_path / "app.py"
    module = cst.parse_module(source)
    result = add_imports(module, requests, str(path)).code
    assert result == expected
    compile(result, str(path), "exec")


REMOVE_CASES = [
    pytest.param(
        '"""Doc."""\n\nimport asyncio\n\nfrom mangum import Mangum\n\nX = Mangum\n',
        '"""Doc."""\n\nfrom mangum import Mangum\n\nX = Mangum\n',
        id="docstring-keeps-its-blank-line",
    ),
    pytest.param(
        '"""Doc."""\n\nimport asyncio\n\n\ndef f():\n    pass\n',
        '"""Doc."""\n\n\ndef f():\n    pass\n',
        id="larger-blank-run-kept",
    ),
    pytest.param(
        "import os\n\n# The event loop.\nimport asyncio\n\nX = os.sep\n",
        "import os\n\n# The event loop.\n\nX = os.sep\n",
        id="comment-is-not-deleted",
    ),
    pytest.param(
        "import asyncio\n\n\ndef f():\n    pass\n",
        "def f():\n    pass\n",
        id="first-line-no-blank-top",
    ),
    pytest.param(
        "import asyncio\nimport os\n\nX = os.sep\n",
        "import os\n\nX = os.sep\n",
        id="within-a-block",
    ),
    pytest.param(
        "import asyncio\n\nX = asyncio.run\n",
        "import asyncio\n\nX = asyncio.run\n",
        id="still-used-is-kept",
    ),
]


@pytest.mark.parametrize("source, expected", REMOVE_CASES)
def test_removed_imports_keep_the_layout(source: str, expected: str) -> None:
    module = cst.parse_module(source)
    assert remove_imports(module, [ASYNCIO]).code == expected


def test_fix_places_runtime_import_in_a_package_file(tmp_path: Path) -> None:
    """Through the real fixer: a module of a package gets the relative runtime import in the
    relative group, and dropping ``import asyncio`` keeps the docstring's blank line."""
    from asyncloop_lint.config import Settings
    from asyncloop_lint.fixer import fix_source

    package = tmp_path / "src" / "shop"
    (package / "api").mkdir(parents=True)
    for folder in (package, package / "api"):
        (folder / "__init__.py").write_text("")
    source = _src('''
        """Prompts for the shop's API."""

        import asyncio

        from mangum import Mangum

        from ..settings import Settings


        async def fetch_prompt() -> str:
            return "p"


        PROMPT = asyncio.run(fetch_prompt())
    ''')
    outcome = fix_source(source.encode(), str(package / "api" / "app.py"),
                         Settings(codes=frozenset({"AL101"}), project_root=str(tmp_path)), unsafe=True)
    assert outcome.error is None
    assert outcome.source.decode() == _src('''
        """Prompts for the shop's API."""

        from mangum import Mangum

        from .. import asyncloop_runtime as runtime
        from ..settings import Settings


        async def fetch_prompt() -> str:
            return "p"


        PROMPT = runtime.run(fetch_prompt())
    ''')
    assert outcome.runtime_module == "..asyncloop_runtime"
    assert outcome.runtime_file == str(package / "asyncloop_runtime.py")


# ---- the line-local remover agrees with libcst's whole-module remover -------------------------

_IMPORT_FORMS = [
    ("import asyncio", ImportRequest("asyncio")),
    ("import asyncio as aio", ImportRequest("asyncio", None, "aio")),
    ("import os, asyncio", ImportRequest("asyncio")),
    ("import asyncio, os  # two", ImportRequest("asyncio")),
    ("from asyncio import create_task", ImportRequest("asyncio", "create_task")),
    ("from asyncio import create_task as ct", ImportRequest("asyncio", "create_task", "ct")),
    ("from asyncio import sleep, create_task", ImportRequest("asyncio", "create_task")),
    ("from asyncio import create_task, sleep", ImportRequest("asyncio", "create_task")),
    ("from asyncio import (\n    create_task,  # spawns\n    sleep,\n)", ImportRequest("asyncio", "create_task")),
    ("from asyncio import (\n    sleep,\n    create_task,  # spawns\n)", ImportRequest("asyncio", "create_task")),
    ("from asyncio import (create_task)", ImportRequest("asyncio", "create_task")),
    ("import os; from asyncio import create_task", ImportRequest("asyncio", "create_task")),
]
_USES = ["", "X = sleep, os\n", "X = asyncio, aio, create_task, ct\n"]
_PLACES = ["module", "function", "function-only", "if", "try", "class", "after-comment"]


def _program(form: str, use: str, place: str) -> str:
    head = "import os\nfrom asyncio import sleep\n\n"
    if place == "module":
        return f"{head}{form}\n\n{use}"
    if place == "after-comment":
        return f"{head}# Loops.\n\n{form}\n# after\nY = 1\n{use}"
    indented = textwrap.indent(form, "    ")
    if place == "function":
        return f"{head}def f():\n    # local import\n{indented}\n    return 1\n\n{use}"
    if place == "function-only":
        return f"{head}def f():\n{indented}\n\n{use}"
    if place == "if":
        return f"{head}if os.sep:\n{indented}\nelse:\n    pass\n{use}"
    if place == "try":
        return f"{head}try:\n{indented}\nexcept ImportError:\n    pass\n{use}"
    return f"{head}class K:\n    '''Doc.'''\n\n{indented}\n\n{use}"


@pytest.mark.parametrize("place", _PLACES)
@pytest.mark.parametrize("use", _USES, ids=["unused", "others-used", "used"])
@pytest.mark.parametrize("form, request_", _IMPORT_FORMS, ids=[f for f, _ in _IMPORT_FORMS])
def test_line_local_removal_matches_libcsts_remover(form, request_, use, place):
    from asyncloop_lint.imports import remove_imports_whole

    source = _program(form, use, place)
    ours = remove_imports(cst.parse_module(source), [request_]).code
    theirs = remove_imports_whole(cst.parse_module(source), [request_]).code
    assert ours == theirs
    compile(ours, "<fixed>", "exec")


def test_exported_names_and_two_lines_in_a_row():
    from asyncloop_lint.imports import remove_imports_whole

    source = (
        "import os\n\n# first\nfrom asyncio import create_task\n# second\n\nimport asyncio\n\n"
        "from asyncio import sleep\n__all__ = ['sleep']\nX = os\n"
    )
    requests = [ImportRequest("asyncio", "create_task"), ImportRequest("asyncio"), ImportRequest("asyncio", "sleep")]
    ours = remove_imports(cst.parse_module(source), requests).code
    assert ours == remove_imports_whole(cst.parse_module(source), requests).code
    assert "from asyncio import sleep" in ours and "create_task" not in ours and "import asyncio" not in ours
