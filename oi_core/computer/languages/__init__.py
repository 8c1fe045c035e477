"""Built-in language runners."""

from __future__ import annotations


def builtin_languages() -> list[type]:
    from .process import HTML, AppleScript, Java, JavaScript, PowerShell, R, Ruby
    from .python import Python
    from .shell import Shell

    return [Python, Shell, JavaScript, HTML, R, Ruby, Java, PowerShell, AppleScript]
