"""The one sanitiser for text that will reach a user's terminal.

Model replies, code, program output, error messages from servers and conversation titles are not
ours: a reply alone could otherwise set the window title (OSC 0), write the clipboard (OSC 52),
hide a command behind a carriage return, or reorder what is shown with bidi overrides. Everything
displayed passes through here first: escape sequences are dropped, and the remaining control
characters are made visible instead of being obeyed.
"""

from __future__ import annotations

import re

#: ESC-introduced sequences: CSI (ESC [ … final), OSC / DCS / SOS / PM / APC strings (terminated by
#: BEL or ST, or unterminated up to the end of the text), and two-character escapes (ESC 7, ESC c, …).
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"  # CSI (a cut-off CSI at the end is dropped too)
    r"|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\|$)"  # OSC, DCS, SOS, PM, APC
    r"|\x1b[ -/]*[0-~]"  # nF / Fp / Fe / Fs escapes
    r"|\x9b[0-?]*[ -/]*[@-~]?"  # 8-bit CSI
    r"|[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c|$)"  # 8-bit DCS, SOS, OSC, PM, APC
)

#: Characters that reorder or hide text when displayed (Trojan Source), and the Unicode line and paragraph
#: separators (an editor breaks the line there, so the code shown would differ from the bytes that run):
#: seen, not obeyed.
_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u2028\u2029"

_ESCAPE_START = re.compile("[\x1b\x90-\x9f]")

_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f" + _BIDI + "]")


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ … ␟ (control pictures), ␛ for a lone ESC
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"<U+{code:04X}>"


def strip_escapes(text: str) -> str:
    """Drop terminal escape sequences (colours, cursor moves, titles, clipboard writes, …)."""
    if not _ESCAPE_START.search(text):
        return text
    return _ESCAPES.sub("", text)


def resolve_carriage_returns(text: str) -> str:
    """Keep what a terminal would finally show on each line of `\\r`-overwritten output (progress bars)."""
    if "\r" not in text:
        return text
    text = text.replace("\r\n", "\n")
    return "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in text.split("\n"))


def visible_controls(text: str) -> str:
    """Show control, DEL, C1 and bidi characters as visible marks; keep newlines and tabs."""
    return _CONTROLS.sub(_visible, text)


def terminal_safe(text: str) -> str:
    """Text that is displayed as text: no escape sequence survives, and no control character acts.

    Use it for replies, code shown for approval, error messages and titles. A `\\r` is shown as ␍,
    so a command cannot hide behind what is printed after a carriage return.
    """
    return visible_controls(strip_escapes(text.replace("\r\n", "\n")))


def clean_output(text: str) -> str:
    """Program output as a terminal would leave it on screen, minus anything that could act on it."""
    return visible_controls(resolve_carriage_returns(strip_escapes(text)))
