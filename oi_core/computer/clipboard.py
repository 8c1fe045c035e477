"""`computer.clipboard`: read and set the clipboard, copy and paste in the focused app.

On X11 the clipboard is driven with xclip (or xsel) directly, with timeouts so a stuck selection owner
never hangs the caller; elsewhere pyperclip does it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

from .display import IS_MAC, IS_WINDOWS, require_display
from .errors import ComputerError, ToolMissingError

TIMEOUT = 5  # seconds for one clipboard program run


def _x11_tools() -> tuple[list[str], list[str]] | None:
    """(read command, write command) for the X11 clipboard, or None when neither xclip nor xsel exists."""
    if shutil.which("xclip"):
        return (["xclip", "-selection", "clipboard", "-o"], ["xclip", "-selection", "clipboard", "-i"])
    if shutil.which("xsel"):
        return (["xsel", "--clipboard", "--output"], ["xsel", "--clipboard", "--input"])
    return None


def _wayland_tools() -> tuple[list[str], list[str]] | None:
    if os.environ.get("WAYLAND_DISPLAY") and shutil.which("wl-paste") and shutil.which("wl-copy"):
        return (["wl-paste", "--no-newline"], ["wl-copy"])
    return None


def _run(command: list[str], data: str | None = None) -> str:
    try:
        result = subprocess.run(
            command,
            input=None if data is None else data.encode("utf-8"),
            stdin=subprocess.DEVNULL if data is None else None,
            stdout=subprocess.PIPE if data is None else subprocess.DEVNULL,
            # xclip -i stays in the background to serve the selection: no pipe it could keep open
            stderr=subprocess.PIPE if data is None else subprocess.DEVNULL,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        raise ComputerError(f"The clipboard did not answer within {TIMEOUT} seconds ({command[0]} timed out).") from exc
    except OSError as exc:
        raise ToolMissingError(f"Could not run {command[0]} to use the clipboard: {exc.strerror or exc}.") from exc
    if result.returncode != 0:
        error = (result.stderr or b"").decode("utf-8", "replace").strip()
        if data is None and ("target" in error.lower() or "no selection" in error.lower() or not error):
            return ""  # an empty clipboard (or nothing that is text)
        raise ComputerError(f"{command[0]} could not use the clipboard: {error or 'exit status ' + str(result.returncode)}.")
    return "" if result.stdout is None else result.stdout.decode("utf-8", "replace")


def _linux_tools() -> tuple[list[str], list[str]]:
    wayland = _wayland_tools()
    if wayland and not os.environ.get("DISPLAY"):
        return wayland
    require_display()
    tools = _x11_tools() or wayland
    if tools is None:
        raise ToolMissingError(
            "Using the clipboard needs xclip or xsel, and neither is installed: install one (apt install xclip)."
        )
    return tools


def _pyperclip() -> Any:
    import pyperclip

    return pyperclip


def read_clipboard() -> str:
    if not (IS_MAC or IS_WINDOWS):
        return _run(_linux_tools()[0])
    try:
        return str(_pyperclip().paste() or "")
    except Exception as exc:
        raise ComputerError(f"Could not read the clipboard: {exc}.") from exc


def write_clipboard(text: str) -> None:
    if not (IS_MAC or IS_WINDOWS):
        _run(_linux_tools()[1], text)
        return
    try:
        _pyperclip().copy(text)
    except Exception as exc:
        raise ComputerError(f"Could not set the clipboard: {exc}.") from exc


def read_primary_selection() -> str:
    """The X11 PRIMARY selection (the text currently selected), or "" where there is none."""
    if IS_MAC or IS_WINDOWS or not os.environ.get("DISPLAY"):
        return ""
    if shutil.which("xclip"):
        return _run(["xclip", "-selection", "primary", "-o"])
    if shutil.which("xsel"):
        return _run(["xsel", "--primary", "--output"])
    return ""


class Clipboard:
    def __init__(self, computer: Any = None) -> None:
        self.computer = computer

    def _keyboard(self) -> Any:
        from .keyboard import keyboard_of

        return keyboard_of(self.computer)

    def view(self) -> str:
        """The text on the clipboard."""
        return read_clipboard()

    def copy(self, text: str | None = None) -> None:
        """Put text on the clipboard; with no text, copy the current selection (Ctrl/Cmd+C)."""
        if text is None:
            self._keyboard().hotkey("command" if IS_MAC else "ctrl", "c")
            return
        write_clipboard(str(text))

    def paste(self) -> None:
        """Paste the clipboard into the focused app (Ctrl/Cmd+V)."""
        self._keyboard().hotkey("command" if IS_MAC else "ctrl", "v")


__all__ = ["Clipboard", "read_clipboard", "read_primary_selection", "write_clipboard"]
