"""Where oi-tui's log goes while the full-screen app owns the terminal: a small rotating file.

Failures the user is told about in one sentence (a bus handler, a worker) are logged with their
traceback; a full-screen app cannot print them, so they go to `log_path()` (warnings and worse).
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

_installed: logging.Handler | None = None


def log_path() -> Path:
    """platformdirs' user log folder (XDG_STATE_HOME honoured on Linux) / oi-tui.log."""
    import platformdirs

    return Path(platformdirs.user_log_dir("oi-tui", appauthor=False)) / "oi-tui.log"


def install() -> Path | None:
    """Send warnings and errors of oi_core and oi_tui to the log file (once per process); returns its path."""
    global _installed
    path = log_path()
    if _installed is not None:
        if Path(_installed.baseFilename) == path.absolute():
            return path
        _remove(_installed)  # the log folder moved (XDG_STATE_HOME changed): follow it
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=1_000_000, backupCount=2, delay=True,
                                                       encoding="utf-8")
    except OSError:
        return None  # no log file: the user is still told every failure in the app
    handler.setLevel(logging.WARNING)
    handler.setFormatter(_RedactingFormatter("%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s"))
    for name in ("oi_core", "oi_tui"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        if logger.level == logging.NOTSET or logger.level > logging.WARNING:
            logger.setLevel(logging.WARNING)
    _installed = handler
    return path


def _remove(handler: logging.Handler) -> None:
    global _installed
    for name in ("oi_core", "oi_tui"):
        logging.getLogger(name).removeHandler(handler)
    handler.close()
    _installed = None


class _RedactingFormatter(logging.Formatter):
    """Log lines (tracebacks included) never hold an API key."""

    def format(self, record: logging.LogRecord) -> str:
        from oi_core.secrets import redact

        return redact(super().format(record))
