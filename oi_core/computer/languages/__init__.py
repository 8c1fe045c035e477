"""Built-in language runners."""

from __future__ import annotations


def builtin_languages() -> list[type]:
    from .python import Python
    from .subprocess_runner import Shell

    return [Python, Shell]
