"""`computer.os`: things about the operating system session, such as the text the user has selected."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from typing import Any

from .clipboard import read_clipboard, read_primary_selection, write_clipboard
from .display import IS_MAC, IS_WINDOWS
from .errors import ComputerError

_SETTLE = 0.3  # seconds for the focused app to answer Ctrl/Cmd+C


class Os:
    def __init__(self, computer: Any = None) -> None:
        self.computer = computer

    def _keyboard(self) -> Any:
        from .keyboard import keyboard_of

        return keyboard_of(self.computer)

    def get_selected_text(self) -> str:
        """The text selected in the focused app (copied, read, and the clipboard put back as it was)."""
        try:
            previous: str | None = read_clipboard()
        except ComputerError:
            previous = None
        marker = f"oi-selection-{uuid.uuid4().hex}"
        write_clipboard(marker)
        try:
            self._keyboard().hotkey("command" if IS_MAC else "ctrl", "c")
            text = marker
            deadline = time.monotonic() + _SETTLE * 3
            while time.monotonic() < deadline:
                time.sleep(_SETTLE / 3)
                text = read_clipboard()
                if text != marker:
                    break
        finally:
            if previous is not None:
                write_clipboard(previous)
        if text == marker:  # the app copied nothing; X11 still knows the selection itself
            return read_primary_selection()
        return text

    def notify(self, text: str, title: str = "Open Interpreter") -> None:
        """Show a desktop notification (best effort)."""
        try:
            if IS_MAC:
                script = f"display notification {_applescript_string(text)} with title {_applescript_string(title)}"
                subprocess.run(["osascript", "-e", script], timeout=10, capture_output=True)
            elif not IS_WINDOWS and shutil.which("notify-send"):
                subprocess.run(["notify-send", title, text], timeout=10, capture_output=True)
            else:
                raise ComputerError("Desktop notifications are not available here (notify-send is not installed).")
        except (subprocess.SubprocessError, OSError) as exc:
            raise ComputerError(f"Could not show a notification: {exc}.") from exc


def _applescript_string(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'
