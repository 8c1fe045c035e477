"""Model text as it enters the core: no lone UTF-16 surrogate ever gets past this point.

Providers may split an emoji's surrogate pair across two stream events, and a broken model may send
half a pair. A lone surrogate cannot be encoded as UTF-8, so it would break every later autosave,
request and kernel message. `SurrogateJoiner` joins pairs split across pieces and replaces what
cannot be joined with U+FFFD.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")
_PAIR_OR_LONE = re.compile("[\ud800-\udbff][\udc00-\udfff]|[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def _fix(match: re.Match[str]) -> str:
    text = match.group()
    if len(text) == 2:
        return chr(0x10000 + ((ord(text[0]) - 0xD800) << 10) + (ord(text[1]) - 0xDC00))
    return REPLACEMENT


def scrub(text: str) -> str:
    """Join surrogate pairs into their character and replace lone surrogates with U+FFFD."""
    if not _SURROGATE.search(text):
        return text
    return _PAIR_OR_LONE.sub(_fix, text)


class SurrogateJoiner:
    """Scrubs streamed text piece by piece, holding back a high surrogate until its partner arrives."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, text: str) -> str:
        if not text:
            return ""
        text = self._held + text
        self._held = ""
        if "\ud800" <= text[-1] <= "\udbff":
            text, self._held = text[:-1], text[-1]
        return scrub(text)

    def close(self) -> str:
        """Whatever is still held (a lone high surrogate becomes U+FFFD)."""
        held, self._held = self._held, ""
        return scrub(held)
