"""Deeply nested lists in replies: shown in full instead of cutting the reply short.

Textual's Markdown widget parses with markdown-it's "gfm-like" preset, whose `maxNesting` is 20. Every list
level opens two block tokens (the list and its item), so a list nested about nine levels deep reaches the
limit, and markdown-it then stops parsing the rest of the document: the deeper items and all the prose after
the list silently disappear. Two guards, used together:

- `reply_parser()`: the same preset with room to spare (`maxNesting` 100), for blockquotes and lists mixed.
- `ListDepthLimiter`: list items deeper than `MAX_LIST_DEPTH` are re-indented to that depth (their text and
  anything under them kept), so no reply can reach the limit through lists. It works on a stream: only
  the start of a line is held, until its indentation and list marker are known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LIST_DEPTH = 8
_MARKER = re.compile(r"([-*+]|\d{1,9}[.)])([ \t]|$)")
_DIGITS = re.compile(r"\d{1,9}")


def reply_parser():
    """The parser Textual uses for Markdown, with a nesting limit no reasonable reply reaches."""
    from markdown_it import MarkdownIt

    return MarkdownIt("gfm-like", {"maxNesting": 100})


def limit_list_depth(text: str) -> str:
    """`text` with list items deeper than MAX_LIST_DEPTH moved up to that depth."""
    limiter = ListDepthLimiter()
    return limiter.feed(text) + limiter.close()


@dataclass
class _Item:
    content: int  # the column its content starts at, as written
    shift: int  # how far it (and what is under it) was moved left


def _width(indent: str) -> int:
    column = 0
    for char in indent:
        column = column + 4 - column % 4 if char == "\t" else column + 1
    return column


class ListDepthLimiter:
    """Streams Markdown through, re-indenting list items nested deeper than MAX_LIST_DEPTH."""

    def __init__(self, max_depth: int = MAX_LIST_DEPTH) -> None:
        self.max_depth = max_depth
        self._held = ""  # the undecided start of the current line
        self._deciding = True  # at the start of a line, not yet known what it is
        self._items: list[_Item] = []  # the open list items, outermost first
        self._in_code = False
        self._blank_before = False

    def feed(self, text: str) -> str:
        out: list[str] = []
        while text:
            if not self._deciding:
                cut = text.find("\n")
                if cut < 0:
                    out.append(text)
                    return "".join(out)
                out.append(text[: cut + 1])
                text = text[cut + 1 :]
                self._deciding = True
                continue
            cut = text.find("\n")
            piece = text if cut < 0 else text[: cut + 1]
            text = "" if cut < 0 else text[cut + 1 :]
            self._held += piece
            decided = self._decide(self._held, line_ended=piece.endswith("\n"))
            if decided is None:
                continue
            out.append(decided)
            self._held = ""
            self._deciding = piece.endswith("\n")
        return "".join(out)

    def close(self) -> str:
        if not self._held:
            return ""
        decided = self._decide(self._held, line_ended=True) or self._held
        self._held = ""
        return decided

    # ------------------------------------------------------------ one line start

    def _decide(self, start: str, line_ended: bool) -> str | None:
        """The rewritten start of a line, or None while more of it is needed to know what it is."""
        body = start.rstrip("\n")
        indent = body[: len(body) - len(body.lstrip(" \t"))]
        rest = body[len(indent) :]
        if not rest:
            if not line_ended:
                return None
            self._blank_before = True
            return start
        if not line_ended and not self._known(rest):
            return None
        width = _width(indent)
        if rest.startswith(("```", "~~~")):
            self._in_code = not self._in_code
            return self._shifted(start, indent, width)
        marker = None if self._in_code else _MARKER.match(rest)
        if marker is None:
            if width == 0 and self._blank_before and not self._in_code:
                self._items.clear()  # unindented text after a blank line ends every list
            self._blank_before = False
            return self._shifted(start, indent, width)
        self._blank_before = False
        while self._items and width < self._items[-1].content:
            self._items.pop()
        content = width + len(marker.group(1)) + 1
        if len(self._items) < self.max_depth:
            shift = self._items[-1].shift if self._items else 0
        else:  # too deep: becomes a sibling at the deepest level allowed
            parent = self._items[self.max_depth - 2] if self.max_depth > 1 else None
            shift = width - (parent.content - parent.shift if parent else 0)
        self._items.append(_Item(content, shift))
        if shift <= 0:
            return start
        return " " * max(0, width - shift) + start[len(indent) :]

    def _known(self, rest: str) -> bool:
        """Enough of the line is here to tell a list marker or a fence from anything else."""
        if rest[0] in "-*+":
            return len(rest) > 1
        if rest[0] in "`~":
            return len(rest) >= 3 or rest.strip("`~") != ""
        digits = _DIGITS.match(rest)
        if digits:
            after = rest[digits.end() :]
            return len(after) >= 2 or (after != "" and after[0] not in ".)") or digits.end() == 9
        return True

    def _shifted(self, start: str, indent: str, width: int) -> str:
        """A line under a moved item moves with it."""
        for item in reversed(self._items):
            if width >= item.content:
                if item.shift > 0:
                    return " " * max(0, width - item.shift) + start[len(indent) :]
                break
        return start
