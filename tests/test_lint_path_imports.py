"""What a lint run imports: nothing heavier than it needs (libcst.matchers costs about a
sixth of a short run and is only needed to fix)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_linting_does_not_import_libcst_matchers(tmp_path):
    (tmp_path / "app.py").write_text(
        "import asyncio\n\nasync def main():\n    pass\n\nif __name__ == '__main__':\n    asyncio.run(main())\n"
        "X = asyncio.run(main())\n"
    )
    probe = (
        "import sys\nfrom asyncloop_lint.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print('MATCHERS', 'libcst.matchers' in sys.modules, 'libcst' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    out = subprocess.run(
        [sys.executable, "-c", probe, "--isolated", "--no-cache", "-j", "1", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=120,
    ).stdout
    assert "AL101" in out  # it did parse and lint
    assert out.strip().splitlines()[-1] == "MATCHERS False True"
