"""Give the terminal back even when the app dies hard (a segfault in a C extension, SIGKILL).

Textual restores the terminal on Python exceptions, but a process killed by a signal runs no
Python code at all, which left users in the alternate screen with no echo. The console script
therefore forks once before the app starts: the child runs the app, the parent only waits, and
if the child dies abnormally the parent resets the terminal modes it saved and says what happened.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable

#: Leave the alternate screen, show the cursor, stop mouse reporting, bracketed paste and the
#: kitty keyboard protocol, and reset colours: everything a full-screen Textual app switches on.
RESET_SEQUENCE = (
    "\x1b[?1049l\x1b[?25h\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1015l"
    "\x1b[?2004l\x1b[<u\x1b[0m\r\n"
)

#: Set to 1 to run the app in this process (debuggers, profilers).
DISABLE_ENV = "OI_TUI_NO_TERMINAL_GUARD"

#: Signals the waiting parent passes on to the app instead of acting on them itself.
FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGQUIT)


def should_guard() -> bool:
    """Guard only a real terminal, on a platform with fork, from a single-threaded process."""
    if os.environ.get(DISABLE_ENV) == "1" or not hasattr(os, "fork"):
        return False
    if threading.active_count() != 1:  # fork would lose the other threads
        return False
    try:
        return os.isatty(sys.stdin.fileno()) and os.isatty(sys.stdout.fileno())
    except (OSError, ValueError):
        return False


def run_guarded(run_app: Callable[[], int]) -> int:
    """Run `run_app` in a child process and restore the terminal if the child dies abnormally."""
    if not should_guard():
        return run_app()
    import termios

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the app
        try:
            code = run_app()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return _wait_for_app(pid, fd, saved)


def _wait_for_app(pid: int, fd: int, saved: list) -> int:
    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in FORWARDED:
        signal.signal(signum, forward)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            return 1
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        restore_terminal(fd, saved)
        sys.stderr.write(crash_message(signum))
        sys.stderr.flush()
        return 128 + signum
    code = os.WEXITSTATUS(status)
    if code != 0:
        restore_terminal(fd, saved, sequences=False)
    return code


def restore_terminal(fd: int, saved: list, sequences: bool = True) -> None:
    """Put back the saved terminal modes (echo, line editing) and, optionally, the screen state."""
    import termios

    try:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
    except termios.error:
        pass
    if sequences:
        try:
            os.write(sys.stdout.fileno(), RESET_SEQUENCE.encode())
        except OSError:
            pass


def crash_message(signum: int) -> str:
    """One sentence for a user whose app just died."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    description = signal.strsignal(signum) or name
    return (
        f"oi-tui stopped abruptly ({name}: {description}). The terminal has been restored; "
        "the conversation is saved up to the last completed message (oi-tui --conversations).\n"
    )
