"""Tool-call arguments as they stream: the language and the code, decoded from partial JSON.

The arguments are parsed by a real JSON parser (jiter, in partial mode), so the code shown while it
streams, the code that runs and the code that is stored are the same characters. Models are not
strict JSON writers, so the text first passes through `JsonStringRepair`, which knows whether it is
inside a string and fixes only what a parser would reject there: raw control characters (a tab, a
CRLF) are escaped, lone surrogate escapes become U+FFFD, and an unknown escape keeps its backslash.
A surrogate pair split across deltas is held back whole, so no half of an emoji is ever emitted.
"""

from __future__ import annotations

import re
from typing import Any

import jiter

from .llm import EXECUTE_TOOL_NAME

_PLAIN = re.compile(r'[^"\\\x00-\x1f]+')
_OUTSIDE = re.compile(r'[^"]+')
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_SHORT_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\b": "\\b", "\f": "\\f"}


def _is_prefix_of_escape(text: str) -> bool:
    r"""True if `text` could still grow into a `\uXXXX` escape."""
    return len(text) < 6 and re.fullmatch(r"(\\(u[0-9a-fA-F]{0,3})?)?", text) is not None


class JsonStringRepair:
    """Incrementally rewrites JSON text so that a strict parser accepts what a model meant."""

    def __init__(self) -> None:
        self._in_string = False
        self._pending = ""  # an escape whose meaning depends on text not received yet

    def feed(self, text: str) -> str:
        return self._scan(self._pending + text, final=False)

    def close(self) -> str:
        return self._scan(self._pending, final=True)

    def _scan(self, text: str, final: bool) -> str:
        self._pending = ""
        out: list[str] = []
        i, n = 0, len(text)
        while i < n:
            if not self._in_string:
                match = _OUTSIDE.match(text, i)
                if match:
                    out.append(match.group())
                    i = match.end()
                    continue
                out.append('"')
                self._in_string = True
                i += 1
                continue
            match = _PLAIN.match(text, i)
            if match:
                out.append(match.group())
                i = match.end()
                continue
            char = text[i]
            if char == '"':
                out.append('"')
                self._in_string = False
                i += 1
            elif char != "\\":  # a raw control character: legal in code, not in a JSON string
                out.append(_SHORT_ESCAPES.get(char) or f"\\u{ord(char):04x}")
                i += 1
            else:
                consumed = self._escape(text, i, final, out)
                if consumed == 0:
                    self._pending = text[i:]
                    break
                i += consumed
        return "".join(out)

    def _escape(self, text: str, i: int, final: bool, out: list[str]) -> int:
        """Append the escape at text[i] (a backslash); return characters used, 0 to wait for more."""
        rest = len(text) - i
        if rest < 2:
            if final:
                out.append("\\\\")
                return 1
            return 0
        kind = text[i + 1]
        if kind != "u":
            if kind in '"\\/bfnrt':
                out.append(text[i : i + 2])
            else:  # not a JSON escape: the model meant a backslash
                out.append("\\\\")
                return 1
            return 2
        if not _HEX4.fullmatch(text, i + 2, i + 6):
            if not final and _is_prefix_of_escape(text[i:]):
                return 0
            out.append("\\\\")  # "\u" not followed by four hex digits: a literal backslash
            return 1
        code = int(text[i + 2 : i + 6], 16)
        if 0xD800 <= code <= 0xDBFF:
            after = text[i + 6 : i + 12]
            if len(after) < 6 and not final and _is_prefix_of_escape(after):
                return 0  # the low half may still come
            if re.fullmatch(r"\\u[dD][c-fC-F][0-9a-fA-F]{2}", after):
                out.append(text[i : i + 12])
                return 12
            out.append("\\ufffd")
            return 6
        if 0xDC00 <= code <= 0xDFFF:
            out.append("\\ufffd")
            return 6
        out.append(text[i : i + 6])
        return 6


def _parse(data: bytes, partial_mode: Any) -> Any:
    try:
        return jiter.from_json(data, partial_mode=partial_mode)
    except ValueError:
        return None


class ToolCall:
    """One streamed tool call: its name and the JSON arguments received so far."""

    def __init__(self) -> None:
        self.name = ""
        self.arguments = ""  # exactly as received
        self.language: str | None = None
        self.emitted = 0  # characters of code already streamed
        self._repair = JsonStringRepair()
        self._json = bytearray()  # the arguments after repair

    def add(self, name: str | None, arguments: str) -> None:
        """Take one streamed delta of this call."""
        self.name += name or ""
        self.arguments += arguments
        if arguments:
            self._json += self._repair.feed(arguments).encode("utf-8")

    def _raw_code(self) -> bool:
        """Some models name the tool after the language and send the code itself, not JSON."""
        return bool(self.name) and self.name != EXECUTE_TOOL_NAME and not self.arguments.lstrip().startswith("{")

    def code_so_far(self) -> str:
        if self._raw_code():
            self.language = self.name
            return self.arguments
        data = bytes(self._json)
        if self.language is None:
            complete = _parse(data, True)  # only finished strings: never a half-written language name
            if isinstance(complete, dict) and isinstance(complete.get("language"), str):
                self.language = complete["language"]
        args = _parse(data, "trailing-strings")
        code = args.get("code") if isinstance(args, dict) else None
        return code if isinstance(code, str) else ""

    def finish(self) -> tuple[str, str]:
        """The language and the whole code, once the call is complete."""
        if self._raw_code():
            return self.name, self.arguments
        self._json += self._repair.close().encode("utf-8")
        args = _parse(bytes(self._json), "trailing-strings")  # tolerate a call cut short
        if isinstance(args, dict) and isinstance(args.get("code"), str):
            language = args.get("language")
            return (language if isinstance(language, str) and language else "python"), args["code"]
        return self.language or "python", self.code_so_far()
