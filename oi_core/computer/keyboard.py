"""`computer.keyboard`: type text, press keys and key combinations (pyautogui)."""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
from typing import Any

from .display import IS_MAC, pyautogui_module, translate_error
from .errors import ComputerError

_MODIFIERS = ("ctrl", "ctrlleft", "ctrlright", "command", "win", "winleft", "winright", "alt", "altleft",
              "altright", "option", "optionleft", "optionright", "shift", "shiftleft", "shiftright", "fn")
_ALIASES = {
    "control": "ctrl",
    "cmd": "command",
    "super": "win",
    "meta": "win",
    "windows": "win",
    "opt": "option",
    "return": "enter",
    "escape": "esc",
    "del": "delete",
    "spacebar": "space",
    " ": "space",
    "arrowup": "up",
    "arrowdown": "down",
    "arrowleft": "left",
    "arrowright": "right",
}
_SUBPROCESS_TIMEOUT = 30


def normalize_key(key: str) -> str:
    """A key name as pyautogui knows it on this OS (cmd/command is Ctrl outside macOS, option is Alt)."""
    if not isinstance(key, str) or not key:
        raise ComputerError(f"Key names are non-empty strings, not {key!r}.")
    name = key if len(key) == 1 else re.sub(r"[\s_\-]+", "", key.lower())
    name = _ALIASES.get(name, name)
    if not IS_MAC:
        name = {"command": "ctrl", "option": "alt", "optionleft": "altleft", "optionright": "altright"}.get(name, name)
    return name


def _check_keys(pg: Any, keys: list[str]) -> None:
    known = set(pg.KEYBOARD_KEYS)
    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ComputerError(f"'{key}' is not a key name pyautogui knows{hint}.")


class Keyboard:
    def __init__(self, computer: Any = None) -> None:
        self.computer = computer

    def write(self, text: str, interval: float | None = None) -> None:
        """Type text into whatever has keyboard focus (characters off the keyboard are typed another way)."""
        if not isinstance(text, str):
            text = str(text)
        pg = pyautogui_module()
        known = set(pg.KEYBOARD_KEYS)
        delay = 0.01 if interval is None else float(interval)
        try:
            for run, typeable in _runs(text, known):
                if typeable:
                    pg.write(run, interval=delay)
                else:
                    self._type_other(run)
        except ComputerError:
            raise
        except Exception as exc:
            raise translate_error(exc, "type") from exc

    def _type_other(self, text: str) -> None:
        """Characters pyautogui cannot type (accents, emoji...): xdotool on X11, else paste via the clipboard."""
        if not IS_MAC and os.environ.get("DISPLAY") and shutil.which("xdotool"):
            try:
                subprocess.run(
                    ["xdotool", "type", "--delay", "12", "--", text],
                    check=True,
                    timeout=_SUBPROCESS_TIMEOUT,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                return
            except (subprocess.SubprocessError, OSError):
                pass
        from .clipboard import Clipboard

        clipboard = self.computer.clipboard if self.computer is not None else Clipboard(None)
        try:
            previous = clipboard.view()
        except ComputerError:
            previous = None
        clipboard.copy(text)
        clipboard.paste()
        if previous is not None:
            import time

            time.sleep(0.2)
            clipboard.copy(previous)

    def press(self, *keys: str, presses: int = 1, interval: float = 0.05) -> None:
        """Press keys one after another (e.g. press("enter"), press("tab", presses=3))."""
        if len(keys) == 1 and isinstance(keys[0], (list, tuple)):
            keys = tuple(keys[0])
        if not keys:
            raise ComputerError("keyboard.press needs at least one key name, e.g. press('enter').")
        names = [normalize_key(k) for k in keys]
        pg = pyautogui_module()
        _check_keys(pg, names)
        try:
            pg.press(names, presses=int(presses), interval=float(interval))
        except Exception as exc:
            raise translate_error(exc, "press keys") from exc

    def hotkey(self, *keys: str, interval: float = 0.05) -> None:
        """Hold modifiers and press a key (hotkey("ctrl", "c"); the modifiers may come in any order)."""
        if len(keys) == 1 and isinstance(keys[0], (list, tuple)):
            keys = tuple(keys[0])
        if not keys:
            raise ComputerError("keyboard.hotkey needs key names, e.g. hotkey('ctrl', 'c').")
        names = [normalize_key(k) for k in keys]
        names = [k for k in names if k in _MODIFIERS] + [k for k in names if k not in _MODIFIERS]
        pg = pyautogui_module()
        _check_keys(pg, names)
        try:
            pg.hotkey(*names, interval=float(interval))
        except Exception as exc:
            raise translate_error(exc, "press a key combination") from exc

    def down(self, key: str) -> None:
        name = normalize_key(key)
        pg = pyautogui_module()
        _check_keys(pg, [name])
        try:
            pg.keyDown(name)
        except Exception as exc:
            raise translate_error(exc, "hold a key") from exc

    def up(self, key: str) -> None:
        name = normalize_key(key)
        pg = pyautogui_module()
        _check_keys(pg, [name])
        try:
            pg.keyUp(name)
        except Exception as exc:
            raise translate_error(exc, "release a key") from exc


def _runs(text: str, known: set[str]) -> list[tuple[str, bool]]:
    """Split text into runs pyautogui can type and runs it cannot."""
    runs: list[tuple[str, bool]] = []
    for char in text:
        typeable = char in known
        if runs and runs[-1][1] == typeable:
            runs[-1] = (runs[-1][0] + char, typeable)
        else:
            runs.append((char, typeable))
    return runs


def keyboard_of(computer: Any) -> "Keyboard":
    """The computer's keyboard, or a standalone one when there is no computer."""
    if computer is not None:
        return computer.keyboard
    return Keyboard(None)
