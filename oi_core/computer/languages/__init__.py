"""Built-in language runners."""

from __future__ import annotations


def builtin_languages() -> list[type]:
    from .process import HTML, AppleScript, Java, JavaScript, PowerShell, R, Ruby
    from .python import Python
    from .shell import Shell

    return [Python, Shell, JavaScript, HTML, R, Ruby, Java, PowerShell, AppleScript]


def end_all_runtimes() -> None:
    """End every kernel, shell and code process this process started, with what they started; remove their
    temporary files. Blocking, from any thread: for shutting down on a signal when there is no time to wait."""
    from .process import end_running_processes
    from .python import end_live_kernels
    from .shell import end_live_shells

    for end in (end_running_processes, end_live_shells, end_live_kernels):
        try:
            end()
        except Exception:
            pass
