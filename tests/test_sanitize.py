"""The one sanitiser: nothing that reaches the terminal can act on it."""

from __future__ import annotations

import pytest

from oi_core.sanitize import clean_output, resolve_carriage_returns, strip_escapes, terminal_safe


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("hi\x1b]0;pwned\x07there", "hithere"),  # window title (OSC 0, BEL)
        ("a\x1b]52;c;ZWNobw==\x1b\\b", "ab"),  # clipboard write (OSC 52, ST)
        ("\x1b[31mred\x1b[0m", "red"),  # colours
        ("x\x1bP+q544e\x1b\\y", "xy"),  # DCS query
        ("cut\x1b[3", "cut"),  # a CSI cut off at the end of a chunk
        ("open\x1b]0;never closed", "open"),  # an unterminated OSC swallows nothing after the text
        ("\x9b31mX", "X"),  # 8-bit CSI
        ("\x9d0;t\x07Y", "Y"),  # 8-bit OSC
        ("\x1bcZ", "Z"),  # full reset
    ],
)
def test_escape_sequences_are_dropped(raw: str, shown: str) -> None:
    assert terminal_safe(raw) == shown
    assert "\x1b" not in clean_output(raw)


def test_carriage_return_cannot_hide_a_command() -> None:
    assert terminal_safe("rm -rf ~\r# harmless") == "rm -rf ~\u240d# harmless"


def test_controls_and_bidi_overrides_are_visible() -> None:
    assert terminal_safe("bell\x07 nul\x00 del\x7f") == "bell\u2407 nul\u2400 del\u2421"
    assert terminal_safe("if x\u202e y") == "if x<U+202E> y"
    assert terminal_safe("a\u2028b\u2029c") == "a<U+2028>b<U+2029>c"
    assert terminal_safe("tabs\tand\nlines") == "tabs\tand\nlines"
    assert terminal_safe("crlf\r\nline") == "crlf\nline"


def test_output_keeps_what_a_terminal_would_show() -> None:
    assert resolve_carriage_returns("10%\r50%\r100%\ndone") == "100%\ndone"
    assert clean_output("\x1b[32m10%\x1b[0m\r100%\n") == "100%\n"


def test_plain_text_is_untouched() -> None:
    text = "café ☕ 😀 — ordinary text\n"
    assert strip_escapes(text) is text
    assert terminal_safe(text) == text
