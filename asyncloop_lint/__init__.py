"""asyncloop-lint: find and fix asyncio event-loop lifecycle hazards.

Kept import-free on purpose: ``asyncloop-lint --version`` and the runtime module
must not pay for libcst, click or rich.
"""

__version__ = "0.1.0"
