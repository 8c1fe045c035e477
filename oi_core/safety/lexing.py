"""Views of a code block that hide comments (and string contents) without moving any character.

The risk classifier matches its rules against these views, so a rule never fires on a comment, and
rules about calls never fire on text inside a string. Offsets and line numbers are unchanged: every
hidden character becomes a space and newlines stay where they were.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LANGUAGE_ALIASES: dict[str, str] = {
    "python": "python", "python3": "python", "py": "python", "ipython": "python",
    "shell": "shell", "bash": "shell", "sh": "shell", "zsh": "shell",
    "javascript": "javascript", "js": "javascript", "node": "javascript", "nodejs": "javascript",
}


def canonical_language(language: str) -> str | None:
    """"python", "shell" or "javascript" for the names the model uses, None for anything else."""
    return LANGUAGE_ALIASES.get((language or "").strip().lower())


# Each token pattern starts with a fixed character (# / ' " `), so the regex engine skips plain code fast.
# Python string prefixes (r, b, f) stay in the code view; only what is between the quotes is hidden.
_PYTHON = re.compile(
    r"(?P<com>\#[^\n]*)"
    r"|(?P<str>'''(?:\\.|(?!''').)*(?:'''|\Z)"
    r'|"""(?:\\.|(?!""").)*(?:"""|\Z)'
    r"|'(?:\\.|[^'\\\n])*(?:'|$)"
    r'|"(?:\\.|[^"\\\n])*(?:"|$))',
    re.S | re.M,
)

_JAVASCRIPT = re.compile(
    r"(?P<com>//[^\n]*|/\*.*?(?:\*/|\Z))"
    r"|(?P<str>'(?:\\.|[^'\\\n])*(?:'|$)"
    r'|"(?:\\.|[^"\\\n])*(?:"|$)'
    r"|`(?:\\.|[^`\\])*(?:`|\Z))",
    re.S | re.M,
)

# Shell: a `#` starts a comment only at the start of a word (checked in `views`); quoted text is skipped so
# a `#` inside quotes is not one. Quotes are not hidden in shell views: in shell, quoted words are still
# commands (`bash -c "rm -rf ~"`), so the classifier reads them.
_SHELL = re.compile(
    r"(?P<com>\#[^\n]*)"
    r"|(?P<str>'[^']*(?:'|\Z)|\"(?:\\.|[^\"\\])*(?:\"|\Z))",
    re.S,
)
_SHELL_WORD_BREAK = frozenset(" \t\n;&|(")

# What echo and printf print: their arguments up to a redirection or the end of the command.
_ECHO_ARGUMENTS = re.compile(
    r"(?P<command>(?:echo|printf)(?![\w.-]))"
    r"(?P<arguments>(?:\"(?:\\.|[^\"\\])*\"|'[^']*'|[^\n;&|>\"'])*)"
)

_TOKENS = {"python": _PYTHON, "javascript": _JAVASCRIPT, "shell": _SHELL}
_NOT_NEWLINE = re.compile(r"[^\n]")


@dataclass(frozen=True)
class StringLiteral:
    """One string literal: where its contents start, and the contents as written (escapes untouched)."""

    start: int
    body: str


@dataclass(frozen=True)
class Views:
    """The same text several ways, all of the same length."""

    text: str  # comments hidden
    code: str  # comments and string contents hidden (quotes kept); for shell, same as `text`
    words: str  # shell: `text` with what echo/printf print hidden (their redirections stay); others: `text`
    strings: tuple[StringLiteral, ...]  # string literals (python, javascript); empty for shell


def _blank(text: str) -> str:
    return _NOT_NEWLINE.sub(" ", text) if "\n" in text else " " * len(text)


def _literal(token: str, start: int) -> StringLiteral:
    quote = token[:3] if token[:3] in ("'''", '"""') else token[:1]
    end = len(token) - len(quote) if len(token) >= 2 * len(quote) and token.endswith(quote) else len(token)
    return StringLiteral(start + len(quote), token[len(quote):end])


def command_starts_at(text: str, offset: int) -> bool:
    """Whether a shell word at `offset` is where a command starts (only blanks since a separator)."""
    k = offset - 1
    while k >= 0 and text[k] in " \t":
        k -= 1
    return k < 0 or text[k] in "\n;&|({`"


def _blank_arguments(match: re.Match[str]) -> str:
    if not command_starts_at(match.string, match.start()):
        return match.group()
    return match.group("command") + _blank(match.group("arguments"))


def views(language: str, code: str) -> Views:
    """Split `code` (in a canonical language) into its comment-free and string-free views."""
    tokens = _TOKENS[language]
    shell = language == "shell"
    text_parts: list[str] = []
    code_parts: list[str] = []
    strings: list[StringLiteral] = []
    last = 0
    position = 0
    while (match := tokens.search(code, position)) is not None:
        start, end = match.span()
        position = end
        if match.lastgroup == "com":
            if shell and start > 0 and code[start - 1] not in _SHELL_WORD_BREAK:
                position = start + 1  # a # inside a word (a#b, $#, ${#x}) is not a comment
                continue
            between = code[last:start]
            blank = _blank(match.group())
            text_parts += (between, blank)
            code_parts += (between, blank)
        elif shell:
            continue
        else:
            between = code[last:start]
            token = match.group()
            literal = _literal(token, start)
            strings.append(literal)
            head = literal.start - start
            text_parts += (between, token)
            code_parts += (between, token[:head], _blank(literal.body), token[head + len(literal.body):])
        last = end
    text_parts.append(code[last:])
    text = "".join(text_parts)
    if shell:
        echoes = "echo" in text or "printf" in text
        return Views(text, text, _ECHO_ARGUMENTS.sub(_blank_arguments, text) if echoes else text, ())
    code_parts.append(code[last:])
    return Views(text, "".join(code_parts), text, tuple(strings))
