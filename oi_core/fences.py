"""Splits a streamed Markdown reply into prose and code blocks, identically however it is chunked.

The parser only decides a line's fate once it has seen enough of that line: a line that starts
(after up to three spaces) with a backtick or tilde is held until its newline, because only then do
we know whether it opens or closes a fence. Every other line streams through at once. Because every
decision depends on the text and never on where chunks happen to split, feeding a reply one
character at a time or all at once yields the same blocks (tests/test_fences.py proves it).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass

_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


@dataclass(frozen=True)
class Text:
    """Prose for the assistant message."""

    content: str


@dataclass(frozen=True)
class CodeStart:
    language: str
    guessed: bool = False  # the fence named no language; `language` is our guess


@dataclass(frozen=True)
class Code:
    content: str


@dataclass(frozen=True)
class CodeEnd:
    closed: bool = True


FenceEvent = Text | CodeStart | Code | CodeEnd


class FenceParser:
    """Incremental Markdown fence splitter; `is_code(language)` says which fences are runnable.

    With `guess`, a fence that names no language is held until it closes, then `guess(content)` names its
    language (it becomes a code block marked as guessed) or returns None (it stays prose, e.g. sample output).
    """

    def __init__(self, is_code: Callable[[str], bool] = lambda language: True,
                 guess: Callable[[str], str | None] | None = None) -> None:
        self._is_code = is_code
        self._guess = guess
        self._untagged: list[str] = []  # an untagged fence held until it closes: [opening line, content...]
        self._state = "text"  # "text" | "code" | "quote" (a fence that is shown, not run) | "untagged"
        self._fence: tuple[str, int] | None = None
        self._buf = ""  # the undecided start of the current line
        self._mid_line = False  # the current line is already known to be ordinary content
        self._held_ws = ""  # whitespace that only becomes prose if more prose follows
        self._text_started = False
        self._code_newline = False  # a newline inside code that only counts if more code follows
        self._out: list[FenceEvent] = []

    # ------------------------------------------------------------ public

    def feed(self, text: str) -> list[FenceEvent]:
        self._buf += text
        self._drain(final=False)
        return self._take()

    def close(self) -> list[FenceEvent]:
        self._drain(final=True)
        if self._buf:
            self._line(self._buf, newline=False)
            self._buf = ""
        if self._state == "code":
            self._out.append(CodeEnd(closed=False))
            self._state = "text"
            self._code_newline = False
        elif self._state == "untagged":
            self._settle_untagged(closing=None)
        return self._take()

    # ------------------------------------------------------------ internals

    def _drain(self, final: bool) -> None:
        while self._buf:
            if self._mid_line:
                cut = self._buf.find("\n")
                if cut < 0:
                    self._content(self._buf)
                    self._buf = ""
                    return
                self._content(self._buf[: cut + 1])
                self._buf = self._buf[cut + 1 :]
                self._mid_line = False
                continue
            stripped = self._buf.lstrip(" ")
            indent = len(self._buf) - len(stripped)
            if not stripped and indent <= 3:
                return  # only spaces so far: wait for the line to show what it is
            if indent <= 3 and stripped[0] in "`~":
                cut = self._buf.find("\n")
                if cut < 0:
                    return  # a possible fence line: wait for its newline (or the end)
                self._line(self._buf[:cut], newline=True)
                self._buf = self._buf[cut + 1 :]
                continue
            self._mid_line = True

    def _line(self, line: str, newline: bool) -> None:
        """Classify one whole line that starts with a fence character."""
        if self._state == "text":
            match = _OPEN.match(line)
            if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
                info = match.group(2).strip()
                language = info.split()[0].lower() if info else ""
                self._fence = (match.group(1)[0], len(match.group(1)))
                if not language and self._guess is not None:
                    self._state = "untagged"
                    self._untagged = [line + ("\n" if newline else "")]
                    return
                if self._is_code(language):
                    self._held_ws = ""
                    self._out.append(CodeStart(language))
                    self._state = "code"
                    return
                self._state = "quote"
            self._content(line + ("\n" if newline else ""))
            return
        if self._closes(line):
            if self._state == "untagged":
                self._settle_untagged(closing=line + ("\n" if newline else ""))
                return
            if self._state == "code":
                self._out.append(CodeEnd())
                self._code_newline = False
                self._text_started = False
                self._held_ws = ""
                self._state = "text"
                return
            self._state = "text"
        self._content(line + ("\n" if newline else ""))

    def _closes(self, line: str) -> bool:
        assert self._fence is not None
        char, length = self._fence
        return re.fullmatch(rf" {{0,3}}{re.escape(char)}{{{length},}}[ \t]*", line) is not None

    def _settle_untagged(self, closing: str | None) -> None:
        """An untagged fence is complete (closed, or the stream ended): code with a guessed language, or prose."""
        opening, body = self._untagged[0], "".join(self._untagged[1:])
        self._untagged = []
        code = body[:-1] if body.endswith("\n") else body
        language = self._guess(code) if self._guess is not None and code.strip() else None
        if language and self._is_code(language):
            self._held_ws = ""
            self._out.append(CodeStart(language, guessed=True))
            if code:
                self._out.append(Code(code))
            self._out.append(CodeEnd(closed=closing is not None))
            self._code_newline = False
            self._text_started = False
            self._state = "text"
            return
        self._state = "text"
        self._content(opening + body + (closing or ""))

    def _content(self, text: str) -> None:
        if self._state == "untagged":
            self._untagged.append(text)
            return
        if self._state == "code":
            if self._code_newline:
                text = "\n" + text
                self._code_newline = False
            if text.endswith("\n"):
                text = text[:-1]
                self._code_newline = True
            if text:
                self._out.append(Code(text))
            return
        combined = self._held_ws + text
        body = combined.rstrip()
        if not body:
            self._held_ws = combined
            return
        self._held_ws = combined[len(body) :]
        if not self._text_started:
            body = body.lstrip()
            self._text_started = True
        self._out.append(Text(body))

    def _take(self) -> list[FenceEvent]:
        out, self._out = self._out, []
        merged: list[FenceEvent] = []
        for event in out:
            if merged and type(event) in (Text, Code) and type(merged[-1]) is type(event):
                merged[-1] = type(event)(merged[-1].content + event.content)  # type: ignore[union-attr]
            else:
                merged.append(event)
        return merged


# ---------------------------------------------------------------- guessing the language of an untagged fence

_PY_CODE_NODES = (
    ast.Call, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Import, ast.ImportFrom, ast.FunctionDef,
    ast.AsyncFunctionDef, ast.ClassDef, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try,
    ast.Return, ast.Delete, ast.Raise, ast.Lambda,
)
_PY_HINT = re.compile(r"^\s*(import \w|from [\w.]+ import |def \w+\(|class \w+|print\(|for \w+ in |while .+:$)", re.M)
#: First words that make a block plainly shell.
SHELL_COMMANDS = frozenset("""
    ls cd pwd echo cat head tail grep egrep rg find sed awk sort uniq wc cut tr xargs tee touch mkdir rmdir rm cp mv
    ln chmod chown du df ps kill killall top free uname whoami id date env export source which type curl wget ssh scp
    rsync tar zip unzip gzip gunzip git pip pip3 python python3 node npm npx yarn pnpm brew apt apt-get dnf yum pacman
    sudo docker kubectl make cmake cargo go java javac gcc clang systemctl service open xdg-open file stat diff
    patch ping nslookup dig ifconfig ip netstat lsof crontab nohup time sleep bash sh zsh set unset alias read
""".split())


def guess_language(code: str) -> str | None:
    """The language of a fence that names none: python, unless it is plainly shell; None for prose or output."""
    lines = [line.strip() for line in code.splitlines() if line.strip()]
    meaningful = [line for line in lines if not line.startswith("#")]
    if not meaningful or any(line.startswith(("$ ", ">>> ", "% ")) for line in lines):
        return None  # a transcript of a session (prompts included) is shown, not run
    first = meaningful[0].split()[0]
    if first == "sudo" and len(meaningful[0].split()) > 1:
        first = meaningful[0].split()[1]
    python = _looks_like_python(code)
    if (first in SHELL_COMMANDS or first.startswith(("./", "~/"))) and not python:
        return "shell"
    if meaningful[0].startswith("#!") and "python" not in meaningful[0]:
        return "shell"
    return "python" if python else None


def _looks_like_python(code: str) -> bool:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return bool(_PY_HINT.search(code))
    return any(isinstance(node, _PY_CODE_NODES) for node in ast.walk(tree))
