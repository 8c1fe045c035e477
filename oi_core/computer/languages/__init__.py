"""Built-in language runners."""

from __future__ import annotations


def builtin_languages() -> list[type]:
    from .subprocess_runner import PythonSubprocess, Shell

    return [PythonSubprocess, Shell]
