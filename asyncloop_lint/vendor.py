"""Write the runtime module out as one file, for projects that vendor it."""

from __future__ import annotations

from pathlib import Path

from . import __version__

DEFAULT_FILENAME = "asyncloop_runtime.py"


def runtime_source() -> str:
    source = (Path(__file__).with_name("runtime.py")).read_text(encoding="utf-8")
    header = (
        f"# Vendored from asyncloop-lint {__version__} (module asyncloop_lint.runtime).\n"
        "# Standard library only. Regenerate with `asyncloop-lint --write-runtime PATH`.\n"
    )
    return header + source


def module_name_for(path: Path) -> str | None:
    """The dotted import path of ``path``, walking up through packages (``__init__.py``)."""
    path = path.resolve()
    parts = [path.stem]
    directory = path.parent
    while (directory / "__init__.py").is_file():
        parts.append(directory.name)
        directory = directory.parent
    name = ".".join(reversed(parts))
    return name if all(p.isidentifier() for p in parts) else None


def write_runtime(destination: Path) -> tuple[Path, str | None]:
    if destination.is_dir():
        destination = destination / DEFAULT_FILENAME
    destination.write_text(runtime_source(), encoding="utf-8")
    return destination, module_name_for(destination)
