"""SIGTERM and SIGHUP (the terminal was closed) end oi-tui cleanly, in the TUI and in `--plain`.

The running code is stopped; kernels, shells and code processes are ended with what they started; their
temporary files are removed; the conversation is flushed to disk. Then the process exits with status
128 + the signal. If that takes longer than `GRACE` seconds, whatever still runs is killed and the
process exits anyway: a signal is a request to go, not to wait. After SIGHUP there is no terminal left
to restore, so the process leaves without drawing on it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from oi_core.computer.languages import end_all_runtimes

log = logging.getLogger("oi_tui.shutdown")

GRACE = 8.0
SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class SignalShutdown:
    """Runs `close` once on the first SIGTERM/SIGHUP, then `finish(signum)`; a watchdog enforces GRACE."""

    def __init__(self, close: Callable[[], Awaitable[None]], finish: Callable[[int], None]) -> None:
        self.close = close
        self.finish = finish
        self.signum: int | None = None
        self._task: asyncio.Task[None] | None = None

    def install(self) -> None:
        """Call from inside the running event loop (signal handlers run on it, between callbacks)."""
        loop = asyncio.get_running_loop()
        for signum in SIGNALS:
            try:
                loop.add_signal_handler(signum, self.received, signum)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
                return

    def received(self, signum: int) -> None:
        if self.signum is not None:  # SIGHUP often comes twice (from the terminal and the guard parent)
            return
        self.signum = signum
        watchdog = threading.Timer(GRACE, _leave_now, args=(128 + signum,))
        watchdog.daemon = True
        watchdog.start()
        self._task = asyncio.get_running_loop().create_task(self._shut_down(signum))

    async def _shut_down(self, signum: int) -> None:
        try:
            await self.close()
        except Exception:
            log.exception("closing on %s failed", signal.Signals(signum).name)
        finally:
            await asyncio.to_thread(end_all_runtimes)  # anything the close could not reach
            self.finish(signum)


def _leave_now(status: int) -> None:
    """The watchdog's last resort: end the runtimes and exit without waiting for anything else."""
    end_all_runtimes()
    _flush_and_exit(status)


def _flush_and_exit(status: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def for_app(app: Any) -> SignalShutdown:
    """Install on the TUI: close the session, then exit (SIGTERM restores the terminal; SIGHUP has none)."""

    def finish(signum: int) -> None:
        if signum == signal.SIGHUP:
            _flush_and_exit(128 + signum)
        app.exit(return_code=128 + signum)

    shutdown = SignalShutdown(app.close_session, finish)
    shutdown.install()
    return shutdown


def for_plain(session: Any) -> SignalShutdown:
    """Install on `--plain`: close the session, then exit (a thread may still be blocked reading stdin)."""
    shutdown = SignalShutdown(session.close, lambda signum: _flush_and_exit(128 + signum))
    shutdown.install()
    return shutdown
